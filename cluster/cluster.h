/*
 * cluster.h - the seams between a node and its cluster. The node calls only
 * these; on a single node they answer "nothing elsewhere". The Raft group,
 * route table and inter-node link arrive in the cluster issue behind the
 * same functions.
 */
#ifndef TERN_CLUSTER_H
#define TERN_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

enum { CLUSTER_HERE = 0 };

/*
 * Which node owns the session of client id: CLUSTER_HERE, or a node id whose
 * session must be claimed (takeover) before the client is accepted here.
 */
uint32_t cluster_session_owner(const char *id, size_t len);

/*
 * Number of peer nodes a publish on `topic` must be forwarded to (they hold
 * a matching filter in the replicated route table). Single node: 0.
 */
size_t cluster_route_targets(const char *topic, size_t len);

/*
 * A filter gained its first (added = 1) or lost its last (added = 0) local
 * subscriber on this node: a route change the cluster replicates.
 */
void cluster_route_change(const char *filter, size_t len, int added);

#endif

/*
 * sys.h - the $SYS/broker/... topics: counters of the node, published as
 * retained QoS 0 messages every sys_interval seconds from worker 0.
 */
#ifndef TERN_SYS_H
#define TERN_SYS_H

#include <stdint.h>

struct worker;

/* Called every second on worker 0; publishes when the interval is due. */
void sys_tick(struct worker *w, uint64_t now);

#endif

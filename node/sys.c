#include "sys.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "msg.h"
#include "node.h"
#include "retain.h"
#include "router.h"

static void sys_put(struct worker *w, const char *topic, const char *unit,
		    unsigned long long v)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%llu%s", v, unit);
	struct msg *m = msg_new(topic, strlen(topic), 0, true, NULL,
				(const uint8_t *)buf, (size_t)n,
				worker_now(w));

	if (!m)
		return;
	router_publish(w, m, NULL);
	msg_unref(m);
}

#define SYS_SUM(field)                                                      \
	({                                                                  \
		uint64_t s_ = 0;                                            \
		for (uint32_t i_ = 0; i_ < n->n_workers; i_++)              \
			s_ += stat_get(&n->workers[i_].stats.field);        \
		s_;                                                         \
	})

void sys_tick(struct worker *w, uint64_t now)
{
	static const char version[] = "ternd " TERN_VERSION;
	struct tern_node *n = w->node;
	struct msg *m;
	uint64_t due;

	if (!n->cfg.sys_interval)
		return;
	due = n->sys_last + (uint64_t)n->cfg.sys_interval * 1000;
	if (n->sys_last && now < due)
		return;
	n->sys_last = now;

	m = msg_new("$SYS/broker/version", 19, 0, true, NULL,
		    (const uint8_t *)version, sizeof(version) - 1, now);
	if (m) {
		router_publish(w, m, NULL);
		msg_unref(m);
	}
	sys_put(w, "$SYS/broker/uptime", " seconds",
		(unsigned long long)(time(NULL) - (time_t)n->start_wall));
	sys_put(w, "$SYS/broker/clients/connected", "",
		SYS_SUM(clients_connected));
	sys_put(w, "$SYS/broker/clients/total", "", SYS_SUM(sessions));
	sys_put(w, "$SYS/broker/clients/maximum", "",
		n->cfg.max_connections);
	sys_put(w, "$SYS/broker/connections/total", "",
		atomic_load(&n->clients_total));
	sys_put(w, "$SYS/broker/messages/received", "", SYS_SUM(msgs_in));
	sys_put(w, "$SYS/broker/messages/sent", "", SYS_SUM(msgs_out));
	sys_put(w, "$SYS/broker/bytes/received", "", SYS_SUM(bytes_in));
	sys_put(w, "$SYS/broker/bytes/sent", "", SYS_SUM(bytes_out));
	sys_put(w, "$SYS/broker/messages/dropped", "",
		SYS_SUM(dropped_queue_full) + SYS_SUM(dropped_too_large) +
			SYS_SUM(dropped_qos0_backlog));
	sys_put(w, "$SYS/broker/messages/expired", "",
		SYS_SUM(dropped_expired));
	sys_put(w, "$SYS/broker/subscriptions/count", "",
		SYS_SUM(subscriptions));
	sys_put(w, "$SYS/broker/retained messages/count", "",
		(unsigned long long)retain_count(n->retain));
}

/*
 * admin.h - the admin HTTP server on the control loop: Prometheus /metrics,
 * /healthz, /readyz and the JSON API under /api/v1 that ternctl uses.
 * Worker state is read through worker_call(); counters are read directly.
 */
#ifndef TERN_ADMIN_H
#define TERN_ADMIN_H

#include <stddef.h>
#include <uv.h>

struct tern_node;

/*
 * Starts listening on cfg.admin_listen (nothing if empty) on `loop`, the
 * control loop. Call after the workers started. Appends a line
 * "admin http://HOST:PORT" (the bound port) to cfg.port_file if set.
 * Refuses admin_require_token=false on a non-loopback admin_listen.
 * Returns 0 or a negative tern_err with the reason in err; call admin_stop
 * either way.
 */
int admin_start(struct tern_node *n, uv_loop_t *loop, char *err,
		size_t errlen);

/*
 * Stops accepting, finishes or drops requests in flight (running the loop
 * until no worker call is outstanding), closes every handle. Call before
 * worker_stop_all.
 */
void admin_stop(struct tern_node *n);

#endif

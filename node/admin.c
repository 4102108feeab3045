/* Placeholder until the admin HTTP server lands. */
#include "admin.h"

int admin_start(struct tern_node *n, uv_loop_t *loop, char *err,
		size_t errlen)
{
	(void)n;
	(void)loop;
	(void)err;
	(void)errlen;
	return 0;
}

void admin_stop(struct tern_node *n)
{
	(void)n;
}

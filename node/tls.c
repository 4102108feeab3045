/* Placeholder until TLS lands: config_validate refuses mqtts:// and wss://. */
#include "tls.h"

#include "tern_err.h"

int tls_setup(struct tern_node *n, char *err, size_t errlen)
{
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

int tls_reload(struct tern_node *n, char *err, size_t errlen)
{
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

void tls_teardown(struct tern_node *n)
{
	(void)n;
}

int tls_attach(struct conn *c)
{
	(void)c;
	return TERN_EINVAL;
}

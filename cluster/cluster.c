#include "cluster.h"

uint32_t cluster_session_owner(const char *id, size_t len)
{
	(void)id;
	(void)len;
	return CLUSTER_HERE;
}

size_t cluster_route_targets(const char *topic, size_t len)
{
	(void)topic;
	(void)len;
	return 0;
}

void cluster_route_change(const char *filter, size_t len, int added)
{
	(void)filter;
	(void)len;
	(void)added;
}

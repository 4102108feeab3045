/*
 * topic.c - topic name and topic filter rules (MQTT 3.1.1 and 5.0 section
 * 4.7, shared subscriptions 4.8.2). Pure functions over byte ranges; no
 * allocation, no state.
 */
#include "topic.h"

#include <string.h>

#define TOPIC_MAX_LEN 65535u

#define TOPIC_SHARE_PREFIX     "$share/"
#define TOPIC_SHARE_PREFIX_LEN (sizeof(TOPIC_SHARE_PREFIX) - 1)

/* Index one past the level that starts at pos: the next '/' or len. */
static size_t topic_level_end(const char *s, size_t pos, size_t len)
{
	const char *p;

	if (pos >= len)
		return len;
	p = memchr(s + pos, '/', len - pos);
	return p ? (size_t)(p - s) : len;
}

static bool topic_levels_ok(size_t levels, unsigned max_levels)
{
	return max_levels == 0 || levels <= max_levels;
}

bool topic_name_valid(const char *t, size_t len, unsigned max_levels)
{
	size_t levels = 1;

	/* [MQTT-4.7.3-1] non-empty, [MQTT-4.7.3-3] at most 65535 bytes. */
	if (len == 0 || len > TOPIC_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		switch (t[i]) {
		case '+':
		case '#':  /* [MQTT-3.3.2-2] [MQTT-4.7.1-1] */
		case '\0': /* [MQTT-4.7.3-2] */
			return false;
		case '/':
			levels++;
			break;
		default:
			break;
		}
	}
	return topic_levels_ok(levels, max_levels);
}

bool topic_filter_valid(const char *f, size_t len, unsigned max_levels)
{
	size_t levels = 1;

	if (len == 0 || len > TOPIC_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool starts_level = i == 0 || f[i - 1] == '/';
		bool ends_level = i + 1 == len || f[i + 1] == '/';

		switch (f[i]) {
		case '\0':
			return false;
		case '/':
			levels++;
			break;
		case '+': /* [MQTT-4.7.1-3] the whole level */
			if (!starts_level || !ends_level)
				return false;
			break;
		case '#': /* [MQTT-4.7.1-2] the whole level, and the last */
			if (!starts_level || i + 1 != len)
				return false;
			break;
		default:
			break;
		}
	}
	return topic_levels_ok(levels, max_levels);
}

bool topic_filter_has_wildcard(const char *f, size_t len)
{
	for (size_t pos = 0; pos <= len;) {
		size_t end = topic_level_end(f, pos, len);

		if (end - pos == 1 && (f[pos] == '+' || f[pos] == '#'))
			return true;
		pos = end + 1;
	}
	return false;
}

bool topic_matches(const char *filter, size_t flen, const char *topic,
                   size_t tlen)
{
	size_t fpos = 0, tpos = 0;
	bool topic_left = true; /* a topic level starts at tpos */

	if (flen == 0 || tlen == 0)
		return false;
	/* [MQTT-4.7.2-1] */
	if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
		return false;
	for (;;) {
		size_t fend = topic_level_end(filter, fpos, flen);
		size_t flev = fend - fpos;
		size_t tend;

		/* '#' matches the parent level and any number of children. */
		if (flev == 1 && filter[fpos] == '#')
			return true;
		if (!topic_left)
			return false;
		tend = topic_level_end(topic, tpos, tlen);
		if (!(flev == 1 && filter[fpos] == '+') &&
		    (flev != tend - tpos ||
		     memcmp(filter + fpos, topic + tpos, flev) != 0))
			return false;
		if (fend == flen)
			return tend == tlen;
		fpos = fend + 1;
		if (tend == tlen)
			topic_left = false;
		else
			tpos = tend + 1;
	}
}

int topic_shared_parse(const char *f, size_t len, const char **group,
                       size_t *group_len, const char **filter,
                       size_t *filter_len)
{
	const char *g, *slash;
	size_t rest, glen;

	if (len < TOPIC_SHARE_PREFIX_LEN ||
	    memcmp(f, TOPIC_SHARE_PREFIX, TOPIC_SHARE_PREFIX_LEN) != 0)
		return 0;
	g = f + TOPIC_SHARE_PREFIX_LEN;
	rest = len - TOPIC_SHARE_PREFIX_LEN;
	slash = rest ? memchr(g, '/', rest) : NULL;
	if (!slash) /* no "/" and filter after the share name */
		return -1;
	glen = (size_t)(slash - g);
	if (glen == 0) /* [MQTT-4.8.2-1] at least one character */
		return -1;
	/* [MQTT-4.8.2-2] no '+' or '#' ('/' ends the name by construction) */
	if (memchr(g, '+', glen) || memchr(g, '#', glen))
		return -1;
	if (rest - glen - 1 == 0) /* [MQTT-4.8.2-2] a filter must follow */
		return -1;
	if (group)
		*group = g;
	if (group_len)
		*group_len = glen;
	if (filter)
		*filter = slash + 1;
	if (filter_len)
		*filter_len = rest - glen - 1;
	return 1;
}

/*
 * topic.h - topic names and topic filters (MQTT 3.1.1 section 4.7,
 * MQTT 5.0 section 4.7 and 4.8.2).
 *
 * Names and filters are byte ranges (not NUL-terminated) that the codec has
 * already checked for UTF-8 well-formedness.
 */
#ifndef TERN_TOPIC_H
#define TERN_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A topic name a client may publish to: 1 to 65535 bytes, no '+' or '#'
 * [MQTT-3.3.2-2], no U+0000, at most max_levels levels (0: no limit).
 */
bool topic_name_valid(const char *t, size_t len, unsigned max_levels);

/*
 * A topic filter: non-empty [MQTT-4.7.3-1]; '#' only as the whole last level
 * [MQTT-4.7.1-2]; '+' only as a whole level [MQTT-4.7.1-3]; at most
 * max_levels levels (0: no limit). A shared filter ($share/...) must be split
 * with topic_shared_parse() first and its filter part checked here.
 */
bool topic_filter_valid(const char *f, size_t len, unsigned max_levels);

/* True if the filter has a '+' or '#' level. */
bool topic_filter_has_wildcard(const char *f, size_t len);

/*
 * Does `filter` match topic name `topic`? Topics starting with '$' are not
 * matched by a filter starting with '+' or '#' [MQTT-4.7.2-1].
 * Both arguments must be valid.
 */
bool topic_matches(const char *filter, size_t flen, const char *topic,
		   size_t tlen);

/*
 * Splits "$share/{group}/{filter}". Returns 1 and sets the group and filter
 * ranges if `f` is a shared subscription, 0 if it is not one, and -1 if it
 * starts with "$share/" but is malformed: empty group, group containing '+'
 * or '#', or no filter after the group [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
int topic_shared_parse(const char *f, size_t len, const char **group,
		       size_t *group_len, const char **filter,
		       size_t *filter_len);

#endif

/*
 * log.h - one line per event on stderr, leveled, plain text or JSON.
 * The level and format are set once at start, before any thread runs.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include "config.h"

void log_setup(enum tern_log_level level, bool json);
bool log_enabled(enum tern_log_level level);
void log_write(enum tern_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(TERN_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(TERN_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(TERN_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                      \
	do {                                                                \
		if (log_enabled(TERN_LOG_DEBUG))                            \
			log_write(TERN_LOG_DEBUG, __VA_ARGS__);             \
	} while (0)

#endif

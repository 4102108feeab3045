/*
 * test_log.c - log_write's text and JSON lines, escaping, truncation and
 * level filtering. stderr is pointed at a temporary file while logging.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char path[64];
static int saved_fd = -1;
static char out[8192];

static void capture_start(void)
{
	int fd;

	strcpy(path, "/tmp/tern_test_log_XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	saved_fd = dup(STDERR_FILENO);
	cr_assert(saved_fd >= 0);
	cr_assert(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* Restores stderr; returns what was logged. */
static const char *capture_end(void)
{
	FILE *f;
	size_t n;

	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	f = fopen(path, "r");
	cr_assert(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(path);
	return out;
}

/* s starts with a timestamp like 2026-11-25T21:54:06.123Z. */
static bool is_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9')
		                    : s[i] != shape[i])
			return false;
	}
	return true;
}

Test(log, text_line)
{
	const char *s;

	log_setup(TERN_LOG_INFO, false);
	capture_start();
	log_info("hello %s %d", "world", 42);
	s = capture_end();
	cr_assert(is_timestamp(s), "%s", s);
	cr_assert_str_eq(s + 24, " INFO hello world 42\n");
}

Test(log, json_line_escapes)
{
	const char *s;
	const char *want = "\",\"level\":\"warn\",\"msg\":\"a \\\"q\\\" "
	                   "b\\\\c\\nd\\te\\u0001 caf\xc3\xa9 \\ufffd\"}\n";

	log_setup(TERN_LOG_INFO, true);
	capture_start();
	log_warn("a \"q\" b\\c\nd\te\x01 caf\xc3\xa9 \xff");
	s = capture_end();
	cr_assert(strncmp(s, "{\"ts\":\"", 7) == 0, "%s", s);
	cr_assert(is_timestamp(s + 7), "%s", s);
	cr_assert_str_eq(s + 7 + 24, want);
}

Test(log, text_escapes_control_characters)
{
	const char *s;

	log_setup(TERN_LOG_TRACE, false);
	capture_start();
	log_error("two\nlines\x02");
	s = capture_end();
	cr_assert_str_eq(s + 24, " ERROR two\\nlines\\x02\n");
}

Test(log, levels)
{
	const char *s;

	log_setup(TERN_LOG_WARN, false);
	cr_assert(log_enabled(TERN_LOG_ERROR));
	cr_assert(log_enabled(TERN_LOG_WARN));
	cr_assert(!log_enabled(TERN_LOG_INFO));
	cr_assert(!log_enabled(TERN_LOG_TRACE));
	capture_start();
	log_info("not shown");
	log_debug("not shown");
	log_write(TERN_LOG_TRACE, "not shown");
	log_error("shown");
	s = capture_end();
	cr_assert_str_eq(s + 24, " ERROR shown\n");

	log_setup(TERN_LOG_TRACE, false);
	cr_assert(log_enabled(TERN_LOG_TRACE));
	capture_start();
	log_debug("d");
	log_write(TERN_LOG_TRACE, "t");
	s = capture_end();
	cr_assert(strstr(s, " DEBUG d\n"));
	cr_assert(strstr(s, " TRACE t\n"));
}

Test(log, long_lines_are_cut)
{
	static char big[5000];
	const char *s;
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	log_setup(TERN_LOG_INFO, true);
	capture_start();
	log_info("%s", big);
	s = capture_end();
	n = strlen(s);
	cr_assert_leq(n, 2048);
	cr_assert_gt(n, 1900);
	cr_assert_str_eq(s + n - 6, "...\"}\n");
	cr_assert_eq(strchr(s, '\n'), s + n - 1);

	/* a cut never splits an escape */
	memset(big, '"', sizeof(big) - 1);
	capture_start();
	log_info("%s", big);
	s = capture_end();
	n = strlen(s);
	cr_assert_str_eq(s + n - 8, "\\\"...\"}\n");
}

Test(log, keeps_errno)
{
	log_setup(TERN_LOG_INFO, false);
	capture_start();
	errno = ENOENT;
	log_info("x");
	cr_assert_eq(errno, ENOENT);
	capture_end();
}

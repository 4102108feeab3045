/*
 * ternctl_passwd.c - `ternctl passwd FILE USER [--password P]
 * [--iterations N] [--scram]`: adds or replaces USER's line in a ternd
 * password file (docs/SECURITY.md). The hash is PBKDF2-SHA512 with a
 * 16-byte random salt, written as
 * username:$pbkdf2-sha512$ITER$SALT_B64$HASH_B64; with --scram it is a
 * SCRAM-SHA-256 verifier (node/scram.h), which also accepts plain password
 * logins. The file is
 * rewritten through a temporary file in the same directory and rename(2),
 * so ternd never reads half a file. Works offline: no node is contacted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "scram.h"
#include "ternctl.h"

#define PASSWD_MIN_ITER 100000u
#define PASSWD_MAX_ITER 10000000u
#define PASSWD_MAX_LEN 1024

/* "$pbkdf2-sha512$ITER$SALT$HASH" of pw into out. */
static int passwd_hash(const char *pw, unsigned iter, char *out, size_t cap)
{
	unsigned char salt[16], hash[64];
	char salt64[32], hash64[96];
	int n;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt),
			      (int)iter, EVP_sha512(), sizeof(hash),
			      hash) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)hash64, hash, sizeof(hash));
	OPENSSL_cleanse(hash, sizeof(hash));
	n = snprintf(out, cap, "$pbkdf2-sha512$%u$%s$%s", iter, salt64,
		     hash64);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Reads one line without echo from the terminal (or a line of stdin). */
int ternctl_read_secret(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t len;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old))
			return -1;
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet))
			return -1;
	}
	if (!fgets(buf, (int)cap, stdin))
		buf[0] = 0;
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = 0;
	return 0;
}

static bool passwd_user_ok(const char *u)
{
	if (!*u || *u == '#' || strlen(u) > 255)
		return false;
	for (; *u; u++)
		if (*u == ':' || (unsigned char)*u < 0x20 || *u == 0x7f)
			return false;
	return true;
}

/* Writes lines of path with USER's replaced (or appended). */
static int passwd_write(const char *path, const char *user, const char *hash)
{
	size_t ulen = strlen(user), cap = strlen(path) + 16;
	char *tmp = malloc(cap), line[PASSWD_MAX_LEN + 2];
	bool done = false;
	struct stat st;
	mode_t mode = 0600;
	FILE *in, *out;
	int fd, rc = -1;

	if (!tmp)
		return -1;
	snprintf(tmp, cap, "%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "ternctl: %s: %s\n", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	in = fopen(path, "r");
	if (!in && errno != ENOENT) {
		fprintf(stderr, "ternctl: %s: %s\n", path, strerror(errno));
		goto err_fd;
	}
	if (in && fstat(fileno(in), &st) == 0)
		mode = st.st_mode & 0777;
	out = fdopen(fd, "w");
	if (!out)
		goto err_in;
	fd = -1;
	while (in && fgets(line, sizeof(line), in)) {
		if (!strchr(line, '\n') && !feof(in)) {
			fprintf(stderr, "ternctl: %s: line too long\n", path);
			fclose(out);
			goto err_in;
		}
		if (!strncmp(line, user, ulen) && line[ulen] == ':') {
			if (!done)
				fprintf(out, "%s:%s\n", user, hash);
			done = true;
			continue;
		}
		fputs(line, out);
		if (!strchr(line, '\n'))
			fputc('\n', out);
	}
	if (!done)
		fprintf(out, "%s:%s\n", user, hash);
	if (fflush(out) || fchmod(fileno(out), mode) || fsync(fileno(out)) ||
	    fclose(out)) {
		fprintf(stderr, "ternctl: %s: %s\n", tmp, strerror(errno));
		goto err_in;
	}
	if (rename(tmp, path)) {
		fprintf(stderr, "ternctl: %s: %s\n", path, strerror(errno));
		goto err_in;
	}
	printf("%s user %s in %s\n", done ? "updated" : "added", user, path);
	rc = 0;
	goto out_in;
err_in:
	unlink(tmp);
out_in:
	if (in)
		fclose(in);
	OPENSSL_cleanse(line, sizeof(line));
	free(tmp);
	return rc;
err_fd:
	close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

int ternctl_passwd(int argc, char **argv)
{
	const char *file = NULL, *user = NULL, *given = NULL;
	char pw[PASSWD_MAX_LEN], again[PASSWD_MAX_LEN];
	char hash[256];
	unsigned long iter = 0;
	bool scram = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--password") && i + 1 < argc) {
			given = argv[++i];
		} else if (!strcmp(a, "--iterations") && i + 1 < argc) {
			char *end;

			errno = 0;
			iter = strtoul(argv[++i], &end, 10);
			if (errno || *end || !iter) {
				fprintf(stderr, "ternctl: --iterations: "
						"not a number\n");
				return TERNCTL_EUSAGE;
			}
		} else if (!strcmp(a, "--scram")) {
			scram = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ternctl: passwd: unknown option %s\n",
				a);
			return TERNCTL_EUSAGE;
		} else if (!file) {
			file = a;
		} else if (!user) {
			user = a;
		} else {
			fprintf(stderr, "ternctl: passwd: too many "
					"arguments\n");
			return TERNCTL_EUSAGE;
		}
	}
	if (!file || !user) {
		fprintf(stderr, "usage: ternctl passwd FILE USER [--password P] "
				"[--iterations N] [--scram]\n");
		return TERNCTL_EUSAGE;
	}
	if (!iter)
		iter = scram ? SCRAM_DEFAULT_ITERATIONS : PASSWD_MIN_ITER;
	if (scram && (iter < SCRAM_MIN_ITERATIONS ||
		      iter > SCRAM_MAX_ITERATIONS)) {
		fprintf(stderr, "ternctl: --iterations: 4096..10000000 with "
				"--scram\n");
		return TERNCTL_EUSAGE;
	}
	if (!scram && (iter < PASSWD_MIN_ITER || iter > PASSWD_MAX_ITER)) {
		fprintf(stderr, "ternctl: --iterations: 100000..10000000\n");
		return TERNCTL_EUSAGE;
	}
	if (!passwd_user_ok(user)) {
		fprintf(stderr, "ternctl: passwd: bad user name (empty, "
				"starts with #, or has ':' or control "
				"characters)\n");
		return TERNCTL_EUSAGE;
	}
	if (given) {
		snprintf(pw, sizeof(pw), "%s", given);
	} else {
		if (ternctl_read_secret("Password: ", pw, sizeof(pw)))
			return TERNCTL_EUSAGE;
		if (isatty(STDIN_FILENO)) {
			if (ternctl_read_secret("Again: ", again,
			                        sizeof(again)))
				return TERNCTL_EUSAGE;
			rc = strcmp(pw, again);
			OPENSSL_cleanse(again, sizeof(again));
			if (rc) {
				OPENSSL_cleanse(pw, sizeof(pw));
				fprintf(stderr, "ternctl: passwords differ\n");
				return TERNCTL_EUSAGE;
			}
		}
	}
	if (!pw[0]) {
		fprintf(stderr, "ternctl: passwd: empty password\n");
		return TERNCTL_EUSAGE;
	}
	if (scram)
		rc = scram_verifier_make((const uint8_t *)pw, strlen(pw),
					 (uint32_t)iter, hash, sizeof(hash));
	else
		rc = passwd_hash(pw, (unsigned)iter, hash, sizeof(hash));
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc) {
		fprintf(stderr, "ternctl: passwd: hashing failed\n");
		return TERNCTL_ESERVER;
	}
	return passwd_write(file, user, hash) ? TERNCTL_ESERVER : TERNCTL_OK;
}

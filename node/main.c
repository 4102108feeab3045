/*
 * main.c - ternd: load the config, raise the file limit, create the data
 * dir and node identity, start the workers, wait for SIGTERM/SIGINT, stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "admin.h"
#include "acl.h"
#include "auth.h"
#include "auth_jwt.h"
#include "jwks_fetch.h"
#include "auth_ldap.h"
#include "auth_limit.h"
#include "config.h"
#include "log.h"
#include "oauth.h"
#include "users.h"
#include "node.h"
#include "tern_err.h"
#include "persist.h"
#include "retain.h"
#include "tls.h"
#include "worker.h"

extern char **environ;

static void main_on_sighup(struct tern_node *n)
{
	char err[512];

	if (tls_reload(n, err, sizeof(err)))
		log_error("SIGHUP: TLS reload failed, keeping the old "
			  "certificate: %s",
			  err);
	else if (n->tls)
		log_info("SIGHUP: TLS certificate and key reloaded");
	if (auth_reload(n, err, sizeof(err)))
		log_error("SIGHUP: password file reload failed, keeping the "
			  "old one: %s",
			  err);
	if (auth_jwt_reload(n, err, sizeof(err)))
		log_error("SIGHUP: JWT key reload failed, keeping the old "
			  "keys: %s",
			  err);
	if (oauth_reload(n, err, sizeof(err)))
		log_error("SIGHUP: oauth_signing_key reload failed, keeping "
			  "the old key: %s",
			  err);
	if (auth_ldap_reload(n, err, sizeof(err)))
		log_error("SIGHUP: LDAP service password reload failed, "
			  "keeping the old one: %s",
			  err);
	if (acl_reload(n, err, sizeof(err)))
		log_error("SIGHUP: ACL file reload failed, keeping the old "
			  "one: %s",
			  err);
}

/*
 * SIGTERM, SIGINT and SIGHUP are blocked in every thread (main blocks them
 * before it starts any) and read from a signalfd on the control loop: no
 * asynchronous handler runs, so no thread is interrupted in the middle of
 * a lock (libuv's own signal handler takes a global lock, and sanitizers
 * defer handlers to awkward places).
 */
static void main_on_signalfd(uv_poll_t *p, int status, int events)
{
	struct tern_node *n = p->data;
	struct signalfd_siginfo si;
	uv_os_fd_t fd;

	(void)events;
	if (status < 0 || uv_fileno((uv_handle_t *)p, &fd))
		return;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			main_on_sighup(n);
			continue;
		}
		log_info("signal %u: shutting down", si.ssi_signo);
		uv_stop(p->loop);
	}
}

/* Raises the soft open-file limit to the hard one. */
static void main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("open file limit raised to %llu",
			 (unsigned long long)rl.rlim_cur);
}

/*
 * The node's identity lives in its data dir, created on first start and
 * never derived from an address or host name (pods change both).
 */
static int main_node_id(const char *dir, char *id, size_t cap)
{
	char path[600];
	FILE *f;

	if (mkdir(dir, 0750) && errno != EEXIST) {
		log_error("data_dir %s: cannot create: %s", dir,
			  strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/node-id", dir);
	f = fopen(path, "r");
	if (f) {
		int ok = fgets(id, (int)cap, f) != NULL;

		fclose(f);
		id[strcspn(id, "\n")] = 0;
		if (ok && id[0])
			return 0;
	}
	{
		unsigned char r[16];
		int fd = open("/dev/urandom", O_RDONLY);

		if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
			if (fd >= 0)
				close(fd);
			log_error("cannot read /dev/urandom");
			return -1;
		}
		close(fd);
		for (int i = 0; i < 16; i++)
			snprintf(id + 2 * i, cap - 2 * (size_t)i, "%02x", r[i]);
	}
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", id) < 0 || fclose(f)) {
		log_error("data_dir %s: cannot write node-id: %s", dir,
			  strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct tern_node node;
	uv_poll_t sigpoll;
	sigset_t sigs;
	char err[512], id[64];
	int sigfd;
	uv_loop_t *loop;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	rc = config_load(&node.cfg, argc, argv, environ, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc) {
		fprintf(stderr, "ternd: %s\n", err);
		return 2;
	}
	log_setup(node.cfg.log_level, node.cfg.log_json);
	/* libcurl (jwks_url) before any thread starts */
	if (jwks_fetch_global_init()) {
		log_error("cannot initialise libcurl");
		return 1;
	}
	main_raise_nofile();
	if (main_node_id(node.cfg.data_dir, id, sizeof(id)))
		return 1;
	srand((unsigned)(time(NULL) ^ getpid()));
	node.start_wall = (uint64_t)time(NULL);
	node.retain = retain_store_new();
	if (!node.retain)
		return 1;

	loop = uv_default_loop();
	node.ctl_loop = loop;
	/* handlers first: the port file tells scripts we are up */
	sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0 || uv_poll_init(loop, &sigpoll, sigfd)) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	sigpoll.data = &node;
	uv_poll_start(&sigpoll, UV_READABLE, main_on_signalfd);
	rc = persist_open(&node, err, sizeof(err));
	if (rc) {
		log_error("%s", err);
		rc = 1;
		goto out;
	}
	if (node.store)
		retain_store_durable(node.retain, &node);
	rc = tls_setup(&node, err, sizeof(err));
	if (rc) {
		log_error("TLS: %s", err);
	} else {
		rc = auth_setup(&node, err, sizeof(err));
		if (rc == 0)
			rc = auth_limit_setup(&node, err, sizeof(err));
		if (rc == 0)
			rc = auth_jwt_setup(&node, err, sizeof(err));
		if (rc == 0)
			rc = auth_ldap_setup(&node, err, sizeof(err));
		if (rc == 0)
			rc = acl_setup(&node, err, sizeof(err));
		if (rc == 0)
			rc = oauth_setup(&node, err, sizeof(err));
		if (rc == 0)
			rc = users_setup(&node, err, sizeof(err));
		if (rc)
			log_error("%s", err);
	}
	if (rc == 0)
		rc = worker_start_all(&node);
	if (rc == 0) {
		rc = admin_start(&node, loop, err, sizeof(err));
		if (rc)
			log_error("admin: %s", err);
	}
	if (rc) {
		log_error("cannot start: %s", tern_strerror(rc));
		rc = 1;
		goto out;
	}
	log_info("ternd %s node %s up with %u worker(s)", TERN_VERSION, id,
		 node.n_workers);

	uv_run(loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	admin_stop(&node);
	users_teardown(&node); /* its writes need the workers */
	worker_stop_all(&node);
	tls_teardown(&node);
	auth_teardown(&node);
	auth_limit_teardown(&node);
	acl_teardown(&node);
	auth_jwt_teardown(&node);
	auth_ldap_teardown(&node);
	oauth_teardown(&node);
	persist_close(&node);
	uv_close((uv_handle_t *)&sigpoll, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sigfd);
	uv_loop_close(loop);
	retain_store_free(node.retain);
	jwks_fetch_global_cleanup();
	log_info(rc ? "not started" : "stopped");
	return rc;
}

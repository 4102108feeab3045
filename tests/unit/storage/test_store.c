/*
 * test_store.c - the storage library against its contract (store.h) and
 * its on-disk format (docs/STORAGE.md): round trips of every function,
 * idempotence, message reference counts, key order and prefix scans, long
 * retained topics, map full, reopen, threads, golden stores
 * (tests/fixtures/store-v1) and damaged files. Each test works in its own
 * mkdtemp directory under /tmp and removes it.
 *
 * The raw_* helpers read and write the LMDB file directly (with the store
 * closed: LMDB must not be opened twice in one process) to check the
 * format and to plant damage.
 *
 * TERN_STORE_FIXTURE_OUT=dir with --filter 'store_fixture/make' writes the
 * source stores that tests/fixtures/store-v1/make.sh turns into fixtures.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "tern_err.h"

#define GIB (1ULL << 30)

/* ------------------------------------------------------------- helpers */

static char g_base[64];
static char g_dir[128];
static struct store *g_s;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	strcpy(g_base, "/tmp/tern_store_XXXXXX");
	cr_assert(mkdtemp(g_base), "mkdtemp: %s", strerror(errno));
	snprintf(g_dir, sizeof(g_dir), "%s/store", g_base);
	g_s = NULL;
}

static void teardown(void)
{
	store_close(g_s);
	g_s = NULL;
	rm_rf(g_base);
}

TestSuite(store, .init = setup, .fini = teardown);
TestSuite(store_fixture, .init = setup, .fini = teardown);

static struct store *open_ok(const char *dir, uint64_t map, bool sync)
{
	struct store_opts o = {.map_size = map, .sync = sync};
	struct store *s = NULL;
	char err[512] = "";
	int rc = store_open(&s, dir, &o, err, sizeof(err));

	cr_assert_eq(rc, 0, "store_open(%s): %s (%s)", dir, tern_strerror(rc),
	             err);
	cr_assert_not_null(s);
	return s;
}

/* Opening must fail; returns the code, the reason in err. */
static int open_fail(const char *dir, uint64_t map, char *err, size_t n)
{
	struct store_opts o = {.map_size = map};
	struct store *s = (struct store *)1;
	int rc = store_open(&s, dir, &o, err, n);

	cr_assert_neq(rc, 0, "store_open(%s) succeeded", dir);
	cr_assert_null(s);
	cr_assert(err[0], "no reason given");
	return rc;
}

static struct store_txn *begin(struct store *s)
{
	struct store_txn *t = NULL;

	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_not_null(t);
	return t;
}

static void commit(struct store_txn *t)
{
	int rc = store_commit(t);

	cr_assert_eq(rc, 0, "commit: %s", tern_strerror(rc));
}

static void reopen(void)
{
	store_close(g_s);
	g_s = open_ok(g_dir, 0, false);
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	cr_assert(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	long len;
	void *p;

	cr_assert(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)len + 1);
	cr_assert(p);
	cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

/* Copies fixture store-v1/<name>/data.mdb into dir (created). */
static void copy_fixture(const char *name, const char *dir)
{
	char src[512], dst[512];
	size_t n;
	void *p;

	snprintf(src, sizeof(src), "%s/store-v1/%s/data.mdb", TERN_FIXTURES,
	         name);
	snprintf(dst, sizeof(dst), "%s/data.mdb", dir);
	cr_assert(mkdir(dir, 0750) == 0 || errno == EEXIST);
	p = read_file(src, &n);
	write_file(dst, p, n);
	free(p);
}

/* ---- collecting scans ---- */

struct kv {
	char *k, *v;
	size_t kl, vl;
};

struct kvs {
	struct kv *a;
	size_t n;
	size_t stop_at; /* return 99 after this many (0: never) */
};

static char *dup_bytes(const void *p, size_t n)
{
	char *d = malloc(n + 1);

	cr_assert(d);
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

static int kv_collect(void *ctx, const char *k, size_t kl, const void *v,
                      size_t vl)
{
	struct kvs *c = ctx;

	c->a = realloc(c->a, (c->n + 1) * sizeof(*c->a));
	cr_assert(c->a);
	c->a[c->n++] = (struct kv){dup_bytes(k, kl), dup_bytes(v, vl), kl, vl};
	return c->stop_at && c->n == c->stop_at ? 99 : 0;
}

static void kvs_free(struct kvs *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->a[i].k);
		free(c->a[i].v);
	}
	free(c->a);
	*c = (struct kvs){0};
}

static struct kvs scan_retained(struct store *s, const char *prefix)
{
	struct kvs c = {0};
	int rc = store_retained_scan(s, prefix, prefix ? strlen(prefix) : 0,
	                             kv_collect, &c);

	cr_assert_eq(rc, 0, "scan: %s", tern_strerror(rc));
	return c;
}

struct ent {
	uint64_t seq, msg;
	char *body, *val;
	size_t bl, vl;
};

struct ents {
	struct ent *a;
	size_t n;
};

static int ent_collect(void *ctx, uint64_t seq, uint64_t msg, const void *b,
                       size_t bl, const void *v, size_t vl)
{
	struct ents *c = ctx;

	c->a = realloc(c->a, (c->n + 1) * sizeof(*c->a));
	cr_assert(c->a);
	c->a[c->n++] =
	    (struct ent){seq, msg, dup_bytes(b, bl), dup_bytes(v, vl), bl, vl};
	return 0;
}

static void ents_free(struct ents *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->a[i].body);
		free(c->a[i].val);
	}
	free(c->a);
	*c = (struct ents){0};
}

static struct ents scan_entries(struct store *s, const char *id, size_t len)
{
	struct ents c = {0};
	int rc = store_entry_scan(s, id, len, ent_collect, &c);

	cr_assert_eq(rc, 0, "entry scan: %s", tern_strerror(rc));
	return c;
}

struct pids {
	uint16_t a[64];
	size_t n;
};

static int pid_collect(void *ctx, uint16_t pid)
{
	struct pids *c = ctx;

	cr_assert(c->n < 64);
	c->a[c->n++] = pid;
	return 0;
}

static struct pids scan_qos2(struct store *s, const char *id, size_t len)
{
	struct pids c = {0};

	cr_assert_eq(store_qos2_scan(s, id, len, pid_collect, &c), 0);
	return c;
}

static void get_retained(struct store *s, const char *topic, size_t len,
                         const char *want, size_t wlen)
{
	void *v = NULL;
	size_t vl = 0;
	int rc = store_retained_get(s, topic, len, &v, &vl);

	cr_assert_eq(rc, 0, "get %.40s (%zu): %s", topic, len,
	             tern_strerror(rc));
	cr_assert_not_null(v);
	cr_assert_eq(vl, wlen);
	cr_assert(memcmp(v, want, wlen) == 0);
	free(v);
}

static void get_absent(struct store *s, const char *topic, size_t len)
{
	void *v = (void *)1;
	size_t vl = 1;

	cr_assert_eq(store_retained_get(s, topic, len, &v, &vl),
	             TERN_ENOTFOUND);
	cr_assert_null(v);
	cr_assert_eq(vl, 0);
}

/* ---- raw LMDB access (store closed) ---- */

static MDB_env *raw_env(const char *dir, bool rdonly)
{
	MDB_env *env;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, GIB), 0);
	cr_assert_eq(
	    mdb_env_open(env, dir, MDB_NOTLS | (rdonly ? MDB_RDONLY : 0), 0640),
	    0);
	return env;
}

static void raw_put(const char *dir, const char *db, const void *k, size_t kl,
                    const void *v, size_t vl)
{
	MDB_env *env = raw_env(dir, false);
	MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
	MDB_txn *txn;
	MDB_dbi dbi;

	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
	cr_assert_eq(mdb_put(txn, dbi, &key, &val, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Copies the value of db[k] into buf; returns its size, or -1. */
static long raw_get(const char *dir, const char *db, const void *k, size_t kl,
                    void *buf, size_t cap)
{
	MDB_env *env = raw_env(dir, true);
	MDB_val key = {kl, (void *)k}, val;
	MDB_txn *txn;
	MDB_dbi dbi;
	long n = -1;

	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (mdb_get(txn, dbi, &key, &val) == 0) {
		n = (long)val.mv_size;
		memcpy(buf, val.mv_data, val.mv_size < cap ? val.mv_size : cap);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Refcount of a message body, -1 if it is absent. */
static long raw_refcount(const char *dir, uint64_t msg_id)
{
	uint8_t k[8], v[4];
	long n;

	be64(k, msg_id);
	n = raw_get(dir, "msgs", k, 8, v, sizeof(v));
	if (n < 0)
		return -1;
	cr_assert_geq(n, 4);
	return (long)get_le32(v);
}

/*
 * The reference invariant: every msgs count equals the number of entries
 * referring to it, and every entry's message exists.
 */
static void raw_check_refs(const char *dir)
{
	MDB_env *env = raw_env(dir, true);
	MDB_dbi msgs, entries;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	size_t nmsgs = 0, nrefs = 0;

	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "msgs", 0, &msgs), 0);
	cr_assert_eq(mdb_dbi_open(txn, "entries", 0, &entries), 0);
	cr_assert_eq(mdb_cursor_open(txn, entries, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		MDB_val mk = {8, v.mv_data}, mv;

		cr_assert_geq(v.mv_size, 8);
		cr_assert_eq(mdb_get(txn, msgs, &mk, &mv), 0,
		             "entry refers to missing message %llu",
		             (unsigned long long)get_be64(v.mv_data));
		nrefs++;
	}
	mdb_cursor_close(c);
	cr_assert_eq(mdb_cursor_open(txn, msgs, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		MDB_cursor *e;
		MDB_val ek, ev;
		uint32_t refs = 0;

		cr_assert_eq(k.mv_size, 8);
		cr_assert_eq(mdb_cursor_open(txn, entries, &e), 0);
		while (mdb_cursor_get(e, &ek, &ev, MDB_NEXT) == 0)
			refs += memcmp(ev.mv_data, k.mv_data, 8) == 0;
		mdb_cursor_close(e);
		cr_assert_eq(get_le32(v.mv_data), refs,
		             "message %llu counts %u refs, has %u",
		             (unsigned long long)get_be64(k.mv_data),
		             get_le32(v.mv_data), refs);
		nmsgs += refs;
	}
	mdb_cursor_close(c);
	cr_assert_eq(nmsgs, nrefs);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* The test's own FNV-1a 64, as documented in docs/STORAGE.md. */
static uint64_t fnv1a64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A topic of n bytes: prefix, then c repeated, then the tail. */
static char *long_topic(size_t n, const char *prefix, char c, const char *tail)
{
	char *t = malloc(n);
	size_t pl = strlen(prefix), tl = strlen(tail);

	cr_assert(t && n >= pl + tl);
	memset(t, c, n);
	memcpy(t, prefix, pl);
	memcpy(t + n - tl, tail, tl);
	return t;
}

/* ---------------------------------------------------------------- open */

Test(store, open_creates_nested_dirs)
{
	char dir[256], path[300];
	struct stat st;
	mode_t mask = umask(0);

	umask(mask);
	snprintf(dir, sizeof(dir), "%s/a/b/c", g_base);
	g_s = open_ok(dir, 0, false);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0750 & ~mask);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	cr_assert_str_eq(store_path(g_s), path);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640 & ~mask);
}

Test(store, open_bad_args)
{
	struct store *s = NULL;
	char err[256];

	cr_assert_eq(store_open(NULL, g_dir, NULL, err, sizeof(err)),
	             TERN_EINVAL);
	cr_assert_eq(store_open(&s, NULL, NULL, err, sizeof(err)), TERN_EINVAL);
	cr_assert_eq(store_open(&s, "", NULL, err, sizeof(err)), TERN_EINVAL);
	cr_assert(err[0]);
	cr_assert_null(s);
	/* no err buffer is fine too; NULL opts means the defaults */
	cr_assert_eq(store_open(&s, "", NULL, NULL, 0), TERN_EINVAL);
	cr_assert_eq(store_open(&g_s, g_dir, NULL, NULL, 0), 0);
	store_close(NULL);
	cr_assert_null(store_path(NULL));
}

Test(store, open_not_a_directory)
{
	char err[512], dir[256];

	write_file(g_dir, "x", 1);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "not a directory"), "%s",
	          err);
	/* a file in the middle of the path */
	snprintf(dir, sizeof(dir), "%s/sub/store", g_dir);
	cr_assert_eq(open_fail(dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, dir) && strstr(err, "not a directory"), "%s",
	          err);
}

Test(store, open_data_file_is_a_directory)
{
	char err[512], path[256];

	snprintf(path, sizeof(path), "%s/data.mdb", g_dir);
	cr_assert_eq(mkdir(g_dir, 0750), 0);
	cr_assert_eq(mkdir(path, 0750), 0);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "is a directory"), "%s",
	          err);
}

Test(store, open_twice_is_refused)
{
	char err[512];
	struct store_txn *t;

	g_s = open_ok(g_dir, 0, false);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "in use"), "%s", err);
	/* the first one is unharmed */
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "a", 1, "1", 1), 0);
	commit(t);
	get_retained(g_s, "a", 1, "1", 1);
	reopen();
	get_retained(g_s, "a", 1, "1", 1);
}

Test(store, open_not_lmdb)
{
	char err[512], path[256], junk[8192];

	cr_assert_eq(mkdir(g_dir, 0750), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", g_dir);
	memset(junk, 'j', sizeof(junk));
	write_file(path, junk, sizeof(junk));
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "not an LMDB file") &&
	              strstr(err, "move it away"),
	          "%s", err);
	write_file(path, junk, 100); /* shorter than a meta page */
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir), "%s", err);
}

Test(store, open_empty_data_file_is_a_new_store)
{
	char path[256];

	cr_assert_eq(mkdir(g_dir, 0750), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", g_dir);
	write_file(path, "", 0);
	g_s = open_ok(g_dir, 0, false);
	cr_assert_eq(store_retained_count(g_s), 0);
}

Test(store, open_new_store_writes_meta)
{
	uint8_t v[16];
	time_t now = time(NULL);

	g_s = open_ok(g_dir, 0, false);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_get(g_dir, "meta", "format", 6, v, sizeof(v)), 4);
	cr_assert_eq(get_le32(v), STORE_FORMAT);
	cr_assert_eq(raw_get(g_dir, "meta", "created", 7, v, sizeof(v)), 8);
	uint64_t created = 0;
	for (int i = 7; i >= 0; i--)
		created = created << 8 | v[i];
	cr_assert(created >= (uint64_t)now - 5 && created <= (uint64_t)now + 5);
}

Test(store, open_foreign_lmdb_is_refused)
{
	char err[512], dir2[256];

	/* plain keys in the main database: somebody else's environment */
	cr_assert_eq(mkdir(g_dir, 0750), 0);
	raw_put(g_dir, NULL, "hello", 5, "world", 5);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "not a Tern store"), "%s",
	          err);
	/* a Tern store with a database it does not know */
	snprintf(dir2, sizeof(dir2), "%s/other", g_base);
	g_s = open_ok(dir2, 0, false);
	store_close(g_s);
	g_s = NULL;
	raw_put(dir2, "unknown", "k", 1, "v", 1);
	cr_assert_eq(open_fail(dir2, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, "not a Tern store"), "%s", err);
}

Test(store, open_bad_format_is_eio)
{
	uint8_t zero[4] = {0}, three[3] = {1, 0, 0};
	char err[512];

	g_s = open_ok(g_dir, 0, false);
	store_close(g_s);
	g_s = NULL;
	raw_put(g_dir, "meta", "format", 6, zero, 4);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "format 0"), "%s", err);
	raw_put(g_dir, "meta", "format", 6, three, 3);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, "no valid format"), "%s", err);
}

Test(store, open_newer_format_is_eversion_and_untouched)
{
	uint8_t two[4] = {2, 0, 0, 0};
	char err[512], want[512], path[256];
	size_t n1, n2;
	void *before, *after;

	g_s = open_ok(g_dir, 0, false);
	store_close(g_s);
	g_s = NULL;
	raw_put(g_dir, "meta", "format", 6, two, 4);
	snprintf(path, sizeof(path), "%s/data.mdb", g_dir);
	before = read_file(path, &n1);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EVERSION);
	snprintf(want, sizeof(want),
	         "%s: store format 2 is newer than this ternd (1): upgrade "
	         "ternd or use another data_dir",
	         g_dir);
	cr_assert_str_eq(err, want);
	after = read_file(path, &n2);
	cr_assert(n1 == n2 && memcmp(before, after, n1) == 0,
	          "a newer store was modified");
	free(before);
	free(after);
}

Test(store, reopen_keeps_everything)
{
	struct store_txn *t;
	struct kvs c;
	struct ents e;
	struct pids p;

	for (int sync = 0; sync < 2; sync++) {
		g_s = open_ok(g_dir, 0, sync);
		t = begin(g_s);
		cr_assert_eq(store_retained_put(t, "r/1", 3, "v1", 2), 0);
		cr_assert_eq(store_session_put(t, "c1", 2, "s1", 2), 0);
		cr_assert_eq(store_entry_put(t, "c1", 2, 10 + sync, 5, "body",
		                             4, "e", 1),
		             0);
		cr_assert_eq(store_qos2_put(t, "c1", 2, (uint16_t)(7 + sync)),
		             0);
		commit(t);
		store_close(g_s);
		g_s = open_ok(g_dir, 0, !sync);
		get_retained(g_s, "r/1", 3, "v1", 2);
		c = (struct kvs){0};
		cr_assert_eq(store_session_scan(g_s, kv_collect, &c), 0);
		cr_assert_eq(c.n, 1);
		cr_assert_str_eq(c.a[0].k, "c1");
		cr_assert_str_eq(c.a[0].v, "s1");
		kvs_free(&c);
		e = scan_entries(g_s, "c1", 2);
		cr_assert_eq(e.n, 1 + (size_t)sync);
		cr_assert_eq(e.a[sync].seq, 10 + (uint64_t)sync);
		cr_assert_eq(e.a[sync].msg, 5);
		cr_assert_str_eq(e.a[sync].body, "body");
		cr_assert_str_eq(e.a[sync].val, "e");
		ents_free(&e);
		p = scan_qos2(g_s, "c1", 2);
		cr_assert_eq(p.n, 1 + (size_t)sync);
		cr_assert_eq(p.a[sync], 7 + sync);
		store_close(g_s);
		g_s = NULL;
	}
	raw_check_refs(g_dir);
}

/* ------------------------------------------------------------ retained */

Test(store, retained_round_trip)
{
	static const char bin[] = {'a', 0, 'b', 0, (char)0xff};
	struct store_txn *t;

	g_s = open_ok(g_dir, 0, false);
	get_absent(g_s, "t/1", 3);
	cr_assert_eq(store_retained_count(g_s), 0);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "t/1", 3, "one", 3), 0);
	cr_assert_eq(store_retained_put(t, "t/2", 3, bin, sizeof(bin)), 0);
	cr_assert_eq(store_retained_put(t, "t/empty", 7, NULL, 0), 0);
	commit(t);
	get_retained(g_s, "t/1", 3, "one", 3);
	get_retained(g_s, "t/2", 3, bin, sizeof(bin));
	get_retained(g_s, "t/empty", 7, "", 0);
	cr_assert_eq(store_retained_count(g_s), 3);

	/* put replaces (twice is the same as once); delete twice is 0 */
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "t/1", 3, "uno", 3), 0);
	cr_assert_eq(store_retained_put(t, "t/1", 3, "uno", 3), 0);
	cr_assert_eq(store_retained_del(t, "t/2", 3), 0);
	cr_assert_eq(store_retained_del(t, "t/2", 3), 0);
	cr_assert_eq(store_retained_del(t, "t/never", 7), 0);
	commit(t);
	get_retained(g_s, "t/1", 3, "uno", 3);
	get_absent(g_s, "t/2", 3);
	cr_assert_eq(store_retained_count(g_s), 2);
}

Test(store, retained_bad_args_do_not_spoil_the_txn)
{
	struct store_txn *t;
	void *v;
	size_t vl;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "", 0, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_retained_put(t, NULL, 3, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_retained_put(t, "a", 1, NULL, 1), TERN_EINVAL);
	cr_assert_eq(store_retained_del(t, "", 0), TERN_EINVAL);
	cr_assert_eq(store_retained_put(NULL, "a", 1, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_retained_put(t, "a", 1, "v", 1), 0);
	commit(t);
	get_retained(g_s, "a", 1, "v", 1);
	cr_assert_eq(store_retained_get(g_s, "", 0, &v, &vl), TERN_EINVAL);
	cr_assert_eq(store_retained_get(NULL, "a", 1, &v, &vl), TERN_EINVAL);
	cr_assert_eq(store_retained_scan(g_s, NULL, 2, kv_collect, NULL),
	             TERN_EINVAL);
	cr_assert_eq(store_retained_count(NULL), 0);
	cr_assert_eq(store_commit(NULL), TERN_EINVAL);
	store_abort(NULL);
	cr_assert_eq(store_begin(NULL, &t), TERN_EINVAL);
}

Test(store, retained_scan_order_and_prefix)
{
	static const char *topics[] = {"a/bc", "b",   "a/b/c", "a",
	                               "a0",   "a/b", "a/b/",  "$SYS/x"};
	static const char *all[] = {"$SYS/x", "a",    "a/b", "a/b/",
	                            "a/b/c",  "a/bc", "a0",  "b"};
	struct store_txn *t;
	struct kvs c;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	for (size_t i = 0; i < sizeof(topics) / sizeof(*topics); i++)
		cr_assert_eq(store_retained_put(t, topics[i], strlen(topics[i]),
		                                topics[i], strlen(topics[i])),
		             0);
	commit(t);

	c = scan_retained(g_s, NULL); /* plen 0: all, in byte order */
	cr_assert_eq(c.n, 8);
	for (size_t i = 0; i < c.n; i++) {
		cr_assert_str_eq(c.a[i].k, all[i]);
		cr_assert_str_eq(c.a[i].v, all[i]);
	}
	kvs_free(&c);

	/* a byte prefix: "a/b" also gives "a/bc" (the broker matches
	 * filters itself) but not "a0" or "a" */
	c = scan_retained(g_s, "a/b");
	cr_assert_eq(c.n, 4);
	cr_assert_str_eq(c.a[0].k, "a/b");
	cr_assert_str_eq(c.a[1].k, "a/b/");
	cr_assert_str_eq(c.a[2].k, "a/b/c");
	cr_assert_str_eq(c.a[3].k, "a/bc");
	kvs_free(&c);
	c = scan_retained(g_s, "a/b/");
	cr_assert_eq(c.n, 2);
	kvs_free(&c);
	c = scan_retained(g_s, "zz");
	cr_assert_eq(c.n, 0);
	kvs_free(&c);
	c = scan_retained(g_s, "a/bc/d");
	cr_assert_eq(c.n, 0);
	kvs_free(&c);

	/* the callback stops the scan; its value comes back */
	c = (struct kvs){.stop_at = 2};
	cr_assert_eq(store_retained_scan(g_s, "a", 1, kv_collect, &c), 99);
	cr_assert_eq(c.n, 2);
	kvs_free(&c);
}

Test(store, retained_reads_see_committed_state_only)
{
	struct store_txn *t;
	struct kvs c;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "x", 1, "1", 1), 0);
	/* same thread, writer open: reads use their own snapshot */
	get_absent(g_s, "x", 1);
	c = scan_retained(g_s, NULL);
	cr_assert_eq(c.n, 0);
	kvs_free(&c);
	cr_assert_eq(store_retained_count(g_s), 0);
	commit(t);
	get_retained(g_s, "x", 1, "1", 1);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "y", 1, "2", 1), 0);
	store_abort(t);
	get_absent(g_s, "y", 1);
	cr_assert_eq(store_retained_count(g_s), 1);
}

Test(store, retained_long_topics)
{
	size_t lens[] = {480, 481, 500, 1000, 65535};
	char *tp[5], *twin, *v480;
	struct store_txn *t;
	struct kvs c;

	g_s = open_ok(g_dir, 0, false);
	for (int i = 0; i < 5; i++)
		tp[i] = long_topic(lens[i], "long/", 'x', "/end");
	/* shares its first 480 bytes (and more) with tp[3] */
	twin = long_topic(1000, "long/", 'x', "/END");
	v480 = long_topic(480, "long/", 'x', "xxxx");
	t = begin(g_s);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(store_retained_put(t, tp[i], lens[i], tp[i] + 480,
		                                lens[i] - 480),
		             0);
	cr_assert_eq(store_retained_put(t, twin, 1000, "twin", 4), 0);
	cr_assert_eq(store_retained_put(t, v480, 480, "480", 3), 0);
	commit(t);
	for (int i = 0; i < 5; i++)
		get_retained(g_s, tp[i], lens[i], tp[i] + 480, lens[i] - 480);
	get_retained(g_s, twin, 1000, "twin", 4);
	get_retained(g_s, v480, 480, "480", 3);
	cr_assert_eq(store_retained_count(g_s), 7);
	/* a topic of the same prefix that was never stored */
	char *none = long_topic(1000, "long/", 'x', "/NO!");
	get_absent(g_s, none, 1000);

	/* replace and reopen */
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, tp[4], 65535, "big", 3), 0);
	cr_assert_eq(store_retained_del(t, none, 1000), 0);
	commit(t);
	reopen();
	get_retained(g_s, tp[4], 65535, "big", 3);
	cr_assert_eq(store_retained_count(g_s), 7);

	/* scans: whole topics come back, with long prefixes matched on the
	 * whole topic */
	c = scan_retained(g_s, "long/");
	cr_assert_eq(c.n, 7);
	for (size_t i = 0; i < c.n; i++)
		cr_assert(c.a[i].kl >= 480);
	kvs_free(&c);
	/* prefixes of every length around the 480-byte split, against a
	 * brute-force count over the stored topics */
	{
		static const size_t plens[] = {1,   5,   479, 480, 481,
		                               495, 496, 500, 995, 996,
		                               997, 998, 999, 1000};
		const char *all[7] = {tp[0], tp[1], tp[2], tp[3],
		                      tp[4], twin,  v480};
		size_t alen[7] = {480, 481, 500, 1000, 65535, 1000, 480};

		for (size_t i = 0; i < sizeof(plens) / sizeof(*plens); i++) {
			for (int src = 3; src <= 5; src++) {
				const char *pre = all[src];
				size_t want = 0;

				for (int j = 0; j < 7; j++)
					want +=
					    alen[j] >= plens[i] &&
					    memcmp(all[j], pre, plens[i]) == 0;
				c = (struct kvs){0};
				cr_assert_eq(
				    store_retained_scan(g_s, pre, plens[i],
				                        kv_collect, &c),
				    0);
				cr_assert_eq(c.n, want,
				             "prefix %zu of topic %d: %zu, "
				             "want %zu",
				             plens[i], src, c.n, want);
				for (size_t k = 0; k < c.n; k++)
					cr_assert(memcmp(c.a[k].k, pre,
					                 plens[i]) == 0);
				kvs_free(&c);
			}
		}
	}
	c = (struct kvs){0};
	cr_assert_eq(store_retained_scan(g_s, tp[4], 65535, kv_collect, &c), 0);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.a[0].kl, 65535);
	cr_assert_str_eq(c.a[0].v, "big");
	kvs_free(&c);

	/* delete each; the twin is untouched until its turn */
	t = begin(g_s);
	cr_assert_eq(store_retained_del(t, tp[3], 1000), 0);
	commit(t);
	get_absent(g_s, tp[3], 1000);
	get_retained(g_s, twin, 1000, "twin", 4);
	t = begin(g_s);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(store_retained_del(t, tp[i], lens[i]), 0);
	cr_assert_eq(store_retained_del(t, twin, 1000), 0);
	cr_assert_eq(store_retained_del(t, v480, 480), 0);
	commit(t);
	cr_assert_eq(store_retained_count(g_s), 0);
	for (int i = 0; i < 5; i++)
		free(tp[i]);
	free(twin);
	free(v480);
	free(none);
}

/* ---- scans in chunks ---- */

struct chunk_ctx {
	struct kvs all; /* every record seen, over every chunk */
	size_t per;     /* records per chunk */
	size_t in;      /* records in this chunk so far */
};

static int chunk_cb(void *ctx, const char *k, size_t kl, const void *v,
                    size_t vl)
{
	struct chunk_ctx *cc = ctx;

	kv_collect(&cc->all, k, kl, v, vl);
	return ++cc->in == cc->per ? 1 : 0;
}

/* Scans prefix in chunks of `per` records; returns the chunks it took. */
static size_t scan_chunks(const char *prefix, size_t plen, size_t per,
                          struct kvs *out)
{
	struct store_retained_pos pos = {0};
	struct chunk_ctx cc = {.per = per};
	size_t chunks = 0;
	int rc;

	do {
		cc.in = 0;
		rc = store_retained_scan_from(g_s, prefix, plen, &pos,
		                              chunk_cb, &cc);
		cr_assert_geq(rc, 0, "scan_from: %s", tern_strerror(rc));
		chunks++;
		cr_assert_leq(chunks, 1000);
	} while (rc == 1);
	*out = cc.all;
	return chunks;
}

static int fail_cb(void *ctx, const char *k, size_t kl, const void *v,
                   size_t vl)
{
	(void)ctx;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return TERN_EIO;
}

Test(store, retained_scan_in_chunks_resumes_after_the_last_key)
{
	static const size_t ltlen[4] = {600, 600, 481, 2000};
	char *lt[4];
	const char *pre[] = {NULL, "a", "a/", "long/", "zz"};
	struct store_txn *t;
	struct kvs whole, got;

	g_s = open_ok(g_dir, 0, false);
	/* short topics and long ones, two sharing their first 480 bytes
	 * (one range, hash order) */
	lt[0] = long_topic(600, "long/", 'x', "/one");
	lt[1] = long_topic(600, "long/", 'x', "/two");
	lt[2] = long_topic(481, "long/", 'y', "/3");
	lt[3] = long_topic(2000, "a/", 'z', "/4");
	t = begin(g_s);
	for (int i = 0; i < 40; i++) {
		char k[16];
		int n = snprintf(k, sizeof(k), "a/%02d", i);

		cr_assert_eq(store_retained_put(t, k, (size_t)n, k, (size_t)n),
		             0);
	}
	cr_assert_eq(store_retained_put(t, "a", 1, "a", 1), 0);
	cr_assert_eq(store_retained_put(t, "b", 1, "b", 1), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(store_retained_put(t, lt[i], ltlen[i], "L", 1), 0);
	commit(t);

	/* every chunk size gives what one scan gives, in the same order */
	for (size_t p = 0; p < sizeof(pre) / sizeof(*pre); p++) {
		size_t plen = pre[p] ? strlen(pre[p]) : 0;

		whole = (struct kvs){0};
		cr_assert_eq(store_retained_scan(g_s, pre[p], plen, kv_collect,
		                                 &whole),
		             0);
		for (size_t per = 1; per <= 7; per++) {
			size_t chunks = scan_chunks(pre[p], plen, per, &got);

			cr_assert_eq(got.n, whole.n, "prefix %s, %zu per chunk",
			             pre[p] ? pre[p] : "(none)", per);
			cr_assert_leq(chunks, whole.n / per + 1);
			for (size_t i = 0; i < got.n; i++) {
				cr_assert_eq(got.a[i].kl, whole.a[i].kl);
				cr_assert(memcmp(got.a[i].k, whole.a[i].k,
				                 got.a[i].kl) == 0);
			}
			kvs_free(&got);
		}
		kvs_free(&whole);
	}

	/* writes between chunks: the record under pos deleted, one put
	 * before it (not seen), one after it (seen); nothing twice */
	{
		struct store_retained_pos pos = {0};
		struct chunk_ctx cc = {.per = 10};

		cr_assert_eq(store_retained_scan_from(g_s, "a/", 2, &pos,
		                                      chunk_cb, &cc),
		             1);
		cr_assert_eq(cc.all.n, 10);
		cr_assert_str_eq(cc.all.a[9].k, "a/09");
		t = begin(g_s);
		cr_assert_eq(store_retained_del(t, "a/09", 4), 0);
		cr_assert_eq(store_retained_put(t, "a/05x", 5, "n", 1), 0);
		cr_assert_eq(store_retained_put(t, "a/09x", 5, "n", 1), 0);
		commit(t);
		cc.in = 0;
		cc.per = 1000;
		cr_assert_eq(store_retained_scan_from(g_s, "a/", 2, &pos,
		                                      chunk_cb, &cc),
		             0);
		cr_assert_str_eq(cc.all.a[10].k, "a/09x");
		cr_assert_str_eq(cc.all.a[11].k, "a/10");
		/* 10, then a/09x, a/10..a/39 and the long a/ topic */
		cr_assert_eq(cc.all.n, 42, "%zu", cc.all.n);
		for (size_t i = 1; i < cc.all.n; i++)
			cr_assert(strcmp(cc.all.a[i - 1].k, cc.all.a[i].k) < 0);
		kvs_free(&cc.all);
	}

	/* a callback error is returned; bad arguments are refused */
	{
		struct store_retained_pos pos = {0};
		struct kvs c = {.stop_at = 1};

		cr_assert_eq(store_retained_scan_from(g_s, "a", 1, &pos,
		                                      kv_collect, &c),
		             1); /* 99 > 0: end of the chunk */
		kvs_free(&c);
		cr_assert_eq(store_retained_scan_from(g_s, "a", 1, &pos,
		                                      fail_cb, NULL),
		             TERN_EIO);
		cr_assert_eq(store_retained_scan_from(g_s, "a", 1, NULL,
		                                      kv_collect, &c),
		             TERN_EINVAL);
		pos.len = STORE_RETAINED_KEY_MAX + 1;
		cr_assert_eq(store_retained_scan_from(g_s, "a", 1, &pos,
		                                      kv_collect, &c),
		             TERN_EINVAL);
	}
	for (int i = 0; i < 4; i++)
		free(lt[i]);
}

Test(store, retained_long_key_layout)
{
	char *topic = long_topic(700, "deep/", 'y', "/leaf");
	uint8_t key[490], val[800];
	struct store_txn *t;
	uint64_t h = fnv1a64(topic, 700);

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, topic, 700, "payload", 7), 0);
	cr_assert_eq(store_retained_put(t, "short", 5, "s", 1), 0);
	commit(t);
	store_close(g_s);
	g_s = NULL;
	memcpy(key, topic, 480);
	be64(key + 480, h);
	key[488] = 0;
	key[489] = 0;
	cr_assert_eq(raw_get(g_dir, "retained", key, 490, val, sizeof(val)),
	             4 + 700 + 7);
	cr_assert_eq(get_le32(val), 700);
	cr_assert(memcmp(val + 4, topic, 700) == 0);
	cr_assert(memcmp(val + 704, "payload", 7) == 0);
	cr_assert_eq(raw_get(g_dir, "retained", "short", 5, val, sizeof(val)),
	             1);
	free(topic);
}

Test(store, retained_hash_collision_keeps_both)
{
	/* plant a record in B's range for another topic A (what a real
	 * FNV collision would look like) and check B neither clobbers nor
	 * confuses it */
	char *a = long_topic(600, "col/", 'z', "/A"),
	     *b = long_topic(600, "col/", 'z', "/B");
	uint8_t key[490], val[4 + 600 + 1];
	struct store_txn *t;
	struct kvs c;

	g_s = open_ok(g_dir, 0, false);
	store_close(g_s);
	g_s = NULL;
	memcpy(key, b, 480);
	be64(key + 480, fnv1a64(b, 600));
	key[488] = key[489] = 0;
	val[0] = 600 & 0xff;
	val[1] = 600 >> 8;
	val[2] = val[3] = 0;
	memcpy(val + 4, a, 600);
	val[604] = 'a';
	raw_put(g_dir, "retained", key, 490, val, sizeof(val));

	g_s = open_ok(g_dir, 0, false);
	get_absent(g_s, b, 600);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, b, 600, "b", 1), 0);
	cr_assert_eq(store_retained_put(t, b, 600, "bb", 2), 0); /* replace */
	commit(t);
	get_retained(g_s, b, 600, "bb", 2);
	cr_assert_eq(store_retained_count(g_s), 2);
	c = scan_retained(g_s, "col/");
	cr_assert_eq(c.n, 2);
	cr_assert(memcmp(c.a[0].k, a, 600) == 0); /* slot 0 */
	cr_assert_str_eq(c.a[0].v, "a");
	cr_assert(memcmp(c.a[1].k, b, 600) == 0); /* slot 1 */
	kvs_free(&c);
	t = begin(g_s);
	cr_assert_eq(store_retained_del(t, b, 600), 0);
	commit(t);
	get_absent(g_s, b, 600);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_get(g_dir, "retained", key, 490, val, sizeof(val)),
	             4 + 600 + 1); /* A's record is still there */
	key[489] = 1;
	cr_assert_eq(raw_get(g_dir, "retained", key, 490, val, sizeof(val)),
	             -1);
	free(a);
	free(b);
}

/* ------------------------------------------------------------ sessions */

Test(store, session_round_trip)
{
	struct store_txn *t;
	struct kvs c = {0};

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_session_put(t, "b", 1, "vb", 2), 0);
	cr_assert_eq(store_session_put(t, "a", 1, "va", 2), 0);
	cr_assert_eq(store_session_put(t, "a", 1, "va2", 3), 0);
	cr_assert_eq(store_session_put(t, "c", 1, NULL, 0), 0);
	commit(t);
	cr_assert_eq(store_session_scan(g_s, kv_collect, &c), 0);
	cr_assert_eq(c.n, 3);
	cr_assert_str_eq(c.a[0].k, "a");
	cr_assert_str_eq(c.a[0].v, "va2");
	cr_assert_str_eq(c.a[1].k, "b");
	cr_assert_eq(c.a[2].vl, 0);
	kvs_free(&c);
	t = begin(g_s);
	cr_assert_eq(store_session_del(t, "b", 1), 0);
	cr_assert_eq(store_session_del(t, "b", 1), 0);
	cr_assert_eq(store_session_del(t, "nobody", 6), 0);
	commit(t);
	cr_assert_eq(store_session_scan(g_s, kv_collect, &c), 0);
	cr_assert_eq(c.n, 2);
	kvs_free(&c);
	c.stop_at = 1;
	cr_assert_eq(store_session_scan(g_s, kv_collect, &c), 99);
	kvs_free(&c);
	cr_assert_eq(store_session_scan(NULL, kv_collect, &c), TERN_EINVAL);
	cr_assert_eq(store_session_scan(g_s, NULL, &c), TERN_EINVAL);
}

Test(store, client_id_limits)
{
	char id[504];
	struct store_txn *t;
	struct ents e;

	memset(id, 'i', sizeof(id));
	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(STORE_MAX_ID_LEN, 502);
	cr_assert_eq(store_session_put(t, id, 502, "v", 1), 0);
	cr_assert_eq(store_entry_put(t, id, 502, UINT64_MAX, 1, "m", 1, "v", 1),
	             0);
	cr_assert_eq(store_qos2_put(t, id, 502, 65535), 0);
	cr_assert_eq(store_session_put(t, id, 503, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_entry_put(t, id, 503, 1, 1, "m", 1, "v", 1),
	             TERN_EINVAL);
	cr_assert_eq(store_entry_update(t, id, 503, 1, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_entry_del(t, id, 503, 1), TERN_EINVAL);
	cr_assert_eq(store_qos2_put(t, id, 503, 1), TERN_EINVAL);
	cr_assert_eq(store_qos2_del(t, id, 503, 1), TERN_EINVAL);
	cr_assert_eq(store_session_del(t, id, 503), TERN_EINVAL);
	cr_assert_eq(store_session_put(t, "", 0, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_session_put(t, "a\0b", 3, "v", 1), TERN_EINVAL);
	cr_assert_eq(store_entry_put(t, "a\0b", 3, 1, 1, "m", 1, "v", 1),
	             TERN_EINVAL);
	cr_assert_eq(store_qos2_put(t, "a\0", 2, 1), TERN_EINVAL);
	cr_assert_eq(store_entry_put(t, "a", 1, 1, 1, NULL, 5, "v", 1),
	             TERN_EINVAL);
	commit(t); /* EINVAL does not spoil the transaction */
	e = scan_entries(g_s, id, 502);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.a[0].seq, UINT64_MAX);
	ents_free(&e);
	cr_assert_eq(store_entry_scan(g_s, id, 503, ent_collect, &e),
	             TERN_EINVAL);
	cr_assert_eq(store_qos2_scan(g_s, "", 0, pid_collect, &e), TERN_EINVAL);
}

Test(store, client_ids_that_prefix_each_other_stay_apart)
{
	static const char *ids[] = {"a", "ab", "a\x01", "a\xff", "b"};
	struct store_txn *t;
	struct ents e;
	struct pids p;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	for (int i = 0; i < 5; i++) {
		size_t n = strlen(ids[i]);

		cr_assert_eq(store_session_put(t, ids[i], n, "s", 1), 0);
		for (uint64_t q = 0; q < 3; q++)
			cr_assert_eq(store_entry_put(t, ids[i], n, q,
			                             (uint64_t)(10 * i) + q,
			                             ids[i], n, "v", 1),
			             0);
		cr_assert_eq(store_qos2_put(t, ids[i], n, (uint16_t)i), 0);
	}
	commit(t);
	for (int i = 0; i < 5; i++) {
		e = scan_entries(g_s, ids[i], strlen(ids[i]));
		cr_assert_eq(e.n, 3, "%s: %zu entries", ids[i], e.n);
		for (size_t j = 0; j < 3; j++) {
			cr_assert_eq(e.a[j].seq, j);
			cr_assert_eq(e.a[j].msg, (uint64_t)(10 * i) + j);
			cr_assert_str_eq(e.a[j].body, ids[i]);
		}
		ents_free(&e);
		p = scan_qos2(g_s, ids[i], strlen(ids[i]));
		cr_assert_eq(p.n, 1);
		cr_assert_eq(p.a[0], i);
	}
	t = begin(g_s);
	cr_assert_eq(store_session_del(t, "a", 1), 0);
	commit(t);
	e = scan_entries(g_s, "a", 1);
	cr_assert_eq(e.n, 0);
	ents_free(&e);
	for (int i = 1; i < 5; i++) {
		e = scan_entries(g_s, ids[i], strlen(ids[i]));
		cr_assert_eq(e.n, 3);
		ents_free(&e);
		cr_assert_eq(scan_qos2(g_s, ids[i], strlen(ids[i])).n, 1);
	}
	store_close(g_s);
	g_s = NULL;
	raw_check_refs(g_dir);
}

/* ------------------------------------------------------------- entries */

Test(store, entry_round_trip_in_seq_order)
{
	static const uint64_t seqs[] = {256,        1, 65536,      255,
	                                1ULL << 40, 0, UINT64_MAX, 4096};
	static const uint64_t sorted[] = {0,    1,     255,        256,
	                                  4096, 65536, 1ULL << 40, UINT64_MAX};
	struct store_txn *t;
	struct ents e;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	for (int i = 0; i < 8; i++) {
		char v[32];
		int n = snprintf(v, sizeof(v), "v%llu",
		                 (unsigned long long)seqs[i]);

		cr_assert_eq(store_entry_put(t, "c", 1, seqs[i],
		                             100 + seqs[i] % 7, "body", 4, v,
		                             (size_t)n),
		             0);
	}
	commit(t);
	e = scan_entries(g_s, "c", 1);
	cr_assert_eq(e.n, 8);
	for (int i = 0; i < 8; i++) {
		char v[32];

		snprintf(v, sizeof(v), "v%llu", (unsigned long long)sorted[i]);
		cr_assert_eq(e.a[i].seq, sorted[i]);
		cr_assert_eq(e.a[i].msg, 100 + sorted[i] % 7);
		cr_assert_str_eq(e.a[i].val, v);
		cr_assert_str_eq(e.a[i].body, "body");
	}
	ents_free(&e);

	/* update keeps the message; absent: ENOTFOUND, txn still good */
	t = begin(g_s);
	cr_assert_eq(store_entry_update(t, "c", 1, 256, "pubrec", 6), 0);
	cr_assert_eq(store_entry_update(t, "c", 1, 12345, "x", 1),
	             TERN_ENOTFOUND);
	cr_assert_eq(store_entry_update(t, "zz", 2, 1, "x", 1), TERN_ENOTFOUND);
	cr_assert_eq(store_entry_update(t, "c", 1, 0, NULL, 0), 0);
	cr_assert_eq(store_entry_del(t, "c", 1, UINT64_MAX), 0);
	cr_assert_eq(store_entry_del(t, "c", 1, UINT64_MAX), 0);
	cr_assert_eq(store_entry_del(t, "c", 1, 999), 0);
	commit(t);
	e = scan_entries(g_s, "c", 1);
	cr_assert_eq(e.n, 7);
	cr_assert_eq(e.a[0].vl, 0);
	cr_assert_eq(e.a[0].msg, 100);
	cr_assert_eq(e.a[3].seq, 256);
	cr_assert_str_eq(e.a[3].val, "pubrec");
	cr_assert_eq(e.a[3].msg, 100 + 256 % 7);
	ents_free(&e);
	store_close(g_s);
	g_s = NULL;
	raw_check_refs(g_dir);
}

Test(store, entry_put_twice_is_idempotent)
{
	struct store_txn *t;
	struct store_stats st;

	g_s = open_ok(g_dir, 0, false);
	for (int round = 0; round < 2; round++) {
		t = begin(g_s);
		cr_assert_eq(
		    store_entry_put(t, "c", 1, 1, 9, "body", 4, "v", 1), 0);
		cr_assert_eq(
		    store_entry_put(t, "c", 1, 1, 9, "body", 4, "w", 1), 0);
		commit(t);
	}
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.entries, 1);
	cr_assert_eq(st.msgs, 1);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 9), 1);
}

Test(store, entry_put_over_another_message_moves_the_reference)
{
	struct store_txn *t;
	struct ents e;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "c", 1, 1, 1, "one", 3, "v", 1), 0);
	commit(t);
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "c", 1, 1, 2, "two", 3, "v", 1), 0);
	commit(t);
	e = scan_entries(g_s, "c", 1);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.a[0].msg, 2);
	cr_assert_str_eq(e.a[0].body, "two");
	ents_free(&e);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 1), -1);
	cr_assert_eq(raw_refcount(g_dir, 2), 1);
}

Test(store, refcount_shared_body)
{
	struct store_txn *t;
	struct store_stats st;
	struct ents e;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "A", 1, 1, 7, "shared", 6, "a", 1), 0);
	/* the body is written with the first reference only */
	cr_assert_eq(store_entry_put(t, "B", 1, 1, 7, "IGNORED", 7, "b", 1), 0);
	commit(t);
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "C", 1, 5, 7, NULL, 0, "c", 1), 0);
	commit(t);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.msgs, 1);
	cr_assert_eq(st.entries, 3);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 7), 3);

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_entry_del(t, "A", 1, 1), 0);
	commit(t);
	e = scan_entries(g_s, "B", 1);
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.a[0].body, "shared");
	ents_free(&e);
	t = begin(g_s);
	cr_assert_eq(store_entry_del(t, "C", 1, 5), 0);
	commit(t);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 7), 1);
	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_entry_del(t, "B", 1, 1), 0);
	commit(t);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.msgs, 0);
	cr_assert_eq(st.entries, 0);
}

Test(store, session_del_removes_all_it_holds)
{
	struct store_txn *t;
	struct store_stats st;
	struct ents e;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_session_put(t, "A", 1, "sa", 2), 0);
	cr_assert_eq(store_session_put(t, "B", 1, "sb", 2), 0);
	cr_assert_eq(store_entry_put(t, "A", 1, 1, 1, "m1", 2, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "A", 1, 2, 2, "m2", 2, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "A", 1, 3, 2, "m2", 2, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "B", 1, 1, 1, "m1", 2, "", 0), 0);
	cr_assert_eq(store_qos2_put(t, "A", 1, 1), 0);
	cr_assert_eq(store_qos2_put(t, "A", 1, 2), 0);
	cr_assert_eq(store_qos2_put(t, "B", 1, 3), 0);
	commit(t);
	t = begin(g_s);
	cr_assert_eq(store_session_del(t, "A", 1), 0);
	commit(t);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.sessions, 1);
	cr_assert_eq(st.entries, 1);
	cr_assert_eq(st.msgs, 1);
	e = scan_entries(g_s, "A", 1);
	cr_assert_eq(e.n, 0);
	ents_free(&e);
	cr_assert_eq(scan_qos2(g_s, "A", 1).n, 0);
	cr_assert_eq(scan_qos2(g_s, "B", 1).n, 1);
	e = scan_entries(g_s, "B", 1);
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.a[0].body, "m1");
	ents_free(&e);
	/* entries without a session record go too */
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "X", 1, 1, 3, "m3", 2, "", 0), 0);
	cr_assert_eq(store_session_del(t, "X", 1), 0);
	commit(t);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.msgs, 1);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 1), 1);
	cr_assert_eq(raw_refcount(g_dir, 2), -1);
	raw_check_refs(g_dir);
}

Test(store, refcounts_within_one_transaction)
{
	struct store_txn *t;
	struct store_stats st;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	/* created, shared, dropped by all: gone at the commit */
	cr_assert_eq(store_entry_put(t, "A", 1, 1, 1, "m1", 2, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "B", 1, 1, 1, "m1", 2, "", 0), 0);
	cr_assert_eq(store_entry_del(t, "A", 1, 1), 0);
	cr_assert_eq(store_entry_del(t, "B", 1, 1), 0);
	/* put, del, put: one reference */
	cr_assert_eq(store_entry_put(t, "A", 1, 2, 2, "m2", 2, "", 0), 0);
	cr_assert_eq(store_entry_del(t, "A", 1, 2), 0);
	cr_assert_eq(store_entry_put(t, "A", 1, 3, 2, "m2", 2, "", 0), 0);
	commit(t);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.msgs, 1);
	cr_assert_eq(st.entries, 1);
	/* an existing body: all references dropped and one taken again */
	t = begin(g_s);
	cr_assert_eq(store_entry_del(t, "A", 1, 3), 0);
	cr_assert_eq(store_entry_put(t, "C", 1, 1, 2, NULL, 0, "", 0), 0);
	commit(t);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 1), -1);
	cr_assert_eq(raw_refcount(g_dir, 2), 1);
	raw_check_refs(g_dir);
}

Test(store, big_body_fan_out)
{
	size_t blen = 300 * 1024;
	char *body = malloc(blen), id[16];
	struct store_txn *t;
	struct ents e;

	for (size_t i = 0; i < blen; i++)
		body[i] = (char)(i * 7 + i / 1000);
	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	for (int i = 0; i < 200; i++) {
		int n = snprintf(id, sizeof(id), "s%03d", i);

		cr_assert_eq(store_entry_put(t, id, (size_t)n, 1, 42, body,
		                             blen, "v", 1),
		             0);
	}
	commit(t);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 42), 200);
	g_s = open_ok(g_dir, 0, false);
	/* drop them over several transactions, checking the body */
	for (int i = 0; i < 199; i++) {
		int n = snprintf(id, sizeof(id), "s%03d", i);

		t = begin(g_s);
		cr_assert_eq(store_entry_del(t, id, (size_t)n, 1), 0);
		commit(t);
		if (i % 50 == 0) {
			e = scan_entries(g_s, "s199", 4);
			cr_assert_eq(e.n, 1);
			cr_assert_eq(e.a[0].bl, blen);
			cr_assert(memcmp(e.a[0].body, body, blen) == 0);
			ents_free(&e);
		}
	}
	e = scan_entries(g_s, "s199", 4);
	cr_assert_eq(e.n, 1);
	cr_assert(memcmp(e.a[0].body, body, blen) == 0);
	ents_free(&e);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 42), 1);
	free(body);
}

/* A random mix of every write against a small model, with reopens (each
 * runs the structural check on a store LMDB has churned). */
Test(store, random_workload_matches_model, .timeout = 120)
{
	enum { NID = 6, NSEQ = 12, NMSG = 20 };
	struct {
		bool present;
		uint64_t msg;
		char val[8];
	} model[NID][NSEQ] = {0};
	bool sess[NID] = {0};
	unsigned r = 12345;
	static char body[9000];
	struct store_txn *t;

	g_s = open_ok(g_dir, 0, false);
	for (int round = 0; round < 60; round++) {
		t = begin(g_s);
		for (int op = 0; op < 40; op++) {
			char id[4] = {'c', (char)('0' + 0), 0, 0};
			int i, q, m;

			r = r * 1103515245 + 12345;
			i = (int)(r >> 8) % NID;
			q = (int)(r >> 12) % NSEQ;
			m = (int)(r >> 16) % NMSG;
			id[1] = (char)('0' + i);
			switch ((r >> 20) % 8) {
			case 0:
			case 1:
			case 2: {
				size_t bl = m % 4 == 0 ? 5000 + (size_t)m : 10;

				memset(body, 'a' + m, bl);
				cr_assert_eq(store_entry_put(
				                 t, id, 2, (uint64_t)q,
				                 (uint64_t)m, body, bl, "p", 1),
				             0);
				model[i][q].present = true;
				model[i][q].msg = (uint64_t)m;
				strcpy(model[i][q].val, "p");
				break;
			}
			case 3: {
				int rc = store_entry_update(
				    t, id, 2, (uint64_t)q, "u", 1);

				cr_assert_eq(rc, model[i][q].present
				                     ? 0
				                     : TERN_ENOTFOUND);
				if (model[i][q].present)
					strcpy(model[i][q].val, "u");
				break;
			}
			case 4:
			case 5:
				cr_assert_eq(
				    store_entry_del(t, id, 2, (uint64_t)q), 0);
				model[i][q].present = false;
				break;
			case 6:
				cr_assert_eq(
				    store_session_put(t, id, 2, "s", 1), 0);
				sess[i] = true;
				break;
			default:
				if ((r >> 24) % 4)
					break;
				cr_assert_eq(store_session_del(t, id, 2), 0);
				sess[i] = false;
				for (int j = 0; j < NSEQ; j++)
					model[i][j].present = false;
				break;
			}
		}
		commit(t);
		if (round % 15 == 14)
			reopen();
		for (int i = 0; i < NID; i++) {
			char id[3] = {'c', (char)('0' + i), 0};
			struct ents e = scan_entries(g_s, id, 2);
			size_t k = 0;

			for (int q = 0; q < NSEQ; q++) {
				if (!model[i][q].present)
					continue;
				cr_assert(k < e.n);
				cr_assert_eq(e.a[k].seq, (uint64_t)q);
				cr_assert_eq(e.a[k].msg, model[i][q].msg);
				cr_assert_str_eq(e.a[k].val, model[i][q].val);
				cr_assert_eq(e.a[k].body[0],
				             'a' + (int)model[i][q].msg);
				k++;
			}
			cr_assert_eq(k, e.n);
			ents_free(&e);
		}
	}
	(void)sess;
	store_close(g_s);
	g_s = NULL;
	raw_check_refs(g_dir);
	g_s = open_ok(g_dir, 0, false);
}

/* ---------------------------------------------------------------- qos2 */

Test(store, qos2_round_trip)
{
	static const uint16_t pids[] = {256, 1, 65535, 255, 0, 2};
	static const uint16_t sorted[] = {0, 1, 2, 255, 256, 65535};
	struct store_txn *t;
	struct pids p;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(store_qos2_put(t, "c", 1, pids[i]), 0);
	cr_assert_eq(store_qos2_put(t, "c", 1, 1), 0); /* twice: once */
	commit(t);
	p = scan_qos2(g_s, "c", 1);
	cr_assert_eq(p.n, 6);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(p.a[i], sorted[i]);
	t = begin(g_s);
	cr_assert_eq(store_qos2_del(t, "c", 1, 255), 0);
	cr_assert_eq(store_qos2_del(t, "c", 1, 255), 0);
	cr_assert_eq(store_qos2_del(t, "d", 1, 1), 0);
	commit(t);
	p = scan_qos2(g_s, "c", 1);
	cr_assert_eq(p.n, 5);
	cr_assert_eq(p.a[3], 256);
	p = scan_qos2(g_s, "d", 1);
	cr_assert_eq(p.n, 0);
}

/* ------------------------------------------------------ ids and stats */

Test(store, max_ids)
{
	struct store_txn *t;
	uint64_t msg = 1, seq = 1;

	g_s = open_ok(g_dir, 0, false);
	cr_assert_eq(store_max_ids(g_s, &msg, &seq), 0);
	cr_assert_eq(msg, 0);
	cr_assert_eq(seq, 0);
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "a", 1, 5, 3, "m", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "a", 1, 900, 1000, "m", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "b", 1, 1ULL << 33, 42, "m", 1, "", 0),
	             0);
	cr_assert_eq(store_entry_put(t, "b", 1, 7, 42, "m", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "c", 1, 1, 256, "m", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "ca", 1, 2, 255, "m", 1, "", 0), 0);
	commit(t);
	cr_assert_eq(store_max_ids(g_s, &msg, &seq), 0);
	cr_assert_eq(msg, 1000);
	cr_assert_eq(seq, 1ULL << 33);
	reopen();
	cr_assert_eq(store_max_ids(g_s, &msg, &seq), 0);
	cr_assert_eq(msg, 1000);
	cr_assert_eq(seq, 1ULL << 33);
	t = begin(g_s);
	cr_assert_eq(store_session_del(t, "b", 1), 0);
	cr_assert_eq(store_entry_del(t, "a", 1, 900), 0);
	commit(t);
	cr_assert_eq(store_max_ids(g_s, &msg, &seq), 0);
	cr_assert_eq(msg, 256);
	cr_assert_eq(seq, 5);
	cr_assert_eq(store_max_ids(NULL, &msg, &seq), TERN_EINVAL);
}

Test(store, stats)
{
	struct store_txn *t;
	struct store_stats st;
	struct stat fst;

	g_s = open_ok(g_dir, 0, false);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.map_size, 16 * GIB);
	cr_assert_eq(st.sessions + st.entries + st.msgs + st.retained, 0);
	t = begin(g_s);
	cr_assert_eq(store_session_put(t, "a", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "a", 1, 1, 1, "m", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "a", 1, 2, 1, "m", 1, "", 0), 0);
	cr_assert_eq(store_entry_put(t, "a", 1, 3, 2, "m", 1, "", 0), 0);
	cr_assert_eq(store_retained_put(t, "r", 1, "", 0), 0);
	commit(t);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.sessions, 1);
	cr_assert_eq(st.entries, 3);
	cr_assert_eq(st.msgs, 2);
	cr_assert_eq(st.retained, 1);
	cr_assert_eq(stat(store_path(g_s), &fst), 0);
	cr_assert(st.used_bytes > 0 && st.used_bytes <= (uint64_t)fst.st_size);
	cr_assert_eq(store_get_stats(g_s, NULL), TERN_EINVAL);
	store_close(g_s);
	g_s = open_ok(g_dir, 64 * GIB, false);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.map_size, 64 * GIB);
}

/* ------------------------------------------------------------ map full */

/* Fills a small map through transactions of 4 puts of 8 KiB until one
 * fails; returns how many topics were committed. */
static int fill_until_full(struct store *s, int *failed_in_commit)
{
	static char v[8192];
	int committed = 0;

	memset(v, 'f', sizeof(v));
	for (int round = 0; round < 10000; round++) {
		struct store_txn *t = begin(s);
		int rc = 0, i;

		for (i = 0; i < 4 && !rc; i++) {
			char topic[32];
			int n = snprintf(topic, sizeof(topic), "fill/%06d",
			                 committed + i);

			rc = store_retained_put(t, topic, (size_t)n, v,
			                        sizeof(v));
		}
		if (rc) {
			cr_assert_eq(rc, TERN_EQUOTA, "%s", tern_strerror(rc));
			/* the transaction is spoilt: later writes say so */
			cr_assert_eq(store_retained_put(t, "x", 1, "x", 1),
			             TERN_EQUOTA);
			cr_assert_eq(store_session_put(t, "x", 1, "x", 1),
			             TERN_EQUOTA);
			cr_assert_eq(store_commit(t), TERN_EQUOTA);
			*failed_in_commit = 0;
			return committed;
		}
		rc = store_commit(t);
		if (rc) {
			cr_assert_eq(rc, TERN_EQUOTA, "%s", tern_strerror(rc));
			*failed_in_commit = 1;
			return committed;
		}
		committed += 4;
	}
	cr_assert_fail("the map never filled");
	return 0;
}

Test(store, map_full_is_equota_and_applies_nothing)
{
	struct store_txn *t;
	struct store_stats st;
	int committed, in_commit;
	char topic[32];

	g_s = open_ok(g_dir, 512 * 1024, false);
	committed = fill_until_full(g_s, &in_commit);
	cr_assert(committed > 0);
	/* nothing of the failed transaction is there; reads work */
	cr_assert_eq(store_retained_count(g_s), (size_t)committed);
	snprintf(topic, sizeof(topic), "fill/%06d", committed);
	get_absent(g_s, topic, strlen(topic));
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert(st.used_bytes <= st.map_size);
	/* deletes work, and then a smaller write fits */
	t = begin(g_s);
	for (int i = 0; i < 8; i++) {
		snprintf(topic, sizeof(topic), "fill/%06d", i);
		cr_assert_eq(store_retained_del(t, topic, strlen(topic)), 0);
	}
	commit(t);
	t = begin(g_s);
	cr_assert_eq(store_retained_put(t, "small", 5, "fits", 4), 0);
	cr_assert_eq(store_session_put(t, "s", 1, "fits", 4), 0);
	cr_assert_eq(store_entry_put(t, "s", 1, 1, 1, "m", 1, "", 0), 0);
	commit(t);
	get_retained(g_s, "small", 5, "fits", 4);
	cr_assert_eq(store_retained_count(g_s), (size_t)committed - 8 + 1);
	/* and it all survives a reopen with the same small map */
	store_close(g_s);
	g_s = open_ok(g_dir, 512 * 1024, false);
	get_retained(g_s, "small", 5, "fits", 4);
	cr_assert_eq(store_retained_count(g_s), (size_t)committed - 8 + 1);
}

Test(store, map_smaller_than_the_data_uses_the_data_size)
{
	static char v[4096];
	struct store_txn *t;
	struct store_stats st;

	memset(v, 'd', sizeof(v));
	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	for (int i = 0; i < 500; i++) {
		char topic[32];
		int n = snprintf(topic, sizeof(topic), "d/%d", i);

		cr_assert_eq(
		    store_retained_put(t, topic, (size_t)n, v, sizeof(v)), 0);
	}
	commit(t);
	store_close(g_s);
	g_s = open_ok(g_dir, 64 * 1024, false);
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert(st.map_size >= st.used_bytes, "map %llu < used %llu",
	          (unsigned long long)st.map_size,
	          (unsigned long long)st.used_bytes);
	cr_assert(st.used_bytes > 2 * 1024 * 1024);
	cr_assert_eq(store_retained_count(g_s), 500);
	get_retained(g_s, "d/499", 5, v, sizeof(v));
	/* the map is exactly the data: writes may find no room, and say so */
	t = begin(g_s);
	{
		int rc = store_retained_del(t, "d/0", 3);

		cr_assert(rc == 0 || rc == TERN_EQUOTA, "%s",
		          tern_strerror(rc));
		rc = store_commit(t);
		cr_assert(rc == 0 || rc == TERN_EQUOTA, "%s",
		          tern_strerror(rc));
	}
	/* a larger map_size on the next start makes room */
	store_close(g_s);
	g_s = open_ok(g_dir, 64 * 1024 * 1024, false);
	t = begin(g_s);
	for (int i = 0; i < 100; i++) {
		char topic[32];
		int n = snprintf(topic, sizeof(topic), "d/%d", i);

		cr_assert_eq(store_retained_del(t, topic, (size_t)n), 0);
	}
	cr_assert_eq(store_retained_put(t, "new", 3, "v", 1), 0);
	commit(t);
	store_close(g_s);
	g_s = open_ok(g_dir, 0, false);
	cr_assert_eq(store_retained_count(g_s), 401);
}

Test(store, map_too_small_to_create)
{
	char err[512];

	cr_assert_eq(open_fail(g_dir, 8192, err, sizeof(err)), TERN_EQUOTA);
	cr_assert(strstr(err, g_dir) && strstr(err, "map_size"), "%s", err);
}

/* ------------------------------------------------- damage and threads */

struct errs {
	int n;
	char last[768];
};

static void on_error(void *ctx, const char *msg)
{
	struct errs *e = ctx;

	e->n++;
	snprintf(e->last, sizeof(e->last), "%s", msg);
}

Test(store, corrupt_records_are_eio_and_logged)
{
	uint8_t k[16], v[2] = {1, 2};
	struct store_txn *t;
	struct errs e = {0};
	struct ents en = {0};
	struct kvs c = {0};
	struct pids p = {0};

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_entry_put(t, "m", 1, 1, 5, "m5", 2, "", 0), 0);
	commit(t);
	store_close(g_s);
	g_s = NULL;
	/* an entry value too short to hold a msg id */
	memcpy(k, "x\0", 2);
	be64(k + 2, 1);
	raw_put(g_dir, "entries", k, 10, v, 2);
	/* a message body without its count */
	be64(k, 5);
	raw_put(g_dir, "msgs", k, 8, v, 2);
	/* a qos2 key of the wrong length */
	raw_put(g_dir, "qos2", "q\0\1", 3, "", 0);
	/* a retained key of a length no topic can have */
	{
		char rk[485];

		memset(rk, 'r', sizeof(rk));
		raw_put(g_dir, "retained", rk, sizeof(rk), "v", 1);
	}

	g_s = open_ok(g_dir, 0, false);
	store_set_error_cb(g_s, on_error, &e);
	cr_assert_eq(store_entry_scan(g_s, "x", 1, ent_collect, &en), TERN_EIO);
	cr_assert_eq(e.n, 1);
	cr_assert(strstr(e.last, g_dir) && strstr(e.last, "corrupt"), "%s",
	          e.last);
	cr_assert_eq(store_entry_scan(g_s, "m", 1, ent_collect, &en), TERN_EIO);
	cr_assert(strstr(e.last, "message 5"), "%s", e.last);
	cr_assert_eq(store_qos2_scan(g_s, "q", 1, pid_collect, &p), TERN_EIO);
	cr_assert_eq(store_retained_scan(g_s, "r", 1, kv_collect, &c),
	             TERN_EIO);
	cr_assert_eq(e.n, 4);
	ents_free(&en);
	kvs_free(&c);
	/* the damage can be cleaned away */
	t = begin(g_s);
	cr_assert_eq(store_session_del(t, "x", 1), 0);
	cr_assert_eq(store_session_del(t, "m", 1), 0);
	cr_assert_eq(store_session_del(t, "q", 1), 0);
	commit(t);
	en = scan_entries(g_s, "x", 1);
	cr_assert_eq(en.n, 0);
	ents_free(&en);
	store_close(g_s);
	g_s = NULL;
	cr_assert_eq(raw_refcount(g_dir, 5), -1);
}

struct thread_arg {
	struct store *s;
	int id;
	int rc;
};

static void *writer(void *p)
{
	struct thread_arg *a = p;
	char topic[32];

	for (int i = 0; i < 100 && !a->rc; i++) {
		struct store_txn *t;
		int n = snprintf(topic, sizeof(topic), "w%d/%d", a->id, i);

		a->rc = store_begin(a->s, &t);
		if (a->rc)
			break;
		a->rc = store_retained_put(t, topic, (size_t)n, "v", 1);
		if (!a->rc)
			a->rc = store_entry_put(t, topic, (size_t)n, 1,
			                        (uint64_t)(a->id * 1000 + i),
			                        "m", 1, "", 0);
		if (a->rc)
			store_abort(t);
		else
			a->rc = store_commit(t);
	}
	return NULL;
}

static int count_cb(void *ctx, const char *k, size_t kl, const void *v,
                    size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	++*(int *)ctx;
	return 0;
}

static void *reader(void *p)
{
	struct thread_arg *a = p;
	int last = 0;

	for (int i = 0; i < 300 && !a->rc; i++) {
		int n = 0;

		a->rc = store_retained_scan(a->s, "w", 1, count_cb, &n);
		if (!a->rc && n < last)
			a->rc = -1000; /* went back in time */
		last = n;
	}
	return NULL;
}

Test(store, threads_write_and_read_concurrently, .timeout = 120)
{
	pthread_t th[4];
	struct thread_arg args[4];
	struct store_stats st;

	g_s = open_ok(g_dir, 0, false);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){g_s, i, 0};
		cr_assert_eq(pthread_create(&th[i], NULL,
		                            i < 3 ? writer : reader, &args[i]),
		             0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(args[i].rc, 0, "thread %d: %d", i, args[i].rc);
	}
	cr_assert_eq(store_get_stats(g_s, &st), 0);
	cr_assert_eq(st.retained, 300);
	cr_assert_eq(st.entries, 300);
	cr_assert_eq(st.msgs, 300);
}

/* ------------------------------------------------------ golden stores */

static void check_valid_fixture(struct store *s)
{
	static const char *rt[] = {"sensors/1/hum", "sensors/1/temp",
	                           "sensors/2/temp"};
	static const char *rv[] = {"40", "21.5", "19.0"};
	char *lt = long_topic(600, "long/", 'x', "/end");
	struct kvs c;
	struct ents e;
	struct pids p;
	struct store_stats st;
	uint64_t msg, seq;

	c = scan_retained(s, NULL);
	cr_assert_eq(c.n, 4);
	cr_assert_eq(c.a[0].kl, 600);
	cr_assert(memcmp(c.a[0].k, lt, 600) == 0);
	cr_assert_str_eq(c.a[0].v, "long value");
	for (int i = 0; i < 3; i++) {
		cr_assert_str_eq(c.a[1 + i].k, rt[i]);
		cr_assert_str_eq(c.a[1 + i].v, rv[i]);
	}
	kvs_free(&c);
	get_retained(s, lt, 600, "long value", 10);

	c = (struct kvs){0};
	cr_assert_eq(store_session_scan(s, kv_collect, &c), 0);
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.a[0].k, "alice");
	cr_assert_str_eq(c.a[0].v, "session-alice");
	cr_assert_str_eq(c.a[1].k, "bob");
	cr_assert_str_eq(c.a[1].v, "session-bob");
	kvs_free(&c);

	e = scan_entries(s, "alice", 5);
	cr_assert_eq(e.n, 2);
	cr_assert_eq(e.a[0].seq, 1);
	cr_assert_eq(e.a[0].msg, 1);
	cr_assert_str_eq(e.a[0].body, "body-1");
	cr_assert_str_eq(e.a[0].val, "a1");
	cr_assert_eq(e.a[1].seq, 2);
	cr_assert_eq(e.a[1].msg, 2);
	cr_assert_str_eq(e.a[1].body, "body-2");
	cr_assert_str_eq(e.a[1].val, "a2");
	ents_free(&e);
	e = scan_entries(s, "bob", 3);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.a[0].seq, 1);
	cr_assert_eq(e.a[0].msg, 1);
	cr_assert_str_eq(e.a[0].body, "body-1");
	cr_assert_str_eq(e.a[0].val, "b1");
	ents_free(&e);

	p = scan_qos2(s, "alice", 5);
	cr_assert_eq(p.n, 2);
	cr_assert_eq(p.a[0], 7);
	cr_assert_eq(p.a[1], 300);
	p = scan_qos2(s, "bob", 3);
	cr_assert_eq(p.n, 1);
	cr_assert_eq(p.a[0], 65535);

	cr_assert_eq(store_max_ids(s, &msg, &seq), 0);
	cr_assert_eq(msg, 2);
	cr_assert_eq(seq, 2);
	cr_assert_eq(store_get_stats(s, &st), 0);
	cr_assert_eq(st.sessions, 2);
	cr_assert_eq(st.entries, 3);
	cr_assert_eq(st.msgs, 2);
	cr_assert_eq(st.retained, 4);
	free(lt);
}

/* What make.sh turns into store-v1/valid (and, with format 2, newer). */
static void fill_fixture(struct store *s)
{
	char *lt = long_topic(600, "long/", 'x', "/end");
	struct store_txn *t = begin(s);

	cr_assert_eq(store_retained_put(t, "sensors/1/temp", 14, "21.5", 4), 0);
	cr_assert_eq(store_retained_put(t, "sensors/1/hum", 13, "40", 2), 0);
	cr_assert_eq(store_retained_put(t, "sensors/2/temp", 14, "19.0", 4), 0);
	cr_assert_eq(store_retained_put(t, lt, 600, "long value", 10), 0);
	cr_assert_eq(store_session_put(t, "alice", 5, "session-alice", 13), 0);
	cr_assert_eq(store_session_put(t, "bob", 3, "session-bob", 11), 0);
	cr_assert_eq(store_entry_put(t, "alice", 5, 1, 1, "body-1", 6, "a1", 2),
	             0);
	cr_assert_eq(store_entry_put(t, "bob", 3, 1, 1, "body-1", 6, "b1", 2),
	             0);
	cr_assert_eq(store_entry_put(t, "alice", 5, 2, 2, "body-2", 6, "a2", 2),
	             0);
	cr_assert_eq(store_qos2_put(t, "alice", 5, 7), 0);
	cr_assert_eq(store_qos2_put(t, "alice", 5, 300), 0);
	cr_assert_eq(store_qos2_put(t, "bob", 3, 65535), 0);
	commit(t);
	free(lt);
}

Test(store_fixture, make)
{
	const char *out = getenv("TERN_STORE_FIXTURE_OUT");
	uint8_t two[4] = {2, 0, 0, 0};
	char dir[512];

	if (!out) {
		rm_rf(g_base); /* a skipped test gets no .fini */
		cr_skip_test("set TERN_STORE_FIXTURE_OUT (make.sh does)");
	}
	snprintf(dir, sizeof(dir), "%s/valid", out);
	g_s = open_ok(dir, 0, false);
	fill_fixture(g_s);
	check_valid_fixture(g_s);
	store_close(g_s);
	g_s = NULL;
	snprintf(dir, sizeof(dir), "%s/newer", out);
	g_s = open_ok(dir, 0, false);
	fill_fixture(g_s);
	store_close(g_s);
	g_s = NULL;
	raw_put(dir, "meta", "format", 6, two, 4);
}

Test(store_fixture, valid)
{
	g_s = NULL;
	copy_fixture("valid", g_dir);
	g_s = open_ok(g_dir, 0, false);
	check_valid_fixture(g_s);
	store_close(g_s);
	g_s = NULL;
	/* the format itself: counts and meta, read raw */
	cr_assert_eq(raw_refcount(g_dir, 1), 2);
	cr_assert_eq(raw_refcount(g_dir, 2), 1);
	raw_check_refs(g_dir);
	{
		uint8_t v[8];

		cr_assert_eq(raw_get(g_dir, "meta", "format", 6, v, 8), 4);
		cr_assert_eq(get_le32(v), 1);
		cr_assert_eq(raw_get(g_dir, "meta", "created", 7, v, 8), 8);
	}
	/* and it stays usable */
	g_s = open_ok(g_dir, 0, false);
	{
		struct store_txn *t = begin(g_s);

		cr_assert_eq(store_session_del(t, "alice", 5), 0);
		commit(t);
	}
	reopen();
	cr_assert_eq(scan_entries(g_s, "alice", 5).n, 0);
}

Test(store_fixture, newer_format_is_eversion)
{
	char err[512], want[512];

	copy_fixture("newer", g_dir);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EVERSION);
	snprintf(want, sizeof(want),
	         "%s: store format 2 is newer than this ternd (1): upgrade "
	         "ternd or use another data_dir",
	         g_dir);
	cr_assert_str_eq(err, want);
}

Test(store_fixture, corrupt_is_eio)
{
	char err[512];

	copy_fixture("corrupt", g_dir);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "corrupt") &&
	              strstr(err, "restore a backup"),
	          "%s", err);
}

Test(store_fixture, truncated_is_eio)
{
	char err[512];

	copy_fixture("truncated", g_dir);
	cr_assert_eq(open_fail(g_dir, 0, err, sizeof(err)), TERN_EIO);
	cr_assert(strstr(err, g_dir) && strstr(err, "truncated"), "%s", err);
}

static int nop_kv(void *ctx, const char *k, size_t kl, const void *v, size_t vl)
{
	(void)ctx;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return 0;
}

static int nop_ent(void *ctx, uint64_t seq, uint64_t msg, const void *b,
                   size_t bl, const void *v, size_t vl)
{
	(void)ctx;
	(void)seq;
	(void)msg;
	(void)b;
	(void)bl;
	(void)v;
	(void)vl;
	return 0;
}

static int nop_pid(void *ctx, uint16_t pid)
{
	(void)ctx;
	(void)pid;
	return 0;
}

/* Opens a damaged copy: 0, EIO or EVERSION; when it opens, every read and
 * a write must be survivable. */
static void try_damaged(const char *dir, const uint8_t *data, size_t n)
{
	char path[600], err[512];
	struct store *s = NULL;
	struct store_opts o = {0};
	int rc;

	cr_assert(strlen(dir) < 500);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	cr_assert(mkdir(dir, 0750) == 0 || errno == EEXIST);
	unlink(path);
	write_file(path, data, n);
	rc = store_open(&s, dir, &o, err, sizeof(err));
	cr_assert(rc == 0 || rc == TERN_EIO || rc == TERN_EVERSION, "%d: %s",
	          rc, err);
	if (rc) {
		cr_assert(strstr(err, dir), "%s", err);
		return;
	}
	{
		struct store_txn *t;
		void *v;
		size_t vl;
		uint64_t a, b;
		struct store_stats st;

		store_retained_scan(s, NULL, 0, nop_kv, NULL);
		store_retained_scan(s, "sensors/", 8, nop_kv, NULL);
		if (store_retained_get(s, "sensors/1/hum", 13, &v, &vl) == 0)
			free(v);
		store_retained_count(s);
		store_session_scan(s, nop_kv, NULL);
		store_entry_scan(s, "alice", 5, nop_ent, NULL);
		store_entry_scan(s, "bob", 3, nop_ent, NULL);
		store_qos2_scan(s, "alice", 5, nop_pid, NULL);
		store_max_ids(s, &a, &b);
		store_get_stats(s, &st);
		if (store_begin(s, &t) == 0) {
			store_retained_put(t, "sensors/3", 9, "x", 1);
			store_retained_del(t, "sensors/1/temp", 14);
			store_entry_put(t, "alice", 5, 3, 1, "b", 1, "v", 1);
			store_entry_del(t, "alice", 5, 1);
			store_session_del(t, "bob", 3);
			store_commit(t);
		}
	}
	store_close(s);
}

static unsigned rnd(unsigned *r)
{
	*r = *r * 1103515245 + 12345;
	return *r >> 8;
}

/* One deterministic mutation of orig (n bytes) into buf; returns the
 * length to write. tree[] lists the B-tree pages (flags branch or leaf). */
static size_t mutate(uint8_t *buf, const uint8_t *orig, size_t n, int i,
                     unsigned *r, const size_t *tree, size_t ntree)
{
	size_t pages = n / 4096, off, k, len = n;

	memcpy(buf, orig, n);
	off = rnd(r) % n;
	switch (i % 9) {
	case 0: /* one byte anywhere */
		buf[off] = (uint8_t)rnd(r);
		break;
	case 1: /* a page header */
		k = rnd(r) % pages;
		for (int j = 0; j < 4; j++) {
			off = k * 4096 + rnd(r) % 16;
			buf[off] = (uint8_t)rnd(r);
		}
		break;
	case 2: /* node pointers and node headers */
		k = rnd(r) % pages;
		for (int j = 0; j < 3; j++) {
			off = k * 4096 + 16 + rnd(r) % 96;
			buf[off] = (uint8_t)rnd(r);
			off = k * 4096 + 4095 - rnd(r) % 512;
			buf[off] = (uint8_t)rnd(r);
		}
		break;
	case 3: /* a whole page of garbage or zeros */
		k = rnd(r) % pages;
		for (size_t j = 0; j < 4096; j++)
			buf[k * 4096 + j] = (i / 9) % 2 ? 0 : (uint8_t)(j * 31);
		break;
	case 4: /* truncated */
		len = off;
		break;
	case 5: /* a bit of a meta page */
		off = rnd(r) % 160;
		off += (rnd(r) % 2) * 4096;
		buf[off] ^= (uint8_t)(1u << rnd(r) % 8);
		break;
	case 6: /* bytes of a B-tree page */
		k = tree[rnd(r) % ntree];
		for (int j = (int)(rnd(r) % 6); j >= 0; j--) {
			off = k * 4096 + rnd(r) % 4096;
			buf[off] = (uint8_t)rnd(r);
		}
		break;
	case 7: /* a B-tree page's body in another's place */
		k = tree[rnd(r) % ntree];
		off = tree[rnd(r) % ntree];
		memcpy(buf + k * 4096 + 16, orig + off * 4096 + 16, 4080);
		break;
	default: /* bit flips anywhere */
		for (int j = 0; j < 8; j++) {
			off = rnd(r) % n;
			buf[off] ^= (uint8_t)(1u << rnd(r) % 8);
		}
		break;
	}
	return len;
}

static void damage_campaign(const uint8_t *orig, size_t n, int iters,
                            unsigned seed)
{
	size_t pages = n / 4096, ntree = 0, *tree;
	uint8_t *buf = malloc(n);
	char dir[256];

	tree = malloc(pages * sizeof(*tree));
	cr_assert(buf && tree && pages > 4);
	for (size_t pg = 2; pg < pages; pg++)
		if (orig[pg * 4096 + 10] & 3)
			tree[ntree++] = pg;
	cr_assert(ntree > 0);
	snprintf(dir, sizeof(dir), "%s/dmg", g_base);
	for (int i = 0; i < iters; i++) {
		size_t len = mutate(buf, orig, n, i, &seed, tree, ntree);

		try_damaged(dir, buf, len);
	}
	free(buf);
	free(tree);
}

Test(store_fixture, damaged_copies_never_crash, .timeout = 300)
{
	char src[512];
	uint8_t *orig;
	size_t n;

	snprintf(src, sizeof(src), "%s/store-v1/valid/data.mdb", TERN_FIXTURES);
	orig = read_file(src, &n);
	damage_campaign(orig, n, 900, 777);
	free(orig);
}

/* The same on a store with a free list, overflow pages and deeper
 * trees, as LMDB leaves it after churn (no compaction). */
Test(store_fixture, damaged_churned_store_never_crashes, .timeout = 300)
{
	static char body[12000];
	unsigned r = 99;
	char path[256];
	uint8_t *orig;
	size_t n;

	g_s = open_ok(g_dir, 0, false);
	for (int round = 0; round < 30; round++) {
		struct store_txn *t = begin(g_s);

		for (int i = 0; i < 40; i++) {
			char id[16], tp[700];
			int k =
			    snprintf(id, sizeof(id), "client%u", (r >> 8) % 40);
			size_t tl;

			r = r * 1103515245 + 12345;
			switch ((r >> 8) % 4) {
			case 0:
			case 1:
				cr_assert_eq(
				    store_entry_put(
				        t, id, (size_t)k, (r >> 12) % 50,
				        (r >> 16) % 200, body,
				        (r >> 20) % 4 ? 50 : 9000, "v", 1),
				    0);
				break;
			case 2:
				cr_assert_eq(store_entry_del(t, id, (size_t)k,
				                             (r >> 12) % 50),
				             0);
				break;
			default:
				cr_assert_eq(store_qos2_put(t, id, (size_t)k,
				                            (uint16_t)(r >> 8)),
				             0);
			}
			tl = 1 + (r >> 4) % 690;
			memset(tp, 'a' + (int)(r % 4), tl);
			cr_assert_eq((r >> 24) % 2
			                 ? store_retained_put(t, tp, tl, body,
			                                      (r >> 10) % 5000)
			                 : store_retained_del(t, tp, tl),
			             0);
		}
		commit(t);
	}
	store_close(g_s);
	g_s = NULL;
	snprintf(path, sizeof(path), "%s/data.mdb", g_dir);
	orig = read_file(path, &n);
	damage_campaign(orig, n, 300, 4242);
	free(orig);
}

/* ---------------------------------------------------------- identities */

static int ident_collect(void *ctx, const char *key, size_t klen,
                         const void *val, size_t vlen)
{
	char *out = ctx;

	strncat(out, key, klen);
	strcat(out, "=");
	strncat(out, val, vlen);
	strcat(out, ";");
	return 0;
}

/* Identities are idempotent put/delete commands by (kind, name), kept apart
 * per kind, and survive a reopen. */
Test(store, identities_put_get_delete_scan)
{
	char seen[256] = "";
	struct store_txn *t;
	void *v = NULL;
	size_t vlen = 0;

	g_s = open_ok(g_dir, 0, false);
	t = begin(g_s);
	cr_assert_eq(store_ident_put(t, 'O', "dev-2", 5, "{\"b\":2}", 7), 0);
	cr_assert_eq(store_ident_put(t, 'O', "dev-1", 5, "{\"a\":1}", 7), 0);
	cr_assert_eq(store_ident_put(t, 'U', "alice", 5, "{}", 2), 0);
	/* put replaces */
	cr_assert_eq(store_ident_put(t, 'O', "dev-2", 5, "{\"b\":3}", 7), 0);
	commit(t);
	reopen();
	cr_assert_eq(store_ident_get(g_s, 'O', "dev-2", 5, &v, &vlen), 0);
	cr_assert_eq(vlen, 7);
	cr_assert_eq(memcmp(v, "{\"b\":3}", 7), 0);
	free(v);
	cr_assert_eq(store_ident_get(g_s, 'U', "dev-2", 5, &v, &vlen),
	             TERN_ENOTFOUND);
	cr_assert_eq(store_ident_scan(g_s, 'O', ident_collect, seen), 0);
	cr_assert_str_eq(seen, "dev-1={\"a\":1};dev-2={\"b\":3};");
	t = begin(g_s);
	cr_assert_eq(store_ident_del(t, 'O', "dev-1", 5), 0);
	cr_assert_eq(store_ident_del(t, 'O', "dev-1", 5), 0); /* absent: 0 */
	commit(t);
	seen[0] = '\0';
	cr_assert_eq(store_ident_scan(g_s, 'O', ident_collect, seen), 0);
	cr_assert_str_eq(seen, "dev-2={\"b\":3};");
	seen[0] = '\0';
	cr_assert_eq(store_ident_scan(g_s, 'U', ident_collect, seen), 0);
	cr_assert_str_eq(seen, "alice={};");
	/* bad names */
	t = begin(g_s);
	cr_assert_eq(store_ident_put(t, 'O', "", 0, "{}", 2), TERN_EINVAL);
	cr_assert_eq(store_ident_put(t, 0, "x", 1, "{}", 2), TERN_EINVAL);
	cr_assert_eq(store_ident_put(t, 'O', "a\0b", 3, "{}", 2), TERN_EINVAL);
	store_abort(t);
}

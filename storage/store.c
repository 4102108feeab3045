/*
 * store.c - the LMDB environment: opening (directory, lock, structural
 * check, format), transactions, the translation of LMDB's codes, and the
 * whole-store reads (max ids, statistics). The records live in
 * store_retained.c, store_session.c, store_entry.c and store_qos2.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

#define STORE_DEFAULT_MAP (16ULL << 30)

const char *const store_db_names[STORE_DB_COUNT] = {
    [STORE_DB_META] = "meta",         [STORE_DB_RETAINED] = "retained",
    [STORE_DB_SESSIONS] = "sessions", [STORE_DB_MSGS] = "msgs",
    [STORE_DB_ENTRIES] = "entries",   [STORE_DB_QOS2] = "qos2",
    [STORE_DB_IDENTS] = "idents",
};

/* ---- errors -------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void store_log(const struct store *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int n;

	if (!s->err_cb)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", s->dir);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	s->err_cb(s->err_ctx, msg);
}

int store_mdb_err(const struct store *s, int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return TERN_ENOTFOUND;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL: /* too many dirty pages: a smaller batch fits */
		return TERN_EQUOTA;
	default:
		store_log(s, "%s: %s", what, mdb_strerror(rc));
		return TERN_EIO;
	}
}

int store_txn_fail(struct store_txn *t, int err)
{
	if (err && err != TERN_EINVAL && err != TERN_ENOTFOUND && !t->err)
		t->err = err;
	return err;
}

int store_txn_check(const struct store_txn *t)
{
	if (!t || !t->txn)
		return TERN_EINVAL;
	return t->err;
}

int store_rd_begin(struct store *s, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);

	if (rc) {
		*txn = NULL;
		return store_mdb_err(s, rc, "cannot begin a read transaction");
	}
	return 0;
}

int store_rd_cursor(struct store *s, int db, MDB_txn **txn, MDB_cursor **c)
{
	int rc = store_rd_begin(s, txn);

	if (rc)
		return rc;
	rc = mdb_cursor_open(*txn, s->dbi[db], c);
	if (rc) {
		mdb_txn_abort(*txn);
		*txn = NULL;
		return store_mdb_err(s, rc, "cannot open a cursor");
	}
	return 0;
}

void store_rd_end(MDB_txn *txn, MDB_cursor *c)
{
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
}

int store_prefix_walk(struct store *s, int db, const void *prefix,
                      size_t plen, store_walk_cb cb, void *ctx,
                      const char *what)
{
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc;

	rc = store_rd_cursor(s, db, &txn, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val rest;

		if (!store_has_prefix(&k, prefix, plen))
			break;
		rest = (MDB_val){k.mv_size - plen, (uint8_t *)k.mv_data + plen};
		rc = cb(ctx, txn, &rest, &v);
		if (rc)
			goto out;
	}
	if (rc && rc != MDB_NOTFOUND) {
		char msg[96];

		snprintf(msg, sizeof(msg), "cannot read %s", what);
		rc = store_mdb_err(s, rc, msg);
	} else {
		rc = 0;
	}
out:
	store_rd_end(txn, c);
	return rc;
}

int store_prefix_del(struct store_txn *t, int db, const void *prefix,
                     size_t plen,
                     int (*each)(struct store_txn *t, const MDB_val *val),
                     const char *what)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
	if (rc)
		return store_mdb_err(t->s, rc, "cannot open a cursor");
	/* re-seek after each delete: simple, and immune to cursor details */
	for (;;) {
		k = (MDB_val){plen, (void *)prefix};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc || !store_has_prefix(&k, prefix, plen))
			break;
		if (each && (rc = each(t, &v)) != 0)
			goto out;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
	}
	if (rc && rc != MDB_NOTFOUND) {
		char msg[96];

		snprintf(msg, sizeof(msg), "cannot delete %s", what);
		rc = store_mdb_err(t->s, rc, msg);
	} else {
		rc = 0;
	}
out:
	mdb_cursor_close(c);
	return rc;
}

int store_id_check(const char *id, size_t len)
{
	if (!id || len == 0 || len > STORE_MAX_ID_LEN ||
	    memchr(id, 0, len) != NULL)
		return TERN_EINVAL;
	return 0;
}

size_t store_id_prefix(uint8_t *k, const char *id, size_t len)
{
	memcpy(k, id, len);
	k[len] = 0;
	return len + 1;
}

/* ---- opening ------------------------------------------------------- */

static bool is_access_errno(int e)
{
	return e == EACCES || e == EPERM || e == EROFS;
}

/* mkdir -p dir (0750), with the reason in err. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char *p = strdup(dir);
	struct stat st;
	int e = 0;

	if (!p) {
		set_err(err, errlen, "%s: out of memory", dir);
		return TERN_ENOMEM;
	}
	for (char *c = p + 1;; c++) {
		char saved = *c;

		if (saved != '/' && saved != '\0')
			continue;
		*c = '\0';
		if (mkdir(p, 0750) != 0 && errno != EEXIST) {
			e = errno;
			*c = saved;
			break;
		}
		*c = saved;
		if (!saved)
			break;
	}
	free(p);
	if (!e && stat(dir, &st) != 0)
		e = errno;
	else if (!e && !S_ISDIR(st.st_mode))
		e = ENOTDIR;
	if (!e)
		return 0;
	if (e == ENOTDIR || e == EEXIST)
		set_err(err, errlen,
		        "%s: not a directory (a file is in the way); set "
		        "data_dir to a directory",
		        dir);
	else if (is_access_errno(e))
		set_err(err, errlen,
		        "%s: cannot create the store directory: %s (check the "
		        "owner and mode of its parent directories)",
		        dir, strerror(e));
	else
		set_err(err, errlen,
		        "%s: cannot create the store directory: %s", dir,
		        strerror(e));
	return TERN_EIO;
}

/*
 * Opens (creating, empty) data.mdb and takes an exclusive flock on it for
 * the store's lifetime: a second ternd on the same directory is refused
 * instead of sharing LMDB's writer lock with us.
 */
static int lock_data_file(struct store *s, char *err, size_t errlen)
{
	struct stat st;
	int fd, e;

	/* O_NONBLOCK: a FIFO in the way must not hang the open */
	fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
	if (fd < 0) {
		e = errno;
		if (e == EISDIR)
			set_err(err, errlen,
			        "%s: cannot open the store: %s is a directory; "
			        "move it away",
			        s->dir, s->path);
		else if (is_access_errno(e))
			set_err(
			    err, errlen,
			    "%s: cannot open the store: %s (check the owner "
			    "and mode of the directory and its files)",
			    s->dir, strerror(e));
		else
			set_err(err, errlen, "%s: cannot open the store: %s",
			        s->dir, strerror(e));
		return TERN_EIO;
	}
	s->lock_fd = fd;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen,
		        "%s: cannot open the store: %s is not a regular file; "
		        "move it away",
		        s->dir, s->path);
		return TERN_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		e = errno;
		if (e == EWOULDBLOCK)
			set_err(
			    err, errlen,
			    "%s: the store is in use by another process (or "
			    "already open in this one); stop it or use "
			    "another data_dir",
			    s->dir);
		else
			set_err(err, errlen, "%s: cannot lock the store: %s",
			        s->dir, strerror(e));
		return TERN_EIO;
	}
	return 0;
}

static int open_env(struct store *s, const struct store_opts *o, char *err,
                    size_t errlen)
{
	uint64_t map = o->map_size ? o->map_size : STORE_DEFAULT_MAP;
	unsigned flags = MDB_NOTLS | (o->sync ? 0 : MDB_NOSYNC);
	int rc;

	if (map > SIZE_MAX) {
		set_err(err, errlen, "%s: map_size %llu is too large", s->dir,
		        (unsigned long long)map);
		return TERN_EINVAL;
	}
	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		goto fail;
	}
	rc = mdb_env_set_maxdbs(s->env, 8);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, (size_t)map);
	if (!rc)
		rc = mdb_env_open(s->env, s->dir, flags, 0640);
	if (!rc)
		return 0;
fail:
	if (is_access_errno(rc))
		set_err(err, errlen,
		        "%s: cannot open the store: %s (check the owner and "
		        "mode of the directory and its files)",
		        s->dir, mdb_strerror(rc));
	else if (rc == ENOMEM)
		set_err(err, errlen,
		        "%s: cannot open the store: %s (map_size %llu does not "
		        "fit the address space?)",
		        s->dir, mdb_strerror(rc), (unsigned long long)map);
	else
		set_err(err, errlen,
		        "%s: cannot open the store: %s; move it away to start "
		        "empty, or restore a backup",
		        s->dir, mdb_strerror(rc));
	return TERN_EIO;
}

static int format_newer(const char *dir, uint32_t format, char *err,
                        size_t errlen)
{
	set_err(err, errlen,
	        "%s: store format %u is newer than this ternd (%u): upgrade "
	        "ternd or use another data_dir",
	        dir, format, STORE_FORMAT);
	return TERN_EVERSION;
}

/* A new store: meta gets format and created. */
static int init_meta(struct store *s, MDB_txn *txn)
{
	uint8_t fmt[4], created[8];
	MDB_val k, v;
	int rc;

	store_put_le32(fmt, STORE_FORMAT);
	store_put_le64(created, (uint64_t)time(NULL));
	k = (MDB_val){6, "format"};
	v = (MDB_val){sizeof(fmt), fmt};
	rc = mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
	if (rc)
		return rc;
	k = (MDB_val){7, "created"};
	v = (MDB_val){sizeof(created), created};
	return mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
}

/*
 * Opens Tern's databases in one write transaction; on a new store writes
 * meta. An existing store's format is read before anything is created, so
 * a newer store is left untouched.
 */
static int open_dbs(struct store *s, char *err, size_t errlen)
{
	const char *why = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi main_dbi;
	MDB_stat st;
	MDB_val k = {6, "format"}, v;
	bool fresh = false;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto mdb_fail;
	rc = mdb_dbi_open(txn, store_db_names[STORE_DB_META], 0,
	                  &s->dbi[STORE_DB_META]);
	if (rc == MDB_NOTFOUND) {
		/* no meta: a new store, unless something else lives here */
		rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
		if (!rc)
			rc = mdb_stat(txn, main_dbi, &st);
		if (rc)
			goto mdb_fail;
		if (st.ms_entries) {
			why = "it holds LMDB data that is not a Tern store";
			goto corrupt;
		}
		fresh = true;
	} else if (rc) {
		goto mdb_fail;
	} else {
		rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
		if (rc == MDB_NOTFOUND || (!rc && v.mv_size != 4)) {
			why = "its meta has no valid format";
			goto corrupt;
		}
		if (rc)
			goto mdb_fail;
		if (store_get_le32(v.mv_data) > STORE_FORMAT) {
			mdb_txn_abort(txn);
			return format_newer(s->dir, store_get_le32(v.mv_data),
			                    err, errlen);
		}
		if (store_get_le32(v.mv_data) == 0) {
			why = "its meta has format 0";
			goto corrupt;
		}
	}
	for (int i = 0; i < STORE_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, store_db_names[i], MDB_CREATE,
		                  &s->dbi[i]);
		if (rc)
			goto mdb_fail;
	}
	if (fresh) {
		rc = init_meta(s, txn);
		if (rc)
			goto mdb_fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto mdb_fail;
	return 0;

corrupt:
	mdb_txn_abort(txn);
	set_err(err, errlen,
	        "%s: cannot open the store: %s; move it away to start empty, "
	        "or restore a backup",
	        s->dir, why);
	return TERN_EIO;
mdb_fail:
	if (txn)
		mdb_txn_abort(txn);
	if (rc == MDB_MAP_FULL) {
		set_err(err, errlen,
		        "%s: cannot create the store: map_size is too small",
		        s->dir);
		return TERN_EQUOTA;
	}
	set_err(err, errlen,
	        "%s: cannot open the store: %s; move it away to start empty, "
	        "or restore a backup",
	        s->dir, mdb_strerror(rc));
	return TERN_EIO;
}

int store_open(struct store **out, const char *dir,
               const struct store_opts *opts, char *err, size_t errlen)
{
	static const struct store_opts defaults = {0};
	struct store *s;
	size_t n;
	int rc;

	set_err(err, errlen, "%s", "");
	if (!out) {
		set_err(err, errlen, "store: no place for the handle");
		return TERN_EINVAL;
	}
	*out = NULL;
	if (!dir || !*dir) {
		set_err(err, errlen, "store: no directory given");
		return TERN_EINVAL;
	}
	if (!opts)
		opts = &defaults;
	s = calloc(1, sizeof(*s));
	n = strlen(dir) + sizeof("/data.mdb");
	if (!s || !(s->dir = strdup(dir)) || !(s->path = malloc(n))) {
		set_err(err, errlen, "%s: out of memory", dir);
		rc = TERN_ENOMEM;
		goto fail;
	}
	snprintf(s->path, n, "%s/data.mdb", dir);
	s->lock_fd = -1;

	rc = make_dirs(dir, err, errlen);
	if (!rc)
		rc = lock_data_file(s, err, errlen);
	if (!rc) /* before LMDB maps the file: nothing trusted unchecked */
		rc = store_check_file(s->lock_fd, dir, err, errlen);
	if (!rc)
		rc = open_env(s, opts, err, errlen);
	if (!rc)
		rc = open_dbs(s, err, errlen);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s->dir);
	free(s);
}

const char *store_path(const struct store *s)
{
	return s ? s->path : NULL;
}

void store_set_error_cb(struct store *s, store_error_cb cb, void *ctx)
{
	if (!s)
		return;
	s->err_cb = cb;
	s->err_ctx = ctx;
}

/* ---- transactions -------------------------------------------------- */

int store_begin(struct store *s, struct store_txn **out)
{
	struct store_txn *t;
	int rc;

	if (!out)
		return TERN_EINVAL;
	*out = NULL;
	if (!s)
		return TERN_EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return TERN_ENOMEM;
	rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
	if (rc) {
		free(t);
		return store_mdb_err(s, rc, "cannot begin a write transaction");
	}
	t->s = s;
	*out = t;
	return 0;
}

int store_commit(struct store_txn *t)
{
	int rc;

	if (!t)
		return TERN_EINVAL;
	rc = t->err;
	if (!rc)
		rc = store_entry_refs_flush(t);
	if (rc) {
		store_abort(t);
		return rc;
	}
	rc = mdb_txn_commit(t->txn);
	if (rc)
		rc = store_mdb_err(t->s, rc, "commit failed");
	free(t);
	return rc;
}

int store_recycle(struct store *s)
{
	MDB_txn *txn;
	MDB_val k = {7, "recycle"}, v;
	uint64_t stamp = 0;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	if (rc)
		return store_mdb_err(s, rc, "cannot begin a transaction");
	/* one small write is enough for the next commit to reuse the pages
	 * the previous ones freed */
	v = (MDB_val){sizeof(stamp), &stamp};
	rc = mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return store_mdb_err(s, rc, "cannot write");
	}
	rc = mdb_txn_commit(txn);
	return rc ? store_mdb_err(s, rc, "commit failed") : 0;
}

void store_abort(struct store_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	store_entry_refs_free(&t->refs);
	free(t);
}

/* ---- whole-store reads --------------------------------------------- */

/*
 * Largest seq among the entries: the last entry of each session, found by
 * jumping from session to session (id + 0x01 is past all of id's entries
 * and before any other id's, since ids hold no 0x00).
 */
static int max_seq(struct store *s, MDB_txn *txn, uint64_t *seq)
{
	uint8_t next[STORE_KEY_MAX];
	uint64_t last;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_ENTRIES], &c);
	if (rc)
		return store_mdb_err(s, rc, "cannot read entries");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		const uint8_t *sep = memchr(k.mv_data, 0, k.mv_size);
		size_t idlen;

		if (!sep ||
		    k.mv_size - (size_t)(sep - (uint8_t *)k.mv_data) != 9) {
			mdb_cursor_close(c);
			store_log(s, "corrupt entry key (%zu bytes)",
			          k.mv_size);
			return TERN_EIO;
		}
		idlen = (size_t)(sep - (uint8_t *)k.mv_data);
		memcpy(next, k.mv_data, idlen);
		next[idlen] = 1;
		k = (MDB_val){idlen + 1, next};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		if (rc)
			break;
		if (k.mv_size < 9) {
			rc = MDB_CORRUPTED;
			break;
		}
		last = store_get_be64((uint8_t *)k.mv_data + k.mv_size - 8);
		if (last > *seq)
			*seq = last;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0
	                          : store_mdb_err(s, rc, "cannot read entries");
}

int store_max_ids(struct store *s, uint64_t *msg_id, uint64_t *seq)
{
	MDB_cursor *c = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (!s || !msg_id || !seq)
		return TERN_EINVAL;
	*msg_id = 0;
	*seq = 0;
	rc = store_rd_begin(s, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_MSGS], &c);
	if (!rc)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (!rc && k.mv_size != 8) {
		store_log(s, "corrupt message key (%zu bytes)", k.mv_size);
		rc = TERN_EIO;
		goto out;
	}
	if (!rc)
		*msg_id = store_get_be64(k.mv_data);
	if (rc && rc != MDB_NOTFOUND) {
		rc = store_mdb_err(s, rc, "cannot read messages");
		goto out;
	}
	rc = max_seq(s, txn, seq);
out:
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int store_get_stats(struct store *s, struct store_stats *st)
{
	static const enum store_db dbs[] = {STORE_DB_SESSIONS, STORE_DB_ENTRIES,
	                                    STORE_DB_MSGS, STORE_DB_RETAINED};
	uint64_t *counts[4];
	MDB_envinfo info;
	MDB_stat ms;
	MDB_txn *txn;
	int rc;

	if (!s || !st)
		return TERN_EINVAL;
	memset(st, 0, sizeof(*st));
	counts[0] = &st->sessions;
	counts[1] = &st->entries;
	counts[2] = &st->msgs;
	counts[3] = &st->retained;
	rc = store_rd_begin(s, &txn);
	if (rc)
		return rc;
	rc = mdb_env_info(s->env, &info);
	if (!rc)
		rc = mdb_env_stat(s->env, &ms);
	if (!rc) {
		st->map_size = info.me_mapsize;
		st->used_bytes =
		    ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	}
	for (size_t i = 0; !rc && i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_stat(txn, s->dbi[dbs[i]], &ms);
		if (!rc)
			*counts[i] = ms.ms_entries;
	}
	mdb_txn_abort(txn);
	return store_mdb_err(s, rc, "cannot read statistics");
}

/*
 * store_check.c - a structural check of data.mdb before LMDB maps it.
 *
 * LMDB trusts its file: a garbage page size divides by zero, a truncated
 * file raises SIGBUS, a bad node offset reads out of bounds, a short
 * branch page trips an assert() that aborts. None of that is acceptable
 * for a broker restarting after a power cut (MDB_NOSYNC) or a disk error,
 * so store_open first reads the file with pread (no mapping) and checks
 * everything LMDB would follow: both meta pages, then every page reachable
 * from the newest one - header, bounds, node offsets and sizes, key order
 * within a page, tree depth, overflow runs inside the file, entry counts -
 * then the free list (sorted, in range, disjoint from live pages). A page
 * reached twice is refused, so a loop cannot make the walk run forever.
 *
 * The layout below is LMDB 0.9's on-disk format (data version 1, 64-bit,
 * native byte order), from mdb.c: page header { pgno u64, pad u16, flags
 * u16, lower u16, upper u16 | overflow pages u32 }, meta { magic, version,
 * address, mapsize, dbs[2] (free, main), last_pg, txnid }, MDB_db { pad
 * (page size in the free db), flags u16, depth u16, branch, leaf, overflow,
 * entries, root }, node { lo u16, hi u16, flags u16, ksize u16, key, data }.
 *
 * Cost: one pread per B-tree page and one per overflow run (message bodies
 * are not read), i.e. about the size of the store minus its large values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

_Static_assert(sizeof(size_t) == 8 && sizeof(void *) == 8,
               "the checker knows the 64-bit LMDB layout only");

#define PG_HDR    16
#define PG_PGNO   0
#define PG_FLAGS  10
#define PG_LOWER  12
#define PG_UPPER  14
#define PG_NPAGES 12

#define P_BRANCH   0x01
#define P_LEAF     0x02
#define P_OVERFLOW 0x04
#define P_META     0x08

#define M_MAGIC   (PG_HDR + 0)
#define M_VERSION (PG_HDR + 4)
#define M_DBS     (PG_HDR + 24)
#define DB_SIZE   48
#define M_LAST_PG (M_DBS + 2 * DB_SIZE)
#define M_TXNID   (M_LAST_PG + 8)
#define M_END     (M_TXNID + 8)

#define DB_PAD   0
#define DB_FLAGS 4
/* MDB_REVERSEKEY, MDB_DUPSORT, MDB_INTEGERKEY, MDB_DUPFIXED, MDB_INTEGERDUP,
 * MDB_REVERSEDUP: Tern's databases use none (LMDB's free db: INTEGERKEY) */
#define DB_TYPE_FLAGS 0x7e
#define DB_DEPTH      6
#define DB_ENTRIES    32
#define DB_ROOT       40

#define NODE_HDR  8
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02

#define MDB_MAGIC_V   0xBEEFC0DEu
#define MDB_DATA_V    1
#define P_INVALID     (~(uint64_t)0)
#define MAX_DEPTH     32 /* LMDB's CURSOR_STACK */
#define MAX_SUBS      16
#define LAST_PG_SLACK 65536 /* pages past EOF a meta may count (unwritten) */

enum ck_kind { CK_MAIN, CK_USER, CK_FREE };

struct ck_sub {
	char name[16];
	uint8_t rec[DB_SIZE];
};

struct ck {
	int fd;
	const char *dir;
	char *err;
	size_t errlen;
	uint32_t psize;
	uint64_t file_size;
	uint64_t file_pages; /* whole pages present in the file */
	uint64_t last_pg;
	uint8_t *used;  /* bitmap: pages reached from a tree */
	uint8_t *freed; /* bitmap: pages on the free list */
	uint8_t *bufs;  /* MAX_DEPTH page buffers, one per level */
	uint8_t *ovbuf; /* an overflow run's first page */
	/* the tree being walked */
	enum ck_kind kind;
	const char *name;
	uint16_t depth;
	uint64_t count;
	/* found in the main database */
	struct ck_sub subs[MAX_SUBS];
	int nsubs;
	bool foreign; /* something that is not a named database */
	/* found in meta */
	bool has_format;
	uint32_t format;
};

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int ck_fail(struct ck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ck_fail(struct ck *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen,
		         "%s: cannot open the store: data.mdb %s; move it away "
		         "to start empty, or restore a backup",
		         c->dir, why);
	return TERN_EIO;
}

/* Reads n bytes at byte offset off; anything short is a truncated file. */
static int ck_pread(struct ck *c, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(c->fd, (uint8_t *)buf + done, n - done,
		                  (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ck_fail(c, "cannot be read: %s",
			               strerror(errno));
		if (r == 0)
			return ck_fail(c,
			               "is truncated (%llu bytes missing "
			               "at offset %llu)",
			               (unsigned long long)(n - done),
			               (unsigned long long)(off + done));
		done += (size_t)r;
	}
	return 0;
}

/* Sets a page's bit; false if it was set already. */
static bool ck_mark(uint8_t *bm, uint64_t pg)
{
	uint8_t bit = (uint8_t)(1u << (pg & 7));

	if (bm[pg >> 3] & bit)
		return false;
	bm[pg >> 3] |= bit;
	return true;
}

static bool ck_marked(const uint8_t *bm, uint64_t pg)
{
	return bm[pg >> 3] & (1u << (pg & 7));
}

/* LMDB's default key order (mdb_cmp_memn); the free db's keys are u64. */
static int ck_cmp(const struct ck *c, const uint8_t *a, size_t alen,
                  const uint8_t *b, size_t blen)
{
	int d;

	if (c->kind == CK_FREE) {
		uint64_t x = rd64(a), y = rd64(b);

		return x < y ? -1 : x > y;
	}
	d = memcmp(a, b, alen < blen ? alen : blen);
	if (d)
		return d;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Checks the overflow run at pg holding dsz bytes; with data, also reads
 * them into a malloc'd buffer (the free list's page lists).
 */
static int ck_overflow(struct ck *c, uint64_t pg, uint64_t dsz, uint8_t **data)
{
	uint64_t need = (PG_HDR - 1 + dsz) / c->psize + 1, n;
	int rc;

	if (pg < 2 || pg > c->last_pg || pg >= c->file_pages)
		return ck_fail(c,
		               "is corrupt: database %s: overflow page "
		               "%llu out of range",
		               c->name, (unsigned long long)pg);
	rc = ck_pread(c, c->ovbuf, c->psize, pg * c->psize);
	if (rc)
		return rc;
	n = rd32(c->ovbuf + PG_NPAGES);
	if (rd64(c->ovbuf + PG_PGNO) != pg ||
	    rd16(c->ovbuf + PG_FLAGS) != P_OVERFLOW || n < need ||
	    n > c->file_pages - pg || pg + n - 1 > c->last_pg)
		return ck_fail(c,
		               "is corrupt: database %s: bad overflow "
		               "page %llu",
		               c->name, (unsigned long long)pg);
	for (uint64_t i = 0; i < n; i++)
		if (!ck_mark(c->used, pg + i))
			return ck_fail(c,
			               "is corrupt: page %llu is used "
			               "twice",
			               (unsigned long long)(pg + i));
	if (!data)
		return 0;
	*data = malloc(dsz ? dsz : 1);
	if (!*data)
		return ck_fail(c, "cannot be checked: out of memory");
	rc = ck_pread(c, *data, dsz, pg * c->psize + PG_HDR);
	if (rc) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

/* A free list record: u64 count, then that many page numbers, descending. */
static int ck_idl(struct ck *c, const uint8_t *d, uint64_t dsz)
{
	uint64_t n, prev = P_INVALID;

	if (dsz < 8 || dsz % 8)
		return ck_fail(c, "is corrupt: free list record of %llu bytes",
		               (unsigned long long)dsz);
	n = rd64(d);
	if (n > dsz / 8 - 1)
		return ck_fail(c,
		               "is corrupt: free list record counts %llu "
		               "pages in %llu bytes",
		               (unsigned long long)n, (unsigned long long)dsz);
	for (uint64_t i = 1; i <= n; i++) {
		uint64_t pg = rd64(d + 8 * i);

		if (pg < 2 || pg > c->last_pg || pg >= prev ||
		    !ck_mark(c->freed, pg))
			return ck_fail(c,
			               "is corrupt: free list holds page "
			               "%llu out of order or range",
			               (unsigned long long)pg);
		prev = pg;
	}
	return 0;
}

static bool ck_name_is(const uint8_t *k, size_t klen, const char *name)
{
	return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

/* One leaf node's data, by the kind of tree. */
static int ck_leaf_data(struct ck *c, uint64_t pgno, const uint8_t *key,
                        uint16_t ksize, uint16_t nflags, uint64_t dsz,
                        const uint8_t *data)
{
	uint8_t *big = NULL;
	int rc = 0;

	switch (c->kind) {
	case CK_MAIN:
		if (nflags != F_SUBDATA || dsz != DB_SIZE) {
			c->foreign = true; /* a plain key: not Tern's */
			return nflags & F_BIGDATA
			           ? ck_overflow(c, rd64(data), dsz, NULL)
			           : 0;
		}
		if (ksize >= sizeof(c->subs[0].name) || c->nsubs == MAX_SUBS) {
			c->foreign = true;
			return 0;
		}
		memcpy(c->subs[c->nsubs].name, key, ksize);
		c->subs[c->nsubs].name[ksize] = '\0';
		memcpy(c->subs[c->nsubs].rec, data, DB_SIZE);
		c->nsubs++;
		return 0;
	case CK_USER:
		if (nflags & ~F_BIGDATA)
			return ck_fail(c,
			               "is corrupt: database %s: page %llu "
			               "holds a node with flags %#x",
			               c->name, (unsigned long long)pgno,
			               nflags);
		if (nflags & F_BIGDATA)
			return ck_overflow(c, rd64(data), dsz, NULL);
		if (strcmp(c->name, "meta") == 0 &&
		    ck_name_is(key, ksize, "format") && dsz == 4) {
			c->has_format = true;
			c->format = store_get_le32(data);
		}
		return 0;
	case CK_FREE:
		if (nflags & ~F_BIGDATA || ksize != 8)
			return ck_fail(c, "is corrupt: free list page %llu",
			               (unsigned long long)pgno);
		if (nflags & F_BIGDATA) {
			rc = ck_overflow(c, rd64(data), dsz, &big);
			if (!rc)
				rc = ck_idl(c, big, dsz);
			free(big);
			return rc;
		}
		return ck_idl(c, data, dsz);
	}
	return 0;
}

static int ck_page(struct ck *c, uint64_t pgno, unsigned level)
{
	uint8_t *p = c->bufs + (size_t)(level - 1) * c->psize;
	const uint8_t *prev = NULL;
	uint16_t want = level < c->depth ? P_BRANCH : P_LEAF;
	uint16_t lower, upper, prevlen = 0;
	unsigned n;
	int rc;

	if (pgno < 2 || pgno > c->last_pg || pgno >= c->file_pages)
		return ck_fail(c,
		               "is corrupt: database %s: page number %llu "
		               "out of range%s",
		               c->name, (unsigned long long)pgno,
		               pgno >= c->file_pages && pgno <= c->last_pg
		                   ? " (the file is truncated)"
		                   : "");
	if (!ck_mark(c->used, pgno))
		return ck_fail(c, "is corrupt: page %llu is used twice",
		               (unsigned long long)pgno);
	rc = ck_pread(c, p, c->psize, pgno * c->psize);
	if (rc)
		return rc;
	lower = rd16(p + PG_LOWER);
	upper = rd16(p + PG_UPPER);
	/* exactly: a P_DIRTY bit on disk would make LMDB write into its
	 * read-only map (pages are written with P_DIRTY and P_KEEP clear) */
	if (rd64(p + PG_PGNO) != pgno || rd16(p + PG_FLAGS) != want)
		return ck_fail(c,
		               "is corrupt: database %s: page %llu has a "
		               "bad header",
		               c->name, (unsigned long long)pgno);
	if (lower < PG_HDR || upper > c->psize || lower > upper ||
	    (lower - PG_HDR) % 2)
		return ck_fail(c,
		               "is corrupt: database %s: page %llu has "
		               "bad bounds",
		               c->name, (unsigned long long)pgno);
	n = (lower - PG_HDR) / 2u;
	if ((want == P_BRANCH && n < (c->kind == CK_FREE ? 1u : 2u)) ||
	    (want == P_LEAF && n == 0 && c->kind != CK_FREE))
		return ck_fail(c,
		               "is corrupt: database %s: page %llu holds "
		               "%u nodes",
		               c->name, (unsigned long long)pgno, n);
	for (unsigned i = 0; i < n; i++) {
		uint16_t off = rd16(p + PG_HDR + 2 * i);
		const uint8_t *node = p + off, *key = node + NODE_HDR;
		uint16_t lo, hi, nflags, ksize;
		size_t room;

		if (off < upper || off % 2 || off > c->psize - NODE_HDR)
			return ck_fail(c,
			               "is corrupt: database %s: page %llu "
			               "node %u is out of bounds",
			               c->name, (unsigned long long)pgno, i);
		lo = rd16(node);
		hi = rd16(node + 2);
		nflags = rd16(node + 4);
		ksize = rd16(node + 6);
		room = c->psize - off - NODE_HDR;
		if (ksize > room || ksize > STORE_KEY_MAX ||
		    (ksize == 0 && (want == P_LEAF || i > 0)) ||
		    (c->kind == CK_FREE && ksize != 8 && (want == P_LEAF || i)))
			return ck_fail(c,
			               "is corrupt: database %s: page %llu "
			               "node %u has a bad key size",
			               c->name, (unsigned long long)pgno, i);
		if (want == P_LEAF || i > 0) {
			if (prev && ck_cmp(c, prev, prevlen, key, ksize) >= 0)
				return ck_fail(c,
				               "is corrupt: database %s: "
				               "page %llu keys out of order",
				               c->name,
				               (unsigned long long)pgno);
			prev = key;
			prevlen = ksize;
		}
		if (want == P_BRANCH) {
			uint64_t child =
			    lo | (uint64_t)hi << 16 | (uint64_t)nflags << 32;

			rc = ck_page(c, child, level + 1);
		} else {
			uint64_t dsz = lo | (uint64_t)hi << 16;

			if ((nflags & F_BIGDATA) ? room - ksize < 8
			                         : dsz > room - ksize)
				return ck_fail(c,
				               "is corrupt: database %s: "
				               "page %llu node %u is out "
				               "of bounds",
				               c->name,
				               (unsigned long long)pgno, i);
			rc = ck_leaf_data(c, pgno, key, ksize, nflags, dsz,
			                  key + ksize);
			c->count++;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int ck_tree(struct ck *c, const char *name, enum ck_kind kind,
                   const uint8_t *db)
{
	uint16_t depth = rd16(db + DB_DEPTH);
	uint64_t entries = rd64(db + DB_ENTRIES), root = rd64(db + DB_ROOT);
	int rc;

	c->kind = kind;
	c->name = name;
	if (root == P_INVALID) {
		if (depth || entries)
			return ck_fail(c,
			               "is corrupt: database %s is empty "
			               "but counts %llu entries",
			               name, (unsigned long long)entries);
		return 0;
	}
	if (depth == 0 || depth > MAX_DEPTH)
		return ck_fail(c, "is corrupt: database %s has depth %u", name,
		               depth);
	c->depth = depth;
	c->count = 0;
	rc = ck_page(c, root, 1);
	if (!rc && c->count != entries)
		return ck_fail(c,
		               "is corrupt: database %s holds %llu entries "
		               "but counts %llu",
		               name, (unsigned long long)c->count,
		               (unsigned long long)entries);
	return rc;
}

static const struct ck_sub *ck_find(const struct ck *c, const char *name)
{
	for (int i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i].name, name) == 0)
			return &c->subs[i];
	return NULL;
}

/* Both meta pages; *newest gets the one LMDB will use. */
static int ck_metas(struct ck *c, uint8_t newest[M_END])
{
	uint8_t m[2][M_END];
	uint64_t off = 0;
	int rc;

	for (int i = 0; i < 2; i++) {
		rc = ck_pread(c, m[i], M_END, off);
		if (rc)
			return rc;
		if (!(rd16(m[i] + PG_FLAGS) & P_META) ||
		    rd32(m[i] + M_MAGIC) != MDB_MAGIC_V)
			return ck_fail(c,
			               "is not an LMDB file (meta page %d "
			               "is not one)",
			               i);
		if (rd32(m[i] + M_VERSION) != MDB_DATA_V)
			return ck_fail(c, "has LMDB data version %u, not %u",
			               rd32(m[i] + M_VERSION), MDB_DATA_V);
		if (i == 0) {
			c->psize = rd32(m[0] + M_DBS + DB_PAD);
			if (c->psize < 512 || c->psize > 0x8000 ||
			    (c->psize & (c->psize - 1)))
				return ck_fail(c, "is corrupt: page size %u",
				               c->psize);
			off = c->psize;
		} else if (rd32(m[1] + M_DBS + DB_PAD) != c->psize) {
			return ck_fail(c, "is corrupt: the meta pages "
			                  "disagree on the page size");
		}
	}
	memcpy(newest, m[rd64(m[0] + M_TXNID) < rd64(m[1] + M_TXNID)], M_END);
	return 0;
}

static int ck_run(struct ck *c)
{
	uint8_t meta[M_END];
	const struct ck_sub *sub;
	uint64_t nbits;
	int rc;

	rc = ck_metas(c, meta);
	if (rc)
		return rc;
	c->file_pages = c->file_size / c->psize;
	c->last_pg = rd64(meta + M_LAST_PG);
	if (c->last_pg < 1 || c->last_pg >= c->file_pages + LAST_PG_SLACK)
		return ck_fail(c,
		               "is corrupt: it claims %llu pages in a file "
		               "of %llu",
		               (unsigned long long)c->last_pg + 1,
		               (unsigned long long)c->file_pages);
	nbits = c->last_pg + 1;
	c->used = calloc(nbits / 8 + 1, 1);
	c->freed = calloc(nbits / 8 + 1, 1);
	c->bufs = malloc((size_t)c->psize * (MAX_DEPTH + 1));
	if (!c->used || !c->freed || !c->bufs)
		return ck_fail(c, "cannot be checked: out of memory");
	c->ovbuf = c->bufs + (size_t)c->psize * MAX_DEPTH;

	/* LMDB takes the core dbs' flags from the meta page: a DUPSORT bit
	 * there changes how it reads every page (the free db is INTEGERKEY) */
	if ((rd16(meta + M_DBS + DB_FLAGS) & DB_TYPE_FLAGS & ~MDB_INTEGERKEY) ||
	    (rd16(meta + M_DBS + DB_SIZE + DB_FLAGS) & DB_TYPE_FLAGS))
		return ck_fail(c, "is corrupt: bad flags in the meta page");
	rc = ck_tree(c, "(main)", CK_MAIN, meta + M_DBS + DB_SIZE);
	if (rc)
		return rc;
	/* the format first: a newer store may hold what we do not know */
	sub = ck_find(c, "meta");
	if (sub) {
		rc = ck_tree(c, "meta", CK_USER, sub->rec);
		if (rc)
			return rc;
		if (c->has_format && c->format > STORE_FORMAT) {
			if (c->err && c->errlen)
				snprintf(c->err, c->errlen,
				         "%s: store format %u is newer than "
				         "this ternd (%u): upgrade ternd or "
				         "use another data_dir",
				         c->dir, c->format, STORE_FORMAT);
			return TERN_EVERSION;
		}
	}
	for (int i = 0; i < c->nsubs; i++) {
		bool known = false;

		for (int j = 0; j < STORE_DB_COUNT; j++)
			known |=
			    strcmp(c->subs[i].name, store_db_names[j]) == 0;
		if (!known)
			c->foreign = true;
	}
	if (c->foreign)
		return ck_fail(c, "holds LMDB data that is not a Tern store");
	for (int i = 0; i < c->nsubs; i++) {
		if (rd16(c->subs[i].rec + DB_FLAGS))
			return ck_fail(c,
			               "is corrupt: database %s has flags "
			               "%#x",
			               c->subs[i].name,
			               rd16(c->subs[i].rec + DB_FLAGS));
		if (strcmp(c->subs[i].name, "meta") == 0)
			continue;
		rc = ck_tree(c, c->subs[i].name, CK_USER, c->subs[i].rec);
		if (rc)
			return rc;
	}
	rc = ck_tree(c, "(free)", CK_FREE, meta + M_DBS);
	if (rc)
		return rc;
	for (uint64_t pg = 2; pg < nbits; pg++)
		if (ck_marked(c->used, pg) && ck_marked(c->freed, pg))
			return ck_fail(c,
			               "is corrupt: page %llu is both in use "
			               "and free",
			               (unsigned long long)pg);
	return 0;
}

int store_check_file(int fd, const char *dir, char *err, size_t errlen)
{
	struct ck c = {.fd = fd, .dir = dir, .err = err, .errlen = errlen};
	struct stat st;
	int rc;

	if (fstat(fd, &st) != 0)
		return ck_fail(&c, "cannot be read: %s", strerror(errno));
	if (st.st_size == 0)
		return 0; /* new: LMDB writes the meta pages */
	if (st.st_size < M_END)
		return ck_fail(&c, "is not an LMDB file (%lld bytes)",
		               (long long)st.st_size);
	c.file_size = (uint64_t)st.st_size;
	rc = ck_run(&c);
	free(c.used);
	free(c.freed);
	free(c.bufs);
	return rc;
}

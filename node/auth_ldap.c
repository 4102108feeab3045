/*
 * auth_ldap.c - the LDAP provider (see auth_ldap.h).
 *
 * Threads: setup, reload and teardown run on the control thread; a
 * verification runs in libuv's thread pool (auth_ldap_on_work) and reads
 * only its job, the provider's immutable settings and role map, and the
 * service password under l->lock. libldap (2.5, thread-safe) gets one
 * LDAP handle per job; the TLS settings are process-wide libldap options
 * set once at setup, so every handle shares one TLS context.
 */
#include "auth_ldap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "acl.h"
#include "auth_limit.h"
#include "conn.h"
#include "log.h"
#include "mqtt.h"
#include "tern_err.h"

#define AUTH_LDAP_SVC_PW_MAX 1024  /* bytes in the service password file */
#define AUTH_LDAP_GROUPS_MAX 1000  /* entries a group search may return */

_Static_assert(ACL_MAX_ROLES <= 32, "mapped roles are a uint32_t bitmask");

/* One entry of ldap_role_map. */
struct auth_ldap_group {
	char *dn;       /* ldap_dn_normalize'd; compared ignoring case */
	uint32_t roles; /* bit i: l->roles[i] */
};

struct auth_ldap {
	const struct tern_config *cfg; /* the node's; outlives l */
	uv_mutex_t lock;               /* guards svc_pw */
	char *svc_pw;                  /* NULL: anonymous search */
	size_t svc_pw_len;
	struct auth_ldap_group *groups;
	size_t n_groups;
	char *roles[ACL_MAX_ROLES]; /* distinct, in order of appearance */
	size_t role_lens[ACL_MAX_ROLES];
	size_t n_roles;
};

struct auth_ldap_job {
	uv_work_t req;
	struct conn *c;      /* NULL: the client went away */
	struct auth_ldap *l; /* outlives every job */
	bool done;           /* the after-work callback ran */
	uint8_t verdict;     /* enum auth_verdict, once done */
	uint32_t roles;      /* mapped roles: bits of l->roles */
	unsigned n_listed;   /* group DNs the directory listed */
	uint64_t deadline;   /* uv_hrtime() ns */
	char detail[320];    /* the reason of a refusal, or the user's DN */
	/* a refusal counts towards throttling (auth_limit.h) even when the
	 * client left before the answer */
	struct auth_limit *lim;
	struct auth_limit_key lim_keys[2];
	unsigned n_lim_keys;
	size_t user_len, pw_len;
	char *user; /* NUL-terminated, in data[] */
	char *pw;   /* in data[] */
	char data[];
};

/* ---- strings ------------------------------------------------------- */

enum auth_ldap_esc {
	AUTH_LDAP_ESC_DN,     /* an RFC 4514 attribute value */
	AUTH_LDAP_ESC_FILTER, /* an RFC 4515 assertion value */
};

/* Writes s[0..len) escaped at out (NULL: only counts); returns bytes. */
static size_t auth_ldap_escape(char *out, const char *s, size_t len,
			       enum auth_ldap_esc how)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool as_hex, as_char = false;

		if (how == AUTH_LDAP_ESC_FILTER) {
			/* RFC 4515 3: '*', '(', ')', '\' and NUL must be
			 * escaped; any octet may be, so control bytes and
			 * non-ASCII are too */
			as_hex = ch == '*' || ch == '(' || ch == ')' ||
				 ch == '\\' || ch < 0x20 || ch >= 0x7f;
		} else {
			/* RFC 4514 2.4; '=' too, harmless and clearer */
			as_hex = ch < 0x20 || ch == 0x7f;
			as_char = (!as_hex && strchr("\"+,;<>\\=", ch)) ||
				  (i == 0 && (ch == ' ' || ch == '#')) ||
				  (i == len - 1 && ch == ' ');
		}
		if (as_hex) {
			if (out) {
				out[n] = '\\';
				out[n + 1] = hex[ch >> 4];
				out[n + 2] = hex[ch & 15];
			}
			n += 3;
		} else if (as_char) {
			if (out) {
				out[n] = '\\';
				out[n + 1] = (char)ch;
			}
			n += 2;
		} else {
			if (out)
				out[n] = (char)ch;
			n++;
		}
	}
	return n;
}

/*
 * tmpl with %u replaced by the username, %d by the user's DN (both escaped
 * as `how`) and %% by %. Returns a new string, or NULL on ENOMEM.
 */
static char *auth_ldap_expand(const char *tmpl, const char *user,
			      size_t user_len, const char *dn,
			      enum auth_ldap_esc how)
{
	char *out = NULL;

	for (;;) {
		size_t k = 0;

		for (const char *t = tmpl; *t; t++) {
			if (t[0] == '%' && (t[1] == 'u' || t[1] == 'd')) {
				const char *v = t[1] == 'u' ? user : dn;
				size_t vl = t[1] == 'u' ? user_len
					    : dn     ? strlen(dn)
						     : 0;

				k += auth_ldap_escape(out ? out + k : NULL, v,
						      vl, how);
				t++;
				continue;
			}
			if (t[0] == '%' && t[1] == '%')
				t++;
			if (out)
				out[k] = *t;
			k++;
		}
		if (out) {
			out[k] = '\0';
			return out;
		}
		out = malloc(k + 1);
		if (!out)
			return NULL;
	}
}

/* Checks that tmpl uses only %u (and %d when allow_d) and %%, and %u (or
 * %d) at least once when need. */
static int auth_ldap_check_template(const char *key, const char *tmpl,
				    bool allow_d, bool need, char *err,
				    size_t errlen)
{
	bool used = false;

	for (const char *t = tmpl; *t; t++) {
		if (*t != '%')
			continue;
		t++;
		if (*t == 'u' || (allow_d && *t == 'd'))
			used = true;
		else if (*t != '%') {
			snprintf(err, errlen,
				 "%s: \"%s\": only %s and %%%% may follow %%",
				 key, tmpl, allow_d ? "%u, %d" : "%u");
			return TERN_ECONFIG;
		}
	}
	if (need && !used) {
		snprintf(err, errlen, "%s: \"%s\" must contain %s", key, tmpl,
			 allow_d ? "%d or %u" : "%u");
		return TERN_ECONFIG;
	}
	return 0;
}

/* A new ldap_dn_normalize'd copy of s[0..len) (free with ldap_memfree),
 * or NULL if it is not a DN (or on ENOMEM). */
static char *auth_ldap_normalize(const char *s, size_t len)
{
	char *tmp = strndup(s, len), *norm = NULL;

	if (!tmp)
		return NULL;
	if (ldap_dn_normalize(tmp, LDAP_DN_FORMAT_LDAP, &norm,
			      LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		norm = NULL;
	free(tmp);
	return norm;
}

/* ---- setup ----------------------------------------------------------- */

/* The index of role s[0..len) in l->roles, added if new; -1: too many. */
static int auth_ldap_role(struct auth_ldap *l, const char *s, size_t len)
{
	for (size_t i = 0; i < l->n_roles; i++)
		if (l->role_lens[i] == len && memcmp(l->roles[i], s, len) == 0)
			return (int)i;
	if (l->n_roles == ACL_MAX_ROLES)
		return -1;
	l->roles[l->n_roles] = strndup(s, len);
	if (!l->roles[l->n_roles])
		return -1;
	l->role_lens[l->n_roles] = len;
	return (int)l->n_roles++;
}

static bool auth_ldap_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Does an attribute value of DN s[0..len) hold an unescaped '=' (a second
 * '=' in one attribute type-and-value)? */
static bool auth_ldap_value_has_eq(const char *s, size_t len)
{
	unsigned eqs = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == ',' || s[i] == '+')
			eqs = 0;
		else if (s[i] == '=' && ++eqs > 1)
			return true;
	}
	return false;
}

/* One "GROUP_DN=ROLE[,ROLE...]" entry, s[0..len) trimmed; eq is its last
 * unescaped '='. */
static int auth_ldap_map_entry(struct auth_ldap *l, unsigned no,
			       const char *s, size_t len, const char *eq,
			       char *err, size_t errlen)
{
	const char *dn = s, *dn_end = eq, *r = eq + 1, *end = s + len;
	struct auth_ldap_group *g;
	uint32_t roles = 0;

	while (dn_end > dn && auth_ldap_space(dn_end[-1]))
		dn_end--;
	if (l->n_groups == AUTH_LDAP_MAP_MAX) {
		snprintf(err, errlen, "ldap_role_map: more than %d entries",
			 AUTH_LDAP_MAP_MAX);
		return TERN_ECONFIG;
	}
	while (r < end) {
		size_t n = 0;
		int i;

		while (r < end && (*r == ',' || auth_ldap_space(*r)))
			r++;
		while (r + n < end && r[n] != ',' && !auth_ldap_space(r[n]))
			n++;
		if (!n)
			break;
		if (n > ACL_ROLE_NAME_MAX) {
			snprintf(err, errlen,
				 "ldap_role_map: entry %u: role \"%.*s\" is "
				 "longer than %d bytes",
				 no, (int)n, r, ACL_ROLE_NAME_MAX);
			return TERN_ECONFIG;
		}
		i = auth_ldap_role(l, r, n);
		if (i < 0) {
			snprintf(err, errlen,
				 "ldap_role_map: more than %d distinct roles",
				 ACL_MAX_ROLES);
			return TERN_ECONFIG;
		}
		roles |= UINT32_C(1) << i;
		r += n;
	}
	if (dn == dn_end || !roles) {
		snprintf(err, errlen,
			 "ldap_role_map: entry %u (\"%.*s\"): expected "
			 "GROUP_DN=ROLE[,ROLE...]",
			 no, (int)len, s);
		return TERN_ECONFIG;
	}
	if (auth_ldap_value_has_eq(dn, (size_t)(dn_end - dn))) {
		/* "cn=a,o=x=r1, cn=b,o=x=r2" is one valid DN with the value
		 * "x=r1": entries are separated by ';', not ',' */
		snprintf(err, errlen,
			 "ldap_role_map: entry %u: \"%.*s\" has an '=' inside "
			 "a value (separate entries with ';'; escape a real "
			 "'=' as \\=)",
			 no, (int)(dn_end - dn), dn);
		return TERN_ECONFIG;
	}
	g = &l->groups[l->n_groups];
	g->dn = auth_ldap_normalize(dn, (size_t)(dn_end - dn));
	if (!g->dn) {
		snprintf(err, errlen,
			 "ldap_role_map: entry %u: \"%.*s\" is not a DN "
			 "(expected GROUP_DN=ROLE[,ROLE...])",
			 no, (int)(dn_end - dn), dn);
		return TERN_ECONFIG;
	}
	g->roles = roles;
	l->n_groups++;
	return 0;
}

/* Parses ldap_role_map: entries separated by ';' (a '\' escapes the next
 * character, as in DNs), each split at its last unescaped '='. */
static int auth_ldap_parse_map(struct auth_ldap *l, const char *map,
			       char *err, size_t errlen)
{
	const char *p = map;
	unsigned no = 0;
	int rc;

	l->groups = calloc(AUTH_LDAP_MAP_MAX, sizeof(*l->groups));
	if (!l->groups)
		return TERN_ENOMEM;
	while (*p) {
		const char *s = p, *eq = NULL, *e;

		while (*p && *p != ';') {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '=')
				eq = p;
			p++;
		}
		e = p;
		if (*p)
			p++;
		no++;
		while (s < e && auth_ldap_space(*s))
			s++;
		while (e > s && auth_ldap_space(e[-1]))
			e--;
		if (s == e)
			continue;
		if (!eq || eq < s || eq >= e) {
			snprintf(err, errlen,
				 "ldap_role_map: entry %u (\"%.*s\"): expected "
				 "GROUP_DN=ROLE[,ROLE...]",
				 no, (int)(e - s), s);
			return TERN_ECONFIG;
		}
		rc = auth_ldap_map_entry(l, no, s, (size_t)(e - s), eq, err,
					 errlen);
		if (rc)
			return rc;
	}
	if (!l->n_groups) {
		snprintf(err, errlen, "ldap_role_map: no GROUP_DN=ROLE entry");
		return TERN_ECONFIG;
	}
	return 0;
}

/* Reads the service password (one line; a final newline is dropped). */
static int auth_ldap_read_secret(const char *path, char **out, size_t *len,
				 char *err, size_t errlen)
{
	char buf[AUTH_LDAP_SVC_PW_MAX + 2];
	const char *why = NULL;
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "ldap_service_password_file %s: %s", path,
			 strerror(errno));
		return TERN_ECONFIG;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f))
		why = "read error";
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!why && n > AUTH_LDAP_SVC_PW_MAX)
		why = "longer than 1024 bytes";
	else if (!why && n == 0)
		why = "empty";
	else if (!why && memchr(buf, '\0', n))
		why = "contains a NUL byte";
	if (!why) {
		*out = malloc(n + 1);
		if (!*out)
			why = "out of memory";
		else {
			memcpy(*out, buf, n);
			(*out)[n] = '\0';
			*len = n;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (why) {
		snprintf(err, errlen, "ldap_service_password_file %s: %s",
			 path, why);
		return TERN_ECONFIG;
	}
	return 0;
}

/* Checks every URL of ldap_url (space-separated, tried in order); sets
 * *tls when one is ldaps://. Warns about plaintext non-loopback ones. */
static int auth_ldap_check_urls(const struct tern_config *cfg, bool *tls,
				char *err, size_t errlen)
{
	char urls[sizeof(cfg->ldap_url)], *save = NULL;
	unsigned n = 0;

	memcpy(urls, cfg->ldap_url, sizeof(urls));
	*tls = cfg->ldap_starttls;
	for (char *u = strtok_r(urls, " ", &save); u;
	     u = strtok_r(NULL, " ", &save)) {
		LDAPURLDesc *d = NULL;
		bool ldaps, loopback;

		if (ldap_url_parse(u, &d) != LDAP_URL_SUCCESS ||
		    (strcasecmp(d->lud_scheme, "ldap") &&
		     strcasecmp(d->lud_scheme, "ldaps"))) {
			if (d)
				ldap_free_urldesc(d);
			snprintf(err, errlen,
				 "ldap_url: \"%s\" is not an ldap:// or "
				 "ldaps:// URL",
				 u);
			return TERN_ECONFIG;
		}
		ldaps = strcasecmp(d->lud_scheme, "ldaps") == 0;
		loopback = !d->lud_host || !d->lud_host[0] ||
			   strncmp(d->lud_host, "127.", 4) == 0 ||
			   strcmp(d->lud_host, "::1") == 0 ||
			   strcasecmp(d->lud_host, "localhost") == 0;
		ldap_free_urldesc(d);
		n++;
		if (ldaps && cfg->ldap_starttls) {
			snprintf(err, errlen,
				 "ldap_starttls: %s is already TLS (ldaps://); "
				 "StartTLS is for ldap:// URLs",
				 u);
			return TERN_ECONFIG;
		}
		*tls = *tls || ldaps;
		if (!ldaps && !cfg->ldap_starttls && !loopback)
			log_warn("ldap_url %s is neither ldaps:// nor "
				 "StartTLS: passwords cross the network in "
				 "clear",
				 u);
	}
	if (!n) {
		snprintf(err, errlen, "ldap_url: no URL");
		return TERN_ECONFIG;
	}
	return 0;
}

/* Cross-key checks of the ldap_* settings. */
static int auth_ldap_check(const struct tern_config *cfg, char *err,
			   size_t errlen)
{
	bool groups = cfg->ldap_group_attr[0] || cfg->ldap_group_base[0];
	int rc;

	if (!cfg->ldap_bind_dn[0] == !cfg->ldap_search_base[0]) {
		snprintf(err, errlen,
			 "LDAP: set either ldap_bind_dn (bind as the user, "
			 "e.g. uid=%%u,ou=people,dc=example,dc=com) or "
			 "ldap_search_base (search, then bind)%s",
			 cfg->ldap_bind_dn[0] ? ", not both" : "");
		return TERN_ECONFIG;
	}
	if (cfg->ldap_bind_dn[0]) {
		rc = auth_ldap_check_template("ldap_bind_dn",
					      cfg->ldap_bind_dn, false, true,
					      err, errlen);
		if (rc)
			return rc;
		if (cfg->ldap_service_dn[0] ||
		    cfg->ldap_service_password_file[0]) {
			snprintf(err, errlen,
				 "ldap_service_dn: only used with "
				 "ldap_search_base (with ldap_bind_dn the "
				 "user's own bind reads the groups)");
			return TERN_ECONFIG;
		}
	} else {
		rc = auth_ldap_check_template("ldap_search_filter",
					      cfg->ldap_search_filter, false,
					      true, err, errlen);
		if (rc)
			return rc;
		if (!cfg->ldap_service_dn[0] !=
		    !cfg->ldap_service_password_file[0]) {
			snprintf(err, errlen,
				 "ldap_service_dn and "
				 "ldap_service_password_file go together "
				 "(neither: the search is anonymous)");
			return TERN_ECONFIG;
		}
	}
	if (cfg->ldap_group_base[0]) {
		rc = auth_ldap_check_template("ldap_group_filter",
					      cfg->ldap_group_filter, true,
					      true, err, errlen);
		if (rc)
			return rc;
	}
	if (groups != !!cfg->ldap_role_map[0]) {
		snprintf(err, errlen,
			 groups ? "ldap_group_attr/ldap_group_base: groups "
				  "need ldap_role_map (GROUP_DN=ROLE; ...)"
				: "ldap_role_map: set ldap_group_attr and/or "
				  "ldap_group_base (where groups are read)");
		return TERN_ECONFIG;
	}
	return 0;
}

/* Process-wide libldap options, set before any handle exists. */
static int auth_ldap_global_options(const struct tern_config *cfg, bool tls,
				    char *err, size_t errlen)
{
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND,
	    min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, client = 0, rc;

	/* also runs libldap's one-time initialization on this thread */
	if (ldap_set_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v3) !=
	    LDAP_OPT_SUCCESS) {
		snprintf(err, errlen, "LDAP: cannot initialize libldap");
		return TERN_ECONFIG;
	}
	if (!tls)
		return 0;
	if (cfg->ldap_ca_file[0]) {
		FILE *f = fopen(cfg->ldap_ca_file, "r");

		if (!f) {
			snprintf(err, errlen, "ldap_ca_file %s: %s",
				 cfg->ldap_ca_file, strerror(errno));
			return TERN_ECONFIG;
		}
		fclose(f);
		ldap_set_option(NULL, LDAP_OPT_X_TLS_CACERTFILE,
				cfg->ldap_ca_file);
	}
	ldap_set_option(NULL, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	ldap_set_option(NULL, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min);
	/* builds the shared context now, with these settings */
	rc = ldap_set_option(NULL, LDAP_OPT_X_TLS_NEWCTX, &client);
	if (rc != LDAP_OPT_SUCCESS) {
		snprintf(err, errlen,
			 "ldap_ca_file %s: cannot build a TLS context (%s)",
			 cfg->ldap_ca_file[0] ? cfg->ldap_ca_file : "(default)",
			 ldap_err2string(rc));
		return TERN_ECONFIG;
	}
	return 0;
}

static void auth_ldap_free(struct auth_ldap *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_groups; i++)
		ldap_memfree(l->groups[i].dn);
	free(l->groups);
	for (size_t i = 0; i < l->n_roles; i++)
		free(l->roles[i]);
	if (l->svc_pw) {
		OPENSSL_cleanse(l->svc_pw, l->svc_pw_len);
		free(l->svc_pw);
	}
	free(l);
}

int auth_ldap_setup(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct auth_ldap *l;
	bool tls = false;
	int rc;

	n->ldap = NULL;
	if (!cfg->ldap_url[0])
		return 0;
	rc = auth_ldap_check_urls(cfg, &tls, err, errlen);
	if (rc == 0)
		rc = auth_ldap_check(cfg, err, errlen);
	if (rc == 0)
		rc = auth_ldap_global_options(cfg, tls, err, errlen);
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l || uv_mutex_init(&l->lock)) {
		free(l);
		snprintf(err, errlen, "LDAP: out of memory");
		return TERN_ENOMEM;
	}
	l->cfg = cfg;
	if (cfg->ldap_role_map[0])
		rc = auth_ldap_parse_map(l, cfg->ldap_role_map, err, errlen);
	if (rc == 0 && cfg->ldap_service_password_file[0])
		rc = auth_ldap_read_secret(cfg->ldap_service_password_file,
					   &l->svc_pw, &l->svc_pw_len, err,
					   errlen);
	if (rc) {
		if (rc == TERN_ENOMEM)
			snprintf(err, errlen, "LDAP: out of memory");
		uv_mutex_destroy(&l->lock);
		auth_ldap_free(l);
		return rc;
	}
	n->ldap = l;
	log_info("LDAP: %s%s, %s %s%s%s%s%s, %zu group mapping(s) to %zu "
		 "role(s), timeout %u ms",
		 cfg->ldap_url, cfg->ldap_starttls ? " (StartTLS)" : "",
		 cfg->ldap_bind_dn[0] ? "bind as" : "search under",
		 cfg->ldap_bind_dn[0] ? cfg->ldap_bind_dn
				      : cfg->ldap_search_base,
		 cfg->ldap_group_attr[0] ? ", groups from " : "",
		 cfg->ldap_group_attr,
		 cfg->ldap_group_base[0] ? ", group search under " : "",
		 cfg->ldap_group_base, l->n_groups, l->n_roles,
		 cfg->ldap_timeout_ms);
	return 0;
}

int auth_ldap_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct auth_ldap *l = n->ldap;
	char *pw, *old;
	size_t len, old_len;
	int rc;

	if (!l || !l->cfg->ldap_service_password_file[0])
		return 0;
	rc = auth_ldap_read_secret(l->cfg->ldap_service_password_file, &pw,
				   &len, err, errlen);
	if (rc)
		return rc;
	uv_mutex_lock(&l->lock);
	old = l->svc_pw;
	old_len = l->svc_pw_len;
	l->svc_pw = pw;
	l->svc_pw_len = len;
	uv_mutex_unlock(&l->lock);
	OPENSSL_cleanse(old, old_len);
	free(old);
	log_info("LDAP: ldap_service_password_file reloaded");
	return 0;
}

void auth_ldap_teardown(struct tern_node *n)
{
	if (!n->ldap)
		return;
	uv_mutex_destroy(&n->ldap->lock);
	auth_ldap_free(n->ldap);
	n->ldap = NULL;
}

/* ---- one verification (thread pool) ---------------------------------- */

/* Sets ld's timeouts to what is left of the job's budget; false: none. */
static bool auth_ldap_budget(struct auth_ldap_job *j, LDAP *ld,
			     struct timeval *tv)
{
	uint64_t now = uv_hrtime(), left_us;

	if (now >= j->deadline)
		return false;
	left_us = (j->deadline - now) / 1000u;
	tv->tv_sec = (time_t)(left_us / 1000000u);
	tv->tv_usec = (suseconds_t)(left_us % 1000000u);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, tv);
	return true;
}

/* True for the codes that mean the server did not answer (as opposed to
 * an answer that refuses). */
static bool auth_ldap_unreachable(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_CONNECT_ERROR:
	case LDAP_LOCAL_ERROR:
	case LDAP_NO_MEMORY:
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
	case LDAP_OTHER:
		return true;
	default:
		return false;
	}
}

/* Ends the job with verdict v and "what: LDAP error (diagnostic)". */
static void auth_ldap_fail(struct auth_ldap_job *j, LDAP *ld,
			   enum auth_verdict v, const char *what, int rc)
{
	char *diag = NULL;

	if (ld)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(j->detail, sizeof(j->detail), "%s: %s%s%s%s", what,
		 ldap_err2string(rc), diag && *diag ? " (" : "",
		 diag && *diag ? diag : "", diag && *diag ? ")" : "");
	ldap_memfree(diag);
	j->verdict = (uint8_t)v;
}

static int auth_ldap_bind(struct auth_ldap_job *j, LDAP *ld, const char *dn,
			  const char *pw, size_t pw_len)
{
	struct berval cred = {.bv_len = pw_len, .bv_val = (char *)pw};
	struct timeval tv;

	if (!auth_ldap_budget(j, ld, &tv))
		return LDAP_TIMEOUT;
	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
				NULL);
}

/* A synchronous search within the budget; *res is set even on error. */
static int auth_ldap_search(struct auth_ldap_job *j, LDAP *ld,
			    const char *base, int scope, const char *filter,
			    char **attrs, int sizelimit, LDAPMessage **res)
{
	struct timeval tv;

	*res = NULL;
	if (!auth_ldap_budget(j, ld, &tv))
		return LDAP_TIMEOUT;
	return ldap_search_ext_s(ld, base, scope, filter, attrs, 0, NULL, NULL,
				 &tv, sizelimit, res);
}

/* A group DN the directory gave for the user: adds its mapped roles. */
static void auth_ldap_group_seen(struct auth_ldap_job *j, const char *dn,
				 size_t len)
{
	const struct auth_ldap *l = j->l;
	char *norm = auth_ldap_normalize(dn, len);

	j->n_listed++;
	if (!norm)
		return; /* not a DN: cannot be a group of the map */
	for (size_t i = 0; i < l->n_groups; i++)
		if (strcasecmp(norm, l->groups[i].dn) == 0)
			j->roles |= l->groups[i].roles;
	ldap_memfree(norm);
}

/* The group DNs in ldap_group_attr of entry e. */
static void auth_ldap_group_attr(struct auth_ldap_job *j, LDAP *ld,
				 LDAPMessage *e)
{
	struct berval **v =
		ldap_get_values_len(ld, e, j->l->cfg->ldap_group_attr);

	for (size_t i = 0; v && v[i]; i++)
		auth_ldap_group_seen(j, v[i]->bv_val, v[i]->bv_len);
	ldap_value_free_len(v);
}

/* Reads ldap_group_attr from the user's own entry (bind-DN mode). */
static int auth_ldap_read_attr(struct auth_ldap_job *j, LDAP *ld,
			       const char *dn)
{
	char *attrs[] = {(char *)j->l->cfg->ldap_group_attr, NULL};
	LDAPMessage *res, *e;
	int rc;

	rc = auth_ldap_search(j, ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
			      attrs, 1, &res);
	if (rc == LDAP_SUCCESS) {
		e = ldap_first_entry(ld, res);
		if (e)
			auth_ldap_group_attr(j, ld, e);
	}
	ldap_msgfree(res);
	return rc;
}

/* The group search: every entry under ldap_group_base matching the
 * filter is a group of the user. */
static int auth_ldap_group_search(struct auth_ldap_job *j, LDAP *ld,
				  const char *user_dn)
{
	const struct tern_config *cfg = j->l->cfg;
	char *attrs[] = {LDAP_NO_ATTRS, NULL};
	char *filter = auth_ldap_expand(cfg->ldap_group_filter, j->user,
					j->user_len, user_dn,
					AUTH_LDAP_ESC_FILTER);
	LDAPMessage *res = NULL;
	int rc;

	if (!filter)
		return LDAP_NO_MEMORY;
	rc = auth_ldap_search(j, ld, cfg->ldap_group_base, LDAP_SCOPE_SUBTREE,
			      filter, attrs, AUTH_LDAP_GROUPS_MAX, &res);
	if (rc == LDAP_SUCCESS) {
		for (LDAPMessage *e = ldap_first_entry(ld, res); e;
		     e = ldap_next_entry(ld, e)) {
			char *dn = ldap_get_dn(ld, e);

			if (dn)
				auth_ldap_group_seen(j, dn, strlen(dn));
			ldap_memfree(dn);
		}
	}
	ldap_msgfree(res);
	free(filter);
	return rc;
}

/* Both group sources, as configured; 0 or the failing step's code. */
static int auth_ldap_groups(struct auth_ldap_job *j, LDAP *ld,
			    const char *user_dn, bool read_attr,
			    const char **what)
{
	const struct tern_config *cfg = j->l->cfg;
	int rc = LDAP_SUCCESS;

	if (read_attr && cfg->ldap_group_attr[0]) {
		*what = "reading the user's groups";
		rc = auth_ldap_read_attr(j, ld, user_dn);
	}
	if (rc == LDAP_SUCCESS && cfg->ldap_group_base[0]) {
		*what = "group search";
		rc = auth_ldap_group_search(j, ld, user_dn);
	}
	return rc;
}

/* ldap_bind_dn mode: bind as the template's DN, then read the groups
 * with the user's own rights. */
static void auth_ldap_bind_mode(struct auth_ldap_job *j, LDAP *ld)
{
	const char *what = "?";
	char *dn = auth_ldap_expand(j->l->cfg->ldap_bind_dn, j->user,
				    j->user_len, NULL, AUTH_LDAP_ESC_DN);
	char step[sizeof(j->detail)];
	int rc;

	if (!dn) {
		auth_ldap_fail(j, NULL, AUTH_UNAVAILABLE, "user bind",
			       LDAP_NO_MEMORY);
		return;
	}
	rc = auth_ldap_bind(j, ld, dn, j->pw, j->pw_len);
	if (rc != LDAP_SUCCESS) {
		snprintf(step, sizeof(step), "bind as %s", dn);
		auth_ldap_fail(j, ld,
			       auth_ldap_unreachable(rc) ? AUTH_UNAVAILABLE
							 : AUTH_BAD_CREDENTIALS,
			       step, rc);
	} else if ((rc = auth_ldap_groups(j, ld, dn, true, &what))) {
		auth_ldap_fail(j, ld, AUTH_UNAVAILABLE, what, rc);
	} else {
		j->verdict = AUTH_ALLOW;
		snprintf(j->detail, sizeof(j->detail), "%s", dn);
	}
	free(dn);
}

/* Search-then-bind mode: as the service DN (or anonymously) find exactly
 * one entry and read the groups, then bind as that entry. */
static void auth_ldap_search_mode(struct auth_ldap_job *j, LDAP *ld)
{
	struct auth_ldap *l = j->l;
	const struct tern_config *cfg = l->cfg;
	char *attrs[] = {cfg->ldap_group_attr[0] ? (char *)cfg->ldap_group_attr
						 : LDAP_NO_ATTRS,
			 NULL};
	char *filter = NULL, *dn = NULL, *svc = NULL;
	LDAPMessage *res = NULL, *e;
	const char *what = "?";
	size_t svc_len = 0;
	int rc = LDAP_SUCCESS, count;

	if (cfg->ldap_service_dn[0]) {
		/* a copy: SIGHUP may replace the password meanwhile */
		uv_mutex_lock(&l->lock);
		if (l->svc_pw && (svc = malloc(l->svc_pw_len + 1))) {
			memcpy(svc, l->svc_pw, l->svc_pw_len + 1);
			svc_len = l->svc_pw_len;
		}
		uv_mutex_unlock(&l->lock);
		rc = svc ? auth_ldap_bind(j, ld, cfg->ldap_service_dn, svc,
					  svc_len)
			 : LDAP_NO_MEMORY;
		if (svc)
			OPENSSL_cleanse(svc, svc_len);
		free(svc);
		if (rc != LDAP_SUCCESS) {
			/* our credentials, not the client's: unavailable */
			auth_ldap_fail(j, ld, AUTH_UNAVAILABLE,
				       "service bind as ldap_service_dn", rc);
			return;
		}
	}
	filter = auth_ldap_expand(cfg->ldap_search_filter, j->user,
				  j->user_len, NULL, AUTH_LDAP_ESC_FILTER);
	if (!filter) {
		auth_ldap_fail(j, ld, AUTH_UNAVAILABLE, "user search",
			       LDAP_NO_MEMORY);
		return;
	}
	rc = auth_ldap_search(j, ld, cfg->ldap_search_base, LDAP_SCOPE_SUBTREE,
			      filter, attrs, 2, &res);
	count = res ? ldap_count_entries(ld, res) : 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED || count > 1) {
		/* refused, not guessed: the filter is too wide */
		snprintf(j->detail, sizeof(j->detail),
			 "user search %s: several entries match", filter);
		j->verdict = AUTH_BAD_CREDENTIALS;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		auth_ldap_fail(j, ld, AUTH_UNAVAILABLE, "user search", rc);
		goto out;
	}
	e = ldap_first_entry(ld, res);
	dn = e ? ldap_get_dn(ld, e) : NULL;
	if (!dn) {
		snprintf(j->detail, sizeof(j->detail),
			 "user search %s: no such user", filter);
		j->verdict = AUTH_BAD_CREDENTIALS;
		goto out;
	}
	if (cfg->ldap_group_attr[0])
		auth_ldap_group_attr(j, ld, e);
	rc = auth_ldap_groups(j, ld, dn, false, &what);
	if (rc != LDAP_SUCCESS) {
		auth_ldap_fail(j, ld, AUTH_UNAVAILABLE, what, rc);
		goto out;
	}
	rc = auth_ldap_bind(j, ld, dn, j->pw, j->pw_len);
	if (rc != LDAP_SUCCESS) {
		char step[sizeof(j->detail)];

		snprintf(step, sizeof(step), "bind as %s", dn);
		auth_ldap_fail(j, ld,
			       auth_ldap_unreachable(rc) ? AUTH_UNAVAILABLE
							 : AUTH_BAD_CREDENTIALS,
			       step, rc);
		goto out;
	}
	j->verdict = AUTH_ALLOW;
	snprintf(j->detail, sizeof(j->detail), "%s", dn);
out:
	ldap_memfree(dn);
	ldap_msgfree(res);
	free(filter);
}

static void auth_ldap_on_work(uv_work_t *req)
{
	struct auth_ldap_job *j = req->data;
	const struct tern_config *cfg = j->l->cfg;
	int v3 = LDAP_VERSION3, rc;
	struct timeval tv;
	LDAP *ld = NULL;

	j->verdict = AUTH_UNAVAILABLE;
	j->deadline = uv_hrtime() + (uint64_t)cfg->ldap_timeout_ms * 1000000u;
	rc = ldap_initialize(&ld, cfg->ldap_url);
	if (rc != LDAP_SUCCESS) {
		auth_ldap_fail(j, NULL, AUTH_UNAVAILABLE, "ldap_initialize",
			       rc);
		return;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON);
	if (cfg->ldap_starttls) {
		rc = auth_ldap_budget(j, ld, &tv)
			     ? ldap_start_tls_s(ld, NULL, NULL)
			     : LDAP_TIMEOUT;
		if (rc != LDAP_SUCCESS) {
			auth_ldap_fail(j, ld, AUTH_UNAVAILABLE, "StartTLS",
				       rc);
			goto out;
		}
	}
	if (cfg->ldap_bind_dn[0])
		auth_ldap_bind_mode(j, ld);
	else
		auth_ldap_search_mode(j, ld);
out:
	ldap_unbind_ext_s(ld, NULL, NULL);
}

static void auth_ldap_job_free(struct auth_ldap_job *j)
{
	OPENSSL_cleanse(j->pw, j->pw_len);
	free(j);
}

static void auth_ldap_on_after_work(uv_work_t *req, int status)
{
	struct auth_ldap_job *j = req->data;

	if (status) {
		j->verdict = AUTH_UNAVAILABLE;
		snprintf(j->detail, sizeof(j->detail), "cancelled: %s",
			 uv_strerror(status));
	}
	j->done = true;
	OPENSSL_cleanse(j->pw, j->pw_len); /* no longer needed */
	if (!j->c) {
		/* the client went away: its refusal still counts (with the
		 * client there, auth_decided counts it) */
		if (j->verdict == AUTH_BAD_CREDENTIALS)
			auth_limit_failed(j->lim, j->lim_keys, j->n_lim_keys);
		auth_ldap_job_free(j);
		return;
	}
	/* the CONNECT is handled again; auth_ldap_connect takes j (which
	 * may be freed when this returns) */
	conn_release(j->c);
}

void auth_ldap_conn_gone(struct conn *c)
{
	struct auth_ldap_job *j = CONN_EXT(c, ldap_job);

	if (!j)
		return;
	c->x->ldap_job = NULL;
	if (j->done)
		auth_ldap_job_free(j);
	else
		j->c = NULL; /* freed by its after-work callback */
}

/* ---- CONNECT (worker thread) ----------------------------------------- */

/* The second pass: j's answer for c. */
static enum auth_verdict auth_ldap_answer(struct conn *c,
					  struct auth_ldap_job *j,
					  const char *id, size_t id_len)
{
	const struct auth_ldap *l = j->l;
	const char *roles[ACL_MAX_ROLES];
	size_t lens[ACL_MAX_ROLES], n = 0;
	enum auth_verdict v = (enum auth_verdict)j->verdict;
	char names[256] = "";

	c->x->ldap_job = NULL;
	if (v == AUTH_UNAVAILABLE)
		log_warn("%s: LDAP unavailable: %s", c->peer, j->detail);
	else if (v != AUTH_ALLOW)
		log_info("%s: LDAP refused: %s", c->peer, j->detail);
	if (v == AUTH_ALLOW) {
		for (size_t i = 0; i < l->n_roles; i++) {
			if (!(j->roles & (UINT32_C(1) << i)))
				continue;
			roles[n] = l->roles[i];
			lens[n++] = l->role_lens[i];
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s%s",
				 n > 1 ? "," : "", l->roles[i]);
		}
		log_debug("%s: LDAP: bound as %s, %u group(s) listed, mapped "
			  "roles: %s",
			  c->peer, j->detail, j->n_listed, n ? names : "-");
		if (acl_conn_attach_roles(c, j->user, j->user_len, id, id_len,
					  roles, lens, n)) {
			log_error("%s: out of memory resolving LDAP roles",
				  c->peer);
			v = AUTH_UNAVAILABLE;
		}
	}
	auth_ldap_job_free(j);
	return v;
}

enum auth_verdict auth_ldap_connect(struct conn *c,
				    const struct mqtt_connect *p,
				    const char *id, size_t id_len)
{
	struct auth_ldap_job *j = CONN_EXT(c, ldap_job);
	size_t ulen = p->username.len, pwlen = p->password.len;

	if (j) /* held while j ran: c's CONNECT is handled again */
		return j->done ? auth_ldap_answer(c, j, id, id_len)
			       : AUTH_PENDING;
	if (!c->w->node->ldap) {
		log_info("%s: LDAP refused: LDAP is not configured", c->peer);
		return AUTH_BAD_CREDENTIALS;
	}
	if (pwlen == 0) {
		/* a simple bind without password is an unauthenticated bind
		 * that servers answer with success (RFC 4513 5.1.2) */
		log_info("%s: LDAP refused: empty password", c->peer);
		return AUTH_BAD_CREDENTIALS;
	}
	if (ulen == 0 || ulen > AUTH_LDAP_USER_MAX ||
	    memchr(p->username.p, '\0', ulen)) {
		log_info("%s: LDAP refused: username empty, longer than %d "
			 "bytes or with a NUL byte",
			 c->peer, AUTH_LDAP_USER_MAX);
		return AUTH_BAD_CREDENTIALS;
	}
	j = calloc(1, sizeof(*j) + ulen + 1 + pwlen);
	if (!j) {
		log_error("%s: cannot verify a password (out of memory)",
			  c->peer);
		return AUTH_UNAVAILABLE;
	}
	j->req.data = j;
	j->c = c;
	j->l = c->w->node->ldap;
	j->user = j->data;
	j->user_len = ulen;
	memcpy(j->user, p->username.p, ulen);
	j->pw = j->data + ulen + 1;
	j->pw_len = pwlen;
	memcpy(j->pw, p->password.p, pwlen);
	j->lim = c->w->node->auth_limit;
	j->n_lim_keys = auth_limit_conn_keys(c, p, j->lim_keys);
	if (!conn_ext(c) ||
	    uv_queue_work(&c->w->loop, &j->req, auth_ldap_on_work,
			  auth_ldap_on_after_work)) {
		auth_ldap_job_free(j);
		log_error("%s: cannot queue an LDAP verification", c->peer);
		return AUTH_UNAVAILABLE;
	}
	c->x->ldap_job = j;
	conn_hold(c);
	return AUTH_PENDING;
}

/*
 * jwks_fetch.c - an HTTP(S) GET of a JWK set with libcurl (see
 * jwks_fetch.h). libcurl's easy interface is used once per fetch: fetches
 * are rare (minutes apart, or on an unknown kid), so no handle is kept.
 */
#include "jwks_fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tern_err.h"

int jwks_fetch_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : TERN_EIO;
}

void jwks_fetch_global_cleanup(void)
{
	curl_global_cleanup();
}

bool jwks_fetch_url_ok(const char *url)
{
	size_t skip;

	if (!strncasecmp(url, "http://", 7))
		skip = 7;
	else if (!strncasecmp(url, "https://", 8))
		skip = 8;
	else
		return false;
	/* a host, not a path or nothing */
	if (!url[skip] || url[skip] == '/' || url[skip] == '?' ||
	    url[skip] == '#')
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

struct jwks_fetch_buf {
	char *p;
	size_t len, max;
	bool too_big;
};

static size_t jwks_fetch_on_data(char *data, size_t size, size_t n, void *ud)
{
	struct jwks_fetch_buf *b = ud;
	size_t add = size * n;
	char *np;

	if (add > b->max - b->len) {
		b->too_big = true;
		return 0; /* CURLE_WRITE_ERROR ends the transfer */
	}
	np = realloc(b->p, b->len + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* Could not reach the server, or it answered nothing in time. */
static bool jwks_fetch_unreachable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

int jwks_fetch(const struct jwks_fetch_opts *o, char **body, size_t *len,
	       char *err, size_t errlen)
{
	struct jwks_fetch_buf b = {.max = o->max};
	char cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *h;
	int ret = 0;

	*body = NULL;
	*len = 0;
	if (b.max == 0 || b.max > JWKS_FETCH_MAX)
		b.max = JWKS_FETCH_MAX;
	h = curl_easy_init();
	if (!h) {
		snprintf(err, errlen, "%s: out of memory", o->url);
		return TERN_ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_URL, o->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads, no SIGALRM */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file && o->ca_file[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)b.max);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ternd");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, jwks_fetch_on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "%s: answer longer than %zu bytes",
			 o->url, b.max);
		ret = TERN_ETOOLARGE;
	} else if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", o->url,
			 cerr[0] ? cerr : curl_easy_strerror(rc));
		ret = jwks_fetch_unreachable(rc) ? TERN_EIO
		      : rc == CURLE_OUT_OF_MEMORY ? TERN_ENOMEM
						  : TERN_EPROTOCOL;
	} else if (status != 200) {
		snprintf(err, errlen, "%s: HTTP status %ld", o->url, status);
		/* 5xx: the server is there but cannot answer */
		ret = status >= 500 ? TERN_EIO : TERN_EPROTOCOL;
	} else if (!b.p) {
		b.p = strdup("");
		if (!b.p)
			ret = TERN_ENOMEM;
	}
	if (ret) {
		free(b.p);
		return ret;
	}
	*body = b.p;
	*len = b.len;
	return 0;
}

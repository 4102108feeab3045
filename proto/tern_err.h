/*
 * tern_err.h - the project's error codes.
 *
 * Every function that can fail returns 0 or a negative enum tern_err.
 * Foreign codes (libuv, LMDB, OpenSSL) are translated where they enter and
 * never travel further. The list is an X-macro so tern_strerror() and the
 * enum can never disagree.
 */
#ifndef TERN_ERR_H
#define TERN_ERR_H

#define TERN_ERRORS(X)                                                      \
	X(TERN_ENOMEM, 1, "out of memory")                                   \
	X(TERN_EINVAL, 2, "invalid argument")                                \
	X(TERN_ENEEDMORE, 3, "need more bytes")                              \
	X(TERN_EMALFORMED, 4, "malformed packet")                            \
	X(TERN_EPROTOCOL, 5, "protocol error")                               \
	X(TERN_ETOOLARGE, 6, "packet too large")                             \
	X(TERN_EVERSION, 7, "unsupported protocol version")                  \
	X(TERN_EIO, 8, "i/o error")                                          \
	X(TERN_ENOTFOUND, 9, "not found")                                    \
	X(TERN_EEXIST, 10, "already exists")                                 \
	X(TERN_ELIMIT, 11, "limit reached")                                  \
	X(TERN_ECONFIG, 12, "bad configuration")                             \
	X(TERN_ETOPIC, 13, "invalid topic")                                  \
	X(TERN_EQUOTA, 14, "quota exceeded")                                 \
	X(TERN_ENOTSUP, 15, "not supported")

enum tern_err {
	TERN_OK = 0,
#define TERN_ERR_ENUM(name, num, text) name = -(num),
	TERN_ERRORS(TERN_ERR_ENUM)
#undef TERN_ERR_ENUM
};

/* Returns a static string for a tern_err (any other value: "unknown error"). */
const char *tern_strerror(int err);

#endif

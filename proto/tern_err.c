#include "tern_err.h"

const char *tern_strerror(int err)
{
	switch (err) {
	case TERN_OK:
		return "ok";
#define TERN_ERR_CASE(name, num, text)                                      \
	case name:                                                          \
		return text;
		TERN_ERRORS(TERN_ERR_CASE)
#undef TERN_ERR_CASE
	}
	return "unknown error";
}

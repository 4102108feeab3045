/*
 * ternctl - the admin CLI. It talks to a node's admin HTTP API, which
 * arrives with the transports-and-admin issue; until then it knows its
 * version and says clearly what it cannot do yet.
 */
#include <stdio.h>
#include <string.h>

static void ternctl_usage(FILE *out)
{
	fputs("usage: ternctl [--url URL] [--token TOKEN] [-o json] COMMAND\n"
	      "\n"
	      "commands (served by the node's admin API, not available in "
	      "this build yet):\n"
	      "  status | clients list|show|kick | subscriptions list |\n"
	      "  retained list|get|delete | listeners\n"
	      "\n"
	      "  --version   print the version\n"
	      "  --help      this text\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		ternctl_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ternctl %s\n", TERN_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		ternctl_usage(stdout);
		return 0;
	}
	fprintf(stderr,
		"ternctl: '%s': the admin API is not part of this build yet "
		"(see the transports and admin issue)\n",
		argv[1]);
	return 3;
}

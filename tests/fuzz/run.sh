#!/bin/sh
# run.sh [SECONDS] - build the codec fuzzer and run it for SECONDS (20).
#
# Builds build-fuzz/fuzz_decode at the repository root with libFuzzer, ASan
# and UBSan, then fuzzes a scratch copy of tests/fuzz/corpus/ so the
# committed seeds never grow. Exits non-zero if the build fails or the
# fuzzer finds a crash (the reproducer is left in build-fuzz/).
# Works from any directory.
set -eu

secs=${1:-20}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build-fuzz"
mkdir -p "$out"

cd "$root"
${CC_FUZZ:-clang} -std=c11 -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Iproto proto/*.c tests/fuzz/fuzz_decode.c -o "$out/fuzz_decode"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tern-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
cp "$here"/corpus/* "$scratch"/

# libFuzzer exits non-zero (and writes crash-*/leak-*/timeout-*) on a find.
status=0
"$out/fuzz_decode" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$out/" -print_final_stats=1 "$scratch" || status=$?
if [ "$status" -ne 0 ]; then
	echo "fuzz_decode: failure (exit $status); artifacts in $out/" >&2
fi
exit "$status"

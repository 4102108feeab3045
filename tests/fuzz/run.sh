#!/bin/sh
# run.sh [SECONDS] - build the fuzzers and run each for SECONDS (20).
#
# Builds, at the repository root, build-fuzz/fuzz_decode (the MQTT codec,
# proto/*.c), build-fuzz/fuzz_jwt (node/jwt*.c with OpenSSL and jansson) and
# build-fuzz/fuzz_scram (node/scram.c) and build-fuzz/fuzz_front (the PROXY
# header and WebSocket upgrade parsers, node/proxy.c and ws_handshake.c)
# with libFuzzer, ASan and UBSan, then fuzzes each on a scratch copy of its
# seeds (tests/fuzz/corpus/, corpus_jwt/, corpus_scram/, corpus_front/) so
# the committed seeds never grow. All run even if one finds something.
# Exits non-zero if a build fails or a fuzzer finds a crash (the reproducer
# is left in build-fuzz/: crash-* for fuzz_decode, jwt-crash-*,
# scram-crash-*, front-crash-* for the others).
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
cc=${CC_FUZZ:-clang}
flags="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined"
# shellcheck disable=SC2086 # flags is a list of words
$cc $flags -Iproto proto/*.c tests/fuzz/fuzz_decode.c -o "$out/fuzz_decode"
# shellcheck disable=SC2086
$cc $flags -Iproto -Inode node/jwt.c node/jwt_codec.c node/jwt_keys.c \
	node/jwt_jwks.c node/jwt_sign.c tests/fuzz/fuzz_jwt.c \
	-o "$out/fuzz_jwt" -lcrypto -ljansson
# shellcheck disable=SC2086
$cc $flags -Iproto -Inode node/scram.c proto/mqtt_util.c \
	tests/fuzz/fuzz_scram.c -o "$out/fuzz_scram" -lcrypto
# shellcheck disable=SC2086
$cc $flags -Iproto -Inode $(pkg-config --cflags libuv) node/proxy.c \
	node/ws_handshake.c proto/tern_err.c tests/fuzz/fuzz_front.c \
	-o "$out/fuzz_front" -lhttp_parser -lcrypto

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tern-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM

# fuzz TARGET SEEDS PREFIX: runs build-fuzz/TARGET on a copy of SEEDS.
# libFuzzer exits non-zero (and writes crash-*/leak-*/timeout-*) on a find.
status=0
fuzz() {
	mkdir "$scratch/$1"
	cp "$2"/* "$scratch/$1"/
	rc=0
	"$out/$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/$3" -print_final_stats=1 \
		"$scratch/$1" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "$1: failure (exit $rc); artifacts in $out/" >&2
		status=$rc
	fi
}
fuzz fuzz_decode "$here/corpus" ""
fuzz fuzz_jwt "$here/corpus_jwt" "jwt-"
fuzz fuzz_scram "$here/corpus_scram" "scram-"
fuzz fuzz_front "$here/corpus_front" "front-"
exit "$status"

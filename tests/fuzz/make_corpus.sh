#!/bin/bash
# make_corpus.sh - (re)writes the seed corpus in tests/fuzz/corpus/: small
# valid packets of every type for 3.1, 3.1.1 and 5.0. Hex, one file each;
# the fuzzer reads each file as a stream of packets.
set -eu

dir="$(cd "$(dirname "$0")" && pwd)/corpus"
mkdir -p "$dir"

seed() {
	local hex=$2 esc=
	for b in $hex; do
		esc+="\\x$b"
	done
	printf "$esc" >"$dir/$1"
}

seed connect_v31 "$(echo \
	10 1d 00 06 4d 51 49 73 64 70 03 c2 00 3c 00 05 63 6c 69 33 \
	31 00 04 75 73 65 72 00 02 70 77)"
seed connect_v311 "$(echo \
	10 22 00 04 4d 51 54 54 04 ee 00 1e 00 03 63 6c 69 00 06 77 \
	69 6c 6c 2f 74 00 03 62 79 65 00 01 75 00 01 70)"
seed connect_v5 "$(echo \
	10 63 00 04 4d 51 54 54 05 ce 00 0a 23 11 00 00 00 0a 21 00 \
	14 27 00 00 04 00 22 00 05 19 01 17 00 26 00 01 6b 00 01 76 \
	15 00 01 6d 16 00 01 64 00 02 63 35 22 18 00 00 00 05 01 01 \
	02 00 00 00 3c 03 00 04 74 65 78 74 08 00 01 72 09 00 01 63 \
	26 00 01 61 00 01 62 00 03 77 2f 74 00 01 6d 00 01 75 00 01 \
	70)"
seed connack_v311 '20 02 01 00'
seed connack_v5 "$(echo \
	20 30 00 00 2d 24 01 25 00 21 00 0a 22 00 03 12 00 02 69 64 \
	13 00 1e 1a 00 02 72 69 1c 00 03 73 72 76 1f 00 02 6f 6b 28 \
	01 29 01 2a 00 27 00 00 10 00)"
seed publish_v311 "$(echo \
	32 0c 00 03 61 2f 62 00 0a 68 65 6c 6c 6f 30 03 00 01 78 3d \
	09 00 03 63 2f 64 00 0b 71 32)"
seed publish_v5 "$(echo \
	32 33 00 03 61 2f 62 00 0a 29 01 01 02 00 00 00 1e 23 00 01 \
	08 00 04 72 65 73 70 09 00 02 63 64 0b 05 0b ac 02 26 00 01 \
	6b 00 01 76 03 00 04 6a 73 6f 6e 7b 7d)"
seed subscribe_v311 '82 12 00 01 00 03 61 2f 62 00 00 03 63 2f 2b 01 00 01 23 02'
seed subscribe_v5 "$(echo \
	82 1f 00 02 09 0b 07 26 00 01 6b 00 01 76 00 03 61 2f 62 2d \
	00 0a 24 73 68 61 72 65 2f 67 2f 78 01)"
seed unsubscribe 'a2 0c 00 03 00 03 61 2f 62 00 03 63 2f 23'
seed unsubscribe_v5 'a2 08 00 03 00 00 03 61 2f 62'
seed suback '90 05 00 01 00 01 80 b0 02 00 03'
seed suback_v5 '90 09 00 02 04 1f 00 01 72 02 87 b0 05 00 03 00 00 11'
seed acks_v311 '40 02 00 01 50 02 00 02 62 02 00 02 70 02 00 02'
seed acks_v5 "$(echo \
	40 02 00 01 50 03 00 02 10 62 04 00 02 00 00 70 12 00 02 92 \
	0e 1f 00 04 67 6f 6e 65 26 00 01 61 00 01 62)"
seed ping_disconnect 'c0 00 d0 00 e0 00'
seed disconnect_auth_v5 "$(echo \
	e0 01 8e e0 15 9c 13 11 00 00 00 00 1c 00 05 6f 74 68 65 72 \
	1f 00 03 62 79 65 f0 10 18 0e 15 00 05 53 43 52 41 4d 16 00 \
	03 78 79 7a)"

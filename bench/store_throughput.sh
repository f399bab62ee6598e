#!/bin/sh
# store_throughput.sh: build bench/store_throughput.c against the sources and run it.
#   bench/store_throughput.sh [size_MiB [threads [dir]]]     (defaults: 2048 MiB, 2 threads, /tmp)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${TMPDIR:-/tmp}/rp_store_throughput
cc -std=gnu17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I"$root/src" \
   "$root/bench/store_throughput.c" "$root"/src/store/*.c "$root"/src/util/*.c \
   -lcrypto -lzstd -lsqlite3 -lpthread -o "$out"
exec "$out" "$@"

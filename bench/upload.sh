#!/usr/bin/env bash
# upload.sh: upload of a 2 GiB image through the disk data plane (rpctl disk import: page
# writes of 4 MiB, 8 in flight, each acknowledged only once durable) beside cp of the same
# file on the same filesystem (with and without a final sync), in the same run.
#
#   bench/upload.sh [size_mib] [runs]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RPD=${RPD_BIN:-$ROOT/build/src/daemon/rpd}
RPCTL=${RPCTL_BIN:-$ROOT/build/src/cli/rpctl}
SIZE_MIB=${1:-2048}
RUNS=${2:-3}
WORK=$(mktemp -d /var/tmp/rpd-bench-upload.XXXXXX)
SUB=00000000-0000-0000-0000-0000000be4c1
cleanup() {
  [ -n "${RPD_PID:-}" ] && kill "$RPD_PID" 2>/dev/null && wait "$RPD_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating a ${SIZE_MIB} MiB image of random data..."
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/image.raw"
"$RPD" --data "$WORK/data" --listen 127.0.0.1:0 --log-level warning >/dev/null 2>"$WORK/rpd.log" &
RPD_PID=$!
for _ in $(seq 200); do [ -f "$WORK/data/rpd.url" ] && break; sleep 0.1; done
export RPD_URL=$(cat "$WORK/data/rpd.url") RPD_CA=$WORK/data/tls/ca.pem
export RPD_TOKEN=$("$RPCTL" token --data "$WORK/data" --subscription $SUB)
"$RPCTL" group create -g bench -l eastus --subscription $SUB >/dev/null

now() { date +%s.%N; }
secs=(); cps=(); cpsyncs=()
for i in $(seq "$RUNS"); do
  t0=$(now)
  "$RPCTL" disk import -g bench -n "img$i" --file "$WORK/image.raw" --subscription $SUB --no-progress >/dev/null
  t1=$(now)
  secs+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now); cp "$WORK/image.raw" "$WORK/copy$i.raw"; t1=$(now)
  cps+=("$(echo "$t1 - $t0" | bc -l)")
  rm -f "$WORK/copy$i.raw"; sync
  t0=$(now); cp "$WORK/image.raw" "$WORK/copy$i.raw"; sync "$WORK/copy$i.raw"; t1=$(now)
  cpsyncs+=("$(echo "$t1 - $t0" | bc -l)")
  rm -f "$WORK/copy$i.raw"
  "$RPCTL" disk delete -g bench -n "img$i" --subscription $SUB >/dev/null
done
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
R=$(median "${secs[@]}"); C=$(median "${cps[@]}"); S=$(median "${cpsyncs[@]}")
mbps() { echo "scale=1; $SIZE_MIB * 1.048576 / $1" | bc -l; }
echo "upload of ${SIZE_MIB} MiB (random data), median of $RUNS runs"
printf "%-28s %8s %10s\n" "method" "seconds" "MB/s"
printf "%-28s %8.2f %10s\n" "rpctl disk import (durable)" "$R" "$(mbps "$R")"
printf "%-28s %8.2f %10s\n" "cp" "$C" "$(mbps "$C")"
printf "%-28s %8.2f %10s\n" "cp + sync" "$S" "$(mbps "$S")"
echo "ratio rpd/cp throughput: $(echo "scale=2; $C / $R" | bc -l); rpd/(cp+sync): $(echo "scale=2; $S / $R" | bc -l)"

#!/usr/bin/env bash
# capture.sh: restore points of rpd beside restic and borg, on the same data in the same run.
#
# 1. bench/capture_gen.c makes a sparse VM disk image (default 2 GiB): 30 % random bytes,
#    20 % text (log lines), 50 % holes, in shuffled runs of 0.5-8 MiB; and a second version
#    where 1 % changed in scattered 64 KiB writes (the changed ranges are recorded).
# 2. rpd (its own process on a temporary data directory; bench/capture_rpd.py drives it):
#    upload V1 into a disk (rpctl disk import: holes skipped), a VM with that disk, a
#    collection; time a full restore point (PUT to Succeeded); write the changed 64 KiB ranges
#    of V2 through the data plane; time an incremental restore point; bytes stored
#    (provisioningDetails.totalUsedSizeInBytes, api-version 2021-03-01, and the growth of
#    <data>/regions/eastus/chunks); time a restore (disk createOption Restore from the second
#    point's disk restore point); allocated size of the restored image and its SHA-256 (= V2?).
# 3. restic (repository format 2, compression auto, i.e. zstd): init, backup V1, backup V2 at
#    the same path (incremental: restic re-reads the changed file), restore; borg (repokey,
#    --compression zstd,1): init, create, create, extract --sparse. Wall and CPU time of each,
#    repository growth (du --apparent-size), allocated size of the restored file, SHA-256.
#    restic 0.14 has no restore --sparse (0.15 added it): it is used when available.
# 4. A Markdown table of the figures and the ratios of issue 3's targets.
#
# The page cache is warm for every tool: each source image is read once right before its
# backup, each repository (rpd: <data>/regions/eastus/chunks and manifests) right before its
# restore; nothing is dropped. (Warming matters on this machine: a DAMON scheme pages out
# file pages left unaccessed for about a minute.) All files live under one temporary
# directory on the file system of ${TMPDIR:-/tmp}.
#
#   bench/capture.sh [size_MiB]        (default 2048)
#   env: CAPTURE_SEED (1), CAPTURE_PERF=DIR (perf record -g of rpd's timed steps into DIR),
#        CAPTURE_KEEP=1 (keep the work directory), RPD_BIN, RPCTL_BIN
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RPD=${RPD_BIN:-$ROOT/build/src/daemon/rpd}
RPCTL=${RPCTL_BIN:-$ROOT/build/src/cli/rpctl}
PY=/usr/bin/python3
SIZE_MIB=${1:-2048}
SEED=${CAPTURE_SEED:-1}

for t in restic borg cc perf; do
  if ! command -v $t >/dev/null; then
    echo "capture.sh: '$t' is missing (apt-get install -y restic borgbackup linux-perf gcc)" >&2
    exit 1
  fi
done
[ -x "$RPD" ] && [ -x "$RPCTL" ] || { echo "capture.sh: build rpd and rpctl first (make build)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpd-bench-capture.XXXXXX")
cleanup() {
  if [ -n "${RPD_PID:-}" ]; then kill "$RPD_PID" 2>/dev/null && wait "$RPD_PID" 2>/dev/null || true; fi
  if [ "${CAPTURE_KEEP:-0}" = 1 ]; then echo "capture.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
say() { echo "capture.sh: $*" >&2; }
mkdir -p "$WORK/img" "$WORK/src" "$WORK/restic-out" "$WORK/borg-out" "$WORK/bin"
# private copies: a rebuild of build/ during the run must not change what is measured
cp "$RPD" "$RPCTL" "$WORK/bin/"; RPD=$WORK/bin/$(basename "$RPD"); RPCTL=$WORK/bin/$(basename "$RPCTL")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# timed NAME CMD...: wall, user and system seconds of CMD into $WORK/NAME.time, output to
# $WORK/NAME.log.
timed() {
  local name=$1; shift
  local TIMEFORMAT='%R %U %S'
  { time "$@" >"$WORK/$name.log" 2>&1; } 2>"$WORK/$name.time" || {
    say "$name failed:"; tail -20 "$WORK/$name.log" >&2; exit 1; }
}
du_b() { du -sb "$1" | cut -f1; }                               # apparent bytes
alloc() { echo $(( $(stat -c '%b * %B' "$1") )); }              # allocated bytes of a file
warm() { find "$@" -type f -exec cat {} + >/dev/null; }         # into the page cache
sha() { $PY -c 'import sys; sys.path.insert(0, sys.argv[1]); import capture_rpd as c; print(c.sha256_file(sys.argv[2]))' "$ROOT/bench" "$1"; }

# ---------------------------------------------------------------- 1. images
cc -std=gnu17 -O2 -Wall -Wextra -o "$WORK/capture_gen" "$ROOT/bench/capture_gen.c"
V1=$WORK/img/v1.img V2=$WORK/img/v2.img CH=$WORK/img/changes.txt
timed gen "$WORK/capture_gen" "$SIZE_MIB" "$SEED" "$V1" "$V2" "$CH"
cat "$WORK/gen.log" >&2
sync
V2_SHA=$(sha "$V2")
V2_ALLOC=$(alloc "$V2")
CHANGED=$(awk '{s += $2} END {print s}' "$CH")

# ---------------------------------------------------------------- 2. rpd
say "rpd: $RPD"
"$RPD" --data "$WORK/data" --listen 127.0.0.1:0 --log-level warning >/dev/null 2>"$WORK/rpd.log" &
RPD_PID=$!
for _ in $(seq 100); do [ -f "$WORK/data/rpd.url" ] && break; sleep 0.1; done
[ -f "$WORK/data/rpd.url" ] || { say "rpd did not start"; cat "$WORK/rpd.log" >&2; exit 1; }
PERF_ARGS=()
[ -n "${CAPTURE_PERF:-}" ] && PERF_ARGS=(--perf "$CAPTURE_PERF")
$PY "$ROOT/bench/capture_rpd.py" --data "$WORK/data" --pid "$RPD_PID" --rpctl "$RPCTL" \
  --v1 "$V1" --v2 "$V2" --changes "$CH" --v2-sha256 "$V2_SHA" --out "$WORK/rpd.json" \
  "${PERF_ARGS[@]}" || { say "rpd part failed; rpd log:"; tail -30 "$WORK/rpd.log" >&2; exit 1; }
kill "$RPD_PID"; wait "$RPD_PID" || true; RPD_PID=
sync
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 3a. restic
export RESTIC_PASSWORD=capture-bench RESTIC_REPOSITORY=$WORK/restic RESTIC_CACHE_DIR=$WORK/restic-cache
RESTIC_VERSION=$(restic version | cut -d' ' -f2)
RESTIC_SPARSE=()
restic restore --help | grep -q -- '--sparse' && RESTIC_SPARSE=(--sparse)
say "restic $RESTIC_VERSION"
restic init --repository-version 2 >/dev/null
R0=$(du_b "$WORK/restic")
ln -f "$V1" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
timed restic_full restic backup --json --host bench "$WORK/src/disk.img"
R1=$(du_b "$WORK/restic")
ln -f "$V2" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
timed restic_incr restic backup --json --host bench "$WORK/src/disk.img"
R2=$(du_b "$WORK/restic")
warm "$WORK/restic"
timed restic_restore restic restore latest --target "$WORK/restic-out" "${RESTIC_SPARSE[@]}"
RESTIC_OUT=$WORK/restic-out$WORK/src/disk.img
RESTIC_ALLOC=$(alloc "$RESTIC_OUT"); RESTIC_SHA=$(sha "$RESTIC_OUT")
rm -rf "$WORK/restic-out"
sync
LOAD2=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 3b. borg
export BORG_PASSPHRASE=capture-bench BORG_REPO=$WORK/borg BORG_BASE_DIR=$WORK/borg-home
BORG_VERSION=$(borg --version | cut -d' ' -f2)
BORG_COMP=zstd,1
say "borg $BORG_VERSION"
borg init -e repokey >/dev/null 2>&1
B0=$(du_b "$WORK/borg")
ln -f "$V1" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
(cd "$WORK" && timed borg_full borg create --json --compression $BORG_COMP ::v1 src/disk.img)
B1=$(du_b "$WORK/borg")
ln -f "$V2" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
(cd "$WORK" && timed borg_incr borg create --json --compression $BORG_COMP ::v2 src/disk.img)
B2=$(du_b "$WORK/borg")
warm "$WORK/borg"
(cd "$WORK/borg-out" && timed borg_restore borg extract --sparse ::v2)
BORG_OUT=$WORK/borg-out/src/disk.img
BORG_ALLOC=$(alloc "$BORG_OUT"); BORG_SHA=$(sha "$BORG_OUT")
LOAD3=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 4. table
export WORK SIZE_MIB CHANGED V2_SHA V2_ALLOC RESTIC_VERSION BORG_VERSION BORG_COMP
export R0 R1 R2 B0 B1 B2 RESTIC_ALLOC RESTIC_SHA BORG_ALLOC BORG_SHA LOAD0 LOAD1 LOAD2 LOAD3
export RESTIC_SPARSE_OPT="${RESTIC_SPARSE[*]}"
$PY - <<'EOF'
import json, os
E = os.environ
W = E["WORK"]
def t(name):
    w, u, s = open(os.path.join(W, name + ".time")).read().split()
    return float(w), float(u) + float(s)
def mb(n):
    return "%.1f MB" % (n / 1e6)
rpd = json.load(open(os.path.join(W, "rpd.json")))
changed, size = int(E["CHANGED"]), int(E["SIZE_MIB"]) << 20
rows = {
    "rpd": dict(full=(rpd["full"]["wall_s"], rpd["full"]["rpd_cpu_s"]),
                full_b=rpd["full"]["total_used_size_bytes"],
                incr=(rpd["incremental"]["wall_s"], rpd["incremental"]["rpd_cpu_s"]),
                incr_b=rpd["incremental"]["total_used_size_bytes"],
                rest=(rpd["restore"]["wall_s"], rpd["restore"]["rpd_cpu_s"]),
                alloc=rpd["restore"]["allocated"], ok=rpd["restore"]["sha256_ok"]),
    "restic " + E["RESTIC_VERSION"]: dict(
        full=t("restic_full"), full_b=int(E["R1"]) - int(E["R0"]),
        incr=t("restic_incr"), incr_b=int(E["R2"]) - int(E["R1"]),
        rest=t("restic_restore"), alloc=int(E["RESTIC_ALLOC"]),
        ok=E["RESTIC_SHA"] == E["V2_SHA"]),
    "borg " + E["BORG_VERSION"]: dict(
        full=t("borg_full"), full_b=int(E["B1"]) - int(E["B0"]),
        incr=t("borg_incr"), incr_b=int(E["B2"]) - int(E["B1"]),
        rest=t("borg_restore"), alloc=int(E["BORG_ALLOC"]),
        ok=E["BORG_SHA"] == E["V2_SHA"]),
}
print("Image: %d MiB, %s allocated (V2); change: %s in %d writes of 64 KiB (%.2f %%)" % (
    size >> 20, mb(int(E["V2_ALLOC"])), mb(changed), changed // 65536, 100.0 * changed / size))
print("Source upload into rpd (%s, not part of the figures): %.1f s; change through the data "
      "plane: %.1f s" % (rpd["upload"]["how"], rpd["upload"]["wall_s"], rpd["change"]["wall_s"]))
print("Load average (1/5/15 min) at start, after rpd, after restic, after borg: %s | %s | %s | %s"
      % (E["LOAD0"], E["LOAD1"], E["LOAD2"], E["LOAD3"]))
print()
print("| tool | full (s) | full: stored | incremental (s) | incremental: stored | restore (s) "
      "| restored: allocated | restored SHA-256 = V2 |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for name, r in rows.items():
    print("| %s | %.2f (CPU %.1f) | %s | %.2f (CPU %.2f) | %s | %.2f (CPU %.1f) | %s | %s |" % (
        name, r["full"][0], r["full"][1], mb(r["full_b"]), r["incr"][0], r["incr"][1],
        mb(r["incr_b"]), r["rest"][0], r["rest"][1], mb(r["alloc"]), "yes" if r["ok"] else "NO"))
print()
R, S = rows["rpd"], rows["restic " + E["RESTIC_VERSION"]]
def verdict(ok):
    return "met" if ok else "NOT met"
a = S["full"][0] / R["full"][0]
b = S["incr"][0] / R["incr"][0]
c = R["incr_b"] / changed
d = S["rest"][0] / R["rest"][0]
e = R["alloc"] / int(E["V2_ALLOC"])
print("Targets (issue 3), rpd against restic:")
print("- full point: %.1fx faster than restic backup (target >= 3x): %s" % (a, verdict(a >= 3)))
print("- incremental point: %.1fx faster than restic's incremental backup (target >= 20x): %s"
      % (b, verdict(b >= 20)))
print("- incremental stored: %s = %.2fx the %s changed (target <= 3x): %s" % (
    mb(R["incr_b"]), c, mb(changed), verdict(c <= 3)))
print("- restore: %.1fx faster than restic restore (target >= 3x): %s" % (d, verdict(d >= 3)))
print("- holes kept: restored image allocates %s = %.2fx the allocated size of V2 (%s): %s" % (
    mb(R["alloc"]), e, mb(int(E["V2_ALLOC"])), verdict(e < 1.25)))
print("- restored image SHA-256 equal to V2: %s" % ("yes" if R["ok"] else "NO"))
print("Same ratios in CPU seconds (less sensitive to other load on the machine): full %.1fx, "
      "incremental %.1fx, restore %.1fx" % (S["full"][1] / R["full"][1],
                                            S["incr"][1] / R["incr"][1],
                                            S["rest"][1] / R["rest"][1]))
print()
print("Chunk store growth (<data>/regions/eastus/chunks, apparent bytes): full %s, incremental %s"
      % (mb(rpd["full"]["chunks_dir_growth_bytes"]),
         mb(rpd["incremental"]["chunks_dir_growth_bytes"])))
print("restic restore %s; borg create --compression %s, borg extract --sparse." % (
    "with --sparse" if E["RESTIC_SPARSE_OPT"] else "without --sparse (restic %s has none)"
    % E["RESTIC_VERSION"], E["BORG_COMP"]))
print("CPU = user + system seconds of the tool's process (rpd: of the whole daemon during the step).")
EOF

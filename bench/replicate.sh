#!/usr/bin/env bash
# replicate.sh: cross-region restore points of rpd (two rpd processes, one region each)
# beside restic backup + restic copy to a second repository and borg create + rsync of the
# borg repository, on the same data in the same run (issue 4).
#
# 1. bench/capture_gen.c makes the sparse VM disk image of bench/capture.sh (default 2 GiB:
#    30 % random bytes, 20 % text, 50 % holes) and V2 = V1 with 1 % changed in scattered
#    64 KiB writes (the changed ranges are recorded).
# 2. rpd (bench/replicate_rpd.py): host A (eastus) and host B (westus) on loopback, peers as in
#    tests/e2e/hosts_common.py; B reaches A through a byte-counting TCP proxy, the "link"
#    between the regions. V1 goes into a disk in eastus on A, a VM with it, a collection in
#    westus on B. FULL: restore point PUT through B until its instance view shows
#    ReplicationState/succeeded; the change of V2 written through A's data plane;
#    INCREMENTAL the same way. Bytes moved = what the proxy carried from A to B. The
#    incremental point's disk restore point is restored on B and its SHA-256 compared with
#    V2's (read through a Read SAS).
# 3. rpd again on fresh hosts with `copy_bandwidth = 50` (MB/s) in B's [peer eastus]: the
#    full copy's link utilisation = bytes carried / (transfer time x 50 MB/s), the transfer
#    time running from the first byte of the copy's manifest to the last byte of its chunks. rpd's limit is a
#    token bucket that lets each granted batch go at loopback speed, so a third pair of fresh
#    hosts runs without it, behind a proxy that carries at most 50 MB/s (a link that slow).
# 4. restic (format 2, compression auto): FULL = backup of V1 into repo-a + copy into repo-b,
#    INCREMENTAL = backup of V2 + copy; bytes moved = growth of repo-b. borg (repokey,
#    zstd,1): FULL = create V1 in repo-a + rsync of repo-a to repo-b, INCREMENTAL = create V2
#    + rsync; bytes moved = rsync's "Total bytes sent". rsync runs with --no-whole-file (the
#    delta transfer it does by default between hosts; a local rsync would send whole files),
#    and, into a second copy, with --whole-file, reported beside it.
# 5. A Markdown table: wall time and bytes moved per tool and phase, ratios, targets.
#
# The page cache is warm: each source image is read right before its backup or restore point.
# All files live under one temporary directory on the file system of ${TMPDIR:-/tmp}.
#
#   bench/replicate.sh [size_MiB]        (default 2048)
#   env: REPLICATE_SEED (1), REPLICATE_BANDWIDTH (50, MB/s),
#        REPLICATE_PERF=DIR (perf record -a -g of each timed rpd step: DIR/{main,bandwidth,shaped}/
#        <point>.data, with the pids of A and B in DIR/.../hosts.pid),
#        REPLICATE_KEEP=1 (keep the work directory), RPD_BIN, RPCTL_BIN
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RPD=${RPD_BIN:-$ROOT/build/src/daemon/rpd}
RPCTL=${RPCTL_BIN:-$ROOT/build/src/cli/rpctl}
PY=/usr/bin/python3
SIZE_MIB=${1:-2048}
SEED=${REPLICATE_SEED:-1}
BW=${REPLICATE_BANDWIDTH:-50}

for t in restic borg rsync cc perf; do
  if ! command -v $t >/dev/null; then
    echo "replicate.sh: '$t' is missing (apt-get install -y restic borgbackup rsync linux-perf gcc)" >&2
    exit 1
  fi
done
[ -x "$RPD" ] && [ -x "$RPCTL" ] || { echo "replicate.sh: build rpd and rpctl first (make build)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpd-bench-replicate.XXXXXX")
cleanup() {
  # only the rpd processes this run started (their ids are in $WORK/pids) and still running
  # our private copy of rpd: an id may have been reused since
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do
      if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$WORK/bin/rpd" ]; then
        kill "$pid" 2>/dev/null || true
      fi
    done <"$WORK/pids"
  fi
  if [ "${REPLICATE_KEEP:-0}" = 1 ]; then echo "replicate.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
say() { echo "replicate.sh: $*" >&2; }
mkdir -p "$WORK/img" "$WORK/src" "$WORK/bin" "$WORK/hosts"
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
warm() { find "$@" -type f -exec cat {} + >/dev/null; }         # into the page cache
sha() { $PY -c 'import sys; sys.path.insert(0, sys.argv[1]); import capture_rpd as c; print(c.sha256_file(sys.argv[2]))' "$ROOT/bench" "$1"; }
# rsync_stat LOG FIELD: a number of rsync --stats ("Total bytes sent", "Literal data")
rsync_stat() { sed -n "s/^$2: \([0-9,]*\).*/\1/p" "$1" | tr -d ,; }
PERF_MAIN=() PERF_BW=() PERF_SH=()
if [ -n "${REPLICATE_PERF:-}" ]; then
  PERF_MAIN=(--perf "$REPLICATE_PERF/main") PERF_BW=(--perf "$REPLICATE_PERF/bandwidth")
  PERF_SH=(--perf "$REPLICATE_PERF/shaped")
fi

# ---------------------------------------------------------------- 1. images
cc -std=gnu17 -O2 -Wall -Wextra -o "$WORK/capture_gen" "$ROOT/bench/capture_gen.c"
V1=$WORK/img/v1.img V2=$WORK/img/v2.img CH=$WORK/img/changes.txt
timed gen "$WORK/capture_gen" "$SIZE_MIB" "$SEED" "$V1" "$V2" "$CH"
cat "$WORK/gen.log" >&2
sync
V2_SHA=$(sha "$V2")
CHANGED=$(awk '{s += $2} END {print s}' "$CH")

# ---------------------------------------------------------------- 2. rpd: full, incremental
say "rpd: $RPD"
$PY "$ROOT/bench/replicate_rpd.py" --mode main --work "$WORK/hosts" \
  --rpd "$RPD" --rpctl "$RPCTL" --v1 "$V1" --v2 "$V2" --changes "$CH" --v2-sha256 "$V2_SHA" \
  --pids "$WORK/pids" --out "$WORK/rpd.json" "${PERF_MAIN[@]}" || { say "rpd part failed"; exit 1; }
rm -rf "$WORK/hosts/main"
sync
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 3. rpd: bandwidth limit
say "rpd: copy_bandwidth = $BW"
$PY "$ROOT/bench/replicate_rpd.py" --mode bandwidth --bandwidth "$BW" \
  --work "$WORK/hosts" --rpd "$RPD" --rpctl "$RPCTL" --v1 "$V1" --pids "$WORK/pids" \
  --out "$WORK/rpd_bw.json" "${PERF_BW[@]}" || { say "rpd bandwidth part failed"; exit 1; }
rm -rf "$WORK/hosts/bandwidth"
sync
say "rpd: no limit in rpd, the link shaped to $BW MB/s by the proxy"
$PY "$ROOT/bench/replicate_rpd.py" --mode shaped --bandwidth "$BW" \
  --work "$WORK/hosts" --rpd "$RPD" --rpctl "$RPCTL" --v1 "$V1" --pids "$WORK/pids" \
  --out "$WORK/rpd_shaped.json" "${PERF_SH[@]}" || { say "rpd shaped-link part failed"; exit 1; }
rm -rf "$WORK/hosts/shaped"
sync
LOAD2=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 4a. restic
export RESTIC_PASSWORD=replicate-bench RESTIC_FROM_PASSWORD=replicate-bench
export RESTIC_CACHE_DIR=$WORK/restic-cache
RA=$WORK/restic-a RB=$WORK/restic-b
RESTIC_VERSION=$(restic version | cut -d' ' -f2)
say "restic $RESTIC_VERSION"
restic -r "$RA" init --repository-version 2 >/dev/null
restic -r "$RB" init --repository-version 2 >/dev/null
R0=$(du_b "$RB")
ln -f "$V1" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
timed restic_full_backup restic -r "$RA" backup --json --host bench "$WORK/src/disk.img"
timed restic_full_copy restic -r "$RB" copy --from-repo "$RA"
R1=$(du_b "$RB")
ln -f "$V2" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
timed restic_incr_backup restic -r "$RA" backup --json --host bench "$WORK/src/disk.img"
timed restic_incr_copy restic -r "$RB" copy --from-repo "$RA"
R2=$(du_b "$RB")
rm -rf "$RA" "$RB" "$WORK/restic-cache"
sync
LOAD3=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 4b. borg
export BORG_PASSPHRASE=replicate-bench BORG_BASE_DIR=$WORK/borg-home
BA=$WORK/borg-a BB=$WORK/borg-b BBW=$WORK/borg-b-whole
BORG_VERSION=$(borg --version | cut -d' ' -f2)
BORG_COMP=zstd,1
say "borg $BORG_VERSION"
borg init -e repokey "$BA" >/dev/null 2>&1
ln -f "$V1" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
(cd "$WORK" && timed borg_full_create borg create --json --compression $BORG_COMP "$BA::v1" src/disk.img)
timed borg_full_rsync rsync -a --stats --no-whole-file "$BA/" "$BB/"
timed borg_full_rsync_whole rsync -a --stats --whole-file "$BA/" "$BBW/"
ln -f "$V2" "$WORK/src/disk.img"; warm "$WORK/src/disk.img"
(cd "$WORK" && timed borg_incr_create borg create --json --compression $BORG_COMP "$BA::v2" src/disk.img)
timed borg_incr_rsync rsync -a --stats --no-whole-file "$BA/" "$BB/"
timed borg_incr_rsync_whole rsync -a --stats --whole-file "$BA/" "$BBW/"
export BF_SENT=$(rsync_stat "$WORK/borg_full_rsync.log" "Total bytes sent")
export BF_LIT=$(rsync_stat "$WORK/borg_full_rsync.log" "Literal data")
export BFW_SENT=$(rsync_stat "$WORK/borg_full_rsync_whole.log" "Total bytes sent")
export BI_SENT=$(rsync_stat "$WORK/borg_incr_rsync.log" "Total bytes sent")
export BI_LIT=$(rsync_stat "$WORK/borg_incr_rsync.log" "Literal data")
export BIW_SENT=$(rsync_stat "$WORK/borg_incr_rsync_whole.log" "Total bytes sent")
LOAD4=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 5. table
export WORK SIZE_MIB CHANGED RESTIC_VERSION BORG_VERSION BW
export R0 R1 R2 LOAD0 LOAD1 LOAD2 LOAD3 LOAD4
$PY - <<'EOF'
import json, os
E = os.environ
W = E["WORK"]
def t(*names):
    w = c = 0.0
    for name in names:
        a, u, s = open(os.path.join(W, name + ".time")).read().split()
        w += float(a)
        c += float(u) + float(s)
    return w, c
def mb(n):
    return "%.1f MB" % (n / 1e6)
def verdict(ok):
    return "met" if ok else "NOT met"
rpd = json.load(open(os.path.join(W, "rpd.json")))
bw = json.load(open(os.path.join(W, "rpd_bw.json")))
sh = json.load(open(os.path.join(W, "rpd_shaped.json")))
changed, size = int(E["CHANGED"]), int(E["SIZE_MIB"]) << 20
F, I = rpd["full"], rpd["incremental"]
rs_f, rs_i = t("restic_full_backup", "restic_full_copy"), t("restic_incr_backup", "restic_incr_copy")
bg_f, bg_i = t("borg_full_create", "borg_full_rsync"), t("borg_incr_create", "borg_incr_rsync")
rs_fb, rs_ib = int(E["R1"]) - int(E["R0"]), int(E["R2"]) - int(E["R1"])
print("Image: %d MiB; change: %s in %d writes of 64 KiB (%.2f %%)" % (
    size >> 20, mb(changed), changed // 65536, 100.0 * changed / size))
print("Source upload into eastus on A (rpctl disk import, not part of the figures): %.1f s; "
      "change through A's data plane: %.1f s" % (rpd["upload_s"], rpd["change"]["wall_s"]))
print("Load average (1/5/15 min) at start, after rpd, after rpd at %s MB/s (both runs), after "
      "restic, after borg: %s | %s | %s | %s | %s" % (E["BW"], E["LOAD0"], E["LOAD1"], E["LOAD2"], E["LOAD3"],
                                       E["LOAD4"]))
print()
print("| tool | full (s) | full: moved | incremental (s) | incremental: moved |")
print("|---|---:|---:|---:|---:|")
print("| rpd (A: eastus, B: westus) | %.2f (CPU A %.1f + B %.1f) | %s | %.2f (CPU A %.2f + B %.2f) | %s |" % (
    F["wall_s"], F["a_cpu_s"], F["b_cpu_s"], mb(F["moved_bytes"]),
    I["wall_s"], I["a_cpu_s"], I["b_cpu_s"], mb(I["moved_bytes"])))
print("| restic %s backup + copy | %.2f (CPU %.1f) | %s | %.2f (CPU %.1f) | %s |" % (
    E["RESTIC_VERSION"], rs_f[0], rs_f[1], mb(rs_fb), rs_i[0], rs_i[1], mb(rs_ib)))
print("| borg %s create + rsync --no-whole-file | %.2f (CPU %.1f) | %s (literal %s) | %.2f (CPU %.1f) | %s (literal %s) |" % (
    E["BORG_VERSION"], bg_f[0], bg_f[1], mb(int(E["BF_SENT"])), mb(int(E["BF_LIT"])),
    bg_i[0], bg_i[1], mb(int(E["BI_SENT"])), mb(int(E["BI_LIT"]))))
wf, wi = t("borg_full_create", "borg_full_rsync_whole"), t("borg_incr_create", "borg_incr_rsync_whole")
print("| borg %s create + rsync --whole-file | %.2f (CPU %.1f) | %s | %.2f (CPU %.1f) | %s |" % (
    E["BORG_VERSION"], wf[0], wf[1], mb(int(E["BFW_SENT"])), wi[0], wi[1], mb(int(E["BIW_SENT"]))))
print()
def split(x):
    return ("captured on A (point Succeeded) at %.2f s; copy responses (manifest, chunks) on the "
            "link from %.2f s to %.2f s (%.1f MB/s); of that time the link carried chunks %.2f s, A prepared "
            "responses (requests outstanding, no byte flowing) %.2f s, no request was outstanding "
            "(B storing what it had received, or waiting for its limiter) %.2f s" % (
                x["captured_s"], x.get("transfer_first_s", -1), x.get("transfer_last_s", -1),
                x.get("transfer_bytes", 0) / 1e6 / max(x.get("transfer_s", 0), 1e-9),
                x.get("link_active_s", -1), x.get("a_preparing_s", -1),
                x.get("b_between_batches_s", -1))) + (
            "; B opened %d TLS connections to A for the point" % x["connections"])
print("Split of the rpd figures. Full: %s. Incremental: %s." % (split(F), split(I)))
print("With copy_bandwidth = %s: full: %.2f s end to end, %s moved, %s." % (
    E["BW"], bw["full"]["wall_s"], mb(bw["full"]["moved_bytes"]), split(bw["full"])))
print("Without a limit in rpd, on a link shaped to %s MB/s by the proxy: full: %.2f s end to end, "
      "%s moved, %s." % (E["BW"], sh["full"]["wall_s"], mb(sh["full"]["moved_bytes"]),
                         split(sh["full"])))
print("restic: full = backup %.2f s + copy %.2f s; incremental = backup %.2f s + copy %.2f s." % (
    t("restic_full_backup")[0], t("restic_full_copy")[0], t("restic_incr_backup")[0],
    t("restic_incr_copy")[0]))
print("borg: full = create %.2f s + rsync %.2f s; incremental = create %.2f s + rsync %.2f s." % (
    t("borg_full_create")[0], t("borg_full_rsync")[0], t("borg_incr_create")[0],
    t("borg_incr_rsync")[0]))
print("Stored in westus by rpd (growth of B's chunk store): full %s, incremental %s." % (
    mb(F["b_stored_bytes"]), mb(I["b_stored_bytes"])))
print()
a = rs_f[0] / F["wall_s"]
b = rs_i[0] / I["wall_s"]
c = I["moved_bytes"] / changed
B = bw["full"]
u = B.get("utilisation", 0.0)
print("| target (issue 4) | figure | verdict |")
print("|---|---|---|")
print("| full >= 5x faster than restic backup + copy | %.1fx (borg create + rsync: %.1fx; CPU: restic %.1fx) | %s |" % (
    a, bg_f[0] / F["wall_s"], rs_f[1] / (F["a_cpu_s"] + F["b_cpu_s"]), verdict(a >= 5)))
print("| incremental >= 20x faster than restic backup + copy | %.1fx (borg create + rsync: %.1fx; CPU: restic %.1fx) | %s |" % (
    b, bg_i[0] / I["wall_s"], rs_i[1] / (I["a_cpu_s"] + I["b_cpu_s"]), verdict(b >= 20)))
print("| incremental moves <= 3x the changed bytes | %s = %.2fx of %s | %s |" % (
    mb(I["moved_bytes"]), c, mb(changed), verdict(c <= 3)))
print("| link >= 90 %% busy at %s MB/s (copy_bandwidth) | %.1f %% (%s in %.2f s of chunk transfer; full point %.2f s end to end) | %s |" % (
    E["BW"], 100 * u, mb(B.get("transfer_bytes", 0)), B.get("transfer_s", 0), B["wall_s"],
    verdict(u >= 0.9)))
S = sh["full"]
us = S.get("utilisation", 0.0)
print("| (same, the link itself shaped to %s MB/s, no limit in rpd) | %.1f %% (%s in %.2f s; full point %.2f s end to end) | %s |" % (
    E["BW"], 100 * us, mb(S.get("transfer_bytes", 0)), S.get("transfer_s", 0), S["wall_s"],
    verdict(us >= 0.9)))
print("| restored in westus, SHA-256 = V2 | %s | %s |" % (
    "yes" if rpd["verify"]["sha256_ok"] else "NO", verdict(rpd["verify"]["sha256_ok"])))
print()
print("rpd CPU = user + system seconds of each rpd process during the step; the proxy and the "
      "50 ms polls ran in the driver: %.1f CPU-s (full), %.2f (incremental)." % (
          F["driver_cpu_s"], I["driver_cpu_s"]))
EOF

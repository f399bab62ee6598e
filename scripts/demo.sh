#!/usr/bin/env bash
# demo.sh: a disaster-recovery story told with rpctl against a fresh rpd (the embedded
# default: one process, regions eastus and westus).
#
#   1. a VM with two disks in eastus, filled with data;
#   2. a restore point of it in westus, with the live progress of the capture and the copy;
#   3. more writes, then a second, incremental restore point (only the changes move);
#   4. eastus is lost: rpd stops, and comes back hosting westus alone, eastus's data deleted;
#   5. the VM is restored in westus, and the SHA-256 of its disks is printed beside the
#      source's.
#
# Usage: scripts/demo.sh [BUILD_DIR]      (make demo; default BUILD_DIR: build)
# Everything happens in a temporary directory, removed at the end (also on failure or
# Ctrl-C); the user's rpctl config is never touched. Exits 0 only if every restored disk
# matches its source. Needs: bash, coreutils, curl, sha256sum.
set -euo pipefail

# ------------------------------------------------------------------------ THE SWITCH
# How the restore points get to westus (DESIGN.md, "Cross-region restore points: the flows"):
#   direct    - flow 1: a collection in westus whose source is the VM in eastus; each restore
#               point created there is cut in eastus and pulled into westus.
#   successor - flow 2: a collection in eastus whose source is the VM, and a collection in
#               westus whose source is that collection; each point is created in eastus and
#               then copied into westus with --source-restore-point.
DEMO_FLOW=${DEMO_FLOW:-direct}
# ------------------------------------------------------------------------------------

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
RPD="$BUILD/src/daemon/rpd"
RPCTL_BIN="$BUILD/src/cli/rpctl"
[[ -x $RPD && -x $RPCTL_BIN ]] || { echo "demo: build first (make build)" >&2; exit 2; }
case $DEMO_FLOW in direct | successor) ;; *) echo "demo: DEMO_FLOW is direct or successor" >&2; exit 2 ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpd-demo.XXXXXX")
DATA="$WORK/data"
export RPCTL_CONFIG="$WORK/rpctl.conf" # never the user's config
unset RPD_URL RPD_TOKEN RPD_CA RPD_SUBSCRIPTION
RPD_PID=
START=$SECONDS
MIB=$((1024 * 1024))

cleanup() {
        if [[ -n $RPD_PID ]] && kill -0 "$RPD_PID" 2>/dev/null; then
                kill -TERM "$RPD_PID" && wait "$RPD_PID" || true
        fi
        rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -t 1 ]]; then B=$'\033[1m' D=$'\033[2m' G=$'\033[32m' R=$'\033[31m' N=$'\033[0m'; else B= D= G= R= N=; fi
chapter() { printf '\n%s== %s ==%s %s[%d s]%s\n' "$B" "$*" "$N" "$D" $((SECONDS - START)) "$N"; }
say() { printf '%s\n' "$*"; }
# Show a command as the reader would type it, then run it.
rpctl() {
        local line="$*"
        [[ -n ${VM_ID:-} ]] && line=${line//"$VM_ID"/'$VM_ID'}
        [[ -n ${EAST_ID:-} ]] && line=${line//"$EAST_ID"/'$EAST_ID'}
        line=${line//"$WORK"/'$WORK'}
        printf '%s$ rpctl %s%s\n' "$D" "$line" "$N" >&2
        "$RPCTL_BIN" "$@"
}
quiet_rpctl() { "$RPCTL_BIN" "$@"; }

start_rpd() {
        rm -f "$DATA/rpd.url"
        "$RPD" --data "$DATA" --listen 127.0.0.1:0 --log-level warning >/dev/null 2>>"$WORK/rpd.log" &
        RPD_PID=$!
        for _ in $(seq 200); do
                [[ -s $DATA/rpd.url ]] && break
                kill -0 "$RPD_PID" 2>/dev/null || { cat "$WORK/rpd.log" >&2; exit 1; }
                sleep 0.05
        done
        [[ -s $DATA/rpd.url ]] || { echo "demo: rpd did not start" >&2; exit 1; }
        quiet_rpctl login --data "$DATA" -o none
}

stop_rpd() {
        kill -TERM "$RPD_PID"
        local rc=0
        wait "$RPD_PID" || rc=$?
        RPD_PID=
        if [[ $rc != 0 ]] || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/rpd.log"; then
                echo "demo: rpd exited with $rc; its log:" >&2
                cat "$WORK/rpd.log" >&2
                exit 1
        fi
}

# A sparse image of SIZE MiB with random data in the given MiB ranges (offset:length ...).
make_image() {
        local file=$1 size=$2
        shift 2
        truncate -s "${size}M" "$file"
        for r in "$@"; do
                dd if=/dev/urandom of="$file" bs=1M seek="${r%%:*}" count="${r##*:}" conv=notrunc status=none
        done
}

# "A VM writes": 4 MiB page writes through a Write SAS of the attached disk (rpd runs no
# guest: its data plane is how a VM's disks change).
vm_writes() {
        local disk=$1
        shift
        local sas
        sas=$(quiet_rpctl disk grant-access -g demo -n "$disk" --access-level Write --query accessSAS -o tsv)
        for mib in "$@"; do
                head -c $((4 * MIB)) /dev/urandom >"$WORK/block"
                curl -sS --fail --cacert "$DATA/tls/ca.pem" -X PUT "$sas&comp=page" \
                        -H "x-ms-range: bytes=$((mib * MIB))-$(((mib + 4) * MIB - 1))" \
                        -H "x-ms-page-write: update" --data-binary @"$WORK/block" -o /dev/null
        done
        quiet_rpctl disk revoke-access -g demo -n "$disk"
        say "  wrote $(($# * 4)) MiB into disk '$disk' (at MiB $*)"
}

# The SHA-256 of a disk, exported to a sparse file.
disk_sha() {
        quiet_rpctl disk export -g "$1" -n "$2" -f "$WORK/$2.img" --no-progress -o none
        sha256sum "$WORK/$2.img" | cut -c1-64
        rm -f "$WORK/$2.img"
}

# A restore point in westus: PUT it where the flow says, with the live progress.
restore_point() {
        local name=$1
        if [[ $DEMO_FLOW == direct ]]; then
                rpctl restore-point create -g demo --collection-name vm1-west -n "$name" -o table
        else
                rpctl restore-point create -g demo --collection-name vm1-east -n "$name" -o none
                rpctl restore-point create -g demo --collection-name vm1-west -n "$name" \
                        --source-restore-point "$EAST_ID/restorePoints/$name" -o table
        fi
}

say "${B}rpd disaster-recovery demo${N} (flow: $DEMO_FLOW; work dir $WORK)"

chapter "1. rpd on the embedded default: one process, regions eastus and westus"
start_rpd
rpctl region list -o table

chapter "2. A VM in eastus with two disks, filled with data"
make_image "$WORK/os.img" 256 0:96 200:32 255:1
make_image "$WORK/data.img" 512 0:160 300:64 480:32
rpctl group create -n demo -l eastus -o none
rpctl disk import -g demo -n vm1-os -f "$WORK/os.img" --os-type Linux -o none
rpctl disk import -g demo -n vm1-data -f "$WORK/data.img" -o none
rpctl vm create -g demo -n vm1 --os-disk vm1-os --data-disks vm1-data -o table
VM_ID=$(quiet_rpctl vm show -g demo -n vm1 --query id -o tsv)
say "VM_ID=$VM_ID"

chapter "3. A restore point in westus, from the VM in eastus"
if [[ $DEMO_FLOW == direct ]]; then
        rpctl restore-point collection create -g demo --collection-name vm1-west -l westus \
                --source-id "$VM_ID" -o table
else
        rpctl restore-point collection create -g demo --collection-name vm1-east -l eastus \
                --source-id "$VM_ID" -o none
        EAST_ID=$(quiet_rpctl restore-point collection show -g demo --collection-name vm1-east --query id -o tsv)
        say "EAST_ID=$EAST_ID"
        rpctl restore-point collection create -g demo --collection-name vm1-west -l westus \
                --source-id "$EAST_ID" -o table
fi
restore_point rp1

chapter "4. The VM keeps writing; a second, incremental restore point"
vm_writes vm1-data 64 400
vm_writes vm1-os 150
stored() { quiet_rpctl region status --region "$1" --query store.storedBytes -o tsv; }
before=$(stored westus)
restore_point rp2
say "westus stored $((($(stored westus) - before) / MIB)) MiB more for rp2: only the chunks that changed were captured and copied."

# the source as it is at rp2: nothing wrote since
declare -A SOURCE_SHA
for d in vm1-os vm1-data; do SOURCE_SHA[$d]=$(disk_sha demo "$d"); done

chapter "5. Disaster: eastus is lost"
say "rpd stops; it comes back hosting westus alone, and eastus's data is deleted."
stop_rpd
cat >"$DATA/rpd.conf" <<'EOF'
# after the loss of eastus: this process hosts westus only
[rpd]
listen = 127.0.0.1:0
[region westus]
display_name = West US
EOF
rm -rf "$DATA/regions/eastus"
start_rpd
rpctl region list -o table
rpctl restore-point list -g demo --collection-name vm1-west -o table

chapter "6. The VM restored in westus, from the last restore point"
rpctl group create -n demo-dr -l westus -o none
rpctl restore vm -g demo --collection-name vm1-west --restore-point rp2 -n vm1 \
        --target-group demo-dr -o table

chapter "7. Are the restored disks the source's, byte for byte?"
ok=1
printf '%-10s %-64s  %s\n' "disk" "SHA-256 (eastus, at rp2) / (westus, restored)" ""
for d in vm1-os vm1-data; do
        restored=$(disk_sha demo-dr "vm1_$d")
        if [[ $restored == "${SOURCE_SHA[$d]}" ]]; then mark="${G}same${N}"; else mark="${R}DIFFERENT${N}"; ok=0; fi
        printf '%-10s %s\n%-10s %s  %s\n' "$d" "${SOURCE_SHA[$d]}" "" "$restored" "$mark"
done

stop_rpd
if [[ $ok == 1 ]]; then
        say ""
        say "${G}${B}Recovered: every disk of vm1 is back in westus, byte for byte.${N} ($((SECONDS - START)) s; cleaning up)"
else
        say "${R}${B}The restored disks differ from the source.${N}" >&2
        exit 1
fi

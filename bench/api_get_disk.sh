#!/usr/bin/env bash
# api_get_disk.sh: wrk against GET disk on rpd (HTTPS, bearer token checked, SQLite read,
# JSON rendering) beside nginx serving a static JSON file of the same size over HTTPS with
# the same certificate, in the same run. Prints requests/s and p99 of both and the ratio.
#
#   bench/api_get_disk.sh [duration_s] [connections]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RPD=${RPD_BIN:-$ROOT/build/src/daemon/rpd}
RPCTL=${RPCTL_BIN:-$ROOT/build/src/cli/rpctl}
DUR=${1:-10}
CONN=${2:-64}
THREADS=2
WORK=$(mktemp -d /tmp/rpd-bench-api.XXXXXX)
SUB=00000000-0000-0000-0000-0000000be4c0
cleanup() {
  [ -n "${RPD_PID:-}" ] && kill "$RPD_PID" 2>/dev/null && wait "$RPD_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$RPD" --data "$WORK/data" --listen 127.0.0.1:0 --log-level warning >/dev/null 2>"$WORK/rpd.log" &
RPD_PID=$!
for _ in $(seq 100); do [ -f "$WORK/data/rpd.url" ] && break; sleep 0.1; done
URL=$(cat "$WORK/data/rpd.url")
TOKEN=$("$RPCTL" token --data "$WORK/data" --subscription $SUB)
CA=$WORK/data/tls/ca.pem
H="Authorization: Bearer $TOKEN"
curl -sf --cacert "$CA" -H "$H" -H 'Content-Type: application/json' -X PUT \
  -d '{"location":"eastus"}' "$URL/subscriptions/$SUB/resourcegroups/bench?api-version=2022-09-01" >/dev/null
DISK="/subscriptions/$SUB/resourceGroups/bench/providers/Microsoft.Compute/disks/d1?api-version=2022-07-02"
curl -sf --cacert "$CA" -H "$H" -H 'Content-Type: application/json' -X PUT \
  -d '{"location":"eastus","tags":{"team":"dr"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":64}}' \
  "$URL$DISK" >/dev/null
curl -sf --cacert "$CA" -H "$H" "$URL$DISK" > "$WORK/disk.json"
SIZE=$(stat -c %s "$WORK/disk.json")

# nginx: same certificate and key, same JSON bytes, HTTPS, keep-alive.
mkdir -p "$WORK/www" "$WORK/nginx"
cp "$WORK/disk.json" "$WORK/www/disk.json"
NPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $WORK/data/tls/server.pem;
    ssl_certificate_key $WORK/data/tls/server.key;
    location / { root $WORK/www; default_type application/json; }
  }
}
NGX
nginx -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log"
sleep 0.5

run_wrk() { # url [header]
  if [ -n "${2:-}" ]; then wrk -t$THREADS -c"$CONN" -d"${DUR}s" --latency -H "$2" "$1"
  else wrk -t$THREADS -c"$CONN" -d"${DUR}s" --latency "$1"; fi
}
rps() { awk '/Requests\/sec/ {print $2}'; }
p99() { awk '$1=="99%" {print $2}'; }
to_ms() { /usr/bin/python3 -c 'import sys,re; v=sys.argv[1]; m=re.match(r"([\d.]+)(us|ms|s)",v); f={"us":0.001,"ms":1,"s":1000}[m.group(2)]; print("%.2f"%(float(m.group(1))*f))' "$1"; }

R=$(run_wrk "$URL$DISK" "$H")
N=$(run_wrk "https://127.0.0.1:$NPORT/disk.json")
R_RPS=$(echo "$R" | rps); N_RPS=$(echo "$N" | rps)
R_P99=$(to_ms "$(echo "$R" | p99)"); N_P99=$(to_ms "$(echo "$N" | p99)")
ERRS=$(echo "$R" | grep -E 'Non-2xx|Socket errors' || true)
echo "GET disk, $SIZE-byte JSON body, wrk -t$THREADS -c$CONN -d${DUR}s, HTTPS keep-alive"
printf "%-8s %12s %10s\n" "server" "requests/s" "p99 ms"
printf "%-8s %12s %10s\n" "rpd" "$R_RPS" "$R_P99"
printf "%-8s %12s %10s\n" "nginx" "$N_RPS" "$N_P99"
/usr/bin/python3 -c "import sys; r,n,rp,np_=map(float,sys.argv[1:]); print('ratio rpd/nginx: throughput %.2f, p99 latency %.2f' % (r/n, rp/np_))" "$R_RPS" "$N_RPS" "$R_P99" "$N_P99"
[ -z "$ERRS" ] || echo "rpd errors: $ERRS"

#!/usr/bin/env bash
# Many client connections on few backend connections: sysbench oltp_point_select with
# thousands of threads (one client connection each, all open at once) through a release
# octodb-proxy whose tenant may hold at most N backend connections. Reports QPS, p95, the
# proxy's peak RSS, and the tenant's backend connections seen on the server (sampled every
# 0.5 s) against the cap. The bench tenant, catalog and tables are those of
# benches/sysbench-compare.sh (set up through its --setup-only).
set -euo pipefail

clients=5000 backend_max=20 time_s=20 port=17020 build=1 tables=4 table_size=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --backend-max) backend_max=$2; shift 2 ;;
    --time) time_s=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help)
      echo "usage: benches/many-clients.sh [--clients 5000] [--backend-max 20] [--time 20] [--port 17020] [--no-build]"
      exit 0 ;;
    *) echo "many-clients: unknown option $1" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host=${BACKEND_HOST:-127.0.0.1} bport=${BACKEND_PORT:-3306}
buser=${BACKEND_USER:-root} bpass=${BACKEND_PASSWORD:-}
state=/tmp/octodb-bench catalog_db=octodb_bench
log() { echo "[many-clients] $*" >&2; }
sql() { mariadb --protocol=tcp -h"$host" -P"$bport" -u"$buser" ${bpass:+-p"$bpass"} -N -B "$@"; }

setup=(--setup-only --tables "$tables" --table-size "$table_size")
[ "$build" = 1 ] || setup+=(--no-build)
"$root/benches/sysbench-compare.sh" "${setup[@]}"

# Each client connection is a socket on both sides of the proxy's front end.
need=$((clients * 2 + 1000))
[ "$(ulimit -n)" -ge "$need" ] || ulimit -n "$need" || {
  log "needs ulimit -n >= $need"; exit 2; }

export OCTODB_CATALOG__URL="mysql://$buser${bpass:+:$bpass}@$host:$bport/$catalog_db"
export OCTODB_CATALOG__KEY_FILE="$state/catalog.key"
export RUST_LOG=${RUST_LOG:-warn}
# Everything on, the Prometheus endpoint included (one port above the proxy's).
OCTODB_LIMITS__MAX_BACKEND_CONNECTIONS="$backend_max" OCTODB_METRICS_LISTEN="127.0.0.1:$((port + 1))" \
  "$root/target/release/octodb-proxy" --listen "127.0.0.1:$port" >/tmp/many-clients-proxy.log 2>&1 &
proxy=$!
trap 'kill $proxy 2>/dev/null || true; kill $sampler 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

samples=$(mktemp)
(
  while kill -0 "$proxy" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$proxy/status" 2>/dev/null || echo 0)
    backends=$(sql -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 't_bench'" 2>/dev/null || echo -1)
    echo "$rss $backends" >> "$samples"
    sleep 0.5
  done
) &
sampler=$!

log "$clients client connections, at most $backend_max backend connections, ${time_s}s"
sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
  --mysql-user=bench --mysql-password=bench --mysql-db=sbtest --db-ps-mode=disable \
  --tables="$tables" --table-size="$table_size" --threads="$clients" --time="$time_s" \
  --report-interval=0 run > /tmp/many-clients-sysbench.txt
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$proxy/status")
kill "$sampler" 2>/dev/null || true

qps=$(awk '/queries:/ {gsub(/[()]/, "", $3); print $3}' /tmp/many-clients-sysbench.txt)
p95=$(awk '/95th percentile:/ {print $3}' /tmp/many-clients-sysbench.txt)
errs=$(awk '/ignored errors:/ {print $3}' /tmp/many-clients-sysbench.txt)
read -r max_rss max_backends < <(awk '{ if ($1 > r) r = $1; if ($2 > b) b = $2 } END { print r, b }' "$samples")
echo "clients=$clients backend_cap=$backend_max qps=$qps p95_ms=$p95 ignored_errors=$errs"
echo "proxy_rss_peak_mib=$((hwm / 1024)) proxy_rss_sampled_max_mib=$((max_rss / 1024)) backend_connections_max=$max_backends"
echo "per_client_kib=$(( hwm / clients ))"
rm -f "$samples"

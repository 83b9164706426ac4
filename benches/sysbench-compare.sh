#!/usr/bin/env bash
# sysbench oltp_point_select, text protocol AND server-side prepared statements, against:
#   direct   MariaDB itself (user bench, database sbtest: the physical limit)
#   haproxy  HAProxy in TCP mode in front of MariaDB (the layer-4 baseline, same user and db)
#   octodb   a release-built octodb-proxy (tenant `bench`, user bench, logical db sbtest ->
#            physical t_bench__sbtest)
# in alternating rounds (direct haproxy octodb, direct haproxy octodb, ...), through the shared
# harness /work/shared/bench/run.sh, then prints QPS and ratios per protocol.
# See benches/README.md ("End to end: sysbench-compare.sh"). Run from anywhere in the workspace.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: benches/sysbench-compare.sh [options] [-- extra run.sh arguments]
  --rounds N          measured rounds per target and protocol (default 3)
  --time S            seconds per measured run (default 10)
  --warmup S          unmeasured warmup per target (default 3; 0 = off)
  --threads LIST      sysbench threads, comma list (default 8)
  --workload LIST     harness workloads (default point_select)
  --ps-modes LIST     disable,auto (default both: text and prepared)
  --tables N          sysbench tables (default 4)
  --table-size N      rows per table (default 10000)
  --port N            port for the spawned octodb-proxy (default 17010)
  --catalog-db NAME   catalog schema on the backend (default octodb_bench)
  --state DIR         keeps the catalog key (default /tmp/octodb-bench)
  --fresh             drop the bench catalog, tenant database and backend user first
  --no-build          use the existing target/release binaries
  --no-octodb         measure direct and haproxy only (no build, no tenant)
  --harness PATH      the shared harness (default /work/shared/bench/run.sh)
  --out DIR           results directory (default /tmp/octobench-results/compare-<time>)
  --proxy-env 'K=V ..' settings for the spawned octodb-proxy only, as OCTODB_* variables
                      (e.g. 'OCTODB_POOL_MAX=24': the admin would refuse proxy settings)
  --setup-only        build, create the bench catalog, tenant and tables, then stop
                      (benches/many-clients.sh uses it)
Environment: BACKEND_HOST (127.0.0.1), BACKEND_PORT (3306), BACKEND_USER (root),
BACKEND_PASSWORD (empty): an account that may create databases, users and grants.
EOF
}

rounds=3 time_s=10 warmup=3 threads=8 workload=point_select ps_modes=disable,auto
tables=4 table_size=10000 port=17010 catalog_db=octodb_bench state=/tmp/octodb-bench
fresh=0 build=1 octodb=1 setup_only=0 harness=/work/shared/bench/run.sh out="" proxy_env=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --time) time_s=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --workload) workload=$2; shift 2 ;;
    --ps-modes) ps_modes=$2; shift 2 ;;
    --tables) tables=$2; shift 2 ;;
    --table-size) table_size=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --catalog-db) catalog_db=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --no-build) build=0; shift ;;
    --no-octodb) octodb=0; build=0; shift ;;
    --harness) harness=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --setup-only) setup_only=1; shift ;;
    --proxy-env) proxy_env=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "sysbench-compare: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host=${BACKEND_HOST:-127.0.0.1} bport=${BACKEND_PORT:-3306}
buser=${BACKEND_USER:-root} bpass=${BACKEND_PASSWORD:-}
physical=t_bench__sbtest
out=${out:-/tmp/octobench-results/compare-$(date +%Y%m%d-%H%M%S)}

log() { echo "[sysbench-compare] $*" >&2; }
die() { log "ERROR: $*"; exit 2; }
for tool in sysbench haproxy python3 mariadb; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done
[ -x "$harness" ] || die "harness $harness not found"

# Root SQL on the backend, tab-separated, no headers.
sql() { mariadb --protocol=tcp -h"$host" -P"$bport" -u"$buser" ${bpass:+-p"$bpass"} -N -B "$@"; }
sql -e 'SELECT 1' >/dev/null || die "backend $host:$bport not reachable as $buser"

# sysbench tables in $1 with the harness's settings, loaded only when missing or the wrong size.
prepare_db() {
  local db=$1 t n
  for t in $(seq 1 "$tables"); do
    n=$(sql "$db" -e "SELECT COUNT(*) FROM sbtest$t" 2>/dev/null || echo -1)
    if [ "$n" != "$table_size" ]; then
      log "loading $tables x $table_size rows into $db (sysbench prepare, directly as $buser)"
      local sb=(sysbench oltp_read_write --db-driver=mysql --mysql-host="$host" --mysql-port="$bport"
        --mysql-user="$buser" ${bpass:+--mysql-password="$bpass"} --mysql-db="$db"
        --tables="$tables" --table-size="$table_size" --threads=2)
      "${sb[@]}" cleanup >/dev/null 2>&1 || true
      "${sb[@]}" prepare >/dev/null || die "sysbench prepare in $db failed"
      for t in $(seq 1 "$tables"); do sql "$db" -e "ANALYZE TABLE sbtest$t" >/dev/null; done
      return
    fi
  done
  log "$db already holds $tables x $table_size rows"
}

spawn=()
if [ "$octodb" = 1 ]; then
  cd "$root"
  if [ "$build" = 1 ]; then
    log "building release binaries (octodb-proxy, octodb-admin)"
    cargo build --release -q -p octodb-proxy -p octodb-admin
  fi
  admin="$root/target/release/octodb-admin" proxy="$root/target/release/octodb-proxy"
  [ -x "$admin" ] && [ -x "$proxy" ] || die "missing $admin or $proxy (build them or drop --no-build)"

  mkdir -p "$state"
  if [ "$fresh" = 1 ] || [ ! -s "$state/catalog.key" ]; then
    # A new key cannot read secrets stored under the old one: start the catalog afresh.
    log "fresh bench catalog: dropping $catalog_db, $physical and backend user t_bench"
    sql -e "DROP DATABASE IF EXISTS \`$catalog_db\`; DROP DATABASE IF EXISTS \`$physical\`;
            DROP USER IF EXISTS 't_bench'@'%'"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/catalog.key"
    chmod 600 "$state/catalog.key"
  fi
  export OCTODB_CATALOG__URL="mysql://$buser${bpass:+:$bpass}@$host:$bport/$catalog_db"
  export OCTODB_CATALOG__KEY_FILE="$state/catalog.key"
  export RUST_LOG=${RUST_LOG:-warn}
  # [backend] is the admin's section only: the proxy rejects unknown settings, so these
  # variables must not reach the spawned proxy.
  admin_env=(env OCTODB_BACKEND__HOST="$host" OCTODB_BACKEND__PORT="$bport"
    OCTODB_BACKEND__ADMIN_USER="$buser" OCTODB_BACKEND__ADMIN_PASSWORD="$bpass")
  "${admin_env[@]}" "$admin" migrate >/dev/null
  "${admin_env[@]}" "$admin" tenant create --name bench --database sbtest --user bench \
    --password bench >/dev/null
  prepare_db "$physical"
  if [ "$setup_only" = 1 ]; then
    log "setup done: catalog $catalog_db, tenant bench, $physical"
    exit 0
  fi
  # The harness adds the spawned target with its bench user (bench:bench) and database sbtest,
  # which is exactly the tenant's proxy user and logical database.
  # Everything on, as in production: the Prometheus endpoint too (one port above the proxy's).
  spawn=(--spawn "octodb=$port=env OCTODB_METRICS_LISTEN=127.0.0.1:$((port + 1)) $proxy_env $proxy --listen 127.0.0.1:{port}")
fi

# The harness prepares `sbtest` (and user bench:bench) itself for direct and haproxy; the backend
# account is given separately because the first target (direct) is the unprivileged bench user.
mkdir -p "$out"
status=0
IFS=, read -r -a modes <<< "$ps_modes"
for mode in "${modes[@]}"; do
  log "ps-mode=$mode: $rounds rounds x ${time_s}s, threads $threads, workload $workload"
  "$harness" \
    --backend "$host:$bport:$buser:$bpass" \
    --target "direct=$host:$bport:bench:bench:sbtest" \
    --haproxy \
    "${spawn[@]}" \
    --workload "$workload" --threads "$threads" --time "$time_s" --rounds "$rounds" \
    --warmup "$warmup" --tables "$tables" --table-size "$table_size" --ps-mode "$mode" \
    --out "$out/$mode" "${extra[@]}" || status=$?
done

# One table for both protocols: median QPS, ratio to direct and to haproxy.
python3 - "$out" "${modes[@]}" <<'PY'
import csv, os, sys
out, modes = sys.argv[1], sys.argv[2:]
print(f"\n# OctoDB sysbench comparison (median QPS; ratios within one protocol run)")
print(f"{'protocol':<10}{'workload':<14}{'thr':>4} {'target':<10}{'QPS':>10}"
      f"{'vs direct':>10}{'vs haproxy':>11}{'p95ms':>8}{'proxyµs/q':>10}{'ok/fail':>8}")
for mode in modes:
    path = os.path.join(out, mode, "summary.csv")
    if not os.path.exists(path):
        print(f"{mode:<10}(no results: see the harness output above)")
        continue
    rows = list(csv.DictReader(open(path)))
    num = lambda r, k: float(r[k]) if r.get(k) else None
    for r in rows:
        same = [x for x in rows if (x["workload"], x["threads"]) == (r["workload"], r["threads"])]
        base = {x["target"]: num(x, "qps") for x in same}
        q = num(r, "qps")
        ratio = lambda b: f"{q / b:.2f}" if q and b else "-"
        us = num(r, "proxy_us_per_q")
        p95 = num(r, "p95")
        name = "text" if mode == "disable" else "prepared"
        print(f"{name:<10}{r['workload']:<14}{r['threads']:>4} {r['target']:<10}"
              f"{q or 0:>10.0f}{ratio(base.get('direct')):>10}{ratio(base.get('haproxy')):>11}"
              f"{'-' if p95 is None else f'{p95:.2f}':>8}{'-' if us is None else f'{us:.1f}':>10}"
              f"{r['runs'] + '/' + r['failed']:>8}")
print(f"# results: {out}/<ps-mode>/runs.json and summary.csv")
PY
exit "$status"

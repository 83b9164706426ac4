#!/usr/bin/env bash
# Brings OctoDB up on this machine for development: MariaDB and Redis (installed and started
# when missing), the catalog, a demo tenant with its tables, the admin service and the proxy.
#   deploy/dev.sh          start (or restart) everything and print how to connect
#   deploy/dev.sh stop     stop the proxy and the admin service
set -euo pipefail
cd "$(dirname "$0")/.."
state=.octodb
mkdir -p "$state"

stop() {
  for svc in proxy admin; do
    if [ -f "$state/$svc.pid" ]; then
      kill "$(cat "$state/$svc.pid")" 2>/dev/null || true
      rm -f "$state/$svc.pid"
    fi
  done
}
if [ "${1:-}" = stop ]; then stop; echo "OctoDB stopped"; exit 0; fi

deploy/ensure-services.sh
echo "building OctoDB (release)..." >&2
cargo build --release --locked -q -p octodb-proxy -p octodb-admin

if [ ! -s "$state/catalog.key" ]; then
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/catalog.key"
  chmod 600 "$state/catalog.key"
fi
export OCTODB_CATALOG__KEY_FILE="$PWD/$state/catalog.key"
: "${OCTODB_DEMO_PASSWORD:=demo-password}"

admin=target/release/octodb-admin
proxy=target/release/octodb-proxy
"$admin" migrate >/dev/null
"$admin" tenant create --name demo --database app --user demo --password "$OCTODB_DEMO_PASSWORD" >/dev/null
"$admin" schema apply --tenant demo --database app --file deploy/demo-schema.sql >/dev/null

stop
nohup "$admin" serve >"$state/admin.log" 2>&1 &
echo $! > "$state/admin.pid"
nohup "$proxy" >"$state/proxy.log" 2>&1 &
echo $! > "$state/proxy.pid"

for _ in $(seq 1 100); do
  if mariadb --protocol=tcp -h127.0.0.1 -P6033 -udemo -p"$OCTODB_DEMO_PASSWORD" app -e 'SELECT 1' >/dev/null 2>&1; then
    cat <<MSG
OctoDB is up.
  proxy:  127.0.0.1:6033 (log: $state/proxy.log)
  admin:  http://127.0.0.1:8080/healthz (log: $state/admin.log)
Connect as the demo tenant:
  mariadb -h127.0.0.1 -P6033 -udemo -p$OCTODB_DEMO_PASSWORD app
Stop with: deploy/dev.sh stop
MSG
    exit 0
  fi
  sleep 0.2
done
echo "the proxy did not come up; see $state/proxy.log" >&2
tail -20 "$state/proxy.log" >&2
exit 1

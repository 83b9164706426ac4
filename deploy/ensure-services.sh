#!/usr/bin/env bash
# Makes sure what OctoDB and its tests need is installed and running on this machine:
# MariaDB (root reachable over TCP at 127.0.0.1:3306 with an empty password), Redis at
# 127.0.0.1:6379, and the clients the integration tests drive (mariadb CLI, sysbench, PyMySQL;
# for tests/tests/orms.rs SQLAlchemy 2.x, mysql-connector-python, mysqlclient and Node mysql2).
# Installs missing Debian packages with apt-get; starts stopped services. Idempotent.
set -euo pipefail

log() { printf '[ensure-services] %s\n' "$*" >&2; }

apt_updated=0
need_pkg() {
  # need_pkg COMMAND PACKAGE...: installs PACKAGE when COMMAND is missing.
  local cmd=$1; shift
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    if [ "$apt_updated" = 0 ]; then
      log "apt-get update"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      apt_updated=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

need_deb() {
  # need_deb PACKAGE...: installs the Debian packages that are not installed yet.
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" = 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

pip_install() {
  # pip_install SPEC...: into the python3 on PATH (pyenv here), or past Debian's
  # externally-managed marker on a system Python.
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

need_pkg mariadbd mariadb-server
need_pkg mariadb mariadb-client
need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_pkg sysbench sysbench
need_pkg python3 python3
if ! python3 -m pip --version >/dev/null 2>&1; then
  need_pkg_always() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
  [ "$apt_updated" = 1 ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; }
  log "installing pip"
  need_pkg_always python3-pip
fi
if [ "${OCTODB_WITH_HAPROXY:-0}" = 1 ]; then need_pkg haproxy haproxy; fi

tcp_root_ok() { mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }

if ! mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1 \
   && ! mariadb-admin ping >/dev/null 2>&1; then
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    mariadb-admin ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
if ! tcp_root_ok; then
  # A fresh Debian install lets root in through the unix socket only.
  log "allowing root@localhost over TCP with an empty password (development server)"
  mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;"
  tcp_root_ok || { log "MariaDB root is not reachable at 127.0.0.1:3306"; exit 1; }
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.25
  done
fi

if ! python3 -c 'import pymysql' >/dev/null 2>&1; then
  log "installing PyMySQL"
  python3 -m pip install --quiet PyMySQL 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages PyMySQL 2>/dev/null \
    || { need_pkg python3 python3; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pymysql >/dev/null; }
fi
# ORM and driver tests (tests/tests/orms.rs).
py_missing=()
python3 -c 'import sqlalchemy, sys; sys.exit(int(sqlalchemy.__version__.split(".")[0]) < 2)' \
  >/dev/null 2>&1 || py_missing+=('SQLAlchemy>=2')
python3 -c 'import mysql.connector' >/dev/null 2>&1 || py_missing+=(mysql-connector-python)
if ! python3 -c 'import MySQLdb' >/dev/null 2>&1; then
  # mysqlclient has no Linux wheels: it builds against libmariadb, found with pkg-config.
  need_pkg gcc gcc
  need_pkg pkg-config pkg-config
  need_deb libmariadb-dev
  if ! python3 -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
    >/dev/null 2>&1; then
    need_deb python3-dev
  fi
  py_missing+=(mysqlclient)
fi
if [ "${#py_missing[@]}" -gt 0 ]; then
  log "installing ${py_missing[*]} (pip)"
  pip_install "${py_missing[@]}"
fi

node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/clients/node"
if [ ! -d "$node_dir/node_modules/mysql2" ]; then
  need_pkg node nodejs
  need_pkg npm npm
  log "installing Node test dependencies (npm ci in tests/clients/node)"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
log "MariaDB, Redis, sysbench and the client libraries are ready"

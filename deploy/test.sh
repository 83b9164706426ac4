#!/usr/bin/env bash
# Runs OctoDB's whole test suite: unit, protocol and integration tests against the real
# MariaDB and Redis on this machine (installed and started when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/ensure-services.sh
# Leftovers of crashed earlier runs: test catalogs and tenant databases older than an hour.
mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot -N -e "
  SELECT CONCAT('DROP DATABASE IF EXISTS \`', SCHEMA_NAME, '\`;')
  FROM information_schema.SCHEMATA s
  WHERE (s.SCHEMA_NAME LIKE 'octodb\_it\_%' OR s.SCHEMA_NAME LIKE 't\_it%\_\_%'
         OR s.SCHEMA_NAME LIKE 'octodb\_ws\_%')
    AND NOT EXISTS (SELECT 1 FROM information_schema.TABLES t
                    WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME
                      AND t.CREATE_TIME > NOW() - INTERVAL 1 HOUR)" \
  | mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot || true
# ... and test tenants' backend users whose databases are gone.
mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot -N <<'SQL' | mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot || true
SELECT CONCAT('DROP USER IF EXISTS ''', u.User, '''@''', u.Host, ''';')
FROM mysql.user u
WHERE u.User LIKE 't\_it%'
  AND NOT EXISTS (SELECT 1 FROM information_schema.SCHEMATA s
                  WHERE s.SCHEMA_NAME LIKE CONCAT(REPLACE(u.User, '_', '\_'), '\_\_%'));
SQL
cargo test --workspace --locked "$@"

#!/usr/bin/env python3
"""Drives OctoDB's proxy with mysqlclient (MySQLdb, the C extension on libmariadb).

Run by tests/tests/orms.rs against an in-process proxy; the tenant's database holds the tables
`users` and `addresses` created there. Checks: connect (MySQLdb sets the character set and
switches autocommit off on connect), DATABASE(), CRUD with client-side parameters (quotes,
backslashes, NULL, non-ASCII), lastrowid and rowcount, executemany (which MySQLdb rewrites into
one multi-row INSERT), commit and rollback, autocommit on, select_db (COM_INIT_DB) to the
logical name and a refused one to the physical name, DictCursor and SSCursor (unbuffered rows),
a duplicate-key error, ping, and every result against a direct connection to the tenant's
physical database.

Output and exit status: see pycheck.py.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks, CheckFailed, common_args, expect  # noqa: E402

try:
    import MySQLdb
    import MySQLdb.cursors
except ImportError as e:
    print(
        f"FAIL setup: mysqlclient is not installed ({e}; apt-get install pkg-config libmariadb-dev "
        "gcc python3-dev; pip install mysqlclient)"
    )
    sys.exit(3)


def error_info(e):
    if isinstance(e, MySQLdb.MySQLError) and e.args and isinstance(e.args[0], int):
        return (e.args[0], e.args[1] if len(e.args) > 1 else "")
    return None


def q(cur, sql, params=None, many=False):
    """cursor.execute / executemany, tagging a server error with the statement."""
    try:
        if many:
            cur.executemany(sql, params)
        else:
            cur.execute(sql, params)
    except MySQLdb.MySQLError as e:
        e.octodb_sql = sql
        raise
    return cur


def main():
    args = common_args(argparse.ArgumentParser()).parse_args()
    c = Checks("mysqlclient")
    print(f"mysqlclient {'.'.join(map(str, MySQLdb.version_info[:3]))}, client library {MySQLdb.get_client_info()}", flush=True)
    proxy_cfg = dict(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        database=args.db,
        charset="utf8mb4",
        connect_timeout=20,
    )
    direct = MySQLdb.connect(
        host=args.direct_host,
        port=args.direct_port,
        user=args.direct_user,
        password=args.direct_password,
        database=args.direct_db or args.physical,
        charset="utf8mb4",
        autocommit=True,
    )

    def backend(sql, params=None):
        cur = direct.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return [tuple(r) for r in rows]

    def run(name, fn, fatal=False):
        return c.run(name, fn, fatal=fatal, error_info=error_info)

    conn = None

    def connect():
        nonlocal conn
        conn = MySQLdb.connect(**proxy_cfg)
        expect(conn.get_autocommit() is False, f"autocommit after connect {conn.get_autocommit()!r}")
        expect(conn.character_set_name() == "utf8mb4", f"character set {conn.character_set_name()!r}")

    try:
        run("connect (charset utf8mb4, autocommit off)", connect, fatal=True)
    except Exception:
        c.finish()

    def database():
        cur = q(conn.cursor(), "SELECT DATABASE(), @@autocommit")
        got = cur.fetchone()
        cur.close()
        expect(got == (args.db, 0), f"SELECT DATABASE(), @@autocommit {got!r}")

    run("SELECT DATABASE() is the logical name, @@autocommit is 0", database)

    state = {}
    tricky = "O'Brien \\ \"quoted\" ; -- not a comment é ✓"

    def crud():
        cur = conn.cursor()
        q(cur, "INSERT INTO users (name, email, profile) VALUES (%s, %s, %s)", (tricky, "ob@example.com", None))
        expect(cur.rowcount == 1, f"insert rowcount {cur.rowcount}")
        state["ob"] = cur.lastrowid
        expect(state["ob"] and state["ob"] == conn.insert_id(), f"lastrowid {cur.lastrowid}, insert_id {conn.insert_id()}")
        q(cur, "INSERT INTO addresses (user_id, city, zip) VALUES (%s, %s, %s)", (state["ob"], "Cork", "T12"))
        conn.commit()
        q(cur, "SELECT u.name, u.profile, a.city FROM users u JOIN addresses a ON a.user_id = u.id WHERE u.id = %s", (state["ob"],))
        rows = cur.fetchall()
        expect(rows == ((tricky, None, "Cork"),), f"select {rows!r}")
        q(cur, "UPDATE addresses SET zip = %s WHERE user_id = %s", ("T23", state["ob"]))
        expect(cur.rowcount == 1, f"update rowcount {cur.rowcount}")
        conn.commit()
        cur.close()
        expect(backend("SELECT name FROM users WHERE id = %s", (state["ob"],)) == [(tricky,)], "backend name")
        expect(backend("SELECT zip FROM addresses WHERE user_id = %s", (state["ob"],)) == [("T23",)], "backend zip")

    run("CRUD, escaping, lastrowid, rowcount, commit", crud)

    def executemany():
        cur = conn.cursor()
        rows = [(f"many{i}", f"many{i}@example.com") for i in range(20)]
        q(cur, "INSERT INTO users (name, email) VALUES (%s, %s)", rows, many=True)
        expect(cur.rowcount == 20, f"executemany rowcount {cur.rowcount}")
        q(cur, "UPDATE users SET name = CONCAT(name, '!') WHERE email = %s",
          [(f"many{i}@example.com",) for i in range(3)], many=True)
        conn.commit()
        cur.close()
        expect(backend("SELECT COUNT(*) FROM users WHERE name LIKE 'many%'") == [(20,)], "backend after executemany")
        expect(backend("SELECT COUNT(*) FROM users WHERE name LIKE 'many%!'") == [(3,)], "backend after executemany UPDATE")

    run("executemany INSERT (multi-row) and UPDATE", executemany)

    def rollback():
        cur = conn.cursor()
        q(cur, "INSERT INTO users (name, email) VALUES ('ghost', 'ghost@example.com')")
        q(cur, "DELETE FROM addresses WHERE user_id = %s", (state["ob"],))
        q(cur, "SELECT COUNT(*) FROM users WHERE name = 'ghost'")
        expect(cur.fetchone() == (1,), "inserted row not visible in its transaction")
        conn.rollback()
        q(cur, "SELECT COUNT(*) FROM users WHERE name = 'ghost'")
        expect(cur.fetchone() == (0,), "rolled-back row still visible")
        cur.close()
        conn.commit()
        expect(backend("SELECT COUNT(*) FROM users WHERE name = 'ghost'") == [(0,)], "backend ghost")
        expect(backend("SELECT COUNT(*) FROM addresses WHERE user_id = %s", (state["ob"],)) == [(1,)], "backend address")

    run("rollback (autocommit off)", rollback)

    def delete():
        cur = conn.cursor()
        q(cur, "DELETE FROM users WHERE name LIKE %s ORDER BY id LIMIT 5", ("many%",))
        expect(cur.rowcount == 5, f"delete rowcount {cur.rowcount}")
        conn.commit()
        cur.close()
        expect(backend("SELECT COUNT(*) FROM users WHERE name LIKE 'many%'") == [(15,)], "backend after delete")

    run("DELETE ... ORDER BY ... LIMIT", delete)

    def dict_and_ss():
        cur = conn.cursor(MySQLdb.cursors.DictCursor)
        q(cur, "SELECT id, name FROM users WHERE id = %s", (state["ob"],))
        row = cur.fetchone()
        expect(row == {"id": state["ob"], "name": tricky}, f"DictCursor {row!r}")
        cur.close()
        cur = conn.cursor(MySQLdb.cursors.SSCursor)
        q(cur, "SELECT name FROM users WHERE name LIKE 'many%' ORDER BY id")
        n = sum(1 for _ in iter(cur.fetchone, None))
        cur.close()
        expect(n == 15, f"SSCursor streamed {n} rows")

    run("DictCursor and SSCursor", dict_and_ss)

    def duplicate():
        cur = conn.cursor()
        try:
            cur.execute("INSERT INTO users (name, email) VALUES ('dup', 'ob@example.com')")
        except MySQLdb.IntegrityError as e:
            expect(e.args[0] == 1062, f"error {e.args}")
            expect(args.physical not in str(e), f"error names the physical database: {e}")
        else:
            raise CheckFailed("duplicate email accepted")
        conn.rollback()
        q(cur, "SELECT 1")
        expect(cur.fetchall() == ((1,),), "connection unusable after the error")
        cur.close()

    run("duplicate key -> IntegrityError 1062, connection still usable", duplicate)

    def autocommit_on():
        conn.autocommit(True)
        expect(conn.get_autocommit() is True, "autocommit did not switch on")
        cur = conn.cursor()
        q(cur, "INSERT INTO users (name, email) VALUES ('auto', 'auto@example.com')")
        cur.close()
        expect(backend("SELECT COUNT(*) FROM users WHERE name = 'auto'") == [(1,)], "autocommitted row not on the backend")
        conn.autocommit(False)

    run("autocommit(True)", autocommit_on)

    def select_db():
        conn.select_db(args.db)
        cur = q(conn.cursor(), "SELECT DATABASE(), COUNT(*) FROM users")
        got = cur.fetchone()
        cur.close()
        expect(got[0] == args.db, f"after select_db: {got!r}")
        try:
            conn.select_db(args.physical)
        except MySQLdb.MySQLError as e:
            expect(e.args[0] == 1044, f"select_db(physical): error {e.args}")
        else:
            raise CheckFailed("select_db to the physical name was accepted")

    run("select_db (COM_INIT_DB): logical accepted, physical refused with 1044", select_db)

    def ping():
        conn.ping()
        expect(conn.get_server_info(), "no server version")

    run("ping", ping)

    conn.close()
    direct.close()
    c.finish()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives OctoDB's proxy with mysql-connector-python in its pure-Python mode (use_pure=True).

Run by tests/tests/orms.rs against an in-process proxy; the tenant's database holds the tables
`users` and `addresses` created there. Checks: connect (and what the connector sends on connect:
autocommit off, character set), DATABASE(), CRUD on the text protocol with client-side
parameters, executemany, the prepared cursor (COM_STMT_PREPARE / EXECUTE, parameters of several
types, one statement executed twice), commit and rollback (autocommit off by default),
start_transaction with an isolation level, autocommit on, a duplicate-key error, a connection
pool (which resets sessions when a connection goes back), and every result against a direct
connection to the tenant's physical database.

Output and exit status: see pycheck.py.
"""

import argparse
import datetime
import decimal
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks, CheckFailed, common_args, expect  # noqa: E402

try:
    import mysql.connector
    import mysql.connector.pooling
except ImportError as e:
    print(f"FAIL setup: mysql-connector-python is not installed ({e}; pip install mysql-connector-python)")
    sys.exit(3)


def _tag_statements():
    """Makes a server error raised by cmd_query / cmd_stmt_prepare carry its statement, including
    the ones the connector sends by itself (on connect, on a pool's session reset)."""
    from mysql.connector.connection import MySQLConnection

    def wrap(method):
        orig = getattr(MySQLConnection, method)

        def tagged(self, statement, *a, **kw):
            try:
                return orig(self, statement, *a, **kw)
            except mysql.connector.Error as e:
                sql = statement.decode("utf-8", "replace") if isinstance(statement, (bytes, bytearray)) else str(statement)
                if not getattr(e, "octodb_sql", None):
                    e.octodb_sql = f"{sql} [{method}]"
                raise

        setattr(MySQLConnection, method, tagged)

    wrap("cmd_query")
    wrap("cmd_stmt_prepare")


_tag_statements()


def error_info(e):
    if isinstance(e, mysql.connector.Error) and e.errno not in (None, -1):
        return (e.errno, e.msg)
    return None


def q(cur, sql, params=None, many=False):
    """cursor.execute / executemany, tagging a server error with the statement."""
    try:
        if many:
            cur.executemany(sql, params)
        else:
            cur.execute(sql, params)
    except mysql.connector.Error as e:
        e.octodb_sql = getattr(e, "octodb_sql", None) or sql
        raise
    return cur


def main():
    args = common_args(argparse.ArgumentParser()).parse_args()
    c = Checks("mysql-connector-python")
    print(f"mysql-connector-python {mysql.connector.__version__} (use_pure=True)", flush=True)
    proxy_cfg = dict(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        database=args.db,
        use_pure=True,
        charset="utf8mb4",
        collation="utf8mb4_general_ci",
        connection_timeout=20,
    )
    direct = mysql.connector.connect(
        host=args.direct_host,
        port=args.direct_port,
        user=args.direct_user,
        password=args.direct_password,
        database=args.direct_db or args.physical,
        use_pure=True,
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
        conn = mysql.connector.connect(**proxy_cfg)
        expect(conn.is_connected(), "is_connected() is False after connect")
        expect(type(conn).__name__ == "MySQLConnection", f"not the pure-Python connection: {type(conn)}")

    try:
        run("connect (use_pure=True)", connect, fatal=True)
    except Exception:
        c.finish()

    def database():
        cur = q(conn.cursor(), "SELECT DATABASE()")
        got = cur.fetchone()[0]
        cur.close()
        expect(got == args.db, f"SELECT DATABASE() {got!r}")
        expect(conn.database == args.db, f"connection.database {conn.database!r}")

    run("SELECT DATABASE() is the logical name", database)

    def autocommit_default():
        expect(conn.autocommit is False, f"connection.autocommit {conn.autocommit!r}")

    run("autocommit is off by default", autocommit_default)

    state = {}

    def crud_text():
        cur = conn.cursor()
        q(cur, "INSERT INTO users (name, email, profile) VALUES (%s, %s, %s)",
          ("ann", "ann@example.com", json.dumps({"k": [1, 2]})))
        state["ann"] = cur.lastrowid
        expect(cur.lastrowid and cur.lastrowid > 0, f"lastrowid {cur.lastrowid}")
        q(cur, "INSERT INTO addresses (user_id, city, zip) VALUES (%s, %s, %s)", (state["ann"], "O'Hare \\ \"x\"", None))
        conn.commit()
        q(cur, "SELECT id, name, email, JSON_EXTRACT(profile, '$.k[1]') FROM users WHERE email = %s", ("ann@example.com",))
        rows = cur.fetchall()
        expect(rows == [(state["ann"], "ann", "ann@example.com", "2")], f"select {rows}")
        q(cur, "SELECT city, zip FROM addresses WHERE user_id = %s", (state["ann"],))
        rows = cur.fetchall()
        expect(rows == [("O'Hare \\ \"x\"", None)], f"quoted string round trip {rows}")
        q(cur, "UPDATE users SET name = %s WHERE id = %s", ("anne", state["ann"]))
        expect(cur.rowcount == 1, f"update rowcount {cur.rowcount}")
        conn.commit()
        cur.close()
        expect(backend("SELECT name FROM users WHERE id = %s", (state["ann"],)) == [("anne",)], "backend after update")

    run("CRUD on the text protocol, lastrowid, commit", crud_text)

    def executemany():
        cur = conn.cursor()
        rows = [(f"bulk{i}", f"bulk{i}@example.com") for i in range(5)]
        q(cur, "INSERT INTO users (name, email) VALUES (%s, %s)", rows, many=True)
        expect(cur.rowcount == 5, f"executemany rowcount {cur.rowcount}")
        conn.commit()
        cur.close()
        expect(backend("SELECT COUNT(*) FROM users WHERE name LIKE 'bulk%'") == [(5,)], "backend after executemany")

    run("executemany INSERT", executemany)

    def dict_cursor():
        cur = conn.cursor(dictionary=True)
        q(cur, "SELECT name, email FROM users WHERE id = %s", (state["ann"],))
        row = cur.fetchone()
        cur.close()
        expect(row == {"name": "anne", "email": "ann@example.com"}, f"dictionary row {row}")

    run("dictionary cursor", dict_cursor)

    def prepared():
        cur = conn.cursor(prepared=True)
        sql = "INSERT INTO users (name, email, profile, created_at) VALUES (%s, %s, %s, %s)"
        when = datetime.datetime(2024, 2, 29, 13, 14, 15)
        q(cur, sql, ("prep1", "prep1@example.com", json.dumps({"p": 1}), when))
        first = cur.lastrowid
        q(cur, sql, ("préparé ✓", "prep2@example.com", None, when))
        second = cur.lastrowid
        expect(first and second and second > first, f"lastrowid {first} then {second}")
        conn.commit()
        q(cur, "SELECT id, name, profile, created_at, id * %s FROM users WHERE email LIKE %s ORDER BY id",
          (decimal.Decimal("1.5"), "prep%"))
        rows = cur.fetchall()
        expect(len(rows) == 2, f"prepared select returned {rows}")
        names = [r[1] for r in rows]
        expect(names == ["prep1", "préparé ✓"], f"names {names}")
        expect(rows[0][3] == when, f"DATETIME {rows[0][3]!r}")
        expect(rows[1][2] is None, f"NULL JSON {rows[1][2]!r}")
        expect(json.loads(rows[0][2]) == {"p": 1}, f"JSON {rows[0][2]!r}")
        expect(decimal.Decimal(str(rows[0][4])) == decimal.Decimal(first) * decimal.Decimal("1.5"), f"computed {rows[0][4]!r}")
        q(cur, "UPDATE users SET name = %s WHERE id = %s", ("prep1b", first))
        expect(cur.rowcount == 1, f"prepared update rowcount {cur.rowcount}")
        q(cur, "DELETE FROM users WHERE id = %s", (second,))
        expect(cur.rowcount == 1, f"prepared delete rowcount {cur.rowcount}")
        conn.commit()
        cur.close()
        got = backend("SELECT name FROM users WHERE email LIKE 'prep%' ORDER BY id")
        expect(got == [("prep1b",)], f"backend after prepared statements {got}")

    run("prepared cursor (server-side prepared statements)", prepared)

    def rollback():
        cur = conn.cursor()
        q(cur, "INSERT INTO users (name, email) VALUES (%s, %s)", ("ghost", "ghost@example.com"))
        q(cur, "SELECT COUNT(*) FROM users WHERE name = 'ghost'")
        expect(cur.fetchone()[0] == 1, "inserted row not visible in its own transaction")
        conn.rollback()
        q(cur, "SELECT COUNT(*) FROM users WHERE name = 'ghost'")
        expect(cur.fetchone()[0] == 0, "rolled-back row still visible")
        cur.close()
        conn.commit()
        expect(backend("SELECT COUNT(*) FROM users WHERE name = 'ghost'") == [(0,)], "rolled-back row on the backend")

    run("rollback with autocommit off", rollback)

    def prepared_rollback():
        cur = conn.cursor(prepared=True)
        q(cur, "UPDATE users SET name = %s WHERE id = %s", ("changed", state["ann"]))
        conn.rollback()
        cur.close()
        expect(backend("SELECT name FROM users WHERE id = %s", (state["ann"],)) == [("anne",)], "backend after rollback")

    run("prepared UPDATE then rollback", prepared_rollback)

    def start_transaction():
        conn.start_transaction(isolation_level="READ COMMITTED")
        cur = conn.cursor()
        q(cur, "UPDATE users SET name = 'tx' WHERE id = %s", (state["ann"],))
        q(cur, "SELECT @@tx_isolation")
        level = cur.fetchone()[0]
        # SET TRANSACTION (no SESSION) changes only this transaction; the session value stays.
        expect(level == "REPEATABLE-READ", f"@@tx_isolation {level!r}")
        conn.rollback()
        conn.start_transaction()
        q(cur, "UPDATE users SET email = 'ann2@example.com' WHERE id = %s", (state["ann"],))
        conn.commit()
        cur.close()
        got = backend("SELECT name, email FROM users WHERE id = %s", (state["ann"],))
        expect(got == [("anne", "ann2@example.com")], f"backend after two transactions {got}")

    run("start_transaction(isolation_level=...) + rollback, then commit", start_transaction)

    def duplicate():
        cur = conn.cursor()
        try:
            cur.execute("INSERT INTO users (name, email) VALUES ('dup', 'prep1@example.com')")
        except mysql.connector.IntegrityError as e:
            expect(e.errno == 1062, f"errno {e.errno}")
            expect(args.physical not in str(e), f"error names the physical database: {e}")
        else:
            raise CheckFailed("duplicate email accepted")
        conn.rollback()
        q(cur, "SELECT 1")
        expect(cur.fetchall() == [(1,)], "connection unusable after the error")
        cur.close()

    run("duplicate key -> IntegrityError 1062, connection still usable", duplicate)

    def autocommit_on():
        conn.autocommit = True
        expect(conn.autocommit is True, "autocommit did not switch on")
        cur = conn.cursor()
        q(cur, "INSERT INTO users (name, email) VALUES ('auto', 'auto@example.com')")
        cur.close()
        expect(backend("SELECT COUNT(*) FROM users WHERE name = 'auto'") == [(1,)], "autocommitted row not on the backend")
        conn.autocommit = False

    run("autocommit = True", autocommit_on)

    def ping_reconnect():
        conn.ping(reconnect=False)
        conn.cmd_ping()

    run("ping", ping_reconnect)

    def pool():
        p = mysql.connector.pooling.MySQLConnectionPool(pool_name="octodb", pool_size=2, **proxy_cfg)
        seen = []
        for i in range(4):
            pc = p.get_connection()
            cur = pc.cursor()
            if i == 0:
                q(cur, "SET @octodb_marker = %s", (i,))
            q(cur, "SELECT @octodb_marker, DATABASE(), COUNT(*) FROM users")
            seen.append(cur.fetchone())
            cur.close()
            pc.close()  # back to the pool: the session is reset
        expect(all(s[1] == args.db for s in seen), f"DATABASE() through the pool {seen}")
        expect(all(s[0] is None for s in seen[1:]), f"user variable survived the pool's reset: {seen}")

    run("MySQLConnectionPool (reset on return)", pool)

    def other_db():
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT COUNT(*) FROM `{args.physical}`.users")
            cur.fetchall()
        except mysql.connector.Error as e:
            expect(e.errno == 1044, f"physical name: error {e.errno} {e.msg}")
        else:
            raise CheckFailed("the physical database name was accepted")
        finally:
            cur.close()

    run("the physical database name is refused (1044)", other_db)

    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass
    direct.close()
    c.finish()


if __name__ == "__main__":
    main()

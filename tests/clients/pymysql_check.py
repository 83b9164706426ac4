#!/usr/bin/env python3
"""Drives OctoDB's proxy with PyMySQL, the way a Python application would.

Run by tests/tests/clients.rs against an in-process proxy. Prints one line per check
("ok   <check>") and exits non-zero on the first failure ("FAIL <check>: <why>").
Exit status: 0 all checks passed, 1 a check failed, 3 PyMySQL is not installed.

The tenant's database must hold the table created by clients.rs:
  items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT NOT NULL,
         tag VARCHAR(16), payload VARBINARY(64))
`--other-db` is another tenant's *physical* database (it holds a table `items` too): every way
of reaching it must fail with 1044.
"""

import argparse
import sys
import traceback

try:
    import pymysql
except ImportError:
    print("FAIL setup: PyMySQL is not installed (pip install PyMySQL)", flush=True)
    sys.exit(3)


class CheckFailed(Exception):
    pass


def ok(name, detail=""):
    print(f"ok   {name}" + (f" ({detail})" if detail else ""), flush=True)


def expect(cond, name, why):
    if not cond:
        raise CheckFailed(f"{name}: {why}")
    ok(name)


def expect_error(name, code, fn):
    """Runs fn(), which must raise a MySQL error with `code`."""
    try:
        fn()
    except pymysql.err.MySQLError as e:
        got = e.args[0] if e.args else None
        if got != code:
            raise CheckFailed(f"{name}: expected error {code}, got {e!r}")
        ok(name, f"{got}: {e.args[1] if len(e.args) > 1 else ''}")
        return
    raise CheckFailed(f"{name}: expected error {code}, but the statement succeeded")


def connect(a, **kw):
    # Default PyMySQL settings (autocommit False), as an application would use them.
    return pymysql.connect(host=a.host, port=a.port, user=a.user, password=a.password,
                           database=a.db, connect_timeout=10, read_timeout=30,
                           write_timeout=30, **kw)


def count(conn, where, params=()):
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM items WHERE {where}", params)
        return cur.fetchone()[0]


def checks(a):
    conn = connect(a)
    ok("connect", f"server {conn.get_server_info()}, autocommit={conn.get_autocommit()}")
    expect(conn.get_autocommit() is False, "autocommit is off by default",
           f"server status says autocommit={conn.get_autocommit()}")
    with conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        db = cur.fetchone()[0]
    expect(db == a.db, "SELECT DATABASE() shows the logical name", f"got {db!r}")

    # CRUD
    with conn.cursor() as cur:
        n = cur.execute("INSERT INTO items (name, qty, tag) VALUES (%s, %s, %s)",
                        ("apple", 3, "crud"))
        expect(n == 1, "crud insert", f"rowcount {n}")
        cur.execute("SELECT name, qty FROM items WHERE tag = %s", ("crud",))
        rows = cur.fetchall()
        expect(rows == (("apple", 3),), "crud select", f"got {rows!r}")
        n = cur.execute("UPDATE items SET qty = qty + 1 WHERE tag = %s", ("crud",))
        cur.execute("SELECT qty FROM items WHERE tag = %s", ("crud",))
        expect(n == 1 and cur.fetchone()[0] == 4, "crud update", f"rowcount {n}")
        n = cur.execute("DELETE FROM items WHERE tag = %s", ("crud",))
        expect(n == 1 and count(conn, "tag = 'crud'") == 0, "crud delete", f"rowcount {n}")
    conn.commit()

    # rollback leaves nothing; commit persists (seen from a second connection too)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items (name, qty, tag) VALUES ('ghost', 1, 'rb')")
    expect(count(conn, "tag = 'rb'") == 1, "uncommitted insert visible in its transaction",
           "row missing before rollback")
    conn.rollback()
    expect(count(conn, "tag = 'rb'") == 0, "rollback undoes the insert",
           "the row is still there after conn.rollback()")
    other = connect(a)
    expect(count(other, "tag = 'rb'") == 0, "rollback: another connection sees nothing",
           "row visible from a second connection")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items (name, qty, tag) VALUES ('kept', 1, 'cm')")
    conn.commit()
    other.commit()  # end other's snapshot (REPEATABLE READ) before looking again
    expect(count(other, "tag = 'cm'") == 1, "commit persists (seen by another connection)",
           "committed row not visible from a second connection")
    other.close()

    # lastrowid after an AUTO_INCREMENT insert
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items (name, qty, tag) VALUES ('auto', 1, 'ai')")
        last = cur.lastrowid
        cur.execute("SELECT id FROM items WHERE tag = 'ai'")
        real = cur.fetchone()[0]
    conn.commit()
    expect(last and last == real, "cursor.lastrowid", f"lastrowid {last!r}, row id {real!r}")

    # rowcount after UPDATE of N rows; executemany
    rows = [(f"bulk{i}", i, "many") for i in range(5)]
    with conn.cursor() as cur:
        n = cur.executemany("INSERT INTO items (name, qty, tag) VALUES (%s, %s, %s)", rows)
        expect(n == 5 and cur.rowcount == 5, "executemany rowcount",
               f"returned {n}, rowcount {cur.rowcount}")
        cur.execute("UPDATE items SET qty = qty + 100 WHERE tag = 'many'")
        expect(cur.rowcount == 5, "UPDATE rowcount of 5 rows", f"rowcount {cur.rowcount}")
    conn.commit()
    expect(count(conn, "tag = 'many' AND qty >= 100") == 5, "executemany rows committed",
           "rows missing")

    # VARBINARY round-trip of bytes that are not UTF-8 (0xFF) and NUL (0x00)
    blob = b"\x00\xff\x00abc\xff\xfe\x80\x00'\\\""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items (name, qty, tag, payload) VALUES ('bin', 1, 'bin', %s)",
                    (blob,))
        cur.execute("SELECT payload, LENGTH(payload), HEX(payload) FROM items WHERE tag = 'bin'")
        got, length, hexed = cur.fetchone()
    conn.commit()
    expect(got == blob and length == len(blob) and hexed == blob.hex().upper(),
           "VARBINARY round-trips 0x00/0xFF bytes exactly",
           f"sent {blob!r}, got {got!r} (LENGTH {length}, HEX {hexed})")

    # warnings: the OK/EOF packet's warning count, and SHOW WARNINGS
    with conn.cursor() as cur:
        cur.execute("SELECT CAST('12abc' AS SIGNED)")
        val = cur.fetchone()[0]
        wc = conn._result.warning_count if conn._result else None
    expect(val == 12, "CAST('12abc' AS SIGNED) = 12", f"got {val!r}")
    expect(wc and wc > 0, "warning count > 0 in the result's EOF/OK packet",
           f"warning_count {wc!r}")
    warnings = conn.show_warnings()
    expect(any(w[1] == 1292 for w in warnings), "SHOW WARNINGS lists 1292",
           f"got {warnings!r}")

    # databases: COM_INIT_DB and qualified names
    expect_error("select_db(other tenant's physical db) -> 1044", 1044,
                 lambda: conn.select_db(a.other_db))
    conn.select_db(a.db)
    with conn.cursor() as cur:
        cur.execute("SELECT DATABASE(), COUNT(*) FROM items")
        db, _ = cur.fetchone()
    expect(db == a.db, "select_db('app') works", f"DATABASE() = {db!r}")

    def run(sql):
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()

    expect_error("SELECT from other tenant's physical db -> 1044", 1044,
                 lambda: run(f"SELECT * FROM `{a.other_db}`.items"))
    expect_error("CREATE TABLE -> 1227", 1227, lambda: run("CREATE TABLE x (a int)"))
    expect_error("multi-statement 'SELECT 1; SELECT 2' -> 1227", 1227,
                 lambda: run("SELECT 1; SELECT 2"))
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        expect(cur.fetchone()[0] == 1, "connection still usable after refusals", "bad result")
    conn.close()

    expect_error("wrong password -> 1045", 1045,
                 lambda: pymysql.connect(host=a.host, port=a.port, user=a.user,
                                         password=a.password + "x", database=a.db,
                                         connect_timeout=10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--db", default="app")
    ap.add_argument("--other-db", required=True,
                    help="another tenant's physical database (must be unreachable)")
    a = ap.parse_args()
    print(f"PyMySQL {pymysql.__version__}", flush=True)
    try:
        checks(a)
    except CheckFailed as e:
        print(f"FAIL {e}", flush=True)
        return 1
    except Exception as e:  # an unexpected client error is a failed check too
        print(f"FAIL unexpected {type(e).__name__}: {e!r}", flush=True)
        traceback.print_exc()
        return 1
    print("all PyMySQL checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

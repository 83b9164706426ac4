#!/usr/bin/env python3
"""Drives OctoDB's proxy with SQLAlchemy 2.x, the way a Python application with an ORM would.

Run by tests/tests/orms.rs against an in-process proxy, once per DBAPI driver:
  --driver=pymysql  (mysql+pymysql://, pure Python)
  --driver=mysqldb  (mysql+mysqldb://, mysqlclient on libmariadb)

Two parts:
  * reflection: the Inspector (table names, columns, indexes, foreign keys, primary and unique
    keys, schema names) and MetaData.reflect() through the proxy, compared with the same calls on
    a direct root connection to the tenant's physical database. Wherever a schema name appears
    through the proxy it must be the logical one (`app`) or None, never the physical name.
  * ORM: declarative models with a relationship (User.addresses), add/commit, joinedload and
    selectinload, update (unit of work and bulk), delete with cascade, limit/offset pagination,
    a rollback, a JSON column; rows checked on the direct connection afterwards.

The tenant's database must hold the tables created by orms.rs (users, addresses; see SCHEMA
there). Prints one line per check ("ok   <check>" or "FAIL <check>: <why>") and carries on after
a failed check where the next one does not depend on it, so one run shows every problem; every
statement the server refused is listed at the end ("refused <code>: <sql> -- <message>").
Exit status: 0 all checks passed, 1 a check failed, 3 a needed package is not installed.
"""

import argparse
import json
import logging
import sys

try:
    import sqlalchemy
    from sqlalchemy import (
        JSON,
        ForeignKey,
        MetaData,
        String,
        create_engine,
        delete,
        func,
        inspect,
        select,
        text,
        update,
    )
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import (
        DeclarativeBase,
        Mapped,
        Session,
        joinedload,
        mapped_column,
        relationship,
        selectinload,
    )
except ImportError as e:
    print(f"FAIL setup: SQLAlchemy is not installed ({e}; pip install 'SQLAlchemy>=2')", flush=True)
    sys.exit(3)

if int(sqlalchemy.__version__.split(".")[0]) < 2:
    print(f"FAIL setup: SQLAlchemy {sqlalchemy.__version__} is too old (pip install 'SQLAlchemy>=2')")
    sys.exit(3)


class CheckFailed(Exception):
    pass


FAILED = []
REFUSED = {}  # (code, sql) -> message
PASSED = 0


def ok(name, detail=""):
    global PASSED
    PASSED += 1
    print(f"ok   {name}" + (f" ({detail})" if detail else ""), flush=True)


def note_refusal(e):
    """Remembers a server error (code, SQL text, message) carried by a SQLAlchemy exception."""
    if isinstance(e, DBAPIError) and e.orig is not None:
        args = getattr(e.orig, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        msg = args[1] if len(args) > 1 else str(e.orig)
        sql = " ".join(str(e.statement or "").split())
        REFUSED.setdefault((code, sql), msg)


def check(name, fn, fatal=False):
    """Runs fn(); records a failure instead of stopping (unless fatal). Returns fn's value."""
    try:
        value = fn()
    except CheckFailed as e:
        FAILED.append(name)
        print(f"FAIL {name}: {e}", flush=True)
        if fatal:
            raise
        return None
    except Exception as e:  # noqa: BLE001 - report everything the client raised
        note_refusal(e)
        FAILED.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        if fatal:
            raise
        return None
    if not isinstance(value, Skip):
        ok(name)
    return value


class Skip:
    """Returned by a check that reported itself."""


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


# ------------------------------------------------------------------------------------------------
# Models (the tables exist already: the proxy refuses DDL, so nothing is created from here)
# ------------------------------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(128), unique=True)
    profile: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    addresses: Mapped[list["Address"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Address.id"
    )


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    city: Mapped[str] = mapped_column(String(64))
    zip: Mapped[str | None] = mapped_column(String(16), nullable=True)
    user: Mapped[User] = relationship(back_populates="addresses")


# ------------------------------------------------------------------------------------------------
# Reflection
# ------------------------------------------------------------------------------------------------


def no_physical(value, physical, what):
    """Fails when the physical database name appears anywhere in `value` (printed form)."""
    expect(physical not in repr(value), f"{what} shows the physical name {physical}: {value!r}")


def norm_columns(cols):
    return [
        {
            "name": c["name"],
            "type": str(c["type"]),
            "nullable": c["nullable"],
            "default": c.get("default"),
            "autoincrement": c.get("autoincrement"),
            "comment": c.get("comment"),
        }
        for c in cols
    ]


def norm_indexes(idx):
    return sorted(
        (
            {
                "name": i["name"],
                "column_names": list(i["column_names"]),
                "unique": bool(i["unique"]),
            }
            for i in idx
        ),
        key=lambda i: i["name"] or "",
    )


def norm_fks(fks, logical, physical):
    out = []
    for fk in fks:
        schema = fk.get("referred_schema")
        expect(
            schema in (None, logical),
            f"foreign key {fk.get('name')} referred_schema is {schema!r}, expected None or {logical!r}",
        )
        out.append(
            {
                "name": fk["name"],
                "constrained_columns": fk["constrained_columns"],
                "referred_table": fk["referred_table"],
                "referred_columns": fk["referred_columns"],
                "options": fk.get("options", {}),
            }
        )
    no_physical(fks, physical, "foreign keys")
    return sorted(out, key=lambda f: f["name"] or "")


def reflection(proxy, direct, args):
    logical, physical = args.db, args.physical
    pi = check("inspect(engine) through the proxy", lambda: inspect(proxy), fatal=True)
    di = inspect(direct)

    def table_names():
        got = sorted(pi.get_table_names())
        want = sorted(di.get_table_names())
        expect(got == want == ["addresses", "users"], f"get_table_names {got}, direct {want}")

    check("get_table_names()", table_names)

    def table_names_schema():
        got = sorted(pi.get_table_names(schema=logical))
        expect(got == ["addresses", "users"], f"get_table_names(schema={logical!r}) {got}")

    check(f"get_table_names(schema='{logical}')", table_names_schema)

    def view_names():
        got = pi.get_view_names()
        expect(got == [], f"get_view_names {got}")

    check("get_view_names()", view_names)

    def has_table():
        expect(pi.has_table("users"), "has_table('users') is False")
        expect(not pi.has_table("nope"), "has_table('nope') is True")

    check("has_table()", has_table)

    def schema_names():
        got = pi.get_schema_names()
        expect(logical in got, f"get_schema_names {got} lacks {logical!r}")
        no_physical(got, physical, "get_schema_names")
        expect(
            all(not s.startswith("t_") and s not in ("mysql", "sys", "performance_schema") for s in got),
            f"get_schema_names shows other databases: {got}",
        )

    check("get_schema_names()", schema_names)

    def default_schema():
        got = pi.default_schema_name
        expect(got == logical, f"default_schema_name {got!r}, expected {logical!r}")

    check("default_schema_name", default_schema)

    for table in ("users", "addresses"):

        def columns(table=table):
            got = pi.get_columns(table)
            want = di.get_columns(table)
            no_physical(got, physical, f"get_columns({table})")
            expect(
                norm_columns(got) == norm_columns(want),
                f"get_columns({table}) through the proxy {norm_columns(got)}\n  direct {norm_columns(want)}",
            )
            return got

        cols = check(f"get_columns('{table}')", columns)
        if table == "users" and cols:

            def users_columns():
                names = [c["name"] for c in cols]
                expect(
                    names == ["id", "name", "email", "profile", "created_at"],
                    f"users columns {names}",
                )

            check("users columns in order", users_columns)

        def columns_schema(table=table):
            got = pi.get_columns(table, schema=logical)
            expect(
                norm_columns(got) == norm_columns(di.get_columns(table)),
                f"get_columns({table}, schema={logical!r}) {norm_columns(got)}",
            )

        check(f"get_columns('{table}', schema='{logical}')", columns_schema)

        def indexes(table=table):
            got = pi.get_indexes(table)
            want = di.get_indexes(table)
            no_physical(got, physical, f"get_indexes({table})")
            expect(
                norm_indexes(got) == norm_indexes(want),
                f"get_indexes({table}) {norm_indexes(got)}\n  direct {norm_indexes(want)}",
            )
            return norm_indexes(got)

        idx = check(f"get_indexes('{table}')", indexes)
        if idx is not None:
            expected = {
                "users": [
                    {"name": "ix_users_name", "column_names": ["name"], "unique": False},
                    {"name": "uq_users_email", "column_names": ["email"], "unique": True},
                ],
                "addresses": [
                    {"name": "fk_addresses_user", "column_names": ["user_id"], "unique": False},
                    {"name": "ix_addresses_city_zip", "column_names": ["city", "zip"], "unique": False},
                ],
            }[table]

            def index_content(idx=idx, expected=expected, table=table):
                expect(idx == expected, f"{table} indexes {idx}, expected {expected}")

            check(f"indexes of '{table}' are the schema's", index_content)

        def pk(table=table):
            got = pi.get_pk_constraint(table)
            want = di.get_pk_constraint(table)
            expect(
                got["constrained_columns"] == want["constrained_columns"] == ["id"],
                f"get_pk_constraint({table}) {got}, direct {want}",
            )

        check(f"get_pk_constraint('{table}')", pk)

        def fks(table=table):
            got = norm_fks(pi.get_foreign_keys(table), logical, physical)
            want = norm_fks(di.get_foreign_keys(table), physical, "\0")
            expect(got == want, f"get_foreign_keys({table}) {got}\n  direct {want}")
            return got

        fk = check(f"get_foreign_keys('{table}')", fks)
        if table == "addresses" and fk is not None:

            def fk_content(fk=fk):
                expect(len(fk) == 1, f"addresses has {len(fk)} foreign keys: {fk}")
                f = fk[0]
                expect(
                    f["name"] == "fk_addresses_user"
                    and f["constrained_columns"] == ["user_id"]
                    and f["referred_table"] == "users"
                    and f["referred_columns"] == ["id"]
                    and f["options"].get("ondelete") == "CASCADE",
                    f"addresses foreign key {f}",
                )

            check("foreign key addresses.user_id -> users.id ON DELETE CASCADE", fk_content)

        def uniques(table=table):
            got = pi.get_unique_constraints(table)
            want = di.get_unique_constraints(table)
            expect(got == want, f"get_unique_constraints({table}) {got}, direct {want}")

        check(f"get_unique_constraints('{table}')", uniques)

        def table_options(table=table):
            got = pi.get_table_options(table)
            no_physical(got, physical, f"get_table_options({table})")
            expect(
                got.get("mysql_engine", got.get("mariadb_engine")) == "InnoDB",
                f"get_table_options({table}) {got}",
            )

        check(f"get_table_options('{table}')", table_options)

    def fks_with_schema():
        got = pi.get_foreign_keys("addresses", schema=logical)
        no_physical(got, physical, "get_foreign_keys(schema=app)")
        expect(
            len(got) == 1 and got[0]["referred_schema"] in (None, logical),
            f"get_foreign_keys('addresses', schema={logical!r}) {got}",
        )

    check(f"get_foreign_keys('addresses', schema='{logical}')", fks_with_schema)

    def metadata_reflect():
        md = MetaData()
        md.reflect(bind=proxy)
        expect(sorted(md.tables) == ["addresses", "users"], f"reflected tables {sorted(md.tables)}")
        users, addresses = md.tables["users"], md.tables["addresses"]
        expect(
            [c.name for c in users.columns] == ["id", "name", "email", "profile", "created_at"],
            f"users columns {[c.name for c in users.columns]}",
        )
        expect([c.name for c in users.primary_key] == ["id"], "users primary key")
        fks = list(addresses.foreign_keys)
        expect(len(fks) == 1, f"addresses foreign keys {fks}")
        expect(
            fks[0].column is users.c.id,
            f"addresses.user_id refers to {fks[0].target_fullname}, not the reflected users.id",
        )
        expect(
            sorted(i.name for i in users.indexes) == ["ix_users_name", "uq_users_email"],
            f"users indexes {sorted(i.name for i in users.indexes)}",
        )
        no_physical({k: repr(t) for k, t in md.tables.items()}, physical, "reflected MetaData")
        # A query built from the reflected tables runs through the proxy.
        with proxy.connect() as conn:
            q = select(func.count()).select_from(users.join(addresses))
            conn.execute(q).scalar_one()

    check("MetaData().reflect()", metadata_reflect)

    def metadata_reflect_schema():
        md = MetaData(schema=logical)
        md.reflect(bind=proxy)
        expect(
            sorted(md.tables) == [f"{logical}.addresses", f"{logical}.users"],
            f"reflected tables {sorted(md.tables)}",
        )
        no_physical({k: repr(t) for k, t in md.tables.items()}, physical, "reflected MetaData")
        fk = next(iter(md.tables[f"{logical}.addresses"].foreign_keys))
        expect(
            fk.target_fullname == f"{logical}.users.id",
            f"schema-qualified foreign key target {fk.target_fullname}",
        )
        with proxy.connect() as conn:
            conn.execute(select(func.count()).select_from(md.tables[f"{logical}.users"])).scalar_one()

    check(f"MetaData(schema='{logical}').reflect()", metadata_reflect_schema)


# ------------------------------------------------------------------------------------------------
# ORM
# ------------------------------------------------------------------------------------------------


def direct_rows(direct, sql, **params):
    with direct.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def orm(proxy, direct, args):
    state = {}

    def add_commit():
        with Session(proxy) as s:
            ada = User(
                name="ada",
                email="ada@example.com",
                profile={"langs": ["en", "fr"], "level": 3, "nested": {"ok": True}},
                addresses=[Address(city="London", zip="N1"), Address(city="Paris", zip=None)],
            )
            bob = User(name="bob", email="bob@example.com", addresses=[Address(city="Berlin", zip="10115")])
            s.add_all([ada, bob])
            s.commit()
            expect(ada.id and bob.id and ada.id != bob.id, f"ids {ada.id} {bob.id}")
            expect(all(a.id for a in ada.addresses + bob.addresses), "address ids not assigned")
            state["ada"], state["bob"] = ada.id, bob.id
        got = direct_rows(direct, "SELECT u.name, a.city FROM users u JOIN addresses a ON a.user_id = u.id ORDER BY a.id")
        expect(
            got == [("ada", "London"), ("ada", "Paris"), ("bob", "Berlin")],
            f"rows on the backend {got}",
        )

    check("ORM add_all + commit (users with addresses)", add_commit, fatal=True)

    def get_and_json():
        with Session(proxy) as s:
            ada = s.get(User, state["ada"])
            expect(ada is not None and ada.name == "ada", f"session.get {ada}")
            expect(
                ada.profile == {"langs": ["en", "fr"], "level": 3, "nested": {"ok": True}},
                f"JSON profile {ada.profile!r}",
            )
            expect([a.city for a in ada.addresses] == ["London", "Paris"], "lazy-loaded addresses")
        raw = direct_rows(direct, "SELECT profile FROM users WHERE id = :id", id=state["ada"])[0][0]
        expect(json.loads(raw)["nested"] == {"ok": True}, f"JSON on the backend {raw!r}")

    check("session.get + lazy relationship + JSON column", get_and_json)

    def json_query():
        with Session(proxy) as s:
            got = s.scalars(
                select(User.name).where(func.json_extract(User.profile, "$.level") == 3)
            ).all()
            expect(got == ["ada"], f"JSON_EXTRACT filter {got}")

    check("JSON_EXTRACT in WHERE", json_query)

    def joined():
        with Session(proxy) as s:
            users = s.scalars(select(User).options(joinedload(User.addresses)).order_by(User.id)).unique().all()
            got = [(u.name, [a.city for a in u.addresses]) for u in users]
            expect(got == [("ada", ["London", "Paris"]), ("bob", ["Berlin"])], f"joinedload {got}")

    check("select(User).options(joinedload(User.addresses))", joined)

    def selectin():
        with Session(proxy) as s:
            users = s.scalars(select(User).options(selectinload(User.addresses)).order_by(User.id)).all()
            got = [(u.name, [a.city for a in u.addresses]) for u in users]
            expect(got == [("ada", ["London", "Paris"]), ("bob", ["Berlin"])], f"selectinload {got}")
            back = s.scalars(select(Address).options(joinedload(Address.user)).where(Address.city == "Berlin")).one()
            expect(back.user.name == "bob", f"Address.user {back.user.name}")

    check("select(User).options(selectinload(User.addresses)) and Address.user", selectin)

    def join_filter():
        with Session(proxy) as s:
            got = s.scalars(
                select(User.name).join(User.addresses).where(Address.city.in_(["Paris", "Berlin"])).order_by(User.name)
            ).all()
            expect(got == ["ada", "bob"], f"join + IN {got}")
            counts = s.execute(
                select(User.name, func.count(Address.id))
                .outerjoin(User.addresses)
                .group_by(User.id, User.name)
                .order_by(User.name)
            ).all()
            expect([tuple(c) for c in counts] == [("ada", 2), ("bob", 1)], f"group by {counts}")

    check("join, IN, GROUP BY through the ORM", join_filter)

    def bulk_insert_and_paginate():
        with Session(proxy) as s:
            s.add_all([User(name=f"user{i:02}", email=f"user{i:02}@example.com") for i in range(25)])
            s.commit()
            total = s.scalar(select(func.count()).select_from(User))
            expect(total == 27, f"count {total}")
            pages = []
            for page in range(3):
                rows = s.scalars(
                    select(User.name).where(User.name.like("user%")).order_by(User.id).limit(10).offset(page * 10)
                ).all()
                pages.append(rows)
            expect(
                pages[0] == [f"user{i:02}" for i in range(10)]
                and pages[1] == [f"user{i:02}" for i in range(10, 20)]
                and pages[2] == [f"user{i:02}" for i in range(20, 25)],
                f"pages {pages}",
            )
            legacy = s.query(User).order_by(User.id).limit(5).offset(2).all()
            expect([u.name for u in legacy] == ["user00", "user01", "user02", "user03", "user04"],
                   f"Query.limit().offset() {[u.name for u in legacy]}")

    check("pagination with .limit().offset()", bulk_insert_and_paginate)

    def unit_of_work_update():
        with Session(proxy) as s:
            ada = s.get(User, state["ada"])
            ada.name = "ada lovelace"
            ada.profile = {**ada.profile, "level": 4}
            ada.addresses[0].zip = "NW1"
            s.commit()
        got = direct_rows(direct, "SELECT name, JSON_EXTRACT(profile, '$.level') FROM users WHERE id = :id", id=state["ada"])
        expect(got == [("ada lovelace", "4")], f"after update {got}")
        got = direct_rows(direct, "SELECT zip FROM addresses WHERE city = 'London'")
        expect(got == [("NW1",)], f"address after update {got}")

    check("ORM update (attribute change + commit)", unit_of_work_update)

    def bulk_update():
        with Session(proxy) as s:
            res = s.execute(update(User).where(User.name.like("user1%")).values(name=User.name + "-x"))
            expect(res.rowcount == 10, f"rowcount {res.rowcount}")
            s.commit()
        got = direct_rows(direct, "SELECT COUNT(*) FROM users WHERE name LIKE '%-x'")
        expect(got == [(10,)], f"after bulk update {got}")

    check("bulk update(User).where().values()", bulk_update)

    def rollback():
        with Session(proxy) as s:
            s.add(User(name="ghost", email="ghost@example.com", addresses=[Address(city="Nowhere")]))
            s.flush()
            seen = s.scalar(select(func.count()).select_from(User).where(User.name == "ghost"))
            expect(seen == 1, f"flushed row not visible in its transaction: {seen}")
            s.get(User, state["bob"]).name = "bobby"
            s.flush()
            s.rollback()
            bob = s.get(User, state["bob"])
            expect(bob.name == "bob", f"bob after rollback {bob.name}")
        got = direct_rows(direct, "SELECT COUNT(*) FROM users WHERE name IN ('ghost', 'bobby')")
        expect(got == [(0,)], f"rolled-back rows on the backend {got}")
        got = direct_rows(direct, "SELECT COUNT(*) FROM addresses WHERE city = 'Nowhere'")
        expect(got == [(0,)], f"rolled-back address on the backend {got}")

    check("session.rollback() after flush", rollback)

    def integrity_error_then_rollback():
        from sqlalchemy.exc import IntegrityError

        with Session(proxy) as s:
            s.add(User(name="dup", email="bob@example.com"))
            try:
                s.commit()
            except IntegrityError as e:
                code = e.orig.args[0]
                expect(code == 1062, f"duplicate email: error {code}, expected 1062")
                expect(args.physical not in str(e.orig), f"error names the physical database: {e.orig}")
                s.rollback()
            else:
                raise CheckFailed("duplicate email was accepted")
            expect(s.scalar(select(func.count()).select_from(User)) == 27, "count after failed commit")

    check("IntegrityError (1062) then rollback, session usable", integrity_error_then_rollback)

    def delete_cascade():
        with Session(proxy) as s:
            ada = s.get(User, state["ada"])
            s.delete(ada)
            s.commit()
        got = direct_rows(direct, "SELECT COUNT(*) FROM users WHERE id = :id", id=state["ada"])
        expect(got == [(0,)], f"ada after delete {got}")
        got = direct_rows(direct, "SELECT city FROM addresses ORDER BY id")
        expect(got == [("Berlin",)], f"addresses after cascade {got}")

    check("session.delete() with cascade to addresses", delete_cascade)

    def bulk_delete():
        with Session(proxy) as s:
            res = s.execute(delete(User).where(User.name.like("user%")))
            expect(res.rowcount == 25, f"rowcount {res.rowcount}")
            s.commit()
        got = direct_rows(direct, "SELECT name FROM users ORDER BY id")
        expect(got == [("bob",)], f"users after bulk delete {got}")

    check("bulk delete(User).where()", bulk_delete)

    def core_text():
        with proxy.begin() as conn:
            r = conn.execute(
                text("INSERT INTO users (name, email) VALUES (:n, :e)"), {"n": "carol", "e": "carol@example.com"}
            )
            expect(r.lastrowid and r.lastrowid > 0, f"lastrowid {r.lastrowid}")
            got = conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": "carol@example.com"}).scalar_one()
            expect(got == r.lastrowid, f"lastrowid {r.lastrowid} but row id {got}")
            db = conn.execute(text("SELECT DATABASE()")).scalar_one()
            expect(db == args.db, f"SELECT DATABASE() {db!r}")

    check("Core text() insert, lastrowid, SELECT DATABASE()", core_text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--driver", choices=["pymysql", "mysqldb"], required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--physical", required=True, help="the tenant's physical database")
    p.add_argument("--direct-host", default="127.0.0.1")
    p.add_argument("--direct-port", type=int, default=3306)
    p.add_argument("--direct-user", default="root")
    p.add_argument("--direct-password", default="")
    p.add_argument("--direct-db", help="database of the direct connection (default: --physical)")
    p.add_argument("--echo", action="store_true", help="log every statement SQLAlchemy sends")
    args = p.parse_args()

    try:
        __import__("pymysql" if args.driver == "pymysql" else "MySQLdb")
    except ImportError as e:
        pkg = "PyMySQL" if args.driver == "pymysql" else "mysqlclient (needs libmariadb-dev, pkg-config, gcc)"
        print(f"FAIL setup: {e} (pip install {pkg})", flush=True)
        sys.exit(3)

    if args.echo:
        logging.basicConfig(format="sql  %(message)s", stream=sys.stdout)
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)

    from urllib.parse import quote_plus

    url = f"mysql+{args.driver}://{quote_plus(args.user)}:{quote_plus(args.password)}@{args.host}:{args.port}/{args.db}?charset=utf8mb4"
    durl = (
        f"mysql+{args.driver}://{quote_plus(args.direct_user)}:{quote_plus(args.direct_password)}"
        f"@{args.direct_host}:{args.direct_port}/{args.direct_db or args.physical}?charset=utf8mb4"
    )
    proxy = create_engine(url, pool_pre_ping=True, pool_size=2)
    direct = create_engine(durl)
    print(f"SQLAlchemy {sqlalchemy.__version__}, driver {args.driver}", flush=True)
    try:
        def connect():
            with proxy.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()

        check(f"connect (mysql+{args.driver}) and dialect initialization", connect, fatal=True)
        for part in (reflection, orm):
            try:
                part(proxy, direct, args)
            except Exception:  # a fatal check failed; its FAIL line is printed already
                print(f"stop {part.__name__}: the checks after a failed essential one were not run", flush=True)
    except Exception:
        print("stop: could not connect through the proxy", flush=True)
    finally:
        proxy.dispose()
        direct.dispose()

    for (code, sql), msg in REFUSED.items():
        print(f"refused {code}: {sql} -- {msg}", flush=True)
    print(f"summary: ok={PASSED} failed={len(FAILED)}", flush=True)
    if FAILED:
        sys.exit(1)
    print(f"all SQLAlchemy checks passed (driver {args.driver})", flush=True)


if __name__ == "__main__":
    main()

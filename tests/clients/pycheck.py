"""Shared helpers for the Python client checks in this folder (not PyMySQL's, which predates it).

A check prints "ok   <name>" or "FAIL <name>: <why>" and the script carries on with the next one,
so that one run shows every problem; server errors met on the way are collected and listed at
the end as "refused <code>: <sql> -- <message>". Exit status of a script: 0 all checks passed,
1 a check failed, 3 a needed package is not installed.
"""

import sys


class CheckFailed(Exception):
    pass


class Checks:
    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = []
        self.refused = {}

    def note_error(self, sql, code, msg):
        self.refused.setdefault((code, " ".join(str(sql).split())), msg)

    def run(self, name, fn, fatal=False, error_info=None):
        """Runs fn(); a failure is reported and remembered. `error_info(e)` -> (code, msg) or
        None tells a server error apart. With fatal, the failure is raised again."""
        try:
            value = fn()
        except Exception as e:  # noqa: BLE001 - report everything the client raised
            self.failed.append(name)
            why = str(e) if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e}"
            print(f"FAIL {name}: {why}", flush=True)
            info = error_info(e) if error_info and not isinstance(e, CheckFailed) else None
            if info is not None:
                sql = getattr(e, "octodb_sql", None) or f"(during: {name})"
                self.note_error(sql, info[0], info[1])
            if fatal:
                raise
            return None
        self.passed += 1
        print(f"ok   {name}", flush=True)
        return value

    def finish(self):
        for (code, sql), msg in self.refused.items():
            print(f"refused {code}: {sql} -- {msg}", flush=True)
        print(f"summary: ok={self.passed} failed={len(self.failed)}", flush=True)
        if self.failed:
            sys.exit(1)
        print(f"all {self.label} checks passed", flush=True)
        sys.exit(0)


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def common_args(parser):
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--physical", required=True, help="the tenant's physical database")
    parser.add_argument("--direct-host", default="127.0.0.1")
    parser.add_argument("--direct-port", type=int, default=3306)
    parser.add_argument("--direct-user", default="root")
    parser.add_argument("--direct-password", default="")
    parser.add_argument("--direct-db", help="database of the direct connection (default: --physical)")
    return parser

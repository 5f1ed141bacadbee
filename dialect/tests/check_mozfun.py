#!/usr/bin/env python3
"""Check dialect/src/mozfun.sql against dialect/tests/mozfun_cases.jsonl.

Usage: python3 dialect/tests/check_mozfun.py [-v] [-k SUBSTRING]
(needs the `duckdb` Python package, e.g. $HOME/.cache/jetstream/duck-venv).

What it checks:
  1. Every top-level statement of mozfun.sql is a CREATE OR REPLACE MACRO.
  2. No macro calls a mozfun_/udf_/_mozfun_ macro that is defined later in the
     file (no forward references) or not at all.
  3. The whole file executes on a fresh connection, and again on the same
     connection (idempotent).
  4. Every case in mozfun_cases.jsonl passes.

How a case is evaluated (the Rust harness should do the same):
  The case's `duckdb_sql` is a SELECT returning exactly one row and one column.
  It is run as
      SELECT CAST(to_json(x) AS VARCHAR) FROM (<duckdb_sql>) AS _case(x)
  and the resulting text is parsed as JSON (SQL NULL -> JSON null) and compared
  with `expected`: numbers compare numerically (relative tolerance 1e-9, so
  DECIMAL 1.000000000 equals 1), booleans only equal booleans, objects must
  have the same keys, arrays the same length and order.
  If a case has "error": true it must instead raise an error.
"""
import json
import os
import re
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
SQL_PATH = os.path.join(HERE, "..", "src", "mozfun.sql")
CASES_PATH = os.path.join(HERE, "mozfun_cases.jsonl")

MACRO_NAME = re.compile(r"\b(_?mozfun_[a-z0-9_]+|udf_[a-z0-9_]+)\b", re.I)


def split_statements(text):
    """Split SQL text on top-level ';', honouring '...' and "..." quoting and
    -- / /* */ comments. Returns statements with comments stripped."""
    stmts, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            cur.append("\n")
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            cur.append(" ")
            continue
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            cur.append(text[i : j + 1])
            i = j + 1
            continue
        if c == ";":
            stmt = "".join(cur).strip()
            if stmt:
                stmts.append(stmt)
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    tail = "".join(cur).strip()
    if tail:
        stmts.append(tail)
    return stmts


def strip_strings(sql):
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def check_structure(text):
    errors = []
    defined = []
    head = re.compile(
        r"^CREATE\s+OR\s+REPLACE\s+MACRO\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(",
        re.I,
    )
    stmts = split_statements(text)
    for stmt in stmts:
        m = head.match(stmt)
        if not m:
            errors.append("not a CREATE OR REPLACE MACRO: %s" % stmt[:80])
            continue
        name = m.group(1)
        body = strip_strings(stmt[m.end() :])
        for ref in set(MACRO_NAME.findall(body)):
            if ref == name:
                errors.append("%s is recursive" % name)
            elif ref not in defined:
                errors.append("%s references %s before it is defined" % (name, ref))
        if name in defined:
            errors.append("%s is defined twice" % name)
        defined.append(name)
    return defined, errors


def same(expected, actual):
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return abs(expected - actual) <= 1e-9 * max(1.0, abs(expected), abs(actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(expected[k], actual[k]) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same(e, a) for e, a in zip(expected, actual)
        )
    return expected == actual


def run_case(con, case):
    sql = "SELECT CAST(to_json(x) AS VARCHAR) FROM (%s) AS _case(x)" % case["duckdb_sql"]
    rows = con.execute(sql).fetchall()
    if len(rows) != 1:
        raise AssertionError("expected exactly one row, got %d" % len(rows))
    text = rows[0][0]
    return None if text is None else json.loads(text)


def main(argv):
    verbose = "-v" in argv
    only = None
    if "-k" in argv:
        only = argv[argv.index("-k") + 1]

    text = open(SQL_PATH, encoding="utf-8").read()
    defined, errors = check_structure(text)
    for e in errors:
        print("STRUCTURE FAIL:", e)

    con = duckdb.connect()
    try:
        con.execute(text)
        con.execute(text)  # idempotent: a second load must also succeed
    except Exception as exc:  # noqa: BLE001
        print("LOAD FAIL:", exc)
        return 1
    # Every macro statement must really have been created.
    have = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type = 'macro' AND NOT internal"
        ).fetchall()
    }
    missing = [d for d in defined if d not in have]
    for m in missing:
        errors.append("macro %s not registered after loading" % m)
        print("STRUCTURE FAIL: macro %s not registered" % m)

    cases = []
    with open(CASES_PATH, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            case = json.loads(line)
            case["_line"] = lineno
            cases.append(case)

    names = [c["name"] for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    for d in sorted(dupes):
        errors.append("duplicate case name %s" % d)
        print("CASES FAIL: duplicate case name", d)

    passed = failed = 0
    for case in cases:
        if only and only not in case["name"]:
            continue
        try:
            if case.get("error"):
                try:
                    run_case(con, case)
                except Exception:  # noqa: BLE001
                    ok, got = True, "<error>"
                else:
                    ok, got = False, "<no error>"
            else:
                got = run_case(con, case)
                ok = same(case["expected"], got)
        except Exception as exc:  # noqa: BLE001
            ok, got = False, "ERROR: %s" % exc
        if ok:
            passed += 1
            if verbose:
                print("ok   %s" % case["name"])
        else:
            failed += 1
            print(
                "FAIL %s (line %d)\n  sql:      %s\n  expected: %s\n  got:      %s"
                % (
                    case["name"],
                    case["_line"],
                    case["duckdb_sql"],
                    json.dumps(case.get("expected")),
                    got if isinstance(got, str) else json.dumps(got),
                )
            )

    print(
        "duckdb %s: %d macros, %d cases passed, %d failed, %d structure errors"
        % (duckdb.__version__, len(defined), passed, failed, len(errors))
    )
    return 0 if failed == 0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

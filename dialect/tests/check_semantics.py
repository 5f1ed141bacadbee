#!/usr/bin/env python3
"""Executes the BigQuery semantics cases of tests/semantics.jsonl on DuckDB, translated.

Each line is {"name", "bigquery", "expected"}: `expected` is the list of result rows BigQuery
gives (dates/timestamps as ISO strings, DECIMALs as strings). The SQL is translated by the
`translate` example (`--jsonl` mode), the prelude (`--prelude`) is run first.

Usage (from the workspace root):
    CARGO_TARGET_DIR=$HOME/.cache/jetstream/dialect-target cargo build -q -p jetstream-dialect --examples
    $HOME/.cache/jetstream/duck-venv/bin/python dialect/tests/check_semantics.py \
        $HOME/.cache/jetstream/dialect-target/debug/examples/translate
Exit status 1 if any case fails.
"""
import datetime
import decimal
import json
import os
import subprocess
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))


def plain(value):
    """Python values from DuckDB → the JSON-like form used in `expected`."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def main() -> int:
    translator = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
        "~/.cache/jetstream/dialect-target/debug/examples/translate")
    cases_path = os.path.join(HERE, "semantics.jsonl")
    with open(cases_path, encoding="utf-8") as f:
        source = f.read()
    out = subprocess.run([translator, "--jsonl"], input=source, capture_output=True, text=True, check=True)
    prelude = subprocess.run([translator, "--prelude"], capture_output=True, text=True, check=True).stdout
    passed = failed = 0
    for line in out.stdout.splitlines():
        case = json.loads(line)
        con = duckdb.connect()
        con.execute(prelude)
        problem = None
        if "error" in case:
            problem = f"translation failed: {case['error']}"
        else:
            try:
                rows = plain(con.execute(case["duckdb"]).fetchall())
                if rows != case["expected"]:
                    problem = f"expected {case['expected']}, got {rows}"
            except Exception as e:  # noqa: BLE001 - report any DuckDB error as a failure
                problem = f"DuckDB error: {str(e).splitlines()[0]}"
        if problem:
            failed += 1
            print(f"FAIL {case['name']}\n  bigquery: {case['bigquery']}\n  duckdb:   {case.get('duckdb')}\n  {problem}")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

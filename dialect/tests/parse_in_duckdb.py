#!/usr/bin/env python3
"""Feeds every translated corpus fragment to DuckDB's parser and reports the failures.

Usage (from the workspace root):
    CARGO_TARGET_DIR=$HOME/.cache/jetstream/dialect-target \
        cargo run -q -p jetstream-dialect --example translate_corpus > /tmp/translated.jsonl
    $HOME/.cache/jetstream/duck-venv/bin/python dialect/tests/parse_in_duckdb.py /tmp/translated.jsonl

Parsing uses `SELECT json_serialize_sql(?)`, which returns JSON with "error": true when the
statement does not parse. With --prelude, the prelude (examples/translate --prelude output) is
also checked: it must execute on a fresh connection. Exit status 1 if anything fails.
"""
import json
import subprocess
import sys

import duckdb


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/translated.jsonl"
    con = duckdb.connect()
    total = translated = parsed = 0
    failures = []
    for line in open(path, encoding="utf-8"):
        item = json.loads(line)
        total += 1
        if "duckdb" not in item:
            continue
        translated += 1
        res = json.loads(con.execute("SELECT json_serialize_sql(?)", [item["duckdb"]]).fetchone()[0])
        if res.get("error"):
            failures.append((item, res.get("error_message", "")))
        else:
            parsed += 1
    for item, msg in failures:
        print(f"--- {item['kind']} {item['file']} {item['name']}\n{item['duckdb']}\n=> {msg}\n")
    print(f"fragments: {total}, translated: {translated}, parsed by DuckDB {duckdb.__version__}: {parsed}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

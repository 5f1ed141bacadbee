#!/usr/bin/env python3
"""Compare the BigQuery SQL upstream Jetstream/mozanalysis renders with ours, query by query.

    compare_sql.py UPSTREAM_DIR OURS_DIR [--allow deliberate_differences.json] [--case NAME ...]
                   [--json REPORT.json] [--diff-dir DIR] [--keep-select-order] [--quiet]

UPSTREAM_DIR is render_upstream.py's output (``<case>/manifest.json`` + one file per query);
OURS_DIR holds our ``jetstream run --sql-output-dir`` output per case (``<case>/<same file names>``;
our ``duckdb/`` subdirectory is ignored). Every upstream query file is compared with the file of
the same name on our side; files only we write are reported as ``extra``.

Normalisation (both sides identically):

1. ``identical``: equal after collapsing whitespace (whitespace-insensitive);
2. otherwise both are parsed with sqlglot (BigQuery dialect) and regenerated as canonical SQL:
   comments dropped, keywords upper-case, literal quoting and ``AS`` canonical; before parsing a
   trailing comma before ``FROM`` (upstream's empty segment list, ``raw_enrollments.*, FROM``) is
   removed; after generating, backticks are removed (a quoted identifier equals the unquoted
   one when the text is identical) and the data-source join aliases ``ds_<n>`` are renamed
   ``ds_0, ds_1, ...`` in order of first appearance (upstream numbers them in Python set order);
   the projections of every SELECT, and its joins when they all join ``ds_<n>`` subqueries, are
   sorted by their text (ignoring the ``ds_<n>`` numbering) before that,
   because upstream orders metric columns by set iteration, which is not even reproducible across
   runs (see render_upstream.py); ``--keep-select-order`` turns this off. If the canonical forms are
   equal: ``equal-modulo-normalisation``.
   If a side cannot be parsed, a token-level canonical form is used instead (sqlglot tokenizer:
   comments dropped, keywords upper-cased, backticks removed), and the report says so;
3. otherwise ``different``, with a unified diff of the canonical forms -- unless every changed
   line is matched by an entry of the allow-list (``explained``).

Allow-list (``--allow``, default ``deliberate_differences.json`` next to this script), a JSON list:

    {"case": "glob (default *)", "query": "glob on the file name (default *)",
     "pattern": "regex; a changed diff line (without its +/-) matching it is explained",
     "rewrite_upstream": ["regex", "replacement"], "rewrite_ours": ["regex", "replacement"],
     "kind"/"period"/"basis"/"data_source": optional globs on the manifest's description of the query,
     "missing": true,      # our side may lack this file
     "extra": true,        # our side may have this extra file
     "explanation": "why we differ on purpose"}

``rewrite_*`` are applied (``re.sub``, DOTALL) to the canonical form of that side before
comparing, for differences not confined to single lines. An entry that never matched anything is
reported as unused. Entries with ``"note_only": true`` only document a difference the normalisation
already removes (e.g. the ds_<n> numbering) and are never matched.

Exit code: 0 when every query is identical, equal-modulo-normalisation or explained; 1 when an
unexplained difference (or missing/extra file) remains; 2 on usage errors.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    import sqlglot
    from sqlglot import exp
    from sqlglot.tokens import TokenType
except ImportError:  # pragma: no cover
    sys.exit(
        "compare_sql.py needs sqlglot: $HOME/.cache/jetstream/peer-venv/bin/pip install sqlglot"
    )

IGNORED_NAMES = {"manifest.json"}
IGNORED_SUFFIXES = (".json", ".log", ".diff", ".md")

_TRAILING_COMMA_FROM = re.compile(r",(\s*(?:--[^\n]*\n\s*)*)FROM\b", re.IGNORECASE)
_DS_ALIAS = re.compile(r"\bds_(\d+)\b")


def _ws(sql: str) -> str:
    return " ".join(sql.split())


def _rename_ds_aliases(text: str) -> str:
    mapping: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        name = m.group(0)
        if name not in mapping:
            mapping[name] = f"ds_{len(mapping)}"
        return mapping[name]

    # two passes through a placeholder so that ds_1 -> ds_0 and ds_0 -> ds_1 do not collide
    tmp = _DS_ALIAS.sub(lambda m: "\x00" + sub(m)[3:] + "\x00", text)
    return re.sub(r"\x00(\d+)\x00", r"ds_\1", tmp)


def _projection_key(p: exp.Expression) -> str:
    # ignore the ds_<n> qualifier, whose numbering is itself arbitrary upstream
    return _DS_ALIAS.sub("ds", p.sql(dialect="bigquery"))


def _sort_select_lists(tree: exp.Expression) -> exp.Expression:
    for select in tree.find_all(exp.Select):
        projections = select.expressions
        if len(projections) > 1:
            select.set("expressions", sorted(projections, key=_projection_key))
        # the LEFT JOINs of the per-data-source subqueries (metrics ds_<n>, segments ds_<n>) come in
        # set order upstream too: sort them by content when every join is to a ds_<n> alias
        joins = select.args.get("joins") or []
        if len(joins) > 1 and all(_DS_ALIAS.fullmatch(j.this.alias or "") for j in joins):
            select.set("joins", sorted(joins, key=_projection_key))
    return tree


def canonical(sql: str, sort_select: bool = False, tokens_only: bool = False) -> tuple[str, str]:
    """Return (canonical text, method) where method is 'ast' or 'tokens'."""
    pre = _TRAILING_COMMA_FROM.sub(r"\1FROM", sql)
    try:
        if tokens_only:
            raise ValueError("token comparison requested")
        trees = [t for t in sqlglot.parse(pre, read="bigquery") if t is not None]
        if not trees:
            raise ValueError("empty")
        parts = []
        for tree in trees:
            if sort_select:
                tree = _sort_select_lists(tree)
            parts.append(tree.sql(dialect="bigquery", pretty=True, comments=False))
        text = ";\n".join(parts)
        method = "ast"
    except Exception:
        text = _token_canonical(pre)
        method = "tokens"
    text = text.replace("`", "")
    text = _rename_ds_aliases(text)
    text = "\n".join(line.rstrip() for line in text.splitlines() if line.strip())
    return text, method


def _token_canonical(sql: str) -> str:
    tokens = sqlglot.Dialect.get_or_raise("bigquery").tokenize(sql)
    out: list[str] = []
    for t in tokens:
        if t.token_type == TokenType.STRING:
            out.append("'" + t.text.replace("'", "\\'") + "'")
        elif t.token_type in (TokenType.VAR, TokenType.IDENTIFIER):
            out.append(t.text)
        else:
            out.append(t.text.upper())
        if t.token_type in (TokenType.COMMA, TokenType.L_PAREN) or t.text.upper() in {
            "SELECT",
            "FROM",
            "WHERE",
            "JOIN",
            "ON",
            "AND",
            "GROUP",
            "UNION",
        }:
            out.append("\n")
    # drop a trailing comma before FROM at token level too
    text = " ".join(out)
    text = re.sub(r",\s*\n?\s*FROM\b", " FROM", text)
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def _load_allow(path: Path | None) -> list[dict]:
    if path is None or not path.exists() or path.is_dir():
        return []
    text = path.read_text().strip()
    if not text:
        return []
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("differences", data.get("entries", []))
    for i, e in enumerate(data):
        e.setdefault("case", "*")
        e.setdefault("query", "*")
        e["_id"] = i
        e["_used"] = 0
    return data


def _applicable(allow: list[dict], case: str, query: str, info: dict | None = None) -> list[dict]:
    info = info or {}
    return [
        e
        for e in allow
        if not e.get("note_only")
        and fnmatch.fnmatchcase(case, e["case"])
        and fnmatch.fnmatchcase(query, e["query"])
        and all(
            e.get(k) is None or fnmatch.fnmatchcase(str(info.get(k)), str(e[k]))
            for k in ("kind", "period", "basis", "data_source")
        )
    ]


def _apply_rewrites(text: str, entries: list[dict], key: str) -> str:
    for e in entries:
        if key in e:
            pattern, repl = e[key]
            new = re.sub(pattern, repl, text, flags=re.DOTALL)
            if new != text:
                e["_used"] += 1
            text = new
    return text


def _query_files(case_dir: Path) -> list[str]:
    return sorted(
        p.name
        for p in case_dir.iterdir()
        if p.is_file() and p.name not in IGNORED_NAMES and not p.name.endswith(IGNORED_SUFFIXES)
    )


def compare_case(
    case: str,
    up_dir: Path,
    our_dir: Path,
    allow: list[dict],
    sort_select: bool,
    diff_dir: Path | None,
) -> list[dict]:
    results = []
    manifest = {}
    mpath = up_dir / "manifest.json"
    if mpath.exists():
        manifest = {f["file"]: f for f in json.loads(mpath.read_text()).get("files", [])}
    up_files = _query_files(up_dir)
    our_files = _query_files(our_dir) if our_dir.is_dir() else []

    for name in up_files:
        info = manifest.get(name, {})
        entries = _applicable(allow, case, name, info)
        r: dict = {
            "case": case,
            "query": name,
            "kind": info.get("kind"),
            "period": info.get("period"),
            "basis": info.get("basis"),
            "data_source": info.get("data_source"),
        }
        ours_path = our_dir / name
        if not ours_path.exists():
            allowed = [e for e in entries if e.get("missing")]
            for e in allowed:
                e["_used"] += 1
            r["status"] = "missing-explained" if allowed else "missing"
            if allowed:
                r["explanations"] = [e.get("explanation", "") for e in allowed]
            results.append(r)
            continue
        up_sql = (up_dir / name).read_text()
        our_sql = ours_path.read_text()
        if _ws(up_sql) == _ws(our_sql):
            r["status"] = "identical"
            results.append(r)
            continue
        up_c, up_m = canonical(up_sql, sort_select)
        our_c, our_m = canonical(our_sql, sort_select)
        if up_m != our_m:  # one side does not parse: compare both at token level
            r["parse_failed"] = "upstream" if up_m == "tokens" else "ours"
            up_c, up_m = canonical(up_sql, sort_select, tokens_only=True)
            our_c, our_m = canonical(our_sql, sort_select, tokens_only=True)
        r["method"] = up_m if "parse_failed" not in r else f"tokens ({r['parse_failed']} does not parse)"
        if up_c == our_c:
            r["status"] = "equal-modulo-normalisation"
            results.append(r)
            continue
        up_r = _apply_rewrites(up_c, entries, "rewrite_upstream")
        our_r = _apply_rewrites(our_c, entries, "rewrite_ours")
        diff = list(
            difflib.unified_diff(
                up_r.splitlines(),
                our_r.splitlines(),
                fromfile=f"upstream/{case}/{name}",
                tofile=f"ours/{case}/{name}",
                lineterm="",
                n=3,
            )
        )
        if up_r == our_r:
            r["status"] = "explained"
            r["explanations"] = [
                e.get("explanation", "") for e in entries if "rewrite_upstream" in e or "rewrite_ours" in e
            ]
            results.append(r)
            continue
        changed = [
            line[1:]
            for line in diff
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        patterned = [e for e in entries if e.get("pattern")]
        unexplained = []
        used: set[int] = set()
        for line in changed:
            hit = next((e for e in patterned if re.search(e["pattern"], line)), None)
            if hit is None:
                if line.strip():
                    unexplained.append(line)
            else:
                used.add(hit["_id"])
        for e in patterned:
            if e["_id"] in used:
                e["_used"] += 1
        if not unexplained:
            r["status"] = "explained"
            r["explanations"] = [e.get("explanation", "") for e in patterned if e["_id"] in used]
        else:
            r["status"] = "different"
            r["unexplained_lines"] = len(unexplained)
        r["diff"] = "\n".join(diff)
        if diff_dir is not None:
            d = diff_dir / case
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{name}.upstream.sql").write_text(up_c + "\n")
            (d / f"{name}.ours.sql").write_text(our_c + "\n")
            (d / f"{name}.diff").write_text(r["diff"] + "\n")
        results.append(r)

    for name in our_files:
        if name in up_files:
            continue
        entries = [e for e in _applicable(allow, case, name) if e.get("extra")]
        for e in entries:
            e["_used"] += 1
        results.append(
            {
                "case": case,
                "query": name,
                "status": "extra-explained" if entries else "extra",
                **({"explanations": [e.get("explanation", "") for e in entries]} if entries else {}),
            }
        )
    return results


OK_STATUSES = {"identical", "equal-modulo-normalisation", "explained", "missing-explained", "extra-explained"}


def main() -> int:
    ap = argparse.ArgumentParser(description="Compare upstream and our rendered BigQuery SQL.")
    ap.add_argument("upstream_dir", type=Path)
    ap.add_argument("ours_dir", type=Path)
    ap.add_argument("--allow", type=Path, default=HERE / "deliberate_differences.json")
    ap.add_argument("--case", action="append", help="only these cases")
    ap.add_argument("--json", type=Path, help="write the full report (with diffs) as JSON")
    ap.add_argument("--diff-dir", type=Path, help="write canonical forms and diffs of differing queries here")
    ap.add_argument(
        "--keep-select-order",
        action="store_true",
        help="do not ignore the order of SELECT projections (upstream's metric column order is arbitrary)",
    )
    ap.add_argument("--quiet", action="store_true", help="do not print diffs")
    ns = ap.parse_args()

    if not ns.upstream_dir.is_dir():
        print(f"no such directory: {ns.upstream_dir}", file=sys.stderr)
        return 2
    allow = _load_allow(ns.allow)
    cases = sorted(
        p.name for p in ns.upstream_dir.iterdir() if p.is_dir() and (p / "manifest.json").exists()
    )
    if ns.case:
        cases = [c for c in cases if c in ns.case]
    if not cases:
        print(f"no cases (directories with manifest.json) under {ns.upstream_dir}", file=sys.stderr)
        return 2

    all_results = []
    for case in cases:
        our_case = ns.ours_dir / case
        res = compare_case(case, ns.upstream_dir / case, our_case, allow, not ns.keep_select_order, ns.diff_dir)
        if not our_case.is_dir():
            print(f"== {case}: our output directory {our_case} does not exist")
        all_results.extend(res)

    # report
    width = max((len(r["query"]) for r in all_results), default=10)
    counts: dict[str, int] = {}
    for case in cases:
        print(f"== {case}")
        for r in (r for r in all_results if r["case"] == case):
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            what = " ".join(
                str(x) for x in (r.get("kind"), r.get("period"), r.get("basis"), r.get("data_source")) if x
            )
            extra = f" [{r['method']}]" if r.get("method") not in (None, "ast") else ""
            print(f"  {r['status']:<27} {r['query']:<{width}}  {what}{extra}")
            for ex in r.get("explanations", []):
                print(f"      explained: {ex}")
            if r["status"] == "different" and not ns.quiet:
                print("\n".join("      " + line for line in r["diff"].splitlines()))
    print("== summary: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    unused = [e for e in allow if not e["_used"] and not e.get("note_only")]
    for e in unused:
        print(f"== allow-list entry #{e['_id']} matched nothing: {e.get('explanation', e)}")
    if ns.json:
        ns.json.write_text(
            json.dumps(
                {
                    "summary": counts,
                    "results": all_results,
                    "unused_allow_entries": [
                        {k: v for k, v in e.items() if not k.startswith("_")} for e in unused
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    bad = [r for r in all_results if r["status"] not in OK_STATUSES]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

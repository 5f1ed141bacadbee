#!/usr/bin/env bash
# Render every case's BigQuery SQL with upstream Jetstream/mozanalysis and with our binary, and
# compare them query by query.
#
#   tests/mozanalysis/compare.sh [OUTDIR] [CASE ...]
#
# OUTDIR (default /tmp/jetstream-mozanalysis-sql) receives upstream/<case>/..., ours/<case>/...,
# ours/<case>.log, report.json and diffs/<case>/<query>.{upstream.sql,ours.sql,diff}.
#
# Environment:
#   JETSTREAM_BIN    our binary (default $CARGO_TARGET_DIR/debug/jetstream, else
#                    $HOME/.cache/jetstream/target/debug/jetstream)
#   PEER_PYTHON      Python of the venv with upstream installed
#                    (default $HOME/.cache/jetstream/peer-venv/bin/python)
#   CASES            cases file (default tests/mozanalysis/cases.json)
#   SKIP_UPSTREAM=1  reuse OUTDIR/upstream instead of re-rendering (it takes ~2-3 minutes)
#   OUR_EXTRA_ARGS   extra arguments for `jetstream run` (word-split)
#   COMPARE_ARGS     extra arguments for compare_sql.py (e.g. --keep-select-order, --quiet)
#   NON_DISCRETE=1   render one metrics query per period and basis on both sides
#                    (upstream --no-discrete-metrics; default: discrete, upstream's default)
#
# Exit code: compare_sql.py's (1 when an unexplained difference remains), or 2 when a step failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-/tmp/jetstream-mozanalysis-sql}"
shift || true
ONLY_CASES=("$@")

PY="${PEER_PYTHON:-$HOME/.cache/jetstream/peer-venv/bin/python}"
CASES="${CASES:-$HERE/cases.json}"
if [[ -z "${JETSTREAM_BIN:-}" ]]; then
    if [[ -n "${CARGO_TARGET_DIR:-}" && -x "$CARGO_TARGET_DIR/debug/jetstream" ]]; then
        JETSTREAM_BIN="$CARGO_TARGET_DIR/debug/jetstream"
    else
        JETSTREAM_BIN="$HOME/.cache/jetstream/target/debug/jetstream"
    fi
fi

if [[ ! -x "$PY" ]]; then
    echo "compare.sh: no peer venv at $PY; create it with:" >&2
    echo "  python3 -m venv \$HOME/.cache/jetstream/peer-venv && \$HOME/.cache/jetstream/peer-venv/bin/pip install -r /work/shared/peer/requirements.lock sqlglot" >&2
    exit 2
fi
if ! "$PY" -c 'import sqlglot' 2>/dev/null; then
    echo "compare.sh: installing sqlglot into the peer venv (comparison tool only)" >&2
    "$PY" -m pip install -q sqlglot || exit 2
fi
if [[ ! -x "$JETSTREAM_BIN" ]]; then
    echo "compare.sh: our binary $JETSTREAM_BIN does not exist (set JETSTREAM_BIN or build it)" >&2
    exit 2
fi

mkdir -p "$OUT/upstream" "$OUT/ours"
up_mode=()
our_mode=(--discrete-metrics)
if [[ "${NON_DISCRETE:-0}" == "1" ]]; then
    up_mode=(--non-discrete)
    our_mode=(--no-discrete-metrics)
fi
case_args=()
for c in "${ONLY_CASES[@]}"; do case_args+=(--case "$c"); done

# (a) upstream
if [[ "${SKIP_UPSTREAM:-0}" != "1" ]]; then
    echo "== rendering upstream SQL into $OUT/upstream"
    PYTHONHASHSEED=0 "$PY" "$HERE/render_upstream.py" "$CASES" "$OUT/upstream" "${case_args[@]}" "${up_mode[@]}" || {
        echo "compare.sh: render_upstream.py failed" >&2
        exit 2
    }
fi

# (b) ours: one `jetstream run ... --sql-output-dir --dry-run` per case
echo "== rendering our SQL into $OUT/ours with $JETSTREAM_BIN"
failed=0
while IFS=$'\t' read -r name cmdline; do
    [[ -z "$name" ]] && continue
    rm -rf "${OUT:?}/ours/$name"
    mkdir -p "$OUT/ours/$name"
    # shellcheck disable=SC2086
    eval "set -- $cmdline"
    if "$JETSTREAM_BIN" run "$@" --sql-output-dir "$OUT/ours/$name" --dry-run "${our_mode[@]}" ${OUR_EXTRA_ARGS:-} \
        >"$OUT/ours/$name.log" 2>&1; then
        echo "   $name: ok ($(find "$OUT/ours/$name" -maxdepth 1 -type f | wc -l) file(s))"
    else
        echo "   $name: jetstream run FAILED (exit $?), see $OUT/ours/$name.log"
        failed=1
    fi
done < <("$PY" - "$CASES" "$ROOT" "${ONLY_CASES[@]}" <<'PYEOF'
import json, shlex, sys
from pathlib import Path
cases_path, root, only = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), sys.argv[3:]
cases = json.loads(cases_path.read_text())
def res(p):
    q = Path(p)
    if q.is_absolute():
        return str(q)
    for base in (cases_path.parent, root):
        if (base / q).exists():
            return str((base / q).resolve())
    return str(root / q)
for c in cases:
    if only and c["name"] not in only:
        continue
    args = ["--experiment_slug", c["slug"], "--date", c["date"],
            "--experiments", res(c["experiment_json"]),
            "--config_repos", res(c.get("config_repo", "/work/shared/corpus/metric-hub"))]
    if c.get("config_file"):
        args += ["--config_file", res(c["config_file"])]
    for p in c.get("periods", []):
        args += ["--analysis_periods", p]
    print(c["name"] + "\t" + shlex.join(args))
PYEOF
)

# (c) compare
echo "== comparing"
# shellcheck disable=SC2086
"$PY" "$HERE/compare_sql.py" "$OUT/upstream" "$OUT/ours" \
    --json "$OUT/report.json" --diff-dir "$OUT/diffs" "${case_args[@]}" ${COMPARE_ARGS:-}
rc=$?
echo "== report: $OUT/report.json; diffs: $OUT/diffs"
if [[ $failed -ne 0 && $rc -eq 0 ]]; then
    rc=2
fi
exit $rc

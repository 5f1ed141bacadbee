#!/usr/bin/env bash
# Runs Jetstream's own statistics (the Python peer in ../shared/peer) and ours on the same
# generated per-client file, then compares the rows with the peer's compare_outputs.py.
#
#   scripts/compare_with_peer.sh [CLIENTS] [SEED]        # default 10000 clients, seed 42
#
# Environment: PEER_DIR (default ../shared/peer next to the repository), PEER_VENV (default
# $HOME/.cache/jetstream/peer-venv, created with the peer's packages on first use), OUT (default
# a temporary directory), JETSTREAM (default: cargo run with the shared target directory).
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${1:-10000}"
seed="${2:-42}"
peer="${PEER_DIR:-$(cd .. && pwd)/shared/peer}"
venv="${PEER_VENV:-$HOME/.cache/jetstream/peer-venv}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/jetstream/target}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  if [ -f "$peer/requirements.lock" ]; then
    "$venv/bin/pip" install -q -r "$peer/requirements.lock" \
      || "$venv/bin/pip" install -q mozilla-jetstream mozanalysis pandas numpy pyarrow
  else
    "$venv/bin/pip" install -q mozilla-jetstream mozanalysis pandas numpy pyarrow
  fi
fi

data="$out/clients_${clients}.parquet"
"$venv/bin/python" "$peer/gen_data.py" --clients "$clients" --seed "$seed" --out "$data"

echo "== peer (Python Jetstream, one BLAS thread)"
OPENBLAS_NUM_THREADS=1 "$venv/bin/python" "$peer/run_jetstream_stats.py" "$data" \
  --out "$out/peer.json" --allow-errors

echo "== ours"
if [ -n "${JETSTREAM:-}" ]; then
  run=("$JETSTREAM")
else
  cargo build --quiet
  run=("$CARGO_TARGET_DIR/debug/jetstream")
fi
"${run[@]}" statistics --input "$data" --config "$peer/summaries.toml" --out "$out/ours.json" \
  || echo "(some statistics failed; see above)"

echo "== comparison"
"$venv/bin/python" "$peer/compare_outputs.py" "$out/peer.json" "$out/ours.json"
echo "== Experimenter's schema and the strict checks"
"$venv/bin/python" "$peer/validate_output.py" "$out/ours.json"
echo "outputs in $out"

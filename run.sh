#!/usr/bin/env bash
# Set up the pinned environment (once) and run alloyml's main job or its tests.
#   ./run.sh repro   -> dvc repro on the embedded defaults (SQLite MLflow, local files)
#   ./run.sh test    -> the test suite
# Data: set ALLOYML_DATA_MIRROR to a directory holding the raw source files; otherwise they are
# downloaded from their pinned origin URLs (see data/sources.yaml).
set -euo pipefail
# A relative mirror path is relative to where the command was typed; resolve it once, before
# anything changes directory (the tests copy the project elsewhere and run dvc repro there).
if [ -n "${ALLOYML_DATA_MIRROR:-}" ]; then
  if [ ! -d "$ALLOYML_DATA_MIRROR" ]; then
    echo "run.sh: ALLOYML_DATA_MIRROR=$ALLOYML_DATA_MIRROR is not a directory (relative to $PWD)" >&2
    exit 2
  fi
  ALLOYML_DATA_MIRROR="$(cd "$ALLOYML_DATA_MIRROR" && pwd)"
  export ALLOYML_DATA_MIRROR
fi
cd "$(dirname "$0")"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ] || [ requirements.lock -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip uv
  # --compile-bytecode: many machines set PYTHONDONTWRITEBYTECODE, and without compiled
  # bytecode every command would recompile scikit-learn, pandas, ... from source (~10 s).
  .venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -r requirements.lock
  .venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python --no-deps -e .
  touch .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
export MPLBACKEND=Agg
case "${1:-}" in
  repro) shift; exec dvc repro "$@" ;;
  test)
    shift
    # tests/workflow/test_mlflow_ui.py renders the MLflow UI in Debian's headless Chromium.
    if ! command -v chromium >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing Debian's chromium for the MLflow UI test" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
      else
        echo "run.sh: the tests need Chromium on PATH (Debian: sudo apt-get install chromium)" >&2
        exit 2
      fi
    fi
    exec python -m pytest "$@" ;;
  *) echo "usage: ./run.sh repro|test [args...]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The compatibility stage: the public API once through (tests/compat) in a fresh virtualenv per
# supported pyspark / MLflow / pandas combination, the package installed from its own metadata with
# that combination's constraints (ci/constraints/); models loaded across Spark versions both ways;
# the JVM-free serving install on the newest mlflow-skinny; models installed into fresh virtualenvs
# from their own files (a wheel they carry, the Dockerfile's install step); Spark Connect (local and separate servers);
# a Spark standalone cluster whose workers have disks of their own.
#   bash scripts/compat.sh            # every stage
#   bash scripts/compat.sh connect    # one stage: spark35-mlflow2 | spark40-mlflow3 | newest | cross | serving
#                                     # | fresh-env | connect | cluster
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/build/compat"
PYTHON=${PYTHON:-python3}
PYTEST_ARGS=(-q -p no:cacheprovider -o addopts= --durations=5)
export MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK=true
TIMES=()
FAILED=0

stage() {  # name, command...: run and time one stage; a failure is reported and the next stage runs
  local name=$1 started=$SECONDS status=ok
  shift
  echo "== compat: $name"
  "$@" &  # in a subshell of its own, where set -e still stops the stage at its first failing command
  if ! wait $!; then
    status=FAILED
    FAILED=1
  fi
  TIMES+=("$name: $status in $((SECONDS - started)) s")
}

venv_for() {  # combination, extras: a fresh virtualenv with the package installed from its metadata
  local venv="$OUT/$1/venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -c "ci/constraints/$1.txt" ".$2"
  # The installed package, not this checkout, must be what the tests import.
  (cd "$OUT" && "$venv/bin/python" -c "import mlflow_sparkonnx, sys; assert '/site-packages/' in mlflow_sparkonnx.__file__, mlflow_sparkonnx.__file__")
  "$venv/bin/python" -m pip list 2>/dev/null | grep -iE '^(pyspark|mlflow|mlflow-skinny|pandas|numpy|onnx|onnxruntime) ' || true
}

combination() {  # combination: install, then the smoke run, which leaves its models for the cross-loads
  venv_for "$1" "[spark,test]"
  rm -rf "$OUT/$1/models"
  SPARKONNX_COMPAT_SAVE_DIR="$OUT/$1/models" "$OUT/$1/venv/bin/pytest" "${PYTEST_ARGS[@]}" tests/compat/test_smoke.py
}

cross_load() {  # loading combination, saving combination
  SPARKONNX_COMPAT_FOREIGN_DIR="$OUT/$2/models" "$OUT/$1/venv/bin/pytest" "${PYTEST_ARGS[@]}" \
    tests/compat/test_cross_version.py
}

serving() {  # the serving install (no extras: no pyspark, no JVM) on the newest mlflow-skinny
  venv_for serving-newest "[test]"
  SPARKONNX_COMPAT_FOREIGN_DIR="$OUT/newest/models" "$OUT/serving-newest/venv/bin/pytest" "${PYTEST_ARGS[@]}" \
    tests/compat/test_jvm_free.py
}

connect() {  # Spark Connect from the primary environment (bash scripts/dev.sh test installs it)
  SPARKONNX_CONNECT_SERVER=local .venv/bin/pytest "${PYTEST_ARGS[@]}" -m connect tests/connect
  SPARKONNX_CONNECT_SERVER=separate .venv/bin/pytest "${PYTEST_ARGS[@]}" -m connect tests/connect
}

fresh_env() {  # models installed into fresh virtualenvs from their own files (the Dockerfile's way)
  .venv/bin/pytest "${PYTEST_ARGS[@]}" -m fresh_env tests/scoring/test_serving_env.py
}

cluster() {  # a standalone master and two workers from the primary environment's pyspark
  .venv/bin/pytest "${PYTEST_ARGS[@]}" -m cluster tests/cluster
}

mkdir -p "$OUT"
case "${1:-all}" in
  all)
    stage spark35-mlflow2 combination spark35-mlflow2
    stage newest combination newest
    stage "cross-load 4.x models in 3.5" cross_load spark35-mlflow2 newest
    stage "cross-load 3.5 models in 4.x" cross_load newest spark35-mlflow2
    stage spark40-mlflow3 combination spark40-mlflow3
    stage serving serving
    stage fresh-env fresh_env
    stage connect connect
    stage cluster cluster
    ;;
  spark35-mlflow2 | spark40-mlflow3 | newest) stage "$1" combination "$1" ;;
  cross)  # after spark35-mlflow2 and newest
    stage "cross-load 4.x models in 3.5" cross_load spark35-mlflow2 newest
    stage "cross-load 3.5 models in 4.x" cross_load newest spark35-mlflow2
    ;;
  serving) stage serving serving ;;
  fresh-env) stage fresh-env fresh_env ;;
  connect) stage connect connect ;;
  cluster) stage cluster cluster ;;
  *)
    echo "usage: bash scripts/compat.sh [all|spark35-mlflow2|spark40-mlflow3|newest|cross|serving|fresh-env|connect|cluster]" >&2
    exit 2
    ;;
esac
echo "== compat stages"
printf '  %s\n' "${TIMES[@]}"
exit "$FAILED"

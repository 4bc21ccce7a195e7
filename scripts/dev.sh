#!/usr/bin/env bash
# Set up the project and run the example or the tests.
#   bash scripts/dev.sh example   # install, then train, log, load and score a pipeline
#   bash scripts/dev.sh test      # install, then ruff, the docs build (mkdocs --strict) and the test suite
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_java() {
  if ! command -v java >/dev/null 2>&1; then
    echo "Java not found: installing openjdk-17-jre-headless (needs root and apt)." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
}

ensure_chromium() {
  # The report's layout test opens it in a real browser; without Chromium (and no root) that test skips.
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found: installing it (the report layout test uses it)." >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "Could not install Chromium: the report layout test will skip." >&2
  fi
}

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  # The primary combination, every package pinned; scripts/compat.sh tests the other supported ones.
  .venv/bin/python -m pip install -q -c ci/constraints/primary.txt -e ".[spark,connect,test,docs]"
}

case "${1:-}" in
  example)
    ensure_java
    ensure_venv
    .venv/bin/python examples/train_log_score.py
    ;;
  test)
    ensure_java
    ensure_chromium
    ensure_venv
    .venv/bin/ruff check .
    .venv/bin/mkdocs build --strict --quiet
    # Two workers, one SparkSession each; a test module stays on one worker (its fixtures are built once).
    .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 -n 2 --dist loadfile tests
    ;;
  *)
    echo "usage: bash scripts/dev.sh example|test" >&2
    exit 2
    ;;
esac

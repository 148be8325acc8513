#!/usr/bin/env bash
# The quality gate: formatting, lint, strict types, import contracts, then the test suite.
# Any failure stops the run with a non-zero exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff format --check"; ruff format --check src tests bench
echo "== ruff check";          ruff check src tests bench
echo "== mypy --strict src";   mypy
echo "== import contracts";    lint-imports
echo "== pytest"
set +e
pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
exit $rc

#!/usr/bin/env bash
# The quality gate: formatting, lint, types and import contracts (scripts/lint.sh), then the
# test suite. Run whole (no arguments), the suite measures the coverage of romana.core and
# romana.services and fails below the floor set in pyproject.toml ([tool.coverage.report]);
# with arguments (a subset of the suite), pytest gets them and no coverage floor applies.
# Any failure stops the run with a non-zero exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

scripts/lint.sh
echo "== pytest"
set +e
if (($#)); then
    pytest "$@"
else
    pytest --cov --cov-report=term:skip-covered --durations=25
fi
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
exit $rc

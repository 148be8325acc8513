#!/usr/bin/env bash
# The static half of the gate: formatting, lint, strict types on src, relaxed types on the
# tests and benchmarks, import contracts. Any failure stops the run with a non-zero exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff format --check"; ruff format --check src tests bench
echo "== ruff check";          ruff check src tests bench
echo "== mypy --strict src";   mypy
echo "== mypy tests bench";    mypy --config-file tests/mypy.ini
echo "== import contracts";    lint-imports

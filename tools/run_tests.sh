#!/usr/bin/env bash
# Run the test suite in the project's virtual environment (created or refreshed first).
#
# Usage: bash tools/run_tests.sh [pytest options and paths]
#   bash tools/run_tests.sh                    # the whole suite (tests/, see pytest.ini)
#   bash tools/run_tests.sh -m "not slow"      # the quick subset
#   bash tools/run_tests.sh tests/runtime -x   # one folder
#
# Environment: SCALENET_VENV (default <repo>/.venv) and the other variables of
# tools/setup_env.sh. The exit status is pytest's (5 = no tests were collected).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SCALENET_VENV:-$ROOT/.venv}

bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# pytest.ini's testpaths=tests applies when no path is given.
exec "$VENV/bin/python" -m pytest "$@"

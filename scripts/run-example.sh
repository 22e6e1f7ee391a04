#!/usr/bin/env bash
# Set up (lavapipe when there is no GPU, .venv, the package) and run the main example.
#   bash scripts/run-example.sh [examples/other.py]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
. "$HERE/env.sh"
cd "$ROOT"
exec "$VENV/bin/python" "${1:-examples/quickstart.py}" "${@:2}"

#!/usr/bin/env bash
# Set up (lavapipe when there is no GPU, .venv, the package) and run the tests.
#   bash scripts/test.sh [pytest args...]      e.g.  bash scripts/test.sh -k select -x
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
. "$HERE/env.sh"
cd "$ROOT"
"$VENV/bin/python" -c 'import wgpu_tensor as wt; i = wt.device_info(); print("[test] adapter:", i["name"], "(%s, %s)" % (i["backend"], i["type"]))' \
    || echo "[test] could not open a WebGPU adapter (the tests will say why)"
[ -n "${CI:-}" ] && echo "[test] CI=$CI: the suite asserts the CI adapter facts first (tests/conftest.py)"
exec "$VENV/bin/python" -m pytest -q "$@"

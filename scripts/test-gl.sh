#!/usr/bin/env bash
# The second adapter: a representative subset of the suite on wgpu's OpenGL backend
# over Mesa's llvmpipe (WGPU_BACKEND_TYPE=OpenGL). It has no subgroups and 16 storage
# buffers per shader stage, so it runs the kernels a GPU takes (workgroup-memory
# scans, the workgroup one-pass selection) through another shader translation
# (naga's GLSL): the results must be the same bits as on lavapipe. .ci/run runs it
# after the whole suite; the subset keeps it to a few minutes on 2 cores.
#   bash scripts/test-gl.sh [pytest args...]      e.g.  bash scripts/test-gl.sh -x
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
. "$HERE/env.sh"
cd "$ROOT"
export WGPU_BACKEND_TYPE=OpenGL
"$VENV/bin/python" -c 'import wgpu_tensor as wt; i = wt.device_info(); print("[test-gl] adapter:", i["name"], "(%s, %s)" % (i["backend"], i["type"]))' \
    || echo "[test-gl] could not open an OpenGL adapter (the tests will say why)"
# Selection, fusion, masking, the tensor basics, casts and float16 bits, sort; and
# from the math, reduction, scan and linear-algebra files the cases over every dtype.
SUBSET=(
    tests/test_portability.py tests/test_select.py tests/test_fused.py tests/test_masking.py
    tests/test_tensor.py
    "tests/test_sort.py::test_sort_1d" "tests/test_sort.py::test_sort_special_floats"
    "tests/test_sort.py::test_kthvalue" "tests/test_sort.py::test_isin_special_floats"
    tests/test_math.py tests/test_reduce_more.py tests/test_scan.py tests/test_linalg.py
)
exec "$VENV/bin/python" -m pytest -q "${SUBSET[@]}" "$@"

#!/usr/bin/env bash
# One command for a machine with a GPU: install what is missing from what the
# checkout carries (.whl/ wheels, .gl/ Vulkan loader .debs; made once by
# scripts/gpu-bench-prepare.sh on a machine with network), check that wgpu opens the
# GPU, run a representative test subset, benchmarks/bench_select.py (beside torch on
# CUDA when torch has CUDA) and benchmarks/bench_async.py, and write JSON and the PNG
# into the output folder. Within 8 minutes on a GPU; --quick (tiny sizes, a few tests)
# runs here on lavapipe in about a minute and is smoke-tested by tests/test_bench.py.
#
#   bash scripts/gpu-bench.sh [--quick] [--out DIR] [--allow-cpu]
#
# Output: DIR (default $OUT if set, else benchmarks/results/gpu-<date>): gpu-bench.json
# (host, adapter, test counts, bench results), bench-*.json, bench-*.png, async-*.json,
# tests.log. Environment: PYTHON (default: .venv/bin/python when it has wgpu, else python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { echo "[gpu-bench] $*"; }
QUICK=() ; ALLOW=() ; DEST="${OUT:-}"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=(--quick) ;;
    --allow-cpu) ALLOW=(--allow-cpu) ;;
    --out) DEST="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--out DIR] [--allow-cpu]" >&2; exit 2 ;;
    esac
    shift
done
DEST="${DEST:-$ROOT/benchmarks/results/gpu-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$DEST"

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ] && "$ROOT/.venv/bin/python" -c 'import wgpu' 2>/dev/null; then
        PY="$ROOT/.venv/bin/python"
    else
        PY=python3
    fi
fi

# 1. Python packages: wgpu (and its needs) from the carried wheels when missing.
if ! "$PY" -c 'import wgpu' 2>/dev/null; then
    compgen -G "$ROOT/.whl/*.whl" >/dev/null \
        || { say "wgpu is not importable and no .whl/ was carried (run scripts/gpu-bench-prepare.sh once)"; exit 3; }
    SITE="${TMPDIR:-/tmp}/gpu-bench-site"
    say "installing $(cd .whl && ls *.whl | tr '\n' ' ')into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$ROOT"/.whl/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the package from this checkout (it finds shaders/)

# 2. The Vulkan loader from the carried .debs when the system has none.
have_loader() { PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
if [ "$(uname -s)" = Linux ] && ! have_loader; then
    if compgen -G "$ROOT/.gl/*.deb" >/dev/null && [ "$(id -u)" = 0 ]; then
        say "no Vulkan loader: unpacking $(cd .gl && ls *.deb | tr '\n' ' ')into /"
        for f in "$ROOT"/.gl/*.deb; do dpkg -x "$f" /; done
        PATH="$PATH:/sbin:/usr/sbin" ldconfig
    else
        say "no Vulkan loader and no .gl/*.deb to unpack as root (run scripts/gpu-bench-prepare.sh once)"
    fi
fi
# 3. NVIDIA's Vulkan driver where the container keeps it outside the loader's search path.
NV=/usr/local/nvidia/share
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NV/vulkan/icd.d/nvidia_icd.json" ]; then
    export VK_DRIVER_FILES="$NV/vulkan/icd.d/nvidia_icd.json"
    [ -f "$NV/glvnd/egl_vendor.d/10_nvidia.json" ] \
        && export __EGL_VENDOR_LIBRARY_FILENAMES="$NV/glvnd/egl_vendor.d/10_nvidia.json"
    say "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi

# 4. Adapter check, tests, benchmarks, JSON (scripts/gpu_bench.py).
say "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
exec "$PY" "$ROOT/scripts/gpu_bench.py" --out "$DEST" "${QUICK[@]}" "${ALLOW[@]}"

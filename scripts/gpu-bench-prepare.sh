#!/usr/bin/env bash
# One-time preparation, on a machine with network, for scripts/gpu-bench.sh on a GPU
# machine without network, wgpu or a Vulkan loader (x86-64, Python 3.12):
#   .whl/  wgpu and its run-time needs (cffi, pycparser, rendercanvas) as cp312
#          manylinux x86-64 wheels, the versions of this checkout's .venv;
#   .gl/   the Vulkan loader (and the GL/EGL dispatch libraries) as amd64 .debs.
# Both folders are listed in the repository's .git/info/exclude: never committed,
# but copied with the checkout to the GPU machine (both folders, beside the tracked files).
#
#   bash scripts/gpu-bench-prepare.sh            # run from any checkout of the repo
#
# Environment: PYTHON (whose installed versions to fetch; default .venv/bin/python),
# GPU_PY (the target's Python version, default 3.12).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { echo "[gpu-bench-prepare] $*"; }
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
GPU_PY="${GPU_PY:-3.12}"

exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for d in /.whl/ /.gl/; do
    grep -qxF "$d" "$exclude" 2>/dev/null || echo "$d" >>"$exclude"
done

# --- wheels: wgpu's Requires-Dist (cffi, rendercanvas; rubicon-objc is macOS-only), cffi's
# (pycparser). numpy, pytest and hypothesis are on the GPU image already.
ver() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || echo "$2"; }
pins=("wgpu==$(ver wgpu 0.32.0)" "cffi==$(ver cffi 2.0.0)" "pycparser==$(ver pycparser 2.22)"
      "rendercanvas==$(ver rendercanvas 2.7.0)")
rm -rf .whl && mkdir -p .whl
plats=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    plats+=(--platform "$p")
done
say "downloading ${pins[*]} for cp${GPU_PY/./} x86-64 into .whl/"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$GPU_PY" --implementation cp \
    "${plats[@]}" -d .whl "${pins[@]}"
for w in .whl/wgpu-*.whl .whl/cffi-*.whl; do
    say "$(basename "$w") needs: $(unzip -p "$w" '*/METADATA' | grep '^Requires-Dist' | grep -v extra | cut -d' ' -f2- | tr '\n' ' ')"
done

# --- the Vulkan loader (and what the workplace README lists for EGL/GL), amd64 .debs
rm -rf .gl && mkdir -p .gl /tmp/gpu-bench-apt/partial
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/gpu-bench-apt)
say "downloading the Vulkan loader .debs into .gl/"
apt-get "${o[@]}" update -qq
(cd .gl && apt-get "${o[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
ls -l .whl .gl
say "done: $(du -sh .whl .gl | tr '\n' ' ')(copy both to the GPU machine with the checkout)"

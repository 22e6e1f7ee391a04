#!/usr/bin/env bash
# Idempotent set-up for a checkout: a Vulkan driver (Mesa's lavapipe, software Vulkan,
# when the machine has neither a Vulkan driver nor a GPU driver), a .venv in the
# repository, and the package installed editable with its test extra.
#
#   bash scripts/setup.sh          # safe to run again; does only what is missing
#
# Environment: PYTHON (interpreter for the venv, default python3),
# WGPU_TENSOR_VENV (default <repo>/.venv), WGPU_TENSOR_NO_APT=1 (never call apt-get).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${WGPU_TENSOR_VENV:-$ROOT/.venv}"

say() { echo "[setup] $*"; }
die() { echo "[setup] error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=
apt_install() {
    [ "${WGPU_TENSOR_NO_APT:-}" = 1 ] && die "WGPU_TENSOR_NO_APT=1 but these are missing: $*"
    command -v apt-get >/dev/null 2>&1 || die "no apt-get here; install $* with your package manager"
    if [ -z "$APT_UPDATED" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- 1. a WebGPU-capable driver -------------------------------------------------------
have_vulkan_icd() {
    [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && return 0
    local d
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        compgen -G "$d/*.json" >/dev/null && return 0
    done
    return 1
}
have_vulkan_loader() {   # ldconfig lives in /sbin, outside a normal user's PATH
    compgen -G "/usr/lib*/libvulkan.so.1" >/dev/null || compgen -G "/usr/lib*/*/libvulkan.so.1" >/dev/null \
        || { PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
}
have_gpu_driver() { [ -e /proc/driver/nvidia/version ]; }
have_mesa_gl() {
    { compgen -G "/usr/lib*/libEGL_mesa.so.0" || compgen -G "/usr/lib*/*/libEGL_mesa.so.0"; } >/dev/null \
        && { compgen -G "/usr/lib*/dri/swrast_dri.so" || compgen -G "/usr/lib*/*/dri/swrast_dri.so"; } >/dev/null
}

case "$(uname -s)" in
Linux)
    if have_vulkan_icd; then
        if have_vulkan_loader; then
            say "Vulkan driver found"
        else
            say "Vulkan driver found but no Vulkan loader: installing libvulkan1"
            apt_install libvulkan1
        fi
    elif have_gpu_driver; then
        say "GPU driver found (no Vulkan ICD file): leaving drivers alone"
    else
        say "no Vulkan driver and no GPU driver: installing mesa-vulkan-drivers (lavapipe)"
        apt_install mesa-vulkan-drivers
    fi
    # The second adapter the tests compare against: wgpu's OpenGL backend over Mesa's
    # llvmpipe (WGPU_BACKEND_TYPE=OpenGL; no subgroups, the kernels a GPU takes).
    if ! have_gpu_driver && ! have_mesa_gl; then
        say "installing Mesa's GL driver (the OpenGL adapter the tests also use)"
        apt_install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri
    fi ;;
*)
    say "$(uname -s): using the system's own WebGPU backend (Metal / D3D12)" ;;
esac

# --- 2. the virtual environment -------------------------------------------------------
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=...)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$("$PYTHON" -V 2>&1) is too old: wgpu 0.32 needs Python 3.11+ (set PYTHON=python3.11 or newer)"
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        ver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        say "installing python$ver-venv (Debian splits venv/ensurepip out of python3)"
        apt_install "python$ver-venv"
    fi
    say "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# --- 3. the package, editable, with its test extra -------------------------------------
# Reinstall only when pyproject.toml changed (or the install is gone).
stamp="$VENV/.wgpu_tensor-installed"
want="$(cksum < "$ROOT/pyproject.toml")"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
   || ! "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("wgpu_tensor"); import pytest, hypothesis' >/dev/null 2>&1
then
    say "pip install -e '.[test]' into $VENV"
    (cd "$ROOT" && "$VENV/bin/python" -m pip install -q -e '.[test]')
    echo "$want" > "$stamp"
fi
say "ready: $("$VENV/bin/python" -c 'import sys, wgpu; print("Python %d.%d.%d" % sys.version_info[:3], "wgpu", wgpu.__version__)')"

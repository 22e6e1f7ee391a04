# Sourced by run-example.sh and test.sh: the venv's Python and a valid XDG_RUNTIME_DIR
# (Mesa prints "XDG_RUNTIME_DIR is invalid or not set" on every run without one).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WGPU_TENSOR_VENV:-$ROOT/.venv}"
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ] || [ ! -w "$XDG_RUNTIME_DIR" ]; then
    XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/wgpu_tensor-xdg-$(id -u)"
    mkdir -p -m 700 "$XDG_RUNTIME_DIR"
    export XDG_RUNTIME_DIR
fi

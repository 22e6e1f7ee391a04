"""Loading and templating the WGSL sources in shaders/.

A wheel carries them as wgpu_tensor/shaders/*.wgsl; a source checkout (or an
editable install) reads the repository's top-level shaders/ folder.

Templates know two things:
  {{NAME}}                    replaced by str(params[NAME])
  //@repeat NAME ... //@end   the lines between repeated params[NAME] times,
                              with {{i}} replaced by 0, 1, ...
  //@include FILE             the text of shaders/FILE.wgsl, rendered with the same params
                              (it may include others, up to 4 levels deep)
  //@uniform BLOCK            the WGSL struct of uniform block BLOCK (runtime/uniforms.py)
  //@if NAME ... //@endif     the lines between kept only when params[NAME] is true
                              (WGSL type-checks dead branches, so variants that
                              differ in types are chosen here, not with `if`)
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from . import uniforms

_PKG = Path(__file__).resolve().parent.parent


def shader_dir() -> Path:
    for d in (_PKG / "shaders", _PKG.parent / "shaders"):
        if (d / "elementwise.wgsl").is_file():
            return d
    raise FileNotFoundError(
        f"wgpu_tensor's WGSL shaders were not found next to {_PKG}: the package is installed "
        "without its shaders/ folder (reinstall with pip install .)")


@functools.lru_cache(maxsize=None)
def source(name: str) -> str:
    return (shader_dir() / f"{name}.wgsl").read_text()


_REPEAT = re.compile(r"^[ \t]*//@repeat (\w+)[ \t]*\n(.*?)^[ \t]*//@end[ \t]*\n", re.S | re.M)
_IF = re.compile(r"^[ \t]*//@if (\w+)[ \t]*\n(.*?)^[ \t]*//@endif[ \t]*\n", re.S | re.M)
_VAR = re.compile(r"\{\{(\w+)\}\}")


_INCLUDE = re.compile(r"^[ \t]*//@include (\w+)[ \t]*$", re.M)
_UNIFORM = re.compile(r"^[ \t]*//@uniform (\w+)[ \t]*\n", re.M)


def render(name: str, params: dict) -> str:
    text = source(name)
    for _ in range(4):  # included files may include others
        text, n = _INCLUDE.subn(lambda m: source(m.group(1)), text)
        if not n:
            break

    def repeat(m):
        n = int(params[m.group(1)])
        return "".join(m.group(2).replace("{{i}}", str(i)) for i in range(n))

    text = _UNIFORM.sub(lambda m: uniforms.BLOCKS[m.group(1)].wgsl, text)
    text = _REPEAT.sub(repeat, text)
    text = _IF.sub(lambda m: m.group(2) if params.get(m.group(1)) else "", text)

    def var(m):
        key = m.group(1)
        if key not in params:
            raise KeyError(f"shader {name}.wgsl needs template parameter {key}")
        v = params[key]
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return _VAR.sub(var, text)

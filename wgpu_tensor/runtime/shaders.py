"""Loading and templating the WGSL sources in shaders/.

A wheel carries them as wgpu_tensor/shaders/*.wgsl; a source checkout (or an
editable install) reads the repository's top-level shaders/ folder.

The template language, read line by line (a directive is a line of its own):
  {{NAME}}                    replaced by str(params[NAME]) (a bool as true/false)
  //@repeat NAME ... //@end   the lines between repeated params[NAME] times,
                              with {{i}} replaced by 0, 1, ...
  //@include FILE             the text of shaders/FILE.wgsl, rendered with the same params
  //@uniform BLOCK            the WGSL struct of uniform block BLOCK (runtime/uniforms.py)
  //@if NAME ... //@endif     the lines between kept only when params[NAME] is True;
  //@if !NAME                 ... when it is False; either may have one //@else
                              (WGSL type-checks dead branches, so variants that
                              differ in types are chosen here, not with `if`)
Directives nest. It is strict, so that a misspelling fails at once instead of
silently choosing a branch: a flag must be a bool in params, a {{NAME}} must be
in params, an unknown directive or an unbalanced one raises, and so does a
parameter that neither the shader nor its includes mention (in any branch).
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from . import uniforms

_PKG = Path(__file__).resolve().parent.parent


class TemplateError(ValueError):
    """A shader template that cannot be rendered with the given parameters."""


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


_DIRECTIVE = re.compile(r"^[ \t]*//@(\w+)(.*?)\s*$")
_VAR = re.compile(r"\{\{(\w+)\}\}")
_IDENT = re.compile(r"^\w+$")
_MAX_DEPTH = 8  # includes nested deeper than this are taken for a cycle


class _If:
    __slots__ = ("flag", "negate", "then", "other", "line")

    def __init__(self, flag, negate, line):
        self.flag, self.negate, self.line = flag, negate, line
        self.then, self.other = [], None


class _Repeat:
    __slots__ = ("count", "body", "line")

    def __init__(self, count, line):
        self.count, self.line, self.body = count, line, []


class _Include:
    __slots__ = ("file", "line")

    def __init__(self, file, line):
        self.file, self.line = file, line


class _Uniform:
    __slots__ = ("block", "line")

    def __init__(self, block, line):
        self.block, self.line = block, line


@functools.lru_cache(maxsize=256)
def _parse(name, text):
    """The template as a tree: lists of text lines (str) and directive nodes."""
    root = []
    stack = []  # open _If / _Repeat nodes
    body = root  # where the next line goes

    def fail(msg):
        raise TemplateError(f"{name}.wgsl:{n}: {msg}")

    for n, line in enumerate(text.splitlines(keepends=True), 1):
        m = _DIRECTIVE.match(line)
        if m is None:
            body.append(line if line.endswith("\n") else line + "\n")
            continue
        word, arg = m.group(1), m.group(2).strip()
        if word == "if":
            negate = arg.startswith("!")
            flag = arg[1:].strip() if negate else arg
            if not _IDENT.match(flag):
                fail(f"//@if needs one flag name (or !name), got {arg!r}")
            node = _If(flag, negate, n)
            body.append(node)
            stack.append(node)
            body = node.then
        elif word == "else":
            if not stack or not isinstance(stack[-1], _If) or stack[-1].other is not None or arg:
                fail("//@else without its //@if (or a second //@else)")
            stack[-1].other = body = []
        elif word in ("endif", "end"):
            want = _If if word == "endif" else _Repeat
            if not stack or not isinstance(stack[-1], want) or arg:
                fail(f"//@{word} does not close an open //@{'if' if word == 'endif' else 'repeat'}")
            stack.pop()
            body = _open_body(stack[-1]) if stack else root
        elif word == "repeat":
            if not _IDENT.match(arg):
                fail(f"//@repeat needs one parameter name, got {arg!r}")
            node = _Repeat(arg, n)
            body.append(node)
            stack.append(node)
            body = node.body
        elif word == "include":
            if not _IDENT.match(arg):
                fail(f"//@include needs one shader name, got {arg!r}")
            body.append(_Include(arg, n))
        elif word == "uniform":
            if arg not in uniforms.BLOCKS:
                fail(f"//@uniform names no uniform block of runtime/uniforms.py: {arg!r}")
            body.append(_Uniform(arg, n))
        else:
            fail(f"unknown directive //@{word}")
    if stack:
        top = stack[-1]
        raise TemplateError(f"{name}.wgsl:{top.line}: //@{'if' if isinstance(top, _If) else 'repeat'} "
                            "is never closed")
    return root


def _open_body(node):
    if isinstance(node, _Repeat):
        return node.body
    return node.then if node.other is None else node.other


def _tree(name, includer=None):
    """The parsed template of shader ``name``; ``includer``: (file, line) of the
    //@include that names it, for the error when it does not exist."""
    try:
        text = source(name)
    except FileNotFoundError:
        if includer is None:
            raise
        raise TemplateError(f"{includer[0]}.wgsl:{includer[1]}: //@include {name}: there is no "
                            f"shaders/{name}.wgsl") from None
    return _parse(name, text)


def template_names(name: str, _chain=(), _includer=None) -> set:
    """Every parameter the shader and its includes mention, in any branch: the
    names of {{...}}, //@if and //@repeat (not the repeat index i)."""
    if name in _chain or len(_chain) > _MAX_DEPTH:
        raise TemplateError(f"{name}.wgsl: includes form a cycle: {' -> '.join(_chain + (name,))}")
    out = set()

    def walk(nodes, in_repeat):
        for node in nodes:
            if isinstance(node, str):
                out.update(v for v in _VAR.findall(node) if not (in_repeat and v == "i"))
            elif isinstance(node, _If):
                out.add(node.flag)
                walk(node.then, in_repeat)
                walk(node.other or (), in_repeat)
            elif isinstance(node, _Repeat):
                out.add(node.count)
                walk(node.body, True)
            elif isinstance(node, _Include):
                out.update(template_names(node.file, _chain + (name,), (name, node.line)))

    walk(_tree(name, _includer), False)
    return out


def render(name: str, params: dict) -> str:
    unused = set(params) - template_names(name)
    if unused:
        raise TemplateError(f"shader {name}.wgsl (with its includes) does not use the template "
                            f"parameter(s) {sorted(unused)}: misspelt, or no longer needed")
    out = []
    _emit(name, _tree(name), params, None, out, (name,))
    return "".join(out)


def _emit(name, nodes, params, index, out, chain):
    """Append the rendering of ``nodes`` (from shader ``name``) to ``out``;
    ``index``: the //@repeat index, inside a repeat."""
    for node in nodes:
        if isinstance(node, str):
            out.append(_VAR.sub(lambda m: _value(name, m.group(1), params, index), node)
                       if "{{" in node else node)
        elif isinstance(node, _If):
            v = params.get(node.flag)
            if not isinstance(v, bool):
                what = "is not a template parameter" if node.flag not in params else f"is {v!r}"
                raise TemplateError(f"{name}.wgsl:{node.line}: flag {node.flag} {what}; "
                                    "a //@if flag must be True or False")
            branch = node.then if v != node.negate else node.other
            _emit(name, branch or (), params, index, out, chain)
        elif isinstance(node, _Repeat):
            n = params.get(node.count)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise TemplateError(f"{name}.wgsl:{node.line}: //@repeat {node.count} needs a count "
                                    f"(an int >= 0), got {n!r}")
            for i in range(n):
                _emit(name, node.body, params, i, out, chain)
        elif isinstance(node, _Include):
            if node.file in chain or len(chain) > _MAX_DEPTH:
                raise TemplateError(f"{name}.wgsl:{node.line}: includes form a cycle: "
                                    f"{' -> '.join(chain + (node.file,))}")
            _emit(node.file, _tree(node.file, (name, node.line)), params, index, out, chain + (node.file,))
        else:
            out.append(uniforms.BLOCKS[node.block].wgsl)


def _value(name, key, params, index):
    if key == "i" and index is not None:
        return str(index)
    if key not in params:
        raise TemplateError(f"shader {name}.wgsl needs template parameter {key}")
    v = params[key]
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)

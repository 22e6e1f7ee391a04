"""The shader sources and their contract with the Python side: the template
language (runtime/shaders.py), the shader files the sources name, the template
parameters they pass, and the uniform blocks (runtime/uniforms.py), whose WGSL
struct and Python packer must lay a block out alike."""
import ast
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from wgpu_tensor.runtime import get_device, shaders, uniforms
from wgpu_tensor.runtime.shaders import TemplateError

ROOT = Path(__file__).resolve().parent.parent
SHADERS = sorted(p.stem for p in (ROOT / "shaders").glob("*.wgsl"))
SOURCES = sorted([*(ROOT / "wgpu_tensor").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")])


# ----------------------------------------------------------------- the template language
@pytest.fixture
def templates(monkeypatch):
    """Fake shader files: ``templates(name=text, ...)`` makes render() read them."""
    files = {}
    real = shaders.source
    monkeypatch.setattr(shaders, "source", lambda name: files[name] if name in files else real(name))

    def add(**texts):
        files.update({f"t_{k}": v for k, v in texts.items()})
    return add


def lines(text):
    return [ln for ln in text.splitlines() if ln]


def test_if_else_and_negation(templates):
    templates(a="//@if F\nyes\n//@else\nno\n//@endif\n//@if !F\nnot F\n//@endif\nend\n")
    assert lines(shaders.render("t_a", {"F": True})) == ["yes", "end"]
    assert lines(shaders.render("t_a", {"F": False})) == ["no", "not F", "end"]


def test_directives_nest(templates):
    templates(a="//@if A\n//@if !B\nA !B\n//@else\nA B\n//@endif\n//@repeat N\n"
                "//@if B\nb{{i}}\n//@else\nx{{i}}\n//@endif\n//@end\n//@else\nnot A\n//@endif\n")
    assert lines(shaders.render("t_a", {"A": True, "B": False, "N": 2})) == ["A !B", "x0", "x1"]
    assert lines(shaders.render("t_a", {"A": True, "B": True, "N": 3})) == ["A B", "b0", "b1", "b2"]
    assert lines(shaders.render("t_a", {"A": False, "B": True, "N": 3})) == ["not A"]


def test_flags_of_branches_not_taken_need_not_be_given(templates):
    templates(a="//@if A\n//@if B\nb\n//@endif\n//@endif\nend\n")
    assert lines(shaders.render("t_a", {"A": False, "B": True})) == ["end"]
    with pytest.raises(TemplateError, match=r"t_a\.wgsl:2: flag B is not a template parameter"):
        shaders.render("t_a", {"A": True})


def test_includes_render_with_the_same_params(templates):
    templates(a="top {{V}}\n//@if F\n//@include t_b\n//@endif\n", b="inner {{V}}\n//@include t_c\n",
              c="//@if !F\nunreachable\n//@else\ndeep {{V}}\n//@endif")
    assert lines(shaders.render("t_a", {"V": 7, "F": True})) == ["top 7", "inner 7", "deep 7"]
    assert lines(shaders.render("t_a", {"V": 7, "F": False})) == ["top 7"]
    assert shaders.template_names("t_a") == {"V", "F"}


def test_variables(templates):
    templates(a="{{N}} {{T}} {{F}} {{S}}\n")
    assert shaders.render("t_a", {"N": 3, "T": True, "F": False, "S": "u32"}) == "3 true false u32\n"
    with pytest.raises(TemplateError, match="needs template parameter S"):
        shaders.render("t_a", {"N": 3, "T": True, "F": False})


@pytest.mark.parametrize("value, why", [(None, "is not a template parameter"), (1, "is 1"),
                                        ("true", "is 'true'")])
def test_a_flag_must_be_a_bool(templates, value, why):
    templates(a="//@if F\nx\n//@endif\n")
    params = {} if value is None else {"F": value}
    with pytest.raises(TemplateError, match=rf"t_a\.wgsl:1: flag F {why}"):
        shaders.render("t_a", params)


def test_a_parameter_no_branch_mentions_raises(templates):
    templates(a="//@if FLAG\nx {{V}}\n//@endif\n", b="//@include t_a\n")
    with pytest.raises(TemplateError, match=r"does not use the template parameter\(s\) \['FALG'\]"):
        shaders.render("t_b", {"FLAG": True, "V": 1, "FALG": False})
    assert shaders.render("t_b", {"FLAG": False, "V": 1}) == ""  # V is used in the dead branch
    # The real kernels are checked the same way: a misspelt flag of a real call fails.
    with pytest.raises(TemplateError, match="SUBGROUP"):
        shaders.render("fill_tail", {"WG": 256, "BLOCK_WORDS": 1024, "SUBGROUP": True})


@pytest.mark.parametrize("text, message", [
    ("//@if A\nx\n", r"t_a\.wgsl:1: //@if is never closed"),
    ("//@repeat N\nx\n//@endif\n", r"t_a\.wgsl:3: //@endif does not close an open //@if"),
    ("//@if A\nx\n//@end\n", r"t_a\.wgsl:3: //@end does not close an open //@repeat"),
    ("x\n//@else\n", r"t_a\.wgsl:2: //@else without its //@if"),
    ("//@if A\n//@else\n//@else\n//@endif\n", r"t_a\.wgsl:3: //@else without its //@if"),
    ("//@endif\n", r"//@endif does not close"),
    ("//@fi A\n", r"t_a\.wgsl:1: unknown directive //@fi"),
    ("//@if A B\n//@endif\n", r"//@if needs one flag name"),
    ("//@uniform NoSuchParams\n", r"names no uniform block"),
    ("//@include t_missing\n", r"t_a\.wgsl:1: //@include t_missing: there is no shaders/t_missing\.wgsl"),
    ("//@include t_a\n", r"includes form a cycle"),
])
def test_malformed_templates_raise(templates, text, message):
    templates(a=text)
    with pytest.raises(TemplateError, match=message):
        shaders.render("t_a", {"A": True, "N": 1})


def test_repeat_needs_a_count(templates):
    templates(a="//@repeat N\n{{i}}\n//@end\n")
    assert lines(shaders.render("t_a", {"N": 0})) == []
    for bad in (True, -1, "2"):
        with pytest.raises(TemplateError, match="needs a count"):
            shaders.render("t_a", {"N": bad})


def test_uniform_directive_inserts_the_block(templates):
    templates(a="//@uniform SelectParams\n@group(0) @binding(0) var<uniform> P: SelectParams;\n")
    text = shaders.render("t_a", {})
    assert text.startswith(uniforms.SELECT.wgsl)
    assert "// elements in this segment" in text  # the field comments travel with it


# ----------------------------------------------------------------- shader files and their callers
def test_every_include_target_exists():
    for name in SHADERS:
        for target in re.findall(r"^[ \t]*//@include (\w+)", shaders.source(name), re.M):
            assert target in SHADERS, f"{name}.wgsl includes {target}, which has no file"


def test_every_shader_parses_and_declares_no_parameter_block_by_hand():
    for name in SHADERS:
        shaders.template_names(name)  # parses it and its includes (raises on malformed ones)
        assert not re.search(r"^\s*struct \w*Params\b", shaders.source(name), re.M), (
            f"{name}.wgsl declares a parameter struct by hand: use //@uniform")


def _kernel_calls():
    """(source file, kernel-name node, params node or None, size node or None) for every
    dev.kernel(...) and _block_kernel(...) call in the package and the benchmarks."""
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "kernel" and len(node.args) >= 2:
                size = node.args[3] if len(node.args) > 3 else None
                out.append((path, node.args[0], node.args[1], size, False))
            elif isinstance(f, ast.Name) and f.id == "_block_kernel" and len(node.args) >= 2:
                out.append((path, node.args[1], None, None, True))
    return out


def _literal_names(node):
    """The kernel names a name argument spells out: a string, or either side of an
    `a if c else b` of strings; [] for a computed name (as inside _block_kernel)."""
    if isinstance(node, ast.IfExp):
        return _literal_names(node.body) + _literal_names(node.orelse)
    return [node.value] if isinstance(node, ast.Constant) and isinstance(node.value, str) else []


def test_every_kernel_the_sources_name_has_a_shader():
    names = set()
    for path, name_node, _, _, block in _kernel_calls():
        for name in _literal_names(name_node):
            # _block_kernel picks name_sg.wgsl on adapters with subgroups
            names.update([name, name + "_sg"] if block else [name])
    assert {"elementwise", "select_onepass", "select_onepass_sg", "count_blocks_sg", "reduce",
            "index_move", "sort_tile", "copy_vec4"} <= names
    missing = sorted(n for n in names if n not in SHADERS)
    assert not missing, f"kernels without a shader file: {missing}"


def test_params_sizes_come_from_uniform_blocks():
    """dev.kernel's params_size comes from a block (BLOCK.size), never a literal
    (runtime/device.py's subgroup probe, whose block is unused, is the exception)."""
    for path, _, _, size, _ in _kernel_calls():
        if size is None or path.name == "device.py":
            continue
        assert not isinstance(size, ast.Constant), f"{path.name}:{size.lineno}: a literal params_size"


def _passed_names():
    """{UPPER_CASE name: [where]} of the template parameters the Python sources spell
    out: string keys of dict displays and keyword arguments (as to _flags or dict)."""
    upper = re.compile(r"^[A-Z][A-Z0-9_]*$")
    out = {}
    for path in SOURCES:
        if "runtime" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            keys = []
            if isinstance(node, ast.Dict):
                keys = [(k.value, k.lineno) for k in node.keys
                        if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            elif isinstance(node, ast.Call):
                keys = [(kw.arg, kw.value.lineno) for kw in node.keywords if kw.arg]
            for k, line in keys:
                if upper.match(k):
                    out.setdefault(k, []).append(f"{path.name}:{line}")
    return out


def test_every_parameter_the_sources_pass_is_used_by_a_shader():
    """A misspelt flag name in the Python sources names no shader's parameter (the
    renderer also refuses it for the kernel it is passed to: see
    test_a_parameter_no_branch_mentions_raises)."""
    used = set().union(*(shaders.template_names(n) for n in SHADERS))
    passed = _passed_names()
    assert {"SUBGROUPS", "FUSED", "FULL", "VALUES", "SPLIT", "DIRECT", "FLOAT", "CAS"} <= set(passed)
    unknown = {k: v for k, v in passed.items() if k not in used}
    assert not unknown, f"template parameters no shader mentions: {unknown}"


def test_literal_kernel_params_are_used_by_their_shader():
    for path, name_node, params, _, _ in _kernel_calls():
        if not (isinstance(name_node, ast.Constant) and isinstance(params, ast.Dict)):
            continue
        keys = {k.value for k in params.keys if isinstance(k, ast.Constant)}
        extra = keys - shaders.template_names(name_node.value)
        assert not extra, f"{path.name}:{params.lineno}: {name_node.value} does not use {extra}"


# ----------------------------------------------------------------- uniform blocks
_TYPE = re.compile(r"^(u32|f32|vec4<u32>|array<vec4<u32>, (\d+)>)$")


def wgsl_layout(text):
    """[(name, type, byte offset, words)] and the byte size of the one struct in
    ``text``, by WGSL's layout rules for the types the blocks use."""
    fields, pos, align = [], 0, 4
    body = re.search(r"struct \w+ \{\n(.*?)\n\}", text, re.S).group(1)
    for line in body.splitlines():
        decl = line.split("//")[0].strip()
        if not decl:
            continue
        name, typ = (s.strip() for s in decl.rstrip(",").split(":", 1))
        m = _TYPE.match(typ)
        assert m, f"a type the blocks do not use: {typ}"
        size, a = (4, 4) if typ in ("u32", "f32") else (16 * int(m.group(2) or 1), 16)
        pos = -(-pos // a) * a
        fields.append((name, typ, pos, size // 4))
        pos += size
        align = max(align, a)
    return fields, -(-pos // align) * align


@pytest.mark.parametrize("name", sorted(uniforms.BLOCKS))
def test_uniform_block_sizes_agree(name):
    block = uniforms.BLOCKS[name]
    fields, size = wgsl_layout(block.wgsl)
    assert block.size == size == block.struct.size == len(block.pack(*_args(block)))
    assert [f[0] for f in fields] == [f.name for f in block.fields]
    assert [f[2] for f in fields] == list(block.offsets)
    assert size % 16 == 0  # Device binds params_size rounded up to 16


def _args(block):
    """Distinct values for every packed word: u32 words big (so a word packed into
    the wrong place or truncated shows), f32 words with a fraction."""
    args = []
    for f in block.fields:
        if f.code == "f":
            args.append(1.5 + len(args))
        elif f.code == "I":
            args.extend(0xA5000000 + 0x10001 * (len(args) + k) for k in range(f.words))
    return args


def _copy_shader(block):
    """A kernel that copies block P, field by field as its WGSL text declares them,
    into the u32 words of OUT at their WGSL offsets."""
    stores = []
    fields, _ = wgsl_layout(block.wgsl)
    for name, typ, off, words in fields:
        w = off // 4
        if typ == "u32":
            stores.append(f"OUT[{w}u] = P.{name};")
        elif typ == "f32":
            stores.append(f"OUT[{w}u] = bitcast<u32>(P.{name});")
        elif typ == "vec4<u32>":
            stores += [f"OUT[{w + k}u] = P.{name}[{k}];" for k in range(4)]
        else:
            stores += [f"OUT[{w + 4 * j + k}u] = P.{name}[{j}][{k}];"
                       for j in range(words // 4) for k in range(4)]
    body = "\n    ".join(stores)
    return (f"//@uniform {block.name}\n"
            f"@group(0) @binding(0) var<uniform> P: {block.name};\n"
            "@group(0) @binding(1) var<storage, read_write> OUT: array<u32>;\n"
            f"@compute @workgroup_size(1)\nfn main() {{\n    {body}\n}}\n")


@pytest.mark.parametrize("name", sorted(uniforms.BLOCKS))
def test_uniform_block_round_trip_on_the_device(templates, name):
    """What the packer writes is what the shader reads, field by field."""
    block = uniforms.BLOCKS[name]
    templates(**{f"copy_{name}": _copy_shader(block)})
    dev = get_device()
    k = dev.kernel(f"t_copy_{name}", {}, ["rw"], block.size)
    packed = block.pack(*_args(block))
    out = dev.alloc(block.size)
    try:
        dev.clear(out, 0, block.size)
        dev.dispatch(k, packed, [(out, 0, block.size)], 1)
        got = dev.read(out, 0, block.size)
    finally:
        dev.release(out)
    np.testing.assert_array_equal(got.view(np.uint32), np.frombuffer(packed, np.uint32))


def test_reduce_packs_denom_as_a_float():
    fields = {f.name: f for f in uniforms.REDUCE.fields}
    assert fields["denom"].wgsl == "f32"
    args = [0] * 9 + [3.0] + [0] * 38
    assert struct.unpack_from("<f", uniforms.REDUCE.pack(*args), uniforms.REDUCE.offsets[9])[0] == 3.0

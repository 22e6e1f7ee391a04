"""The public API documents itself: every public function, Tensor method and property
has a docstring with an example, and every example runs (a doctest) and prints what
its docstring says.

The public API is what a user reaches: the callables of ``wt.`` (the declared ops'
functions, the composites, the hand-written helpers), ``wt.nn.functional``, and every
attribute of ``wt.Tensor`` not starting with ``_``. A shared docstring (``wt.exp`` and
``Tensor.exp`` come from one declaration) runs once. Examples use tiny tensors.
"""
import ast
import doctest
import inspect
import runpy
import types
from pathlib import Path

import numpy as np
import pytest

import wgpu_tensor as wt
import wgpu_tensor.nn.functional as F
from wgpu_tensor import dtypes as D
from wgpu_tensor.ops import creation as C

REPO = Path(__file__).resolve().parent.parent


def public_api():
    """{"wt.name" / "Tensor.name" / "F.name": the object whose docstring documents it}."""
    api = {}
    for name in dir(wt):
        obj = getattr(wt, name)
        if name.startswith("_") or isinstance(obj, (types.ModuleType, wt.DType)) or not callable(obj):
            continue
        api[f"wt.{name}"] = obj
    for name in dir(F):
        obj = getattr(F, name)
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == F.__name__:
            api[f"F.{name}"] = obj
    for name in dir(wt.Tensor):
        if not name.startswith("_"):
            api[f"Tensor.{name}"] = documented(wt.Tensor, name)
    return api


def documented(cls, name):
    """What documents attribute ``name`` of ``cls``: the function or property itself; a
    slot (``grad``) has no docstring of its own and is documented in the class docstring."""
    attr = inspect.getattr_static(cls, name)
    if isinstance(attr, types.MemberDescriptorType):
        return cls
    return attr


def undocumented(api):
    """The names whose docstring is missing, does not start with a line saying what it
    does, or has no example (no ``>>>`` line)."""
    missing = []
    for name, obj in api.items():
        doc = inspect.getdoc(obj) or ""
        if obj is wt.Tensor and name != "wt.Tensor":  # a slot: the class docstring must name it
            doc = doc if f"``{name.split('.')[-1]}``" in doc else ""
        lines = doc.strip().splitlines()
        if not lines or lines[0].lstrip().startswith(">>>") or ">>>" not in doc:
            missing.append(name)
    return missing


def run_examples(api):
    """Run every distinct docstring's examples once; (examples run, failure reports)."""
    parser, seen = doctest.DocTestParser(), set()
    ran, failures = 0, []
    for name, obj in sorted(api.items()):
        doc = inspect.getdoc(obj) or ""
        if doc in seen:
            continue
        seen.add(doc)
        test = parser.get_doctest(doc, {"wt": wt, "np": np}, name, None, 0)
        out = []
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        result = runner.run(test, out=out.append, clear_globs=True)
        ran += result.attempted
        if result.failed:
            failures.append("".join(out))
    return ran, failures


def test_every_public_name_has_a_docstring_with_an_example():
    api = public_api()
    assert len(api) > 300, sorted(api)  # the collection itself did not go quiet
    assert undocumented(api) == []


def test_the_checker_finds_an_undocumented_function():
    def planted(x):
        return x

    def no_example(x):
        """Returns x."""
        return x

    def blank_first_line(x):
        """
        >>> 1
        1
        """
    api = {**public_api(), "wt.planted": planted, "wt.no_example": no_example,
           "wt.blank_first_line": blank_first_line}
    assert undocumented(api) == ["wt.planted", "wt.no_example", "wt.blank_first_line"]


def test_the_runner_reports_a_wrong_example():
    def wrong():
        """Claims a wrong sum.

        >>> (wt.tensor([1, 2]) + 1).tolist()
        [2, 4]
        """
    ran, failures = run_examples({"wt.wrong": wrong})
    assert ran == 1 and len(failures) == 1 and "[2, 3]" in failures[0]


def test_every_example_runs():
    api = public_api()
    # The examples touch process state (the sync mode, the seed generator, the one
    # warning about 64-bit dtypes): leave it as it was for the tests that follow.
    mode, seeds, warned = wt.get_sync_debug_mode(), C._seed_gen.getstate(), list(D._WARNED_64)
    wt.set_sync_debug_mode("default")  # examples print tensors (an implicit read)
    try:
        ran, failures = run_examples(api)
    finally:
        wt.set_sync_debug_mode(mode)
        C._seed_gen.setstate(seeds)
        D._WARNED_64[:] = warned
    assert not failures, f"{len(failures)} docstrings fail:\n" + "\n".join(failures)
    # Aliases and a function and its method share one docstring, run once; still there
    # are at least as many examples as public names, so the run cannot go quiet.
    assert ran >= len(api), (ran, len(api))


@pytest.mark.parametrize("name", ["masked_select"])
def test_masked_select_help_explains_the_fixed_size_result(name):
    doc = inspect.getdoc(getattr(wt, name))
    for words in ("fixed-size", "count", "[N]", "fill_value", "x[mask]", "masked_select_async"):
        assert words in doc, words


def test_generated_functions_show_their_parameters():
    sig = inspect.signature(wt.masked_select)
    assert list(sig.parameters) == ["x", "mask", "out", "fill_value"]
    assert "Tensor" in str(sig.parameters["x"].annotation)
    assert "View" not in str(sig)
    msig = inspect.signature(wt.Tensor.masked_select)
    assert list(msig.parameters)[:2] == ["self", "mask"]
    assert list(inspect.signature(wt.sum).parameters)[:3] == ["x", "dim", "keepdim"]
    assert "dim" in inspect.signature(wt.Tensor.sum).parameters
    for name, obj in public_api().items():
        if inspect.isfunction(obj) and name.startswith("wt."):
            assert "View" not in str(inspect.signature(obj)), name


def test_type_stubs_are_up_to_date_and_list_the_public_api():
    """The generated functions and Tensor methods exist only at run time: the stubs
    show them to static checkers and IDEs, so they must match the declarations."""
    stubs = runpy.run_path(str(REPO / "scripts" / "gen_stubs.py"))["stubs"]()
    for path, text in stubs.items():
        on_disk = (REPO / path).read_text()
        assert on_disk == text, f"{path} is stale: run `python scripts/gen_stubs.py`"
        ast.parse(text)
    declared = set()
    for path in stubs:
        for node in ast.walk(ast.parse(stubs[path])):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                declared.add(node.name)
            elif isinstance(node, ast.AnnAssign):
                declared.add(node.target.id)
            elif isinstance(node, ast.ImportFrom):  # `from .tensor import Tensor as Tensor` re-exports
                declared.update(a.asname for a in node.names if a.asname == a.name)
    names = {name.split(".", 1)[1] for name in public_api() if not name.startswith("F.")}
    assert names - declared == set()
    assert ("def masked_select(x: Tensor, mask: Tensor, out: Tensor | None = ..., "
            "fill_value: _float | None = ...) -> Tensor: ...") in stubs["wgpu_tensor/__init__.pyi"]

"""Every script in examples/ runs, and prints what it claims."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(name):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def line(out, label):
    for ln in out.splitlines():
        if ln.startswith(label):
            return ln[len(label):].strip()
    raise AssertionError(f"no line {label!r} in:\n{out}")


def test_seed001_example():
    out = run("seed001_masked_select.py")
    assert line(out, "x.masked_select(mask) shape") == "[6]"
    assert line(out, "  .count") == "3"
    assert line(out, "  packed first") .endswith("[4, 5, 6, '?', '?', '?']")
    assert line(out, "await x.masked_select_async(mask)") == "[4, 5, 6]"
    assert line(out, "y.masked_select(y.ne(0)) first .count") == "[7, 3, 9]"
    assert line(out, "await y.nonzero_async()") == "[[0, 1], [1, 0], [1, 2]]"
    assert line(out, "float padding mask").startswith("TypeError: masked_select: expected BoolTensor")
    assert line(out, "valid logits kept (5 tokens x 3)") == "[15]"
    assert line(out, "masked_attn.count (2 batches x 10)") == "20"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_every_example_runs(name):
    assert run(name).strip()

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
    assert line(out, "  the counted result") == "tensor([4, 5, 6], count=3 of 6)"
    assert line(out, "  selected.sum() (valid elements only)") == "15"
    assert line(out, "await x.masked_select_async(mask)") == "[4, 5, 6]"
    assert line(out, "y.masked_select(y.ne(0)) first .count") == "[7, 3, 9]"
    assert line(out, "await y.nonzero_async()") == "[[0, 1], [1, 0], [1, 2]]"
    assert line(out, "float padding mask").startswith("TypeError: masked_select: expected BoolTensor")
    assert line(out, "valid logits kept (5 tokens x 3)") == "[15]"
    assert line(out, "masked_attn.count (2 batches x 10)") == "20"
    assert line(out, "inliers.count of 1000") == "901"      # ranks 50..950 inclusive


def test_seed002_example():
    out = run("seed002_zero_out.py")
    assert line(out, "threshold mask") == "[False, True, False, True, True]"
    assert line(out, "threshold result") == "[1.0, 0.0, 0.5, 0.0, 0.0]"
    assert line(out, "range example as printed") == (
        "ValueError: shapes (5,) and (3,) do not broadcast (dimension -1: 5 vs 3)")
    assert line(out, "range mask shape") == "[3, 5]"
    assert line(out, "inside any range") == "[True, True, True, True, True]"
    assert line(out, "range result") == "[0.0, 0.0, 0.0, 0.0, 0.0]"
    assert line(out, "narrow range result") == (
        "[0.0, 2.200000047683716, 0.0, 0.699999988079071, 1.2000000476837158]")
    assert line(out, "isin result") == "[1, 0, 3, 4, 0, 6, 7, 0, 9]"


def test_seed003_example():
    out = run("seed003_mask_assign.py")
    assert line(out, "1-D destination (before)") == "[0.0, 0.0, 0.0, 0.0, 0.0]"
    assert line(out, "1-D destination (after)") == "[10.0, 0.0, 30.0, 0.0, 50.0]"
    assert line(out, "2-D destination (after)") == "[[1.0, 0.0], [0.0, 4.0]]"
    assert line(out, "masked_scatter(cond, masked_select)") == "[[1.0, 0.0], [0.0, 4.0]]"
    assert line(out, "example 3 as printed") == (
        "IndexError: The shape of the mask [3, 2] at index 1 does not match the shape of the "
        "indexed tensor [3, 1] at index 1")
    assert line(out, "destination untouched") == "[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]"
    assert line(out, "example 3 with expand_as") == "[[100.0, 0.0], [0.0, 200.0], [300.0, 0.0]]"
    wheres = [ln for ln in out.splitlines() if ln.startswith("where(cond, source, dest)")]
    assert [w[len("where(cond, source, dest)"):].strip() for w in wheres] == ["[[1.0, 0.0], [0.0, 4.0]]",
                                                     "[[100.0, 0.0], [0.0, 200.0], [300.0, 0.0]]"]


def test_seed004_example():
    out = run("seed004_mask_functions.py")
    assert line(out, "lengths mask") == ("[[True, True, False, False, False], [True, True, True, True, False], "
                                         "[True, True, True, False, False]]")
    assert line(out, "nonzeros per row of data * mask") == "[2, 4, 3]"
    assert line(out, "masked tensor equals where(mask, data, 0)") == "True"
    assert line(out, "indices mask") == "[True, True, False, True, True, False, True, False, True, True]"
    assert line(out, "indices masked tensor") == "[0.0, 1.0, 0.0, 3.0, 4.0, 0.0, 6.0, 0.0, 8.0, 9.0]"
    ids = eval(line(out, "token ids"))              # seeded randint: check the rest against it
    assert len(ids) == 12 and all(0 <= i < 10 for i in ids)
    keep = [i not in (2, 4, 7) for i in ids]
    assert line(out, "token mask") == str(keep)
    assert line(out, "token masked tensor") == str([float(i) if k else 0.0 for i, k in zip(ids, keep)])
    assert line(out, "tokens kept (masked_select_async)") == str([i for i, k in zip(ids, keep) if k])


def test_autograd_example_loss_goes_down():
    out = run("autograd_masked_loss.py")
    losses = [float(ln.split()[-1]) for ln in out.splitlines() if ln.startswith("step ")]
    assert len(losses) == 8 and all(b < a for a, b in zip(losses, losses[1:]))
    assert line(out, "real entries selected:") == "18 (of 36)"
    assert line(out, "loss went down:") == "True"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_every_example_runs(name):
    assert run(name).strip()


def test_fixed_size_pipeline_example():
    """Counted results: statistics and a masked loss with zero reads, equal to x[mask]'s."""
    out = run("fixed_size_pipeline.py")
    assert line(out, "fixed-size result shape") == "[100000]"
    assert line(out, "reads while computing (fixed-size)") == "0"
    assert line(out, "reads while computing (x[mask])") == "1"
    fixed, exact = line(out, "mean, fixed-size / exact").split(" / ")
    assert fixed == exact
    fixed, exact = line(out, "max, fixed-size / exact").split(" / ")
    assert fixed == exact
    assert line(out, "masked loss, reads before printing") == "0"
    grad = eval(line(out, "gradient (zero where not valid)"))  # noqa: S307 (our own printed list)
    assert [g == 0.0 for g in grad] == [i % 3 == 0 for i in range(12)]


def test_attention_masking_example():
    out = run("attention_masking.py")
    assert line(out, "padding mask (lengths 5, 3, 4)") == (
        "[[True, True, True, True, True], [True, True, True, False, False], [True, True, True, True, False]]")
    assert line(out, "causal mask row 2") == "[True, True, True, False, False]"
    assert line(out, "combined mask of sequence 1") == (
        "[[True, False, False, False, False], [True, True, False, False, False], "
        "[True, True, True, False, False], [True, True, True, False, False], [True, True, True, False, False]]")
    w = eval(line(out, "attention weights, sequence 1, query 4"))   # numbers: tests/test_attention.py
    assert len(w) == 5 and w[3:] == [0.0, 0.0] and abs(sum(w) - 1) < 1e-3
    assert line(out, "sdpa output shape") == "[3, 5, 4]"
    assert line(out, "sdpa matches masked_fill + softmax") == "True"
    assert line(out, "weight on padded keys (padding mask only)") == "0.0"
    assert line(out, "is_causal equals the tril mask") == "True"
    assert line(out, "masked mean pooling shape") == "[3, 4]"
    assert len(eval(line(out, "pooled (mean of the real tokens)"))) == 3


def test_wgpu_interop_example():
    """A raw-wgpu kernel dispatched indirectly over exactly what masked_select kept,
    with no read by wgpu_tensor in between."""
    out = run("wgpu_interop.py")
    n = int(line(out, "elements in the program's buffer"))
    k = int(line(out, "selected (numpy)"))
    assert n == 100_003 and 0 < k < n
    assert int(line(out, "selected (sel.count, read at the end)")) == k
    assert int(line(out, "invocations that squared a value")) == k
    assert line(out, "indirect dispatch args (read at the end)") == str([-(-k // 64), 1, 1])
    assert line(out, "squares match numpy") == "True"
    assert line(out, "untouched past the count") == "True"
    assert line(out, "host syncs by wgpu_tensor (sync_count)") == "0"
    assert line(out, "GPU-to-CPU reads by wgpu_tensor (counters)") == "0"

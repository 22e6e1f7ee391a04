"""Smoke run of benchmarks/bench_select.py with tiny arguments: it runs end to end,
checks what it timed against numpy, and writes its JSON."""
import importlib.util
import json
from pathlib import Path

import pytest

import wgpu_tensor as wt

ROOT = Path(__file__).resolve().parent.parent


def _bench(name="bench_select"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("wall", [False, True])
def test_bench_select_smoke(tmp_path, wall):
    args = ["--sizes", "12", "--fracs", "0.01,0.5", "--repeat", "1", "--small-ops", "20",
            "--out", str(tmp_path), "--no-plot"] + (["--wall"] if wall else [])
    res = _bench().main(args)
    data = json.loads(Path(res["json"]).read_text())
    assert data["async_bytes_ok"]
    assert [r["frac"] for r in data["rows"]] == [0.01, 0.5]
    for r in data["rows"]:
        assert r["async_bytes_read"] == 4 + 4 * r["k"] < 4 * r["n"] or r["k"] == r["n"]
        for name in ("copy_kernel", "masked_select", "masked_select_async", "x[mask]", "nonzero",
                     "compare", "masked_select(x>t)", "x[x>t]", "x[(x>a)&(x<b)]", "count_nonzero(x>t)",
                     "(x>t).sum()", "(x>t).any()", "numpy x[m]", "numpy x[x>t]"):
            assert r["times"][name]["wall"] > 0
    dev = wt._get_device()
    timed = dev.has_timestamps and not wall
    assert data["timing"].startswith("device") == timed
    assert (data["rows"][0]["times"]["masked_select"]["device"] is not None) == timed
    assert data["small_op"]["ratio"] > 0
    for r in data["rows"]:
        assert set(r["ratio_vs_select"]) == {"masked_select(x>t)", "x[x>t]", "x[(x>a)&(x<b)]",
                                             "count_nonzero(x>t)", "(x>t).sum()", "(x>t).any()"}


def test_bench_copy_variants_smoke():
    """Every store variant builds and runs; the vec4 copy is checked inside."""
    best = _bench("bench_copy_variants").main(["--log2n", "12", "--repeat", "1"])
    assert set(best) == {"VEC4", "SCALAR", "SCATTERED", "LOAD_ONLY"}
    assert all(t > 0 for t in best.values())

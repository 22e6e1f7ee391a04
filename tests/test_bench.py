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


@pytest.mark.parametrize("dtype", ["float32", "int32", "float16"])
def test_bench_mask_reduce_smoke(dtype):
    """Every entry runs (results checked and fusion asserted inside) and is timed."""
    out = _bench("bench_mask_reduce").main(["--log2n", "12", "--repeat", "1", "--dtype", dtype])
    assert {"copy kernel", "loads only", "count_nonzero(x>t)", "(x>max).any() (none)"} <= set(out)
    assert all(best > 0 for best, *_ in out.values())


def test_bench_copy_variants_smoke():
    """Every store variant builds and runs; the vec4 copy is checked inside."""
    best = _bench("bench_copy_variants").main(["--log2n", "12", "--repeat", "1"])
    assert set(best) == {"VEC4", "SCALAR", "SCATTERED", "LOAD_ONLY"}
    assert all(t > 0 for t in best.values())


def test_gpu_bench_quick(tmp_path):
    """scripts/gpu-bench.sh --quick end to end on this adapter: the adapter check, the
    test subset, bench_select and bench_async, and the summary JSON with sane figures."""
    import os
    import subprocess
    import sys
    p = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-bench.sh"), "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads((tmp_path / "gpu-bench.json").read_text())
    assert {"host", "adapter", "tests", "bench_select", "bench_async", "seconds"} <= set(res)
    assert res["quick"] and res["adapter"]["name"] == wt.device_info()["name"]
    t = res["tests"]
    assert t["rc"] == 0 and t["passed"] >= 3 and t["failed"] == t["errors"] == 0
    row = res["bench_select"]["rows"][0]
    assert row["n"] == 2 ** 12 and row["async_bytes_read"] == 4 + 4 * row["k"]
    assert all(0 < v < 1e4 for v in row["ratio_vs_copy"].values())
    assert all(v["wall"] > 0 for v in row["times"].values())
    assert (tmp_path / res["bench_select_run"]["json"]).exists()
    assert res["bench_async"]["tasks"] == 6 and 0 < res["bench_async"]["plain"]["max_gap_ms"] < 60_000
    try:
        import matplotlib  # noqa: F401
        assert res["png"] and (tmp_path / res["png"]).exists()
    except ImportError:
        assert res["png"] is None and "matplotlib" in res["png_missing_because"]
    assert (tmp_path / "tests.log").read_text().count("=====") == 3


def test_bench_select_parts_smoke():
    """The profile's kernel variants build and run; the full variants are checked
    against numpy inside (masked_select's output and nonzero's, both ways)."""
    if not wt._get_device().use_subgroups:
        pytest.skip("bench_select_parts needs the subgroup path")
    res = _bench("bench_select_parts").main(["--log2n", "14", "--repeat", "1", "--skip-real", "--small-ops", "20"])
    assert set(res["times"]) == {"copy kernel", "select: all", "select: no stores", "select: rank only",
                                 "select: loads only", "nonzero: all", "nonzero: no stores",
                                 "nonzero: rank only", "nonzero: loads only", "nonzero: all, sparse, flat index"}
    assert all(t > 0 for t in res["times"].values())
    assert set(res["select"]) == set(res["nonzero"]) == {"loads", "ranking", "look-back", "stores"}
    assert res["small_op"]["ops"] == 20 and res["small_op"]["top"]


def test_bench_interop_smoke():
    """The three ways to run a caller's kernel over a selection run and are checked
    against numpy inside; every case gets a time."""
    best = _bench("bench_interop").main(["--log2n", "10", "--repeat", "1"])
    assert set(best) == {"indirect", "read count", "full grid", "copy kernel", "numpy"}
    assert all(t > 0 for t in best.values())


def test_bench_fused_passes_smoke():
    """The three-pass consumers of a lazy mask run fused (the script asserts it and checks
    each result against numpy) and get a time beside the written-mask form; the kernel
    choice it forces is restored."""
    from wgpu_tensor.ops import select as S
    before = S.ONEPASS_KERNEL
    out = _bench("bench_fused_passes").main(["--log2n", "12", "--repeat", "1"])
    assert S.ONEPASS_KERNEL == before
    assert set(out) == {"nonzero(x>t)", "masked_select(x>t) 3-pass", "masked_scatter(x>t, src)", "y[x>t] = v"}
    assert all(best > 0 and ratio > 0 for best, ratio, _, _ in out.values())

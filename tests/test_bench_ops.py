"""Smoke run of benchmarks/bench_ops.py at tiny sizes: every row runs end to end,
checks what it timed against numpy, and reports positive figures."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_ops_smoke():
    spec = importlib.util.spec_from_file_location("bench_ops", ROOT / "benchmarks" / "bench_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--matmul-n", "65", "--softmax-shape", "33,70", "--fma-iters", "2",
                    "--topk-log2n", "12", "--topk-k", "5", "--repeat", "1"])
    assert set(res["rows"]) == set(mod.ROWS) == {"matmul", "matmul_bt", "matmul_tiled", "fma_peak", "softmax", "topk"}
    for name in ("matmul", "matmul_bt", "matmul_tiled", "fma_peak"):
        r = res["rows"][name]
        assert r["gflops"] > 0 and r["numpy_gflops"] > 0 and r["ratio_to_numpy"] > 0
    sm, tk = res["rows"]["softmax"], res["rows"]["topk"]
    assert sm["ms"] > 0 and sm["copy_ms"] > 0
    assert tk["ms"] > 0 and tk["numpy_ms"] > 0

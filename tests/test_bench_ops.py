"""Smoke run of benchmarks/bench_ops.py at tiny sizes: every row runs end to end,
checks what it timed against numpy, and reports positive figures."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_ops_smoke():
    spec = importlib.util.spec_from_file_location("bench_ops", ROOT / "benchmarks" / "bench_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--matmul-n", "65", "--softmax-shape", "33,70", "--repeat", "1"])
    assert set(res["rows"]) == set(mod.ROWS) == {"matmul", "softmax"}
    mm, sm = res["rows"]["matmul"], res["rows"]["softmax"]
    assert mm["gflops"] > 0 and mm["numpy_gflops"] > 0 and mm["ratio_to_numpy"] > 0
    assert sm["ms"] > 0 and sm["copy_ms"] > 0

"""Benchmark: reductions against a plain vec4 copy kernel and numpy, in one process.

    python benchmarks/bench_reduce.py [--log2n 24] [--repeat 5]

Times (median wall time of --repeat runs, each ending in a GPU sync) on the current
adapter, for n = 2**log2n float32 elements: the copy kernel (shaders/copy_vec4.wgsl:
reads and writes 4n bytes; a reduction reads 4n), x.sum() and numpy's sum, then a few
other shapes (rows, columns, many short rows, bool any). Checks each timed result
against numpy and prints the ratios.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from bench_select import copy_kernel, timeit  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log2n", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    dev = get_device()
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']})")
    n = 2 ** args.log2n
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    x = wt.tensor(a)
    dst = wt.empty(n)
    sync = dev.synchronize
    t_copy = timeit(lambda: copy_kernel(dev, x, dst, n), args.repeat, sync)
    t_sum = timeit(lambda: x.sum(), args.repeat, sync)
    t_np = timeit(lambda: a.sum(), args.repeat, lambda: None)
    got = x.sum().item()
    exact = a.astype(np.float64).sum()
    print(f"n = 2^{args.log2n} float32: sum {t_sum * 1e3:.2f} ms, copy kernel {t_copy * 1e3:.2f} ms, "
          f"numpy sum {t_np * 1e3:.2f} ms")
    print(f"  sum / copy kernel = {t_sum / t_copy:.2f}x, sum / numpy = {t_sum / t_np:.2f}x, "
          f"relative error vs float64 {abs(got - exact) / exact:.1e} (numpy float32: "
          f"{abs(float(a.sum()) - exact) / exact:.1e})")
    side = 2 ** (args.log2n // 2)
    cases = [
        ("rows   [2^k, 2^k].sum(1)", x.reshape(side, -1), a.reshape(side, -1), lambda t: t.sum(1),
         lambda v: v.sum(1)),
        ("columns[2^k, 2^k].sum(0)", x.reshape(side, -1), a.reshape(side, -1), lambda t: t.sum(0),
         lambda v: v.sum(0)),
        ("short  [n/3, 3].sum(1)", x[: n // 3 * 3].reshape(-1, 3), a[: n // 3 * 3].reshape(-1, 3),
         lambda t: t.sum(1), lambda v: v.sum(1)),
        ("amax()", x, a, lambda t: t.amax(), lambda v: v.max()),
        ("bool any() (n bytes)", x > 2.0, a > 2.0, lambda t: t.any(), lambda v: v.any()),
        ("bool count_nonzero()", x > 0.5, a > 0.5, lambda t: t.count_nonzero(), np.count_nonzero),
    ]
    for name, t, v, f, g in cases:
        tt = timeit(lambda: f(t), args.repeat, sync)
        tn = timeit(lambda: g(v), args.repeat, lambda: None)
        np.testing.assert_allclose(f(t).numpy(), g(v), rtol=1e-4)
        print(f"  {name:28s} {tt * 1e3:8.2f} ms  {tt / t_copy:5.2f}x copy  {tt / tn:6.2f}x numpy")


if __name__ == "__main__":
    main()

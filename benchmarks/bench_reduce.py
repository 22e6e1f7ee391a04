"""Benchmark: reductions against a plain vec4 copy kernel and numpy, in one process.

    python benchmarks/bench_reduce.py [--log2n 24] [--repeat 7]

Times on the current adapter, for n = 2**log2n float32 elements: the copy kernel
(shaders/copy_vec4.wgsl: reads and writes 4n bytes; a reduction reads 4n), x.sum() and
numpy's sum, then other shapes (rows, columns, many short rows, amax, bool any and
count_nonzero) and their numpy counterparts. Each time is the best of --repeat rounds
in which every case runs once (GPU cases end in a sync). Checks each timed result
against numpy and prints the ratios.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from bench_select import copy_kernel  # noqa: E402


def best_of(cases, repeat, sync):
    """Minimum wall time of each case over ``repeat`` rounds, the cases interleaved in
    every round (robust to a shared machine whose load changes during the run)."""
    for f, _ in cases.values():
        f()
    sync()
    best = {k: float("inf") for k in cases}
    for _ in range(repeat):
        for k, (f, own_sync) in cases.items():
            t0 = time.perf_counter()
            f()
            (own_sync or sync)()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log2n", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    dev = get_device()
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']})")
    n = 2 ** args.log2n
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    x = wt.tensor(a)
    dst = wt.empty(n)
    side = 2 ** (args.log2n // 2)
    x2, a2 = x.reshape(side, -1), a.reshape(side, -1)
    x3, a3 = x[: n // 3 * 3].reshape(-1, 3), a[: n // 3 * 3].reshape(-1, 3)
    m, mn = x > 0.5, a > 0.5
    host = lambda: None  # noqa: E731
    ours = {  # name: (ours, numpy)
        "sum()": (lambda: x.sum(), lambda: a.sum()),
        "rows [2^k, 2^k].sum(1)": (lambda: x2.sum(1), lambda: a2.sum(1)),
        "columns [2^k, 2^k].sum(0)": (lambda: x2.sum(0), lambda: a2.sum(0)),
        "short rows [n/3, 3].sum(1)": (lambda: x3.sum(1), lambda: a3.sum(1)),
        "amax()": (lambda: x.amax(), lambda: a.max()),
        "bool any() (n bytes)": (lambda: m.any(), lambda: mn.any()),
        "bool count_nonzero()": (lambda: m.count_nonzero(), lambda: np.count_nonzero(mn)),
        # Counted results (masked_select's fixed-size [n] with its count on the GPU):
        # the same reduction, stopped at the count inside the kernel.
        "counted sum(), count = n": (lambda: full.sum(), lambda: a.sum()),
        "counted mean(), count = n": (lambda: full.mean(), lambda: a.mean()),
        "counted sum(), count ~ n/2": (lambda: half.sum(), lambda: a[mn].sum()),
    }
    full, half = x.masked_select(x >= 0), x.masked_select(m)
    cases = {"copy kernel": (lambda: copy_kernel(dev, x, dst, n), None)}
    for k, (f, g) in ours.items():
        cases[k] = (f, None)
        cases["numpy " + k] = (g, host)
    best = best_of(cases, args.repeat, dev.synchronize)
    for k, (f, g) in ours.items():  # what was timed is right
        np.testing.assert_allclose(f().numpy(), g(), rtol=1e-4)
    t_copy = best["copy kernel"]
    exact = a.astype(np.float64).sum()
    print(f"n = 2^{args.log2n} float32 ({n:,}); best of {args.repeat} interleaved rounds, each ending "
          f"in a GPU sync; copy kernel {t_copy * 1e3:.2f} ms")
    print(f"sum() relative error vs float64: {abs(x.sum().item() - exact) / exact:.1e} "
          f"(numpy float32 sum: {abs(float(a.sum()) - exact) / exact:.1e})")
    for k in ours:
        t, tn = best[k], best["numpy " + k]
        print(f"  {k:28s} {t * 1e3:8.2f} ms  {t / t_copy:5.2f}x copy kernel  {t / tn:6.2f}x numpy")
    print(f"counted sum() / sum() over the same n: {best['counted sum(), count = n'] / best['sum()']:.3f}")


if __name__ == "__main__":
    main()

"""Benchmark: elementwise math ops against x + y and numpy, in one process.

    python benchmarks/bench_math.py [--log2n 22] [--repeat 5]

Times on the current adapter, for n = 2**log2n float32 (and int32) elements, each
op's kernel (best of --repeat rounds, the cases interleaved in every round, each GPU
case ending in a sync) and numpy's counterpart, and prints GB/s moved (bytes read
plus written) and the ratio to numpy. Checks every timed result against numpy first.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wgpu_tensor as wt  # noqa: E402


def best_of(cases, repeat):
    for f, _ in cases.values():
        f()
    wt.synchronize()
    best = {k: float("inf") for k in cases}
    for _ in range(repeat):
        for k, (f, gpu) in cases.items():
            t0 = time.perf_counter()
            r = f()
            if gpu:
                wt.synchronize()
            del r
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log2n", type=int, default=22)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = 2 ** args.log2n
    rng = np.random.default_rng(0)
    a = rng.uniform(-4, 4, n).astype(np.float32)
    b = rng.uniform(0.5, 2, n).astype(np.float32)
    ia = rng.integers(-1000, 1000, n).astype(np.int32)
    x, y, ix = wt.tensor(a), wt.tensor(b), wt.tensor(ia)
    ops = {  # name: (ours, numpy, bytes moved per element)
        "add (baseline)": (lambda: x + y, lambda: a + b, 12),
        "exp": (lambda: wt.exp(x), lambda: np.exp(a), 8),
        "log1p": (lambda: wt.log1p(y), lambda: np.log1p(b), 8),
        "tanh": (lambda: wt.tanh(x), lambda: np.tanh(a), 8),
        "sin": (lambda: wt.sin(x), lambda: np.sin(a), 8),
        "gelu": (lambda: wt.gelu(x), None, 8),
        "pow (tensor)": (lambda: y ** x, lambda: np.power(b, a), 12),
        "fmod": (lambda: wt.fmod(x, y), lambda: np.fmod(a, b), 12),
        "floor_divide": (lambda: x // y, lambda: np.floor_divide(a, b), 12),
        "clamp": (lambda: wt.clamp(x, -1.0, 1.0), lambda: np.clip(a, -1.0, 1.0), 8),
        "int32 %": (lambda: ix % 7, lambda: ia % 7, 8),
        "int32 ^ >>": (lambda: ix ^ (ix >> 3), lambda: ia ^ (ia >> 3), 20),
    }
    for name, (ours, ref, _) in ops.items():
        if ref is not None:
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(ours().numpy(), ref(), rtol=1e-5, atol=1e-6)
    cases = {}
    for name, (ours, ref, _) in ops.items():
        cases[name] = (ours, True)
        if ref is not None:
            cases["np " + name] = (ref, False)
    best = best_of(cases, args.repeat)
    dev = wt.device_info()
    print(f"n = 2**{args.log2n} elements on {dev['name']} ({dev['backend']}); best of {args.repeat}")
    print(f"{'op':16s} {'ours ms':>9s} {'GB/s':>7s} {'numpy ms':>9s} {'numpy/ours':>10s}")
    for name, (_, ref, nbytes) in ops.items():
        t = best[name]
        tn = best.get("np " + name, math.nan)
        print(f"{name:16s} {1e3 * t:9.2f} {n * nbytes / t / 1e9:7.2f} {1e3 * tn:9.2f} {tn / t:10.2f}")


if __name__ == "__main__":
    main()

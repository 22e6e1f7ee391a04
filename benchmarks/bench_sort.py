"""Time sort, kthvalue and isin against numpy on the current adapter.

    python benchmarks/bench_sort.py                 # the three cases below, median of 5
    python benchmarks/bench_sort.py --repeat 9 --log2n 22

Cases: wt.sort of 2**log2n float32 vs np.sort; wt.kthvalue on [1024, 1024] rows
(k = 512) vs np.partition; wt.isin of 2**log2n int32 against 10,000 values vs
np.isin. Each GPU sample ends in a sync (wt.synchronize); the first call
(pipeline compilation) is not timed. Results are checked against numpy. Prints wall
and process CPU time (lavapipe runs on the CPU, in this process).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import wgpu_tensor as wt


def median_time(fn, repeat):
    """Median wall time and process CPU time (lavapipe's threads run in-process, so
    on a shared machine the CPU time is the steadier figure)."""
    fn()
    wt.synchronize()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wt.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--log2n", type=int, default=20)
    ap.add_argument("--test-size", type=int, default=10_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']})")
    n = 2 ** args.log2n

    a = rng.standard_normal(n).astype(np.float32)
    ta = wt.tensor(a)
    assert np.array_equal(wt.sort(ta).values.numpy(), np.sort(a))
    rows = rng.standard_normal((1024, 1024)).astype(np.float32)
    tr = wt.tensor(rows)
    assert np.array_equal(wt.kthvalue(tr, 512).values.numpy(), np.sort(rows, axis=1)[:, 511])
    e = rng.integers(0, 10 ** 6, n).astype(np.int32)
    s = rng.integers(0, 10 ** 6, args.test_size).astype(np.int32)
    te, ts = wt.tensor(e), wt.tensor(s)
    assert np.array_equal(wt.isin(te, ts).numpy(), np.isin(e, s))

    cases = [
        (f"sort 2^{args.log2n} float32", lambda: wt.sort(ta), lambda: np.sort(a)),
        ("kthvalue [1024, 1024], k=512", lambda: wt.kthvalue(tr, 512),
         lambda: np.partition(rows, 511, axis=1)),
        (f"isin 2^{args.log2n} int32 in {args.test_size}", lambda: wt.isin(te, ts),
         lambda: np.isin(e, s)),
    ]
    print(f"{'case':34s} {'wgpu_tensor wall / cpu':>24s} {'numpy':>9s} {'ratio':>6s}")
    for name, gpu, host in cases:
        (tg, cg), (th, _) = median_time(gpu, args.repeat), median_time(host, args.repeat)
        print(f"{name:34s} {tg * 1e3:10.1f}ms / {cg * 1e3:7.1f}ms {th * 1e3:7.1f}ms {tg / th:6.1f}")


if __name__ == "__main__":
    main()

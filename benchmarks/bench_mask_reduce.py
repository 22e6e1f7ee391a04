"""Benchmark: reductions of a lazy mask against the copy kernel and a loads-only kernel.

    python benchmarks/bench_mask_reduce.py [--log2n 24] [--repeat 7] [--dtype float32]

Times, in one process with timestamp queries (device time; wall time without them),
for n = 2**log2n elements of x: the vec4 copy kernel (reads and writes 4n bytes), the
loads-only variant of shaders/copy_variants.wgsl (reads 4n bytes, writes nothing: the
floor of a reduction that reads x once), count_nonzero(x > t), (x > t).sum(),
(x > t).any(), (x > t).all() (fused: the predicate is evaluated in the reduction, no
mask is written; t the median, so any / all are decided within the first elements of
every run and stop there), any / all that nothing decides early (x read whole), and
x.sum(). Every entry runs once per round, rounds interleaved
after a warm-up round; prints for each the best time, its ratio to the best copy, and
the median and spread of the per-round ratios (each paired with the copy of its own
round: the load of a shared machine moves both). Each result is checked against numpy.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.ops import reduce as R  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from wgpu_tensor.runtime.uniforms import COPY  # noqa: E402
from bench_select import copy_kernel, interleaved  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--dtype", default="float32", choices=["float32", "int32", "float16"])
    args = ap.parse_args(argv)
    dev = get_device()
    n = 2 ** args.log2n
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(n) * 1000).astype(args.dtype)
    x = wt.tensor(a)
    thr = a.dtype.type(np.median(a))
    top, low = a.max(), a.min()
    xf = wt.tensor(rng.standard_normal(n).astype(np.float32))
    dst = wt.empty(n)
    d1, d2 = wt.empty(n, dtype=wt.uint32), wt.empty(n, dtype=wt.uint32)
    n4 = n // 4
    loads = dev.kernel("copy_variants", {"WG": 256, "VEC4": False, "SCALAR": False, "SCATTERED": False,
                                         "LOAD_ONLY": True}, ["r", "rw", "rw"], COPY.size)
    lb = [(xf._v._buf, 0, n * 4), (d1._v._buf, 0, n * 4), (d2._v._buf, 0, n * 4)]
    cases = {
        "copy kernel": lambda: copy_kernel(dev, xf, dst, n),
        "loads only": lambda: dev.dispatch(loads, COPY.pack(n4), lb, math.ceil(n4 / 256)),
        "count_nonzero(x>t)": lambda: wt.count_nonzero(x > thr),
        "(x>t).sum()": lambda: (x > thr).sum(),
        "(x>t).any()": lambda: (x > thr).any(),
        "(x>t).all()": lambda: (x > thr).all(),
        "(x>max).any() (none)": lambda: (x > top).any(),   # nothing decides early: x read whole
        "(x>=min).all() (every)": lambda: (x >= low).all(),
        "x.sum() float32": lambda: xf.sum(),
    }
    before = R.fused
    want = int((a > thr).sum())
    assert wt.count_nonzero(x > thr).item() == want == (x > thr).sum().item()
    assert (x > thr).any().item() == bool(want) and (x > thr).all().item() == (want == n)
    assert not (x > top).any().item() and (x >= low).all().item()
    assert R.fused - before == 6, "a mask reduction did not fuse"
    timed = dev.has_timestamps
    samples = interleaved(dev, cases, args.repeat, timed)
    copy = samples["copy kernel"]
    print(f"adapter: {wt.device_info()['name']}; 2^{args.log2n} {args.dtype} x (copy / loads-only: float32), "
          f"{'device' if timed else 'wall'} time, {args.repeat} interleaved rounds; "
          f"loadavg {open('/proc/loadavg').read().split()[0]}")
    print(f"  {'':24s} {'best ms':>8} {'best/copy':>9} {'median of paired ratios':>24} {'(min-max)':>12}")
    out = {}
    for k, ts in samples.items():
        ratios = [t / c for t, c in zip(ts, copy)]
        out[k] = (min(ts), min(ts) / min(copy), statistics.median(ratios), min(ratios), max(ratios))
        print(f"  {k:24s} {min(ts) * 1e3:8.2f} {min(ts) / min(copy):9.2f} {statistics.median(ratios):24.2f}"
              f" {min(ratios):5.2f}-{max(ratios):.2f}")
    return out


if __name__ == "__main__":
    main()

"""Benchmark: lazy masks fused into the three-pass selection (count_blocks and
scatter_selected evaluate the predicate) against the same consumers over a
written mask (E.LAZY = False: the compare runs and writes the mask, the passes
read it), with the copy kernel as the yardstick.

    python benchmarks/bench_fused_passes.py [--log2n 22] [--repeat 7]

For n = 2**log2n float32 x and t its median: nonzero(x > t) on the workgroup
one-pass setting (select.ONEPASS_KERNEL = "workgroup": the three passes),
x.masked_select(x > t) forced to three passes, x.masked_scatter(x > t, src), and
y[x > t] = v (two fused consumers: the count, read back, then the scatter; y a
copy of x, so its values and the count stay the same from round to round). Each
entry runs once per round, fused and written-mask variants in the same round,
rounds interleaved after a warm-up; prints the best time of each, its ratio to
the best copy, and the median (min-max) of the per-round fused / written-mask
ratios (the load of a shared machine moves both). Results are checked against
numpy and the counter select.fused proves the fused variants fused.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.ops import elementwise as E  # noqa: E402
from wgpu_tensor.ops import select as S  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from bench_select import copy_kernel, interleaved  # noqa: E402


def written(f):
    """f run with lazy masks off: the compare writes its mask, the consumer reads it."""
    def g():
        old, E.LAZY = E.LAZY, False
        try:
            return f()
        finally:
            E.LAZY = old
    return g


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=22)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    old = S.ONEPASS_KERNEL
    S.ONEPASS_KERNEL = "workgroup"
    try:
        return _run(args)
    finally:
        S.ONEPASS_KERNEL = old


def _run(args):
    dev = get_device()
    n = 2 ** args.log2n
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(n) * 1000).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    x, src, dst = wt.tensor(a), wt.tensor(b), wt.empty(n)
    thr = np.float32(np.median(a))
    sel = a > thr
    k = int(sel.sum())
    v = wt.tensor(b[:k])
    y = wt.tensor(a)

    def three(f):
        def g():
            old, S.PATH = S.PATH, "threepass"
            try:
                return f()
            finally:
                S.PATH = old
        return g

    def put():
        y[x > thr] = v
    consumers = {
        "nonzero(x>t)": lambda: (x > thr).nonzero(),
        "masked_select(x>t) 3-pass": three(lambda: x.masked_select(x > thr)),
        "masked_scatter(x>t, src)": lambda: x.masked_scatter(x > thr, src),
        "y[x>t] = v": put,
    }
    # check and prove fusion: each fused consumer once (y[x>t] = v: two), no mask written
    before, wr = S.fused, E.lazy_written
    assert np.array_equal(consumers["nonzero(x>t)"]().numpy()[:k, 0], np.flatnonzero(sel))
    assert np.array_equal(consumers["masked_select(x>t) 3-pass"]().numpy()[:k], a[sel])
    want = a.copy()
    want[sel] = b[:k]
    assert np.array_equal(consumers["masked_scatter(x>t, src)"]().numpy(), want)
    put()
    assert np.array_equal(y.numpy(), want)
    assert (S.fused - before, E.lazy_written - wr) == (5, 0), "a consumer did not fuse"
    cases = {"copy kernel": lambda: copy_kernel(dev, src, dst, n)}
    for name, f in consumers.items():
        cases[name] = f
        cases[name + " (written mask)"] = written(f)
    timed = dev.has_timestamps
    samples = interleaved(dev, cases, args.repeat, timed)
    copy = min(samples["copy kernel"])
    print(f"adapter: {wt.device_info()['name']}; 2^{args.log2n} float32, t the median, "
          f"{'device' if timed else 'wall'} time, {args.repeat} interleaved rounds; "
          f"loadavg {open('/proc/loadavg').read().split()[0]}")
    print(f"  {'':40s} {'best ms':>8} {'best/copy':>9} {'fused/written (median, min-max)':>32}")
    out = {}
    for c, ts in samples.items():
        line = f"  {c:40s} {min(ts) * 1e3:8.2f} {min(ts) / copy:9.2f}"
        if c in consumers:
            r = [p / q for p, q in zip(ts, samples[c + " (written mask)"])]
            out[c] = (min(ts), statistics.median(r), min(r), max(r))
            line += f" {statistics.median(r):20.2f} ({min(r):.2f}-{max(r):.2f})"
        print(line)
    return out


if __name__ == "__main__":
    main()

"""Benchmark: creating a large filled tensor beside the copy kernel moving the same bytes.

    python benchmarks/bench_fill.py [--n 268435456] [--repeat 3]

Rows (best of --repeat interleaved rounds, each ending in a sync; the result is
freed between rounds, so every round after the first reuses the pooled buffer):
  zeros      wt.zeros(n) float32: one clear_buffer
  full       wt.full((n,), 3.5) float32: the fill kernel (shaders/fill.wgsl) over one
             1 MiB block, copied into every 1 MiB of the result
  ones_f16   wt.ones(n, dtype=float16): the same over n / 2 words
  elementwise  the same fill through the general elementwise kernel (the path full took before)
  copy       the vec4 copy kernel (shaders/copy_vec4.wgsl) over n float32, in
             storage-binding-sized windows: reads and writes 4n bytes each
  numpy      np.full(n, 3.5, float32) on the host
Each prints seconds and the ratio to the copy kernel.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor import dtypes as D  # noqa: E402
from wgpu_tensor.ops import elementwise as E  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from wgpu_tensor.runtime.uniforms import COPY  # noqa: E402
from bench_ops import _cpu  # noqa: E402


def copy_windows(dev, src, dst, nbytes):
    """The copy kernel over [0, nbytes) of two tensors, one launch per storage binding."""
    k = dev.kernel("copy_vec4", {"WG": 256}, ["r", "rw"], COPY.size)
    step = dev.max_binding // 256 * 256
    for off in range(0, nbytes, step):
        n4 = -(-min(step, nbytes - off) // 16)
        dev.dispatch(k, COPY.pack(n4), [(src._v._buf, off, n4 * 16), (dst._v._buf, off, n4 * 16)],
                     math.ceil(n4 / 256))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1 << 28)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n = args.n // 4 * 4
    dev = get_device()
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']}); CPU: {_cpu()}; "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    src, dst = wt.zeros(n), wt.zeros(n)
    keep = {}
    cases = {
        "zeros": (lambda: keep.__setitem__("zeros", wt.zeros(n)), True),
        "full": (lambda: keep.__setitem__("full", wt.full((n,), 3.5)), True),
        "ones_f16": (lambda: keep.__setitem__("ones_f16", wt.ones(n, dtype=wt.float16)), True),
        "elementwise": (lambda: keep.__setitem__(
            "elementwise", E.launch("a", D.float32, [E.Scalar(3.5)], ["f32"], shape=(n,))), True),
        "copy": (lambda: copy_windows(dev, src, dst, 4 * n), True),
        "numpy": (lambda: keep.__setitem__("numpy", np.full(n, 3.5, np.float32)), False),
    }
    best = {k: float("inf") for k in cases}
    for r in range(args.repeat + 1):  # round 0 warms up (pipelines, first-touch pages)
        for name, (f, gpu) in cases.items():
            keep.clear()
            dev.synchronize()
            t0 = time.perf_counter()
            f()
            if gpu:
                dev.synchronize()
            if r:
                best[name] = min(best[name], time.perf_counter() - t0)
    # what was timed is right
    keep.clear()
    cases["zeros"][0](), cases["full"][0](), cases["ones_f16"][0]()
    for name, v in (("zeros", 0), ("full", 3.5), ("ones_f16", 1)):
        got = keep[name].numpy()
        assert got.shape == (n,) and (got[:: max(1, n // 4099)] == v).all() and got[-1] == v
    rows = {}
    print(f"  n = {n} elements ({4 * n / 2 ** 30:.3f} GiB of float32)")
    for name, t in best.items():
        rows[name] = {"seconds": t, "ratio_to_copy": t / best["copy"]}
        print(f"  {name:12s} {t * 1e3:9.1f} ms   {t / best['copy']:6.2f}x copy kernel")
    return {"adapter": info["name"], "n": n, "rows": rows}


if __name__ == "__main__":
    main()

"""What a selection's stores cost: the vec4 copy kernel with its store side varied.

    python benchmarks/bench_copy_variants.py [--log2n 24] [--repeat 4]

Times, in one process with timestamp queries (wall time without them), one dispatch
each of shaders/copy_variants.wgsl over 2**log2n uint32: vec4 stores (the copy
kernel), 4 single-word stores at contiguous places, 4 single-word stores at the
places masked_select's branch-free writes choose (half selected), and loads only.
Prints each as a ratio to the vec4 copy (best of --repeat interleaved rounds).
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
from wgpu_tensor.runtime import get_device  # noqa: E402
from wgpu_tensor.runtime.uniforms import COPY  # noqa: E402

VARIANTS = {"VEC4": "vec4 stores (the copy kernel)", "SCALAR": "4 word stores, contiguous",
            "SCATTERED": "4 word stores, scattered as masked_select", "LOAD_ONLY": "loads only"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args(argv)
    dev = get_device()
    n = 2 ** args.log2n
    n4 = n // 4
    x = wt.tensor(np.random.default_rng(0).integers(0, 2 ** 31, n).astype(np.uint32), dtype=wt.uint32)
    d1, d2 = wt.empty(n, dtype=wt.uint32), wt.empty(n, dtype=wt.uint32)
    kerns = {v: dev.kernel("copy_variants", {"WG": 256, **{w: w == v for w in VARIANTS}},
                           ["r", "rw", "rw"], COPY.size) for v in VARIANTS}
    params = COPY.pack(n4)
    bindings = [(x._v._buf, 0, n * 4), (d1._v._buf, 0, n * 4), (d2._v._buf, 0, n * 4)]
    best = {v: math.inf for v in VARIANTS}
    for _ in range(args.repeat + 1):  # the first round warms up
        for v, k in kerns.items():
            dev.synchronize()
            timed = dev.start_pass_timing()
            t0 = time.perf_counter()
            dev.dispatch(k, params, bindings, math.ceil(n4 / 256))
            dev.synchronize()
            wall = time.perf_counter() - t0
            t = dev.stop_pass_timing() if timed else wall
            best[v] = min(best[v], t)
    assert np.array_equal(d2.numpy(), x.numpy())  # the vec4 copy copied
    print(f"adapter: {wt.device_info()['name']}; 2^{args.log2n} uint32, "
          f"{'device' if dev.has_timestamps else 'wall'} time, best of {args.repeat}")
    for v, label in VARIANTS.items():
        print(f"  {label:45s} {best[v] * 1e3:8.2f} ms  {best[v] / best['VEC4']:5.2f}x")
    return best


if __name__ == "__main__":
    main()

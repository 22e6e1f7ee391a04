"""Benchmark: masked selection against a plain vec4 copy kernel and numpy, in one process.

    python benchmarks/bench_select.py [--sizes 16,20,24] [--fracs 0.01,0.5,0.99] [--repeat 5]

Times (median wall time of --repeat runs, each ending in a GPU sync) on the
current adapter: the copy kernel (floor: reads and writes 4n bytes), our
masked_select (fixed size + count), masked_select_async, x[mask], nonzero,
a compare op, numpy's x[m], and torch.masked_select when torch is importable
(CUDA if available). Prints a table of ratios, writes JSON next to this file
(benchmarks/results/), and a PNG plot when matplotlib is installed. Also times
the per-op cost of a small compare (1,000 ops on 1K elements) beside a raw
wgpu loop recording the same dispatches into one encoder.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402


def timeit(fn, repeat, sync):
    fn()
    sync()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def copy_kernel(dev, src, dst, n):
    k = dev.kernel("copy_vec4", {"WG": 256}, ["r", "rw"], 16)
    n4 = math.ceil(n / 4)
    size = n4 * 16
    dev.dispatch(k, struct.pack("<4I", n4, 0, 0, 0), [(src._buf, 0, size), (dst._buf, 0, size)],
                 math.ceil(n4 / 256))


def small_op_cost(dev, n_ops=1000, n=1024):
    x, y = wt.rand(n, seed=1), wt.rand(n, seed=2)
    keep = []

    def ours():
        keep.clear()
        for _ in range(n_ops):
            keep.append(x > y)

    t_ours = timeit(ours, 3, dev.synchronize)
    # The same kernel, bind group and parameters, recorded raw into one encoder.
    r = x > y
    from wgpu_tensor.ops import elementwise as E
    kern = next(k for key, k in dev._kernels.items() if key[0] == "elementwise" and
                dict(key[1])["EXPR"] == "a > b" and dict(key[1])["ALL_CONTIG"]
                and dict(key[1])["HAS_B"] and dict(key[1])["CT_A"] == "f32")
    bg = dev._bind_group(kern, [(r._buf, 0, n), (x._buf, 0, 4 * n), (y._buf, 0, 4 * n), None])
    ubuf = dev._arena
    params = struct.pack("<44I", n, 0, 1, 0, n, *([1] * 7), 0, 0, 0, 0, *([1] + [0] * 7) * 3, 0, 0, 0, 0)

    def raw():
        dev.queue.write_buffer(ubuf, 0, params)
        enc = dev.device.create_command_encoder()
        cp = enc.begin_compute_pass()
        for _ in range(n_ops):
            cp.set_pipeline(kern.pipeline)
            cp.set_bind_group(0, bg, [0])
            cp.dispatch_workgroups(math.ceil(n / (E.WG * 4)), 1, 1)
        cp.end()
        dev.queue.submit([enc.finish()])

    t_raw = timeit(raw, 3, dev.synchronize)
    return {"ops": n_ops, "elements": n, "ours_us_per_op": t_ours / n_ops * 1e6,
            "raw_us_per_op": t_raw / n_ops * 1e6, "ratio": t_ours / t_raw}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="16,20,24", help="log2 of element counts")
    ap.add_argument("--fracs", default="0.01,0.5,0.99")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    dev = get_device()
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']}), subgroups={info['subgroups']}")
    try:
        import torch
        tdev = "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:
        torch, tdev = None, None
    tsync = (lambda: torch.cuda.synchronize()) if tdev == "cuda" else (lambda: None)
    sync = dev.synchronize
    rows = []
    for lg in [int(s) for s in args.sizes.split(",")]:
        n = 2 ** lg
        rng = np.random.default_rng(lg)
        a = rng.standard_normal(n).astype(np.float32)
        x = wt.tensor(a)
        dst = wt.empty(n)
        t_copy = timeit(lambda: copy_kernel(dev, x, dst, n), args.repeat, sync)
        for frac in [float(f) for f in args.fracs.split(",")]:
            m_np = rng.random(n) < frac
            m = wt.tensor(m_np)
            thr = float(np.quantile(a, 1 - frac)) if 0 < frac < 1 else (-np.inf if frac >= 1 else np.inf)
            res = {}
            res["copy_kernel"] = t_copy
            res["masked_select"] = timeit(lambda: x.masked_select(m), args.repeat, sync)
            res["masked_select_async"] = timeit(lambda: asyncio.run(x.masked_select_async(m)),
                                                args.repeat, sync)
            res["x[mask]"] = timeit(lambda: x[m], args.repeat, sync)
            res["nonzero"] = timeit(lambda: m.nonzero(), args.repeat, sync)
            res["compare"] = timeit(lambda: x > thr, args.repeat, sync)
            res["select(x>t) fused by caller"] = timeit(lambda: x.masked_select(x > thr), args.repeat, sync)
            res["numpy x[m]"] = timeit(lambda: a[m_np], args.repeat, lambda: None)
            if torch is not None:
                tx = torch.from_numpy(a).to(tdev)
                tm = torch.from_numpy(m_np).to(tdev)
                res[f"torch.masked_select ({tdev})"] = timeit(lambda: torch.masked_select(tx, tm),
                                                             args.repeat, tsync)
            # correctness of what was timed
            r = x.masked_select(m)
            k = r.count.item()
            assert k == int(m_np.sum()) and np.array_equal(r.numpy()[:k], a[m_np])
            row = {"n": n, "frac": frac, "seconds": res,
                   "ratio_vs_copy": res["masked_select"] / t_copy,
                   "ratio_vs_numpy": res["masked_select"] / res["numpy x[m]"],
                   "select_GBps": (n * 5 + k * 4) / res["masked_select"] / 1e9,
                   "copy_GBps": n * 8 / t_copy / 1e9}
            rows.append(row)
            print(f"\nn=2^{lg} ({n:,}) selectivity {frac:.0%}: masked_select / copy kernel = "
                  f"{row['ratio_vs_copy']:.2f}x, / numpy x[m] = {row['ratio_vs_numpy']:.2f}x")
            for name, t in res.items():
                print(f"  {name:34s} {t * 1e3:9.3f} ms   {t / t_copy:6.2f}x copy")
    small = small_op_cost(dev)
    print(f"\nsmall op: {small['ours_us_per_op']:.1f} us/op (x > y on 1K elements, 1,000 ops) vs raw wgpu "
          f"loop {small['raw_us_per_op']:.1f} us/op: ratio {small['ratio']:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(
        {"adapter": info, "rows": rows, "small_op": small, "timing": "wall, median"}, indent=1))
    print(f"\nwrote {out / f'bench-{stamp}.json'}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        for frac in sorted({r["frac"] for r in rows}):
            rs = [r for r in rows if r["frac"] == frac]
            ax.plot([r["n"] for r in rs], [r["n"] * 4 / r["seconds"]["masked_select"] / 1e9 for r in rs],
                    marker="o", label=f"masked_select {frac:.0%}")
        rs = [r for r in rows if r["frac"] == rows[0]["frac"]]
        ax.plot([r["n"] for r in rs], [r["n"] * 4 / r["seconds"]["copy_kernel"] / 1e9 for r in rs],
                "k--", label="copy kernel")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("elements (float32)")
        ax.set_ylabel("input GB/s")
        ax.set_title(info["name"])
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"bench-{stamp}.png", dpi=100)
        print(f"wrote {out / f'bench-{stamp}.png'}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()

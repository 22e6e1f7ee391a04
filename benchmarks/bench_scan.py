"""Benchmark: cumsum against the vec4 copy kernel, unique and topk beside numpy.

    python benchmarks/bench_scan.py [--log2n 24] [--log2n-sort 20] [--k 100] [--repeat 5]
    python benchmarks/bench_scan.py --log2n 12 --log2n-sort 12 --repeat 1   # a smoke run

Times, on the current adapter, in interleaved rounds after a warm-up round (best
round counts; medians in the JSON): the copy kernel of bench_select.py (reads and
writes 4n bytes) and cumsum of n float32 (one row), with device time from
timestamp queries where the adapter has them (wall time otherwise); unique (the
exact form: one 4-byte read; and fixed_size=True) and topk of 2**log2n-sort
elements beside numpy (np.unique; np.argpartition then a sort of the k), wall
time. Each result is checked against numpy once. Prints a table; --out writes JSON.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_select", ROOT / "benchmarks" / "bench_select.py")
BS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BS)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=24, help="cumsum size (log2)")
    ap.add_argument("--log2n-sort", type=int, default=20, help="unique/topk size (log2)")
    ap.add_argument("--k", type=int, default=100, help="topk's k")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=str, default=None, help="JSON file for the results")
    args = ap.parse_args(argv)
    dev = get_device()
    device_time = "timestamp-query" in dev.device.features

    n = 1 << args.log2n
    rng = np.random.default_rng(1)
    a = (rng.integers(-12, 13, n) / 4).astype(np.float32)   # partial sums exact in float32
    x = wt.tensor(a)
    dst = wt.empty(n)
    got = wt.cumsum(x, 0).numpy()
    assert np.array_equal(got, np.cumsum(a.astype(np.float64)).astype(np.float32)), "cumsum is wrong"

    m = 1 << args.log2n_sort
    b = rng.integers(0, m // 4, m).astype(np.int32)          # about 3/4 of values repeat
    f = rng.standard_normal(m).astype(np.float32)
    xb, xf = wt.tensor(b), wt.tensor(f)
    assert np.array_equal(wt.unique(xb).numpy(), np.unique(b)), "unique is wrong"
    assert np.array_equal(wt.topk(xf, args.k).values.numpy(), -np.sort(-f)[:args.k]), "topk is wrong"

    gpu = {
        "copy_kernel": lambda: BS.run_once(dev, lambda: BS.copy_kernel(dev, x, dst, n), device_time),
        "cumsum": lambda: BS.run_once(dev, lambda: wt.cumsum(x, 0), device_time),
    }
    res = BS.measure_rounds(gpu, args.repeat)
    key = "device" if all(r["device"] is not None for r in res.values()) else "wall"
    host = {
        "np.cumsum": lambda: BS.run_host(lambda: np.cumsum(a)),
        "unique": lambda: BS.run_host(lambda: wt.unique(xb)),            # reads the count
        "unique(fixed_size)": lambda: BS.run_host(lambda: wt.unique(xb, fixed_size=True),
                                                  dev.synchronize),
        "np.unique": lambda: BS.run_host(lambda: np.unique(b)),
        "topk": lambda: BS.run_host(lambda: wt.topk(xf, args.k), dev.synchronize),
        "np.topk": lambda: BS.run_host(lambda: np.sort(f[np.argpartition(-f, args.k)[:args.k]])),
    }
    res.update(BS.measure_rounds(host, args.repeat))
    ratio = res["cumsum"][key] / res["copy_kernel"][key]
    info = dev.info()
    print(f"adapter: {info['name']} ({info['backend']}); {key} time for the copy/cumsum ratio")
    print(f"{'entry':22s} {'n':>10s} {'wall ms':>10s} {'device ms':>10s}")
    for name, r in res.items():
        size = n if name in ("copy_kernel", "cumsum", "np.cumsum") else m
        d = f"{r['device'] * 1e3:10.2f}" if r.get("device") else f"{'-':>10s}"
        print(f"{name:22s} {size:10d} {r['wall'] * 1e3:10.2f} {d}")
    print(f"cumsum / copy kernel ({key} time): {ratio:.2f}x")
    print(f"unique / np.unique (wall): {res['unique']['wall'] / res['np.unique']['wall']:.2f}x; "
          f"topk / numpy (wall): {res['topk']['wall'] / res['np.topk']['wall']:.2f}x")
    out = {"n": n, "m": m, "k": args.k, "time": key, "cumsum_over_copy": ratio, "results": res,
           "adapter": info["name"]}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()

"""Benchmark: masked selection against a plain vec4 copy kernel and numpy, in one process.

    python benchmarks/bench_select.py [--sizes 16,20,24] [--fracs 0.01,0.5,0.99] [--repeat 5]
    python benchmarks/bench_select.py --sizes 16 --repeat 1 --small-ops 50   # seconds: a smoke run

Times, on the current adapter: the copy kernel (the floor: reads and writes 4n
bytes), our masked_select (fixed size + count), masked_select_async, x[mask],
nonzero, a compare op (x > t written: a lazy mask materialised), the fused
consumers of a lazy mask (masked_select(x, x > t), x[x > t], x[(x > a) & (x < b)],
count_nonzero(x > t), (x > t).sum(), (x > t).any(): the script checks that each
fused and wrote no mask), numpy's x[m] and x[x > t], and
torch.masked_select and torch's x[m] when torch is importable (CPU, and CUDA when
available: device time from CUDA events, wall time after a synchronize).

Each entry runs once per round, --repeat interleaved rounds after a warm-up
round (so load bursts on a shared machine hit all entries alike); the best
round counts (medians are in the JSON). GPU entries start and end in a GPU
sync and get two times: wall time, and device time from timestamp queries (the
sum of the compute passes' begin-to-end times) where the adapter has
"timestamp-query".
The ratios to the copy kernel use device time when every GPU entry has it, wall
time otherwise; the output says which. Ratios to numpy/torch use wall time
(what a caller waits for). Each timed result is checked against numpy.

Also: the bytes that masked_select_async + .numpy() copy to the host (must be
4 + 4k, never 4n), and the per-op cost of a small compare (x > y on 1K
elements) beside a raw wgpu loop recording the same dispatches into one
encoder. Prints a table, writes JSON to --out (benchmarks/results/), and a PNG
(throughput vs n) when matplotlib is installed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.ops import elementwise as E  # noqa: E402
from wgpu_tensor.ops import reduce as R  # noqa: E402
from wgpu_tensor.ops import select as S  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from wgpu_tensor.runtime.uniforms import COPY, ELEMENTWISE  # noqa: E402

GPU_OPS = ["copy_kernel", "masked_select", "masked_select_async", "x[mask]", "nonzero", "compare",
           "masked_select(x>t)", "x[x>t]", "x[(x>a)&(x<b)]", "count_nonzero(x>t)", "(x>t).sum()",
           "(x>t).any()", "x.sum()"]
# The lazy-mask entries (x > t is not run: the consumer evaluates it; see
# ops/elementwise.py's Pred), and the counters that prove each one fused.
FUSED_OPS = GPU_OPS[6:-1]  # (x.sum(): the reduction kernel over float32 x, for reference)


def run_once(dev, fn, device_time):
    """(wall seconds, device seconds or None) of fn() between two GPU syncs."""
    dev.synchronize()
    timing = device_time and dev.start_pass_timing()
    t0 = time.perf_counter()
    fn()
    dev.synchronize()
    wall = time.perf_counter() - t0
    return wall, (dev.stop_pass_timing() if timing else None)


def interleaved(dev, cases, repeat, device_time):
    """{name: [seconds per round]} of each fn in ``cases`` (name -> fn), each run once per
    round (run_once) over ``repeat`` rounds after a warm-up round, so load bursts hit all
    cases alike: device time where ``device_time``, else wall time."""
    samples = {name: [] for name in cases}
    for rnd in range(repeat + 1):
        for name, fn in cases.items():
            wall, device = run_once(dev, fn, device_time)
            if rnd:
                samples[name].append(wall if device is None else device)
    return samples


def run_host(fn, sync=lambda: None):
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0, None


def run_torch(torch, fn, cuda):
    """(wall, device seconds between two CUDA events or None) of a torch call, its
    CUDA work synchronized before the clock stops."""
    if not cuda:
        return run_host(fn)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0 = time.perf_counter()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, start.elapsed_time(end) * 1e-3


def measure_rounds(runs, repeat):
    """Interleaved rounds: each round runs every entry once (after one warm-up
    round), so a burst of load on a shared machine hits all entries alike.
    Returns {name: {"wall": best, "device": best or None, "wall_median": ...}}."""
    for fn in runs.values():
        fn()
    samples = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            samples[name].append(fn())
    out = {}
    for name, ss in samples.items():
        walls = [w for w, _ in ss]
        devs = [d for _, d in ss]
        ok = all(d is not None for d in devs)
        out[name] = {"wall": min(walls), "device": min(devs) if ok else None,
                     "wall_median": statistics.median(walls),
                     "device_median": statistics.median(devs) if ok else None}
    return out


def copy_kernel(dev, src, dst, n):
    k = dev.kernel("copy_vec4", {"WG": 256}, ["r", "rw"], COPY.size)
    n4 = math.ceil(n / 4)
    size = n4 * 16
    dev.dispatch(k, COPY.pack(n4), [(src._v._buf, 0, size), (dst._v._buf, 0, size)],
                 math.ceil(n4 / 256))


def small_op_cost(dev, n_ops=1000, n=1024, rounds=5):
    """Per-op seconds of `x > y` on n elements (n_ops ops then one sync) beside a raw
    wgpu loop recording the same kernel, bind group and parameters n_ops times
    into one encoder; best of `rounds` interleaved rounds. Also the recording
    part alone (before the sync) of each."""
    # x > y written at once (a lazy mask would run nothing): the dispatch overhead
    old, E.LAZY = E.LAZY, False
    try:
        return _small_op_cost(dev, n_ops, n, rounds)
    finally:
        E.LAZY = old


def _small_op_cost(dev, n_ops, n, rounds):
    x, y = wt.rand(n, seed=1), wt.rand(n, seed=2)
    r = x > y
    kern = E._kernel(dev, "a > b", wt.bool, [x._v, y._v], ("f32", "f32"), "bool", True)
    bg = dev._bind_group(kern, [(r._v._buf, 0, n), (x._v._buf, 0, 4 * n), (y._v._buf, 0, 4 * n), None])
    params = ELEMENTWISE.pack(n, 0, 1, 0, n, *([1] * 7), 0, 0, 0, 0, *([1] + [0] * 7) * 2, *([0] * 8),
                              0, 0, 0, 0)
    groups = math.ceil(n / (E.WG * 4))
    keep = []

    def ours():
        keep.clear()
        for _ in range(n_ops):
            keep.append(x > y)

    def raw():
        dev.queue.write_buffer(dev._arena, 0, params)
        enc = dev.device.create_command_encoder()
        cp = enc.begin_compute_pass()
        for _ in range(n_ops):
            cp.set_pipeline(kern.pipeline)
            cp.set_bind_group(0, bg, [0])
            cp.dispatch_workgroups(groups, 1, 1)
        cp.end()
        dev.queue.submit([enc.finish()])

    best = {"ours": (1e9, 1e9), "raw": (1e9, 1e9)}
    for _ in range(rounds):
        for name, fn in (("ours", ours), ("raw", raw)):
            dev.synchronize()
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            dev.synchronize()
            t2 = time.perf_counter()
            if t2 - t0 < best[name][0]:
                best[name] = (t2 - t0, t1 - t0)
    keep.clear()
    assert np.array_equal(r.numpy(), x.numpy() > y.numpy())
    return {"ops": n_ops, "elements": n,
            "ours_us_per_op": best["ours"][0] / n_ops * 1e6, "raw_us_per_op": best["raw"][0] / n_ops * 1e6,
            "ours_record_us_per_op": best["ours"][1] / n_ops * 1e6,
            "raw_record_us_per_op": best["raw"][1] / n_ops * 1e6,
            "ratio": best["ours"][0] / best["raw"][0]}


def run_async(coro):
    """asyncio.run(coro)'s result, without handing a Tensor to asyncio.run: on the
    main thread Python 3.11's asyncio.run formats repr(main task) when it
    restores the SIGINT handler, and repr of a finished task reprs its result,
    a Tensor, which reads it back from the GPU (twice)."""
    box = []

    async def main():
        box.append(await coro)

    asyncio.run(main())
    return box[0]


def async_bytes(dev, x, m, expect):
    """Bytes masked_select_async + .numpy() copy GPU -> host, and the result."""
    dev.synchronize()
    before = dev.bytes_read
    r = run_async(x.masked_select_async(m))
    got = r.numpy()
    moved = dev.bytes_read - before
    assert np.array_equal(got, expect), "masked_select_async result differs from numpy"
    return moved


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="16,20,24", help="log2 of element counts")
    ap.add_argument("--fracs", default="0.01,0.5,0.99", help="selectivities")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--small-ops", type=int, default=1000, help="ops in the small-op test (0: skip)")
    ap.add_argument("--wall", action="store_true", help="wall time only (no timestamp queries)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    dev = get_device()
    info = wt.device_info()
    device_time = dev.has_timestamps and not args.wall
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']}), subgroups={info['subgroups']}, "
          f"timestamp-query={dev.has_timestamps}")
    torch_devs = []
    try:
        import torch
        torch_devs.append("cpu")
        if torch.cuda.is_available():
            torch_devs.append("cuda")
    except Exception:
        torch = None
    rows = []
    bytes_ok = True
    for lg in [int(s) for s in args.sizes.split(",")]:
        n = 2 ** lg
        rng = np.random.default_rng(lg)
        a = rng.standard_normal(n).astype(np.float32)
        x = wt.tensor(a)
        dst = wt.empty(n)
        copy_kernel(dev, x, dst, n)
        assert np.array_equal(dst.numpy(), a)
        for frac in [float(f) for f in args.fracs.split(",")]:
            m_np = rng.random(n) < frac
            m = wt.tensor(m_np)
            thr = float(np.quantile(a, 1 - frac)) if 0 < frac < 1 else (-np.inf if frac >= 1 else np.inf)
            lo, hi = (float(np.quantile(a, q)) for q in ((1 - frac) / 2, 1 - (1 - frac) / 2))
            ref, ref_t, ref_band = a[m_np], a[a > thr], a[(a > lo) & (a < hi)]
            k = len(ref)
            gpu = {
                "copy_kernel": lambda: copy_kernel(dev, x, dst, n),
                "masked_select": lambda: x.masked_select(m),
                "masked_select_async": lambda: run_async(x.masked_select_async(m)),
                "x[mask]": lambda: x[m],
                "nonzero": lambda: m.nonzero(),
                "compare": lambda: (x > thr)._v._buf,   # the mask written
                "masked_select(x>t)": lambda: x.masked_select(x > thr),
                "x[x>t]": lambda: x[x > thr],
                "x[(x>a)&(x<b)]": lambda: x[(x > lo) & (x < hi)],
                "count_nonzero(x>t)": lambda: wt.count_nonzero(x > thr),
                "(x>t).sum()": lambda: (x > thr).sum(),
                "(x>t).any()": lambda: (x > thr).any(),
                "x.sum()": lambda: x.sum(),
            }
            runs = {name: (lambda f=f: run_once(dev, f, device_time)) for name, f in gpu.items()}
            runs["numpy x[m]"] = lambda: run_host(lambda: a[m_np])
            runs["numpy x[x>t]"] = lambda: run_host(lambda: a[a > thr])
            for td in torch_devs:
                tx, tm = torch.from_numpy(a).to(td), torch.from_numpy(m_np).to(td)
                runs[f"torch.masked_select ({td})"] = (
                    lambda tx=tx, tm=tm, td=td: run_torch(torch, lambda: torch.masked_select(tx, tm), td == "cuda"))
                runs[f"torch x[m] ({td})"] = lambda tx=tx, tm=tm, td=td: run_torch(torch, lambda: tx[tm], td == "cuda")
            res = measure_rounds(runs, args.repeat)
            # correctness of what was timed
            r = x.masked_select(m)
            assert r.count.item() == k and np.array_equal(r.numpy()[:k], ref)
            assert np.array_equal(x[m].numpy(), ref)
            nz = m.nonzero()  # fixed size n, with .count (as masked_select)
            assert np.array_equal(nz.numpy()[:nz.count.item()].reshape(-1), np.flatnonzero(m_np))
            counters = (S.fused, R.fused, E.lazy_written)
            rt = x.masked_select(x > thr)
            assert np.array_equal(rt.numpy()[:rt.count.item()], ref_t)
            assert np.array_equal(x[x > thr].numpy(), ref_t)
            assert np.array_equal(x[(x > lo) & (x < hi)].numpy(), ref_band)
            assert wt.count_nonzero(x > thr).item() == len(ref_t) == (x > thr).sum().item()
            assert (x > thr).any().item() == bool(len(ref_t))
            # the timed lazy-mask entries are fused (one pass or three): no mask written
            assert (S.fused - counters[0], R.fused - counters[1], E.lazy_written - counters[2]) == \
                (3, 3, 0), "a lazy-mask entry did not fuse"
            moved = async_bytes(dev, x, m, ref)
            bytes_ok &= moved == 4 + 4 * k
            rows.append({"n": n, "frac": frac, "k": k, "times": res, "async_bytes_read": moved,
                         "async_bytes_expected": 4 + 4 * k})
    use_dev = device_time and all(r["times"][op]["device"] is not None for r in rows for op in GPU_OPS)
    basis = "device time (timestamp queries, sum of compute passes)" if use_dev else "wall time"
    basis += f", best of {args.repeat} interleaved rounds"
    key = "device" if use_dev else "wall"
    for r in rows:
        t = r["times"]
        r["ratio_vs_copy"] = {op: t[op][key] / t["copy_kernel"][key] for op in GPU_OPS[1:]}
        r["ratio_vs_numpy"] = {op: t[op]["wall"] / t["numpy x[m]"]["wall"] for op in GPU_OPS[1:]}
        # ours / torch's: masked_select against torch.masked_select, x[mask] against
        # torch's x[m]; wall time, and device time where both sides have it
        r["vs_torch"] = {f"{ours} / {theirs}": {
            "wall": t[ours]["wall"] / t[theirs]["wall"],
            "device": t[ours]["device"] / t[theirs]["device"] if t[ours]["device"] and t[theirs]["device"] else None}
            for ours, prefix in (("masked_select", "torch.masked_select"), ("x[mask]", "torch x[m]"))
            for theirs in t if theirs.startswith(prefix + " (")}
        r["ratio_vs_select"] = {op: t[op][key] / t["masked_select"][key] for op in FUSED_OPS}
        r["x[x>t]_vs_numpy"] = t["x[x>t]"]["wall"] / t["numpy x[x>t]"]["wall"]
        r["select_GBps"] = (r["n"] * 5 + r["k"] * 4) / t["masked_select"][key] / 1e9
        r["copy_GBps"] = r["n"] * 8 / t["copy_kernel"][key] / 1e9
    print_table(rows, basis)
    print_fused(rows, basis)
    print(f"\nmasked_select_async + .numpy() host bytes: "
          + ", ".join(f"{r['async_bytes_read']} (4+4k={r['async_bytes_expected']}, 4n={4 * r['n']})"
                      for r in rows[:3]) + (" ..." if len(rows) > 3 else "")
          + (": OK" if bytes_ok else ": MISMATCH"))
    small = small_op_cost(dev, args.small_ops) if args.small_ops > 0 else None
    if small:
        print(f"\nsmall op (x > y on {small['elements']} elements, {small['ops']} ops, one sync; best of 5 rounds):"
              f"\n  ours {small['ours_us_per_op']:.1f} us/op (recording {small['ours_record_us_per_op']:.1f})"
              f" vs raw wgpu loop {small['raw_us_per_op']:.1f} us/op (recording "
              f"{small['raw_record_us_per_op']:.1f}): ratio {small['ratio']:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out / f"bench-{stamp}.json"
    path.write_text(json.dumps({"adapter": info, "timing": basis, "repeat": args.repeat,
                                "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows, "small_op": small,
                                "async_bytes_ok": bytes_ok}, indent=1))
    print(f"\nwrote {path}")
    if not args.no_plot:
        plot(rows, info, key, out / f"bench-{stamp}.png")
    if not bytes_ok:
        raise SystemExit("masked_select_async + .numpy() moved more than 4 + 4k bytes to the host")
    return {"rows": rows, "small_op": small, "timing": basis, "json": str(path)}


def print_table(rows, basis):
    ops = GPU_OPS[1:7]  # (the other lazy-mask entries: print_fused)
    short = {"masked_select": "sel", "masked_select_async": "async", "x[mask]": "x[m]", "nonzero": "nonzero",
             "compare": "x>t", "masked_select(x>t)": "sel(x>t)"}
    extra = [k for k in rows[0]["times"] if k.startswith("torch.masked_select")] if rows else []
    print(f"\nratios to the copy kernel ({basis}); last columns: wall-time ratio of masked_select to "
          "numpy x[m] (and torch)")
    head = (f"{'n':>6} {'sel%':>5} {'copy ms':>9} " + " ".join(f"{short[o]:>8}" for o in ops)
            + f" {'sel/np':>7} {'np ms':>8}" + "".join(f" {'sel/' + e[20:-1]:>9}" for e in extra))
    print(head)
    print("-" * len(head))
    key = "device" if basis.startswith("device") else "wall"
    for r in rows:
        t = r["times"]
        line = (f"2^{int(math.log2(r['n'])):<4} {r['frac'] * 100:5.0f} {t['copy_kernel'][key] * 1e3:9.3f} "
                + " ".join(f"{r['ratio_vs_copy'][o]:8.2f}" for o in ops)
                + f" {r['ratio_vs_numpy']['masked_select']:7.2f} {t['numpy x[m]']['wall'] * 1e3:8.3f}"
                + "".join(f" {t['masked_select']['wall'] / t[e]['wall']:9.2f}" for e in extra))
        print(line)


def print_fused(rows, basis):
    """The lazy-mask entries: ratio to the copy kernel and to masked_select with a
    precomputed mask, and x[x > t]'s wall time against numpy's."""
    print(f"\nfused consumers of a lazy mask ({basis}): ratio to copy / to masked_select(x, m); "
          "x.sum() (no mask) for reference")
    head = (f"{'n':>6} {'sel%':>5} " + " ".join(f"{o:>22}" for o in FUSED_OPS) + f" {'x.sum()':>8}"
            + f" {'x[x>t]/np':>10} {'np x[x>t] ms':>13}")
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = [f"{r['ratio_vs_copy'][o]:.2f} / {r['ratio_vs_select'][o]:.2f}" for o in FUSED_OPS]
        print(f"2^{int(math.log2(r['n'])):<4} {r['frac'] * 100:5.0f} " + " ".join(f"{c:>22}" for c in cells)
              + f" {r['ratio_vs_copy']['x.sum()']:8.2f} {r['x[x>t]_vs_numpy']:10.2f} {r['times']['numpy x[x>t]']['wall'] * 1e3:13.3f}")


def plot(rows, info, key, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for frac in sorted({r["frac"] for r in rows}):
        rs = [r for r in rows if r["frac"] == frac]
        ax.plot([r["n"] for r in rs], [r["n"] * 4 / r["times"]["masked_select"][key] / 1e9 for r in rs],
                marker="o", label=f"masked_select {frac:.0%}")
    rs = [r for r in rows if r["frac"] == rows[0]["frac"]]
    ax.plot([r["n"] for r in rs], [r["n"] * 4 / r["times"]["copy_kernel"][key] / 1e9 for r in rs],
            "k--", label="copy kernel")
    ax.plot([r["n"] for r in rs], [r["n"] * 4 / r["times"]["numpy x[m]"]["wall"] / 1e9 for r in rs],
            "k:", label=f"numpy x[m] {rows[0]['frac']:.0%}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("elements (float32)")
    ax.set_ylabel(f"input GB/s ({key} time)")
    ax.set_title(info["name"])
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

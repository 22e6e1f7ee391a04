"""Where a one-pass selection's device time goes: loads, ranking, look-back, stores.

    python benchmarks/bench_select_parts.py [--log2n 24] [--frac 0.5] [--repeat 5]

Runs shaders/bench_select_parts.wgsl (a benchmark-only copy of the subgroup one-pass
kernel, select_onepass_sg.wgsl, with template flags that switch its parts off) in
four variants, for masked_select with a precomputed mask (x's words written) and for
nonzero (coordinates of the selected elements written):

    all          loads + ranking + look-back + stores (the real kernel's work)
    no stores    loads + ranking + look-back
    rank only    loads + ranking (each tile assumes its prefix)
    loads only   the mask loads and counts (each lane assumes the mean rank)

(the three partial variants still load the mask and x's words twice, so "loads"
holds all the mask's and x's loads and "stores" only the stores and their addresses) and takes the parts by
subtraction: loads = loads only, ranking = rank only - loads
only, look-back = no stores - rank only, stores = all - no stores. Beside them: the
copy kernel, the real masked_select / nonzero, and nonzero's "all" as it ran before
packed stores, every tile sparse, each 1-D index written singly (FLAT: no coordinate
loop, no integer division). Like the real kernel, dense tiles store the selected
words packed into aligned vec4s, and each lane reads its run twice (to count it, then
to write it): the second read counts as loads (device time from timestamp queries
where the adapter has them; --repeat interleaved rounds, best and median). The "all" variant's
output is checked against numpy. Also, with --small-ops N, a profile of the Python
side of N small ops (x > y on 1K elements): the functions that take the time.
Needs the subgroup path (an adapter with usable subgroups).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.ops import select as S  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from wgpu_tensor.runtime.uniforms import SELECT  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_select import copy_kernel, run_once  # noqa: E402

VARIANTS = {"all": dict(RANK=True, LOOKBACK=True, STORES=True),
            "no stores": dict(RANK=True, LOOKBACK=True, STORES=False),
            "rank only": dict(RANK=True, LOOKBACK=False, STORES=False),
            "loads only": dict(RANK=False, LOOKBACK=False, STORES=False)}
FLAT = {"all, sparse, flat index": dict(RANK=True, LOOKBACK=True, STORES=True)}  # nonzero, 1-D, before packing


def parts(t):
    """Shares of each part from the four variants' times (seconds)."""
    return {"loads": t["loads only"], "ranking": t["rank only"] - t["loads only"],
            "look-back": t["no stores"] - t["rank only"], "stores": t["all"] - t["no stores"]}


def variant_runner(dev, m, x, out, count, values):
    """{variant: fn() recording one dispatch of that variant over the whole of m}."""
    n = m.numel()
    tile = S.TILE_SG
    assert n % tile == 0 and n * 4 <= dev.max_binding, "whole tiles in one binding only"
    ntiles = n // tile
    flags = wt.empty(ntiles + 1, dtype=wt.uint32)
    fbuf = flags._v._buf
    per_group = max(1, S.WG_SG // dev.subgroup_size)
    p = S._params(n=n, nblocks=ntiles, n_all=n, ndim=0 if values else 1, shape=() if values else (n,))
    bind = [(m._v._buf, 0, -(-n // 16) * 16), (fbuf, 0, fbuf.size), None if x is None else (x._v._buf, 0, n * 4),
            (out._v._buf, 0, n * 4), (count._v._buf, 0, 4)]
    access = ["r", "rw", "r" if values else None, "rw", "rw"]
    runs = {}
    for name, flags_on in {**VARIANTS, **({} if values else FLAT)}.items():
        flat = name in FLAT   # nonzero as before packed stores: every tile sparse
        k = dev.kernel("bench_select_parts", S._flags(
            dev, S.WG_SG, TILE=tile, SPINS=S.SPINS, SPARSE_LIM=tile + 1 if flat else tile // S.SPARSE,
            VALUES=values, TAKE=False, K=1, ONE_WINDOW=True, FUSED=False, OUTV=True, PACKED=not flat,
            FLAT=flat, **flags_on), access, SELECT.size)

        def run(k=k):
            dev.clear(fbuf, 0, (ntiles + 1) * 4)
            dev.dispatch(k, p, bind, math.ceil(ntiles / per_group))
        runs[name] = run
    return runs


def timed(dev, fn, device_time):
    wall, device = run_once(dev, fn, device_time)
    return wall if device is None else device


def small_op_profile(n_ops, top=12):
    """The Python functions that take the time of n_ops `x > y` on 1K elements (tottime)."""
    x, y = wt.rand(1024, seed=1), wt.rand(1024, seed=2)
    keep = [x > y for _ in range(50)]  # warm: kernels and bind groups cached
    wt.synchronize()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    keep = [x > y for _ in range(n_ops)]
    prof.disable()
    per_op = (time.perf_counter() - t0) / n_ops
    wt.synchronize()
    del keep
    s = io.StringIO()
    st = pstats.Stats(prof, stream=s)
    total = st.total_tt
    rows = sorted(((v[2], f"{Path(k[0]).name}:{k[1]}({k[2]})") for k, v in st.stats.items()), reverse=True)
    return {"ops": n_ops, "us_per_op_profiled": per_op * 1e6,
            "top": [(name, tt / total) for tt, name in rows[:top]]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=24)
    ap.add_argument("--frac", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--small-ops", type=int, default=0)
    ap.add_argument("--skip-real", action="store_true", help="time only the copy kernel and the variants")
    args = ap.parse_args(argv)
    dev = get_device()
    if not dev.use_subgroups:
        raise SystemExit("bench_select_parts needs the subgroup path (this adapter has no usable subgroups)")
    device_time = dev.has_timestamps
    n = 2 ** args.log2n
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n).astype(np.float32)
    m_np = rng.random(n) < args.frac
    x, m = wt.tensor(a), wt.tensor(m_np)
    out, count = wt.empty(n), wt.empty((), dtype=wt.int32)
    out_i = wt.empty(n, dtype=wt.int32)
    dst = wt.empty(n)
    entries = {"copy kernel": lambda: copy_kernel(dev, x, dst, n)}
    if not args.skip_real:
        entries.update({"masked_select": lambda: x.masked_select(m), "nonzero": lambda: m.nonzero()})
    sel = variant_runner(dev, m, x, out, count, True)
    nz = variant_runner(dev, m, None, out_i, count, False)
    entries.update({f"select: {k}": f for k, f in sel.items()})
    entries.update({f"nonzero: {k}": f for k, f in nz.items()})
    # the full variants do the real work: same output as numpy
    k = int(m_np.sum())
    sel["all"]()
    assert count.item() == k and np.array_equal(out.numpy()[:k], a[m_np]), "select 'all' variant differs"
    for v in ("all", *FLAT):
        nz[v]()
        assert count.item() == k and np.array_equal(out_i.numpy()[:k], np.flatnonzero(m_np)), f"nonzero {v!r} differs"
    samples = {name: [] for name in entries}
    for r in range(args.repeat + 1):  # the first round warms up
        for name, fn in entries.items():
            t = timed(dev, fn, device_time)
            if r:
                samples[name].append(t)
    best = {name: min(ts) for name, ts in samples.items()}
    med = {name: statistics.median(ts) for name, ts in samples.items()}
    print(f"adapter: {wt.device_info()['name']}; 2^{args.log2n} float32, {args.frac:.0%} selected; "
          f"{'device' if device_time else 'wall'} time, {args.repeat} interleaved rounds; ratios to the "
          f"copy kernel ({best['copy kernel'] * 1e3:.2f} ms best, {med['copy kernel'] * 1e3:.2f} ms median)")
    print(f"  {'':28s} {'best ms':>8}  {'ratio':>5}  {'median ms':>9}  {'ratio':>5}")
    for name in entries:
        print(f"  {name:28s} {best[name] * 1e3:8.2f}  {best[name] / best['copy kernel']:5.2f}  "
              f"{med[name] * 1e3:9.2f}  {med[name] / med['copy kernel']:5.2f}")
    res = {"n": n, "frac": args.frac, "copy_s": best["copy kernel"], "times": best, "median_times": med}
    for what in ("select", "nonzero"):
        for label, tt in (("best", best), ("median", med)):
            t = {v: tt[f"{what}: {v}"] for v in VARIANTS}
            sh = parts(t)
            res[what if label == "best" else what + "_median"] = {p: v / tt["copy kernel"] for p, v in sh.items()}
            print(f"  {what} ({label}): " + ", ".join(f"{p} {v / tt['copy kernel']:.2f}x ({v / t['all']:.0%})"
                                                    for p, v in sh.items()))
    if args.small_ops:
        sp = small_op_profile(args.small_ops)
        res["small_op"] = sp
        print(f"\nsmall op x > y (1K elements), {sp['ops']} ops, {sp['us_per_op_profiled']:.1f} us/op under "
              "cProfile; share of the Python time by function (tottime):")
        for name, share in sp["top"]:
            print(f"  {share:6.1%}  {name}")
    return res


if __name__ == "__main__":
    main()

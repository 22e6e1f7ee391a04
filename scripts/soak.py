"""Soak test: every op on random sizes, from several threads and an asyncio loop at
once, each result checked against numpy, for a bounded time.

    python scripts/soak.py                 # ~60 s, 3 threads + 1 asyncio loop
    python scripts/soak.py --seconds 10 --threads 2 --seed 7

Prints ops done (per op), errors (with the first tracebacks) and memory (GPU bytes
allocated / pooled, process RSS) at start and end. Exit status 1 on any error
or when RSS grows more than --rss-growth-mib (plus 1 MiB per pipeline compiled
meanwhile) after the first third of the run.
"""
import argparse
import asyncio
import collections
import gc
import os
import sys
import threading
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import wgpu_tensor as wt  # noqa: E402

DTYPES = [wt.bool, wt.int32, wt.uint32, wt.float16, wt.float32]
NUMERIC = DTYPES[1:]


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def data(rng, shape, dt):
    if dt is wt.bool:
        return rng.random(shape) < rng.random()
    if dt is wt.int32:
        return rng.integers(-6, 7, shape).astype(np.int32)
    if dt is wt.uint32:
        return rng.integers(0, 13, shape).astype(np.uint32)
    return np.asarray(rng.integers(-12, 13, shape) / 4, dt.np)


def shape_of(rng):
    nd = int(rng.integers(1, 4))
    big = rng.random() < 0.05
    return tuple(int(rng.integers(0, 600 if big else 40)) if i == 0 else int(rng.integers(1, 12))
                 for i in range(nd))


def view(rng, a, dt):
    """The tensor of ``a``: plain, or an offset / strided view of a bigger one."""
    k = rng.integers(3)
    if k == 0 or a.ndim == 0:
        return wt.tensor(a, dtype=dt)
    if k == 1:
        big = np.concatenate([data(rng, (1,) + a.shape[1:], dt), a])
        return wt.tensor(big, dtype=dt)[1:]
    big = np.repeat(a, 2, axis=-1)
    return wt.tensor(big, dtype=dt)[..., ::2]


def eq(got, want):
    want = np.asarray(want)
    g = got.numpy() if isinstance(got, wt.Tensor) else np.asarray(got)
    if g.shape != want.shape or g.dtype != want.dtype:
        raise AssertionError(f"shape/dtype {g.shape} {g.dtype} != {want.shape} {want.dtype}")
    np.testing.assert_array_equal(g, want)


# ----------------------------------------------------------------- ops
def op_elementwise(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = shape_of(rng)
    a, b = data(rng, s, dt), data(rng, s[-1:], dt)
    x, y = view(rng, a, dt), wt.tensor(b, dtype=dt)
    name = ["gt", "le", "eq", "ne", "add", "mul", "logical_xor"][rng.integers(7)]
    if name in ("add", "mul"):
        if dt is wt.bool:
            return
        want = (a + b if name == "add" else a * b).astype(dt.np)
    elif name == "logical_xor":
        if dt is not wt.bool:
            return
        want = a ^ b
    else:
        want = getattr(np, {"gt": "greater", "le": "less_equal", "eq": "equal", "ne": "not_equal"}[name])(a, b)
    eq(getattr(wt, name)(x, y), want)


def op_masked_select(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = shape_of(rng)
    a, m = data(rng, s, dt), data(rng, s[-1:], wt.bool)
    x, tm = view(rng, a, dt), wt.tensor(m)
    want = np.broadcast_to(a, s)[np.broadcast_to(m, s)]
    sel = x.masked_select(tm, fill_value=0)
    got = sel.numpy()
    eq(got[:want.size], want)
    if got[want.size:].any() or sel.count.item() != want.size:
        raise AssertionError("fill or count wrong")


def op_index_mask(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = shape_of(rng)
    a, m = data(rng, s, dt), data(rng, s[:1], wt.bool)
    eq(view(rng, a, dt)[wt.tensor(m)], a[m])


def op_nonzero(rng):
    s = shape_of(rng)
    a = data(rng, s, wt.int32)
    nz = wt.tensor(a).nonzero()
    want = np.argwhere(a).astype(np.int32)
    if nz.count.item() != len(want):
        raise AssertionError("nonzero count")
    eq(nz[:len(want)] if len(want) else nz[:0], want.reshape(-1, len(s)))


def op_fill_scatter(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = shape_of(rng)
    a, m = data(rng, s, dt), data(rng, s, wt.bool)
    x = view(rng, a, dt)
    eq(x.masked_fill(wt.tensor(m), 1), np.where(m, np.ones((), a.dtype), a))
    src = data(rng, (a.size,), dt)
    want = a.copy()
    want[m] = src[:m.sum()]
    eq(x.masked_scatter(wt.tensor(m), wt.tensor(src, dtype=dt)), want)
    x2 = wt.tensor(a, dtype=dt)
    x2[wt.tensor(m)] = 0
    eq(x2, np.where(m, np.zeros((), a.dtype), a))


def op_where(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = shape_of(rng)
    c, a, b = data(rng, s[-1:], wt.bool), data(rng, s, dt), data(rng, s, dt)
    eq(wt.where(wt.tensor(c), view(rng, a, dt), wt.tensor(b, dtype=dt)), np.where(c, a, b))


def op_index(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = shape_of(rng)
    if s[0] == 0:
        return
    a = data(rng, s, dt)
    idx = rng.integers(0, s[0], int(rng.integers(0, 10))).astype(np.int32)
    x = view(rng, a, dt)
    eq(x[wt.tensor(idx)], a[idx])
    d = int(rng.integers(len(s)))
    j = rng.integers(0, s[d], 5).astype(np.int32)
    eq(x.index_select(d, wt.tensor(j)), np.take(a, j, axis=d))
    u = np.unique(idx)
    v = data(rng, (len(u),) + s[1:], dt)
    x2 = wt.tensor(a, dtype=dt)
    x2[wt.tensor(u.astype(np.int32))] = wt.tensor(v, dtype=dt)
    want = a.copy()
    want[u] = v
    eq(x2, want)


def op_gather_scatter(rng):
    dt = NUMERIC[rng.integers(len(NUMERIC))]
    s = (int(rng.integers(1, 30)), int(rng.integers(1, 10)))
    a = data(rng, s, dt)
    gi = rng.integers(0, s[1], s).astype(np.int32)
    x = wt.tensor(a, dtype=dt)
    eq(x.gather(1, wt.tensor(gi)), np.take_along_axis(a, gi, 1))
    src = data(rng, s, dt)
    want = np.zeros(s, dt.np)  # numpy's scatter_add along dim 1
    np.add.at(want, (np.arange(s[0])[:, None].repeat(s[1], 1), gi), src)
    eq(wt.zeros(s, dtype=dt).scatter_add(1, wt.tensor(gi), wt.tensor(src, dtype=dt)), want)


def op_reduce(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = tuple(max(1, v) for v in shape_of(rng))
    a = data(rng, s, dt)
    x = view(rng, a, dt)
    d = int(rng.integers(len(s)))
    acc = np.float32 if dt.kind == "f" else np.uint32 if dt is wt.uint32 else np.int64
    eq(x.sum(d), a.astype(acc).sum(d).astype(dt.np if dt.kind in "fu" else np.int32))
    eq(x.any(d), a.any(d))
    eq(x.all(d), a.all(d))
    eq(x.count_nonzero(d), np.count_nonzero(a, d).astype(np.int32))
    if dt is not wt.bool:
        eq(x.amax(d), a.max(d))
        eq(x.amin(d), a.min(d))


def op_sort(rng):
    dt = NUMERIC[rng.integers(len(NUMERIC))]
    s = tuple(max(1, v) for v in shape_of(rng))[-2:]
    a = data(rng, s, dt)
    x = view(rng, a, dt)
    eq(x.sort(-1).values, np.sort(a, -1))
    k = int(rng.integers(1, s[-1] + 1))
    eq(x.kthvalue(k).values, np.sort(a, -1)[..., k - 1])
    t = data(rng, (int(rng.integers(0, 8)),), dt)
    eq(wt.isin(x, wt.tensor(t, dtype=dt)), np.isin(a, t))


def op_autograd(rng):
    s = shape_of(rng)
    a, m = data(rng, s, wt.float32), data(rng, s, wt.bool)
    w = wt.tensor(a, requires_grad=True)
    loss = (w * 2.0).masked_select(wt.tensor(m), fill_value=0.0).sum() + wt.where(wt.tensor(m), w, 0.0).sum()
    loss.backward()
    eq(w.grad, np.where(m, np.float32(3.0), np.float32(0.0)))


def op_fused(rng):
    """x.masked_select(x OP t): a lazy mask the selection evaluates itself (other
    threads record in between at random; x changed in place before the selection
    at random, which must write the mask first)."""
    dt = [wt.float32, wt.int32, wt.uint32][rng.integers(3)]
    n = int(rng.integers(1, 20000))
    a = data(rng, (n,), dt)
    x = wt.tensor(a, dtype=dt)
    t = a[rng.integers(n)].item()
    name = ["gt", "le", "ne"][rng.integers(3)]
    m = {"gt": x > t, "le": x <= t, "ne": x != t}[name]
    want_m = {"gt": a > t, "le": a <= t, "ne": a != t}[name]
    if rng.integers(2):
        x.add_(1)
        a = a + a.dtype.type(1)
    sel = x.masked_select(m)
    k = sel.count.item()
    if k != int(want_m.sum()):
        raise AssertionError("fused count wrong")
    eq(sel.numpy()[:k], a[want_m])
    eq(m, want_m)


OPS = {f.__name__[3:]: f for f in (op_elementwise, op_masked_select, op_index_mask, op_nonzero,
                                   op_fill_scatter, op_where, op_index, op_gather_scatter, op_reduce,
                                   op_sort, op_autograd, op_fused)}


# ----------------------------------------------------------------- drivers
class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.errors = []

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Exception:
            with self.lock:
                self.errors.append(f"{name}: {traceback.format_exc()}")
        else:
            with self.lock:
                self.ops[name] += 1


def thread_main(seed, deadline, tally):
    rng = np.random.default_rng(seed)
    names = list(OPS)
    while time.monotonic() < deadline:
        name = names[rng.integers(len(names))]
        tally.run(name, OPS[name], rng)


async def async_main(seed, deadline, tally):
    rng = np.random.default_rng(seed)

    async def one():
        dt = DTYPES[rng.integers(len(DTYPES))]
        s = shape_of(rng)
        a, m = data(rng, s, dt), data(rng, s, wt.bool)
        x = wt.tensor(a, dtype=dt)
        sel = await x.masked_select_async(wt.tensor(m))
        eq(await sel.numpy_async(), a[m])
        nz = await wt.tensor(m).nonzero_async()
        got = await nz.numpy_async()
        eq(got, np.argwhere(m).astype(np.int32))

    async def guarded():
        try:
            await one()
        except Exception:
            with tally.lock:
                tally.errors.append(f"async: {traceback.format_exc()}")
        else:
            with tally.lock:
                tally.ops["async_select_nonzero"] += 1

    while time.monotonic() < deadline:
        await asyncio.gather(*(guarded() for _ in range(16)))


def memory():
    gc.collect()
    wt.synchronize()
    s = wt.memory_stats()
    return s["allocated_bytes"], s["pooled_bytes"], rss()


def fmt(m):
    return f"GPU allocated {m[0] / 2**20:.1f} MiB, pooled {m[1] / 2**20:.1f} MiB, RSS {m[2] / 2**20:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rss-growth-mib", type=float, default=32.0,
                    help="fail when RSS grows more than this (plus 1 MiB per newly compiled "
                         "pipeline) after the first third of the run")
    args = ap.parse_args()

    print("adapter:", wt.device_info()["name"])
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    tally = Tally()
    # warm-up: every op once (pipelines, pool buckets), then measure the start
    warm = np.random.default_rng(args.seed + 999)
    for name, fn in OPS.items():
        tally.run(name, fn, warm)
    start = memory()
    print("start:", fmt(start))
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    threads = [threading.Thread(target=thread_main, args=(args.seed + i, deadline, tally), daemon=True)
               for i in range(args.threads)]
    for t in threads:
        t.start()
    # Pipelines are compiled (llvmpipe JIT code lives in RSS) and the bind-group
    # cache fills (up to 4096) during the first part of the run: RSS growth is
    # judged from a third of the way in, when those have levelled off.
    warmed = []

    def sample():
        time.sleep(args.seconds / 3)
        warmed.append(memory() + (len(dev._kernels),))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    asyncio.run(async_main(args.seed + 100, deadline, tally))
    sampler.join()
    for t in threads:
        t.join(timeout=args.seconds + 120)
        if t.is_alive():
            tally.errors.append("a worker thread hung")
    elapsed = time.monotonic() - t0
    end = memory()
    wt.empty_cache()
    after_trim = memory()

    total = sum(tally.ops.values())
    print(f"ran {elapsed:.1f} s, {args.threads} threads + asyncio: {total} ops checked against numpy")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(tally.ops.items())))
    print(f"after 1/3 (threads running): {fmt(warmed[0])}, {warmed[0][3]} pipelines cached")
    print(f"end:   {fmt(end)}, {len(dev._kernels)} pipelines cached")
    growth = (end[2] - warmed[0][2]) / 2**20
    new_pipelines = len(dev._kernels) - warmed[0][3]
    # Each newly compiled pipeline holds JIT code (~0.75 MiB on lavapipe); the
    # pipeline cache is finite (one per op/dtype/layout variant) but large.
    allowed = args.rss_growth_mib + 1.0 * new_pipelines
    print(f"RSS growth after the first third: {growth:.1f} MiB with {new_pipelines} new pipelines "
          f"(allowed {allowed:.0f} MiB: {args.rss_growth_mib:.0f} + 1 MiB per new pipeline)")
    if growth > allowed:
        tally.errors.append(f"RSS grew {growth:.1f} MiB after the first third of the run")
    for e in tally.errors[:5]:
        print("ERROR", e)
    print("after empty_cache:", fmt(after_trim))
    print(f"errors: {len(tally.errors)}")
    return 1 if tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())

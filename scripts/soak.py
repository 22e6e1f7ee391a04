"""Soak test: every op on random sizes, from several threads and an asyncio loop at
once, each result checked against numpy, for a bounded time.

    python scripts/soak.py                 # ~60 s, 3 threads + 1 asyncio loop
    python scripts/soak.py --seconds 10 --threads 2 --seed 7
    python scripts/soak.py --memory-limit-mib 64 --pipelines 64   # tighter limit, evictions

Ops: compares, masked selection, indexing, fill/scatter, where, gather/scatter_add,
reductions, sort, autograd, fused compare+select; elementwise math (exp, log, sqrt,
clamp, isnan, tanh: assert_allclose at float32 tolerances where the op is not
exact); reductions with dim (max, argmax/argmin, var, logsumexp, mean); scans
(cumsum, cummax), topk, unique; shape ops (cat, stack, permute, transpose, flip,
reshape); matmul and softmax; mixed advanced indexing (x[:, mask], x[idx, 1]);
counted results (a masked_select result fed to sum, mean, amax, cumsum, sort, @,
elementwise ops, count_nonzero, compared with numpy on the selected prefix);
interop (wt.from_buffer over a user buffer made on wt.get_device(), masked_select,
wt.indirect_args, all read back through the raw wgpu queue); compare expressions as
masks (x[(x > a) & (x < b)], (x > t).sum(), count_nonzero(~x.isnan()), a mask taken
before an in-place x += 1 selects the new values at the OLD mask's positions); and
the memory limit.

Memory limit design. The limit is process-wide, so it is set once for the whole run
(--memory-limit-mib, default 256 MiB; 0 leaves the runtime's default) and never
changed while threads run. Every normal op needs a few MiB at most, far below the
limit, and treats a MemoryError as an error like any other. The memory_limit op
(one at a time, under a lock) holds a tensor of 0.4 x the limit, then asks for one
of 0.6 x the limit: held bytes would pass the limit, so it must be refused with
MemoryError before anything is allocated (tallied as "memory_refused", not an
error; not being refused is an error), and the first tensor must still hold its
values. At most 0.4 x the limit is ever held deliberately, so the other threads
always keep 0.6 x the limit of room and never see a refusal unless the runtime
wrongly refuses (or leaks), which the soak then reports.

Prints ops done (per op), errors (with the first tracebacks), memory (GPU bytes
allocated / pooled, process RSS after a heap trim) at start, a third of the way in and at the end,
pipelines cached and evicted (--pipelines bounds the cache), and the MemoryError
refusals. Exit status 1 on any error, when the limit was never hit, or when RSS
grows more than --rss-growth-mib (plus 1 MiB per pipeline added to the cache
meanwhile: an evicted pipeline must give its memory back, so compiles that only
replace evicted ones earn no allowance) after the first third of the run.
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


# ----------------------------------------------------------------- newer ops
def close(got, want, rtol=1e-5, atol=1e-6):
    """float32 results of ops that are not exact (exp, log, matmul, softmax ...)."""
    want = np.asarray(want)
    g = got.numpy() if isinstance(got, wt.Tensor) else np.asarray(got)
    if g.shape != want.shape:
        raise AssertionError(f"shape {g.shape} != {want.shape}")
    np.testing.assert_allclose(g, want, rtol=rtol, atol=atol)


def fdata(rng, shape):
    return (rng.standard_normal(shape) * 3).astype(np.float32)


def op_math(rng):
    s = shape_of(rng)
    a = fdata(rng, s)
    x = view(rng, a, wt.float32)
    with np.errstate(all="ignore"):
        close(wt.exp(x.clamp(-20, 20)), np.exp(np.clip(a, -20, 20)), rtol=2e-5)
        close(x.abs().log(), np.log(np.abs(a)), rtol=1e-5, atol=1e-5)
        close(x.abs().sqrt(), np.sqrt(np.abs(a)))
        eq(x.clamp(-1.5, 2.0), np.clip(a, np.float32(-1.5), np.float32(2.0)))
        y = x.log()                                   # NaN where a < 0
        eq(y.isnan(), np.isnan(np.log(a)))
        eq(wt.count_nonzero(~y.isnan()), np.int32(np.count_nonzero(~np.isnan(np.log(a)))))
        close(wt.tanh(x), np.tanh(a), atol=1e-6)


def op_reduce_dim(rng):
    s = tuple(max(1, v) for v in shape_of(rng))
    a = fdata(rng, s)
    x = view(rng, a, wt.float32)
    d = int(rng.integers(len(s)))
    r = x.max(d)
    eq(r.values, a.max(d))
    eq(x.argmax(d), a.argmax(d).astype(np.int32))
    eq(x.argmin(d), a.argmin(d).astype(np.int32))
    close(x.var(d), a.astype(np.float64).var(d, ddof=1) if s[d] > 1 else np.full(a.max(d).shape, np.nan),
          rtol=1e-4, atol=1e-4)
    m = a.astype(np.float64).max(d, keepdims=True)
    close(x.logsumexp(d), (np.log(np.exp(a - m).sum(d, keepdims=True)) + m).squeeze(d), rtol=1e-5, atol=1e-5)
    close(x.mean(d), a.astype(np.float64).mean(d), rtol=1e-5, atol=1e-5)


def op_scan_topk(rng):
    dt = [wt.float32, wt.int32][rng.integers(2)]
    s = tuple(max(1, v) for v in shape_of(rng))[-2:]
    a = data(rng, s, dt)
    x = view(rng, a, dt)
    d = int(rng.integers(len(s)))
    eq(x.cumsum(d), np.cumsum(a, d, dtype=a.dtype))
    eq(x.cummax(d).values, np.maximum.accumulate(a, d))
    k = int(rng.integers(1, s[-1] + 1))
    eq(x.topk(k).values, -np.sort(-a, -1)[..., :k])
    eq(wt.unique(x.flatten()), np.unique(a))


def op_shape(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = tuple(max(1, v) for v in shape_of(rng))
    a, b = data(rng, s, dt), data(rng, s, dt)
    x, y = view(rng, a, dt), wt.tensor(b, dtype=dt)
    d = int(rng.integers(len(s)))
    eq(wt.cat([x, y], d), np.concatenate([a, b], d))
    eq(wt.stack([x, y], d), np.stack([a, b], d))
    p = tuple(int(i) for i in rng.permutation(len(s)))
    eq(x.permute(*p), a.transpose(p))
    eq(x.transpose(0, -1), np.swapaxes(a, 0, -1))
    eq(x.flip(d), np.flip(a, d))
    eq(x.reshape(-1), a.reshape(-1))


def op_linalg(rng):
    m, k, n = (int(rng.integers(1, 70)) for _ in range(3))
    a, b = fdata(rng, (m, k)), fdata(rng, (k, n))
    x = view(rng, a, wt.float32)
    want = a.astype(np.float64) @ b
    close(x @ wt.tensor(b), want, rtol=1e-4, atol=1e-3 * np.sqrt(k))
    e = np.exp(a - a.max(1, keepdims=True))
    close(x.softmax(1), e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def op_adv_index(rng):
    dt = DTYPES[rng.integers(len(DTYPES))]
    s = (int(rng.integers(1, 30)), int(rng.integers(2, 12)))
    a = data(rng, s, dt)
    x = view(rng, a, dt)
    m = rng.random(s[1]) < 0.5
    eq(x[:, wt.tensor(m)], a[:, m])
    idx = rng.integers(0, s[0], int(rng.integers(0, 10))).astype(np.int32)
    eq(x[wt.tensor(idx), 1], a[idx, 1])


def op_counted(rng):
    """A masked_select result fed on: each op compared with numpy on the selected prefix."""
    n = int(rng.integers(1, 3000))
    a = fdata(rng, (n,))
    x = view(rng, a, wt.float32)
    t = float(rng.standard_normal() * 3)
    sel = x.masked_select(x > t)
    v = a[a > t]
    c = len(v)
    if sel.count.item() != c:
        raise AssertionError("count")
    close(sel.sum(), np.float32(v.astype(np.float64).sum()), rtol=1e-5, atol=1e-3)
    if c:
        close(sel.mean(), np.float32(v.astype(np.float64).mean()), rtol=1e-5, atol=1e-4)
        eq(sel.amax(), v.max())
    close(sel.cumsum(0).numpy(), np.cumsum(v), rtol=1e-5, atol=1e-2)
    eq(sel.sort().values.numpy(), np.sort(v))
    close(sel @ sel, np.float32((v.astype(np.float64) ** 2).sum()), rtol=1e-5, atol=1e-3)
    eq((sel * 2.0 + 1.0).numpy(), (v * np.float32(2) + np.float32(1)))
    eq(sel.count_nonzero(), np.int32(np.count_nonzero(v)))


def op_predicates(rng):
    """Compare expressions used as masks, and a mask kept across an in-place change."""
    dt = [wt.float32, wt.int32][rng.integers(2)]
    s = shape_of(rng)
    a = data(rng, s, dt)
    x = view(rng, a, dt)
    lo, hi = sorted(data(rng, (2,), dt).tolist())
    eq(x[(x > lo) & (x < hi)], a[(a > lo) & (a < hi)])
    eq((x > lo).sum(), np.int32((a > lo).sum()))
    eq(x[(x <= lo) | ~(x < hi)], a[(a <= lo) | ~(a < hi)])
    x2 = wt.tensor(a, dtype=dt)
    m = x2 > lo
    x2 += 1
    eq(x2[m], (a + a.dtype.type(1))[a > lo])      # the OLD mask picks from the NEW values


def op_interop(rng):
    """from_buffer over a user wgpu buffer on wt.get_device(), masked_select, indirect_args."""
    import wgpu
    dev = wt.get_device()
    n = int(rng.integers(1, 5000))
    a = fdata(rng, (n,))
    U = wgpu.BufferUsage
    buf = dev.create_buffer(size=-(-n * 4 // 16) * 16, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    dev.queue.write_buffer(buf, 0, a)
    x = wt.from_buffer(buf, (n,), wt.float32)
    eq(x, a)
    t = float(rng.standard_normal())
    sel = x.masked_select(x > t)
    v = a[a > t]
    wg = int(rng.choice([1, 32, 64, 256]))
    args = wt.indirect_args(sel.count, wg)
    eq(args, np.array([-(-len(v) // wg), 1, 1], np.uint32))
    eq(sel, v)
    got = np.frombuffer(dev.queue.read_buffer(sel.buffer, sel.buffer_offset, max(4, sel.nbytes)), np.float32)
    eq(got[:len(v)], v)
    cnt = np.frombuffer(dev.queue.read_buffer(sel.count.buffer, sel.count.buffer_offset, 4), np.int32)
    eq(cnt[0], np.int32(len(v)))
    got = np.frombuffer(dev.queue.read_buffer(args.buffer, args.buffer_offset, 12), np.uint32)
    eq(got, np.array([-(-len(v) // wg), 1, 1], np.uint32))
    x += 1.0                                     # in place, into the user's buffer
    assert x.buffer is buf                       # taking .buffer submits the recorded work
    eq(np.frombuffer(dev.queue.read_buffer(buf, 0, n * 4), np.float32), a + np.float32(1))


LIMIT = {"bytes": 0}            # the run's memory limit (main sets it)
_limit_lock = threading.Lock()  # one memory-limit op at a time (see the docstring)


def op_memory_limit(rng):
    """Under the run's memory limit L: a tensor of 0.4 L fits; one of 0.6 L more is
    refused with MemoryError (counted as "refused"); the first stays intact."""
    L = LIMIT["bytes"]
    if not L:
        return
    with _limit_lock:
        n1 = int(0.4 * L) // 4
        v = float(rng.integers(1, 100))
        keep = wt.full((n1,), v)
        try:
            big = wt.zeros((int(0.6 * L) // 4,))
            wt.synchronize()
        except MemoryError:
            with TALLY.lock:
                TALLY.ops["memory_refused"] += 1
        else:
            raise AssertionError(f"0.6 L more than 0.4 L held was not refused (held "
                                 f"{wt.memory_stats()['held_bytes']} of {L})")
        probe = rng.integers(0, n1, 16)
        got = keep[wt.tensor(probe.astype(np.int32))].numpy()
        if not (got == np.float32(v)).all() or keep[-1].item() != v:
            raise AssertionError("a tensor held before the refusal changed")
        del keep


OPS = {f.__name__[3:]: f for f in (op_elementwise, op_masked_select, op_index_mask, op_nonzero,
                                   op_fill_scatter, op_where, op_index, op_gather_scatter, op_reduce,
                                   op_sort, op_autograd, op_fused, op_math, op_reduce_dim,
                                   op_scan_topk, op_shape, op_linalg, op_adv_index, op_counted,
                                   op_predicates, op_interop, op_memory_limit)}


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
    # The runtime hands freed heap pages back to the OS every 64 pipeline evictions
    # (glibc's malloc_trim); trimming before each sample too makes the samples
    # comparable (RSS otherwise depends on how long ago the last trim ran).
    from wgpu_tensor.runtime import device as device_mod
    device_mod._malloc_trim()
    s = wt.memory_stats()
    return s["allocated_bytes"], s["pooled_bytes"], rss()


def fmt(m):
    return f"GPU allocated {m[0] / 2**20:.1f} MiB, pooled {m[1] / 2**20:.1f} MiB, RSS {m[2] / 2**20:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory-limit-mib", type=float, default=256.0,
                    help="the process-wide memory limit for the whole run (0: leave the default); "
                         "the memory_limit op asks for more than it, on purpose")
    ap.add_argument("--pipelines", type=int, default=0,
                    help="bound the pipeline cache to this many entries (0: the default bound)")
    ap.add_argument("--rss-growth-mib", type=float, default=32.0,
                    help="fail when RSS grows more than this (plus 1 MiB per newly compiled "
                         "pipeline) after the first third of the run")
    args = ap.parse_args()

    print("adapter:", wt.device_info()["name"])
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    tally = Tally()
    global TALLY
    TALLY = tally
    if args.memory_limit_mib:
        LIMIT["bytes"] = int(args.memory_limit_mib * 2**20)
        old_limit = wt.set_memory_limit(LIMIT["bytes"])
        if wt.get_memory_limit() != LIMIT["bytes"]:
            tally.errors.append("get_memory_limit does not return the limit set")
    if args.pipelines:
        wt.set_cache_limits(pipelines=args.pipelines)
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
        warmed.append(memory() + (len(dev._kernels), dev.evictions))
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

    total = sum(v for k, v in tally.ops.items() if k != "memory_refused")
    print(f"ran {elapsed:.1f} s, {args.threads} threads + asyncio: {total} ops checked against numpy")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(tally.ops.items())))
    print(f"after 1/3 (threads running): {fmt(warmed[0])}, {warmed[0][3]} pipelines cached, "
          f"{warmed[0][4]} evicted")
    print(f"end:   {fmt(end)}, {len(dev._kernels)} pipelines cached, {dev.evictions} evicted")
    growth = (end[2] - warmed[0][2]) / 2**20
    # Net new cached pipelines: an evicted pipeline's JIT code must be released, so
    # pipelines compiled after the first third only to replace evicted ones earn no
    # allowance (a bounded cache must keep RSS flat).
    new_pipelines = max(0, len(dev._kernels) - warmed[0][3])
    print(f"pipelines after the first third: {len(dev._kernels) - warmed[0][3] + dev.evictions - warmed[0][4]} "
          f"compiled, {dev.evictions - warmed[0][4]} evicted")
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
    ms = wt.memory_stats()
    print(f"pipelines cached {ms['pipelines']} (bound {dev.cache_limits['pipelines']}), "
          f"evicted {ms['evicted_pipelines']}; heap trims {getattr(dev, 'trims', 0)}; memory limit {ms['limit_bytes'] / 2**20:.0f} MiB, "
          f"MemoryError refusals {tally.ops['memory_refused']} (deliberate, not errors)")
    if LIMIT["bytes"] and not tally.ops["memory_refused"]:
        tally.errors.append("the memory limit was never hit")
    print(f"errors: {len(tally.errors)}")
    return 1 if tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())

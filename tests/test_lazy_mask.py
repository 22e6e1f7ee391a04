"""Lazy masks: a compare, logical op or isnan/isinf/isfinite over same-shape tensors
(or scalars) returns an unwritten bool tensor holding its predicate. Fused
consumers (masked_select, x[mask], masked_select_async, nonzero, masked_fill,
where, x[mask] = scalar, sum/count_nonzero/any/all) evaluate it in their own
kernel; anything else writes it on first use. Every path bit for bit against
numpy (the unfused answer), with counters proving the fused path ran and no mask
was written, at edge sizes, over dtypes and views, with in-place changes of an
input between the mask and its use, and from two threads."""
import asyncio
import threading

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import elementwise as E
from wgpu_tensor.ops import reduce as R
from wgpu_tensor.ops import select as S
from wgpu_tensor.runtime import get_device, override_limits

SIZES = [1, 3, 255, 256, 257, 1023, 4097, 12345]


def is_lazy(t):
    return t._v._st.lazy is not None


class Counters:
    """Fused selections / reductions / elementwise launches and masks written inside
    the block, by difference."""

    def __enter__(self):
        self.before = self._now()
        return self

    def __exit__(self, *exc):
        now = self._now()
        self.select, self.reduce, self.launch, self.written, self.made = \
            [a - b for a, b in zip(now, self.before)]

    @staticmethod
    def _now():
        return S.fused, R.fused, E.lazy_fused, E.lazy_written, E.lazy_made


def data(rng, n, dtype):
    if dtype == np.float32 or dtype == np.float16:
        a = (rng.standard_normal(n) * 2).astype(dtype)
        if n > 10:
            a[::11] = np.nan
            a[::13] = np.inf
            a[::17] = -np.inf
        return a
    if dtype == np.int32:
        return rng.integers(-5, 6, n).astype(np.int32)
    if dtype == np.uint32:
        return rng.integers(0, 10, n).astype(np.uint32)
    return rng.random(n) < 0.5


# ---------------------------------------------------------------- every fused consumer
@pytest.mark.parametrize("n", SIZES)
def test_fused_consumers_write_no_mask(n):
    rng = np.random.default_rng(n)
    a = data(rng, n, np.float32)
    b = data(rng, n, np.float32)[::-1].copy()
    x, y = wt.tensor(a), wt.tensor(b)
    with np.errstate(invalid="ignore"):
        band = (a > -1) & (a < 1)
        either = (a > 0.5) | (b < -0.5)
        notnan = ~np.isnan(a)
    dev = get_device()
    with Counters() as c, dev.record_commands() as log:
        r1 = x.masked_select(x > 0.25)
        r2 = x[(x > -1) & (x < 1)]
        r3 = y[(x > 0.5) | (y < -0.5)]
        r4 = x[~x.isnan()]
        nz = ((x > -1) & (x < 1)).nonzero()
        f = x.masked_fill(x.isinf(), 0.0)
        w = wt.where(x > 0, x, y)
        s = (x > 0.25).sum()
        cn = wt.count_nonzero((x > -1) & (x < 1))
        an = (x > 1.5).any()
        al = x.isfinite().all()
    # nonzero fuses on the subgroup one-pass kernel (CPU adapters with subgroups) and
    # elsewhere (a GPU, the OpenGL backend) into its three passes
    assert c.written == 0, "a mask was written"
    if n > 4:  # (any/all results are 1-byte bools too)
        assert not [e for e in log if e.kind == "alloc" and e.params["nbytes"] == n], "a mask was allocated"
    assert c.select == 5 and c.reduce == 4 and c.launch == 2
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(r1.numpy(), a[a > 0.25])
        np.testing.assert_array_equal(r2.numpy(), a[band])
        np.testing.assert_array_equal(r3.numpy(), b[either])
        np.testing.assert_array_equal(r4.numpy(), a[notnan])
        np.testing.assert_array_equal(nz.numpy(), np.argwhere(band).astype(np.int32))
        np.testing.assert_array_equal(f.numpy(), np.where(np.isinf(a), np.float32(0), a))
        np.testing.assert_array_equal(w.numpy(), np.where(a > 0, a, b))
        assert s.item() == int((a > 0.25).sum()) and s.dtype is wt.int32
        assert cn.item() == int(band.sum())
        assert an.item() == bool((a > 1.5).any())
        assert al.item() == bool(np.isfinite(a).all())


def test_async_and_fill_value_are_fused():
    a = np.linspace(-3, 3, 1001, dtype=np.float32)
    x = wt.tensor(a)

    async def go():
        return await x.masked_select_async((x > -1) & (x <= 2))
    with Counters() as c:
        r = asyncio.run(go())
        f = x.masked_select(x > 1.0, fill_value=-7.0)
    assert c.select == 2 and c.written == 0
    np.testing.assert_array_equal(r.numpy(), a[(a > -1) & (a <= 2)])
    k = int((a > 1).sum())
    np.testing.assert_array_equal(f.uncounted().numpy(),
                                  np.concatenate([a[a > 1], np.full(a.size - k, -7, np.float32)]))


def test_fused_paths_never_sync():
    a = np.linspace(-3, 3, 999, dtype=np.float32)
    x = wt.tensor(a)
    wt.set_sync_debug_mode("error")
    try:
        r = x.masked_select((x > 0) & (x < 2))
        s = (x > 0).sum()
        nz = (x > 1).nonzero()
    finally:
        wt.set_sync_debug_mode("default")
    np.testing.assert_array_equal(r.numpy(), a[(a > 0) & (a < 2)])
    assert s.item() == int((a > 0).sum())
    np.testing.assert_array_equal(nz.numpy(), np.argwhere(a > 1))


def test_empty_is_not_lazy():
    x = wt.tensor(np.zeros(0, np.float32))
    m = x > 0
    assert not is_lazy(m)
    assert x[m].numpy().shape == (0,) and m.sum().item() == 0 and (m.nonzero().count.item() == 0)


# ---------------------------------------------------------------- dtypes and expression forms
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint32])
def test_dtypes(dtype):
    rng = np.random.default_rng(2)
    n = 2048  # whole tiles: one kernel variant per expression (the sizes are the other tests')
    a = data(rng, n, dtype)
    b = data(rng, n, dtype)
    x, y = wt.tensor(a), wt.tensor(b)
    t = 2 if dtype != np.float32 else 0.5
    with np.errstate(invalid="ignore"):
        cases = [
            (lambda: x > t, a > t),
            (lambda: (x >= t) & (x != 3), (a >= t) & (a != 3)),
            (lambda: (x < y) ^ (x == 1), (a < b) ^ (a == 1)),
            (lambda: ~(x <= y) | x.isnan(), ~(a <= b) | (np.isnan(a) if dtype in (np.float32, np.float16)
                                                        else np.zeros(n, bool))),
        ]
    if dtype in (np.int32, np.uint32):  # an int tensor against a float: compared in float
        cases.append((lambda: x > 2.5, a.astype(np.float64) > 2.5))
    src = x if dtype != np.float16 else x.float()
    for make, want in cases:
        m = make()
        assert is_lazy(m)
        with Counters() as c:
            got = src[m].numpy()
        assert c.written == 0 and c.select == 1
        one = len(m._v._st.lazy.tensors()) == 1
        with Counters() as c:
            cnt = m.sum().item()
        assert (c.reduce, c.written) == ((1, 0) if one else (0, 1))  # reductions fuse one-tensor masks
        np.testing.assert_array_equal(got, (a if dtype != np.float16 else a.astype(np.float32))[want])
        assert cnt == int(want.sum())
        np.testing.assert_array_equal(m.numpy(), want)   # then written, same bits
        assert not is_lazy(m)


def test_bool_inputs_and_logical_ops():
    rng = np.random.default_rng(3)
    n = 2051
    p, q = rng.random(n) < 0.5, rng.random(n) < 0.3
    a = rng.standard_normal(n).astype(np.float32)
    P, Q, x = wt.tensor(p), wt.tensor(q), wt.tensor(a)
    for m, want in [(P & Q, p & q), (P | ~Q, p | ~q), (P ^ Q, p ^ q), (~P, ~p),
                    (wt.logical_and(P, x > 0), p & (a > 0)), (wt.logical_not(x), a == 0),
                    (wt.logical_or(x, Q), (a != 0) | q), (P == Q, p == q), (P > Q, p > q)]:
        assert is_lazy(m)
        with Counters() as c:
            got = x[m].numpy()
        assert c.written == 0
        np.testing.assert_array_equal(got, a[want])
        np.testing.assert_array_equal(m.numpy(), want)


def test_past_the_leaf_bound_is_written_and_right():
    """Three tensors fill the tensor slots; a fourth, or a fifth leaf, makes the result
    an ordinary (written) mask, with the same answers."""
    rng = np.random.default_rng(4)
    arrs = [rng.standard_normal(777).astype(np.float32) for _ in range(4)]
    ts = [wt.tensor(v) for v in arrs]
    m = (ts[0] > ts[1]) & (ts[2] > ts[0])
    assert is_lazy(m) and len(m._v._st.lazy.tensors()) == 3
    m4 = m & (ts[3] > 0)
    assert not is_lazy(m4)
    want = (arrs[0] > arrs[1]) & (arrs[2] > arrs[0])
    np.testing.assert_array_equal(ts[3][m].numpy(), arrs[3][want])
    np.testing.assert_array_equal(ts[0][m4].numpy(), arrs[0][want & (arrs[3] > 0)])
    # a where over a lazy mask: x repeated is one leaf, the fill the fourth (slot d)
    k = (ts[0] > ts[1]) & (ts[0] < 0.5)
    with Counters() as c:
        w = wt.where(k, ts[0], 0.25).numpy()
    assert c.launch == 1 and c.written == 0
    np.testing.assert_array_equal(w, np.where((arrs[0] > arrs[1]) & (arrs[0] < 0.5), arrs[0], np.float32(0.25)))
    m5 = (ts[0] > 0.1) & (ts[1] > 0.2) & (ts[0] < 1.5)   # two tensors, three scalars: five leaves
    assert not is_lazy(m5)
    np.testing.assert_array_equal(ts[1][m5].numpy(), arrs[1][(arrs[0] > 0.1) & (arrs[1] > 0.2) & (arrs[0] < 1.5)])


def test_new_threshold_compiles_nothing():
    dev = get_device()
    a = np.linspace(-2, 2, 3001, dtype=np.float32)
    x = wt.tensor(a)
    for t in (0.0, 0.5):
        x[(x > t) & (x < t + 1)].numpy()
        ((x > t) & (x < t + 1)).sum().item()
        wt.where(x > t, x, 0.0).numpy()
    before = len(dev._kernels)
    for t in (-1.0, 0.25, 1.75):
        np.testing.assert_array_equal(x[(x > t) & (x < t + 1)].numpy(), a[(a > t) & (a < t + 1)])
        assert ((x > t) & (x < t + 1)).sum().item() == int(((a > t) & (a < t + 1)).sum())
        np.testing.assert_array_equal(wt.where(x > t, x, 0.0).numpy(), np.where(a > t, a, 0))
    assert len(dev._kernels) == before


# ---------------------------------------------------------------- views
def test_views():
    rng = np.random.default_rng(5)
    big = rng.standard_normal(4000).astype(np.float32)
    xb = wt.tensor(big)
    off = xb[3:3001]            # an offset (not 16-byte aligned) contiguous view
    st = xb[::2]                # strided
    two = wt.tensor(big.reshape(40, 100))
    with Counters() as c:
        r_off = off[off > 0].numpy()
        s_st = (st > 0).sum().item()
        s_dim = ((two > 0) & (two < 1)).sum(dim=1).numpy()
        s_t = (two.T > 0).sum(dim=0).numpy()
        a_keep = (two > 2).any(dim=0, keepdim=True).numpy()
    assert c.written == 0 and c.reduce == 4 and c.select == 1
    np.testing.assert_array_equal(r_off, big[3:3001][big[3:3001] > 0])
    assert s_st == int((big[::2] > 0).sum())
    b2 = big.reshape(40, 100)
    np.testing.assert_array_equal(s_dim, ((b2 > 0) & (b2 < 1)).sum(1))
    np.testing.assert_array_equal(s_t, (b2.T > 0).sum(0))
    np.testing.assert_array_equal(a_keep, (b2 > 2).any(0, keepdims=True))
    # a strided leaf cannot be read element for element by the selection: written, right
    np.testing.assert_array_equal(st[st > 0.5].numpy(), big[::2][big[::2] > 0.5])
    # a view of a lazy mask, a broadcast mask, a 0-d tensor operand
    m = two > 0
    np.testing.assert_array_equal(two[1:][m[1:]].numpy(), b2[1:][b2[1:] > 0])
    row = wt.tensor(big[:100])
    np.testing.assert_array_equal(two.masked_select(row > 0).numpy(), b2[np.broadcast_to(big[:100] > 0, b2.shape)])
    np.testing.assert_array_equal(wt.where(row > 0, two, -1.0).numpy(), np.where(big[:100] > 0, b2, -1))
    z = wt.tensor(np.float32(0.5))
    np.testing.assert_array_equal((xb > z).numpy(), big > 0.5)


@pytest.mark.parametrize("n", [4096 * 3 + 5, 4096 * 5])
def test_several_storage_bindings(n):
    """Bindings of 16 KiB: the selection runs in segments, each with its own windows
    of the predicate's tensors; the reduction and the written mask in launches."""
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(np.float32)
    h = rng.standard_normal(n).astype(np.float16)
    with override_limits(max_binding=4 * 4096):
        x, y = wt.tensor(a), wt.tensor(h)
        with Counters() as c:
            r = x[(x > 0) & (y < 0.5)].numpy()
            s = ((x > 0) & (x < 1)).sum().item()
            f = x.masked_fill(y > 0, 1.0).numpy()
        m = (x > 0.5) | (y < -1)
        w = m.numpy()
    assert c.written == 0 and c.select == 1 and c.reduce == 1 and c.launch == 1
    hf = h.astype(np.float32)
    np.testing.assert_array_equal(r, a[(a > 0) & (hf < 0.5)])
    assert s == int(((a > 0) & (a < 1)).sum())
    np.testing.assert_array_equal(f, np.where(hf > 0, np.float32(1), a))
    np.testing.assert_array_equal(w, (a > 0.5) | (hf < -1))


# ---------------------------------------------------------------- in-place changes between the mask and its use
def test_inplace_change_of_an_input_uses_the_old_mask():
    a = np.linspace(-2, 2, 1001, dtype=np.float32)
    old = a > 0
    ops = [
        ("add_", lambda x: x.add_(1.0)),
        ("iadd", lambda x: x.__iadd__(1.0)),
        ("setitem", lambda x: x.__setitem__(slice(0, 600), 5.0)),
        ("mask setitem", lambda x: x.__setitem__(x < 0, 9.0)),
        ("masked_fill_", lambda x: x.masked_fill_(x > -1, -3.0)),
        ("copy_", lambda x: x.copy_(wt.tensor(-a))),
        ("zero_", lambda x: x.zero_()),
        ("select out=", lambda x: wt.masked_select(wt.tensor(a), wt.tensor(a > 5), out=x)),
    ]
    for name, change in ops:
        x = wt.tensor(a)
        m = x > 0
        m2 = (x > 0) & (x < 1)
        s = (x > 0)
        change(x)
        x = x.uncounted()  # (masked_select's out= gives x a count)
        xn = x.numpy()
        assert is_lazy(m) is False, name
        np.testing.assert_array_equal(x[m].numpy(), xn[old], err_msg=name)
        np.testing.assert_array_equal(m.numpy(), old, err_msg=name)
        np.testing.assert_array_equal(m2.numpy(), (a > 0) & (a < 1), err_msg=name)
        assert s.sum().item() == int(old.sum()), name


def test_mask_used_later_and_chained():
    a = np.linspace(-2, 2, 2001, dtype=np.float32)
    x = wt.tensor(a)
    m = x > 0.5
    r = x[m]
    n = m & (x < 1.5)     # a lazy mask built on a lazy mask: its leaves, not its bytes
    assert is_lazy(m) and is_lazy(n)
    x.mul_(2.0)
    np.testing.assert_array_equal(r.numpy(), a[a > 0.5])
    np.testing.assert_array_equal(m.numpy(), a > 0.5)
    np.testing.assert_array_equal(n.numpy(), (a > 0.5) & (a < 1.5))
    np.testing.assert_array_equal(x[m].numpy(), (2 * a)[a > 0.5])
    # the mask itself changed in place is written first
    k = x > 0
    k &= wt.tensor(a < 1)
    np.testing.assert_array_equal(k.numpy(), (2 * a > 0) & (a < 1))
    k2 = x > 0
    k2[:1000] = True
    np.testing.assert_array_equal(k2.numpy(), np.concatenate([np.ones(1000, bool), 2 * a[1000:] > 0]))


def test_autograd_through_a_lazy_mask():
    a = np.linspace(-1, 1, 999, dtype=np.float32)
    w = wt.tensor(a, requires_grad=True)
    with Counters() as c:
        out = w[(w > -0.5) & (w < 0.5)]
        (out * out).sum().backward()
    assert c.select == 2 and c.written == 0  # the selection, and its gradient's masked_scatter
    want = np.where((a > -0.5) & (a < 0.5), 2 * a, 0).astype(np.float32)
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=0, atol=0)
    v = wt.tensor(a, requires_grad=True)
    wt.where(v > 0, v * 3.0, v).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), np.where(a > 0, 3, 1).astype(np.float32))


def test_counted_operands():
    """A counted tensor's compare is run at once (its count rides on the result);
    selections and reductions of it honour the count."""
    a = np.linspace(-2, 2, 1001, dtype=np.float32)
    x = wt.tensor(a)
    r = x.masked_select(x > 0)           # counted
    m = r > 1.0
    assert not is_lazy(m) and m.count is not None
    sel = a[a > 0]
    assert m.sum().item() == int((sel > 1).sum())
    np.testing.assert_array_equal(r[m].numpy(), sel[sel > 1])
    np.testing.assert_array_equal(r.masked_select(r < 1.5).numpy(), sel[sel < 1.5])


def test_threads():
    """Two threads making and consuming masks of their own tensors, and changing
    them in place in between."""
    errors = []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(6):
                a = rng.standard_normal(3001).astype(np.float32)
                x = wt.tensor(a)
                m = (x > 0) & (x < 1)
                s = m.sum()
                x.add_(5.0)
                np.testing.assert_array_equal(x[m].numpy(), (a + np.float32(5))[(a > 0) & (a < 1)])
                assert s.item() == int(((a > 0) & (a < 1)).sum())
                np.testing.assert_array_equal(x[x > 5.5].numpy(), (a + np.float32(5))[a + np.float32(5) > 5.5])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    ts = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_lazy_off_gives_the_same_bits(monkeypatch):
    """E.LAZY = False writes every mask at once (the unfused path): same results."""
    rng = np.random.default_rng(9)
    a = data(rng, 4099, np.float32)
    x = wt.tensor(a)

    def run():
        return (x[(x > -1) & ~x.isnan()].numpy(), ((x > 0) | x.isinf()).sum().item(),
                wt.where(x > 0.5, x, 0.0).numpy(), (x < 0).nonzero().numpy())
    lazy = run()
    monkeypatch.setattr(E, "LAZY", False)
    with Counters() as c:
        eager = run()
    assert c.made == 0 and c.select == 0 and c.reduce == 0
    for u, v in zip(lazy, eager):
        np.testing.assert_array_equal(u, v)

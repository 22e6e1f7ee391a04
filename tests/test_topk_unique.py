"""topk and unique against numpy (ops/unique.py: the sort, then the selection's
compaction). Values are compared exactly; topk's tie order is unspecified in PyTorch,
so its indices are checked as a valid choice (distinct, pointing at the values)."""
import asyncio

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import unique as U
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, assert_same, no_gpu_work, rand_np


# ---------------------------------------------------------------- topk
def np_topk_values(a, k, dim, largest):
    s = np.sort(a, axis=dim)                    # NaN last
    if largest:
        s = np.flip(s, axis=dim)                # NaN first: the largest, as PyTorch
    return np.take(s, np.arange(k), axis=dim)


def check_topk(a, t, k, dim=-1, largest=True):
    v, i = wt.topk(t, k, dim=dim, largest=largest)
    exp = np_topk_values(a, k, dim, largest)
    assert_same(v, exp)
    assert i.dtype is wt.int32 and i.shape == exp.shape
    idx = i.numpy()
    np.testing.assert_array_equal(np.take_along_axis(a, idx, dim), exp)   # NaN == NaN
    srt = np.sort(idx, axis=dim)
    assert (np.diff(srt, axis=dim) > 0).all() if k > 1 else True          # distinct
    assert idx.min(initial=0) >= 0 and idx.max(initial=0) < a.shape[dim]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_topk_every_dtype(rng, dtype):
    a = rand_np(rng, (7, 300), dtype, special=True)   # small ints: many ties
    t = wt.tensor(a)
    for k in (1, 5, 300):
        check_topk(a, t, k, 1, True)
        check_topk(a, t, k, -1, False)
    check_topk(a, t, 3, 0, True)
    check_topk(a, t, 7, 0, False)


def test_topk_ties_nan_and_views(rng):
    a = np.array([2.0, np.nan, 2.0, 5.0, np.nan, -np.inf, 2.0], np.float32)
    v, i = wt.topk(wt.tensor(a), 4)
    np.testing.assert_array_equal(v.numpy(), [np.nan, np.nan, 5.0, 2.0])
    assert set(i.numpy()[:2]) == {1, 4} and i.numpy()[2] == 3 and i.numpy()[3] in (0, 2, 6)
    v, i = wt.topk(wt.tensor(a), 2, largest=False)
    np.testing.assert_array_equal(v.numpy(), [-np.inf, 2.0])
    b = rand_np(rng, (40, 66), wt.float32)
    t = wt.tensor(b)
    tt = wt.Tensor._wrap(t._v.derive((66, 40), (1, 66), 0))
    check_topk(b.T, tt, 9, 1)
    check_topk(b.T, tt, 9, 0, False)
    check_topk(b[3::2, 1::3], t[3::2, 1::3], 4, 1)
    r = wt.tensor([1.0, 3.0, 2.0]).topk(2, sorted=False)
    assert r._fields == ("values", "indices")
    np.testing.assert_array_equal(r.values.numpy(), [3.0, 2.0])


def test_topk_long_rows_and_many_groups(rng):
    a = rand_np(rng, (2, 20000), wt.float32, special=True)
    check_topk(a, wt.tensor(a), 100, 1)
    b = rand_np(rng, (50, 300), wt.int32)
    with override_limits(max_groups=3):
        check_topk(b, wt.tensor(b), 10, 1, False)


def sort_topk(t, k, dim, largest):
    """The first k of the stable full sort: values and indices, ties in index order."""
    v, i = wt.sort(t, dim=dim, descending=largest)
    return v.narrow(dim, 0, k).numpy(), i.narrow(dim, 0, k).numpy()


# Rows of >= 4 blocks (a block: the power of two >= 8 k, at least 512) and of at least
# U.TOPK_MIN_LENGTH elements take the topk by blocks: the same values and indices as the
# full stable sort, ties and NaNs included, with and without a tail under one block,
# along either dim, from strided views. The length floor is lowered here to keep the
# rows short; one row at the real floor below.
@pytest.fixture
def short_rows_by_blocks(monkeypatch):
    monkeypatch.setattr(U, "TOPK_MIN_LENGTH", 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_topk_by_blocks_matches_the_full_sort(rng, dtype, short_rows_by_blocks):
    a = rand_np(rng, (3, 2100), dtype, special=True)   # small ints: many ties
    t = wt.tensor(a)
    for k, dim, largest in ((1, 1, True), (7, 1, False), (64, 1, True), (64, -1, False)):
        check_topk(a, t, k, dim, largest)
        v, i = wt.topk(t, k, dim=dim, largest=largest)
        sv, si = sort_topk(t, k, dim, largest)
        assert_same(v, sv)
        np.testing.assert_array_equal(i.numpy(), si)


def test_topk_by_blocks_shapes(rng, short_rows_by_blocks):
    a = rand_np(rng, (2048, 3), wt.float32, special=True)   # no tail, along dim 0
    t = wt.tensor(a)
    for k, largest in ((5, True), (64, False)):
        v, i = wt.topk(t, k, dim=0, largest=largest)
        sv, si = sort_topk(t, k, 0, largest)
        assert v.shape == (k, 3)
        assert_same(v, sv)
        np.testing.assert_array_equal(i.numpy(), si)
    b = rand_np(rng, (2, 9000), wt.float32)
    tb = wt.tensor(b)[:, 1::2]                           # strided: rows of 4500 (tail 404)
    check_topk(b[:, 1::2], tb, 33, 1)
    v, i = wt.topk(tb, 33, dim=1)
    np.testing.assert_array_equal(i.numpy(), sort_topk(tb, 33, 1, True)[1])
    c = np.zeros(5000, np.float32)                       # all ties: the first k indices
    v, i = wt.topk(wt.tensor(c), 10)
    np.testing.assert_array_equal(i.numpy(), np.arange(10))


def test_topk_by_blocks_at_the_length_floor(rng):
    n = U.TOPK_MIN_LENGTH + 1001                         # 64 blocks of 512 and a tail
    a = rand_np(rng, (n,), wt.float32, special=True)
    t = wt.tensor(a)
    check_topk(a, t, 9, 0, True)
    v, i = wt.topk(t, 9, largest=False)
    sv, si = sort_topk(t, 9, 0, False)
    assert_same(v, sv)
    np.testing.assert_array_equal(i.numpy(), si)


def test_topk_edges_and_errors():
    t = wt.tensor([[1.0, 2.0, 3.0]])
    v, i = wt.topk(t, 0)
    assert v.shape == (1, 0) and i.shape == (1, 0)
    v, i = wt.topk(wt.tensor(4.0), 1)
    assert v.shape == () and float(v.numpy()) == 4.0 and int(i.numpy()) == 0
    with no_gpu_work():
        with pytest.raises(RuntimeError, match="k out of range"):
            wt.topk(t, 4)
        with pytest.raises(RuntimeError, match="k out of range"):
            wt.topk(t, -1)
        with pytest.raises(RuntimeError, match="k out of range"):
            wt.topk(t, 2, dim=0)
        with pytest.raises(IndexError, match="Dimension out of range"):
            wt.topk(t, 1, dim=2)
        with pytest.raises(TypeError, match="k and dim must be ints"):
            wt.topk(t, 1.5)


def fd_grad(f, a, w, eps=1e-6):
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        p, m = a.copy(), a.copy()
        p[idx] += eps
        m[idx] -= eps
        g[idx] = ((w * f(p)).sum() - (w * f(m)).sum()) / (2 * eps)
    return g


@pytest.mark.parametrize("dim,largest", [(1, True), (0, False)])
def test_topk_gradient(rng, dim, largest):
    a = rng.permutation(30).reshape(5, 6) / 7.0
    k = 3
    shape = list(a.shape)
    shape[dim] = k
    w = rng.uniform(-1, 1, shape)
    x = wt.tensor(a.astype(np.float32), requires_grad=True)
    (wt.topk(x, k, dim=dim, largest=largest).values * wt.tensor(w.astype(np.float32))).sum().backward()
    exp = fd_grad(lambda v: np_topk_values(v, k, dim, largest), a, w)
    np.testing.assert_allclose(x.grad.numpy(), exp, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- unique
def check_unique(a, t):
    """Values, inverse and counts of the exact form against numpy (NaNs one value)."""
    ev, einv, ecnt = np.unique(a.reshape(-1), return_inverse=True, return_counts=True)
    v = wt.unique(t)
    assert_same(v, ev)
    v2, inv, cnt = wt.unique(t, return_inverse=True, return_counts=True)
    assert_same(v2, ev)
    assert_same(cnt, ecnt.astype(np.int32))
    assert inv.shape == a.shape and inv.dtype is wt.int32
    np.testing.assert_array_equal(inv.numpy().reshape(-1), einv.reshape(-1))
    np.testing.assert_array_equal(v2.numpy()[inv.numpy()], a)          # x == values[inverse]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", [1, 2, 5, 257, 4099])
def test_unique_every_dtype(rng, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    check_unique(a, wt.tensor(a))


def test_unique_all_equal_all_distinct_and_shapes(rng):
    check_unique(np.full(1000, 7, np.int32), wt.full((1000,), 7))
    p = rng.permutation(5000).astype(np.int32)
    check_unique(p, wt.tensor(p))
    f = (rng.permutation(3000) - 1500).astype(np.float32) / 8
    check_unique(f, wt.tensor(f))
    m = rand_np(rng, (30, 40), wt.int32)
    t = wt.tensor(m)
    check_unique(m, t)
    tt = wt.Tensor._wrap(t._v.derive((40, 30), (1, 40), 0))              # transposed view
    check_unique(m.T, tt)
    check_unique(m[1::3, ::2], t[1::3, ::2])
    big = rng.integers(-50000, 50000, 200003).astype(np.int32)
    check_unique(big, wt.tensor(big))


def test_unique_nan_and_signed_zero():
    a = np.array([np.nan, 1.0, -0.0, np.nan, 0.0, np.inf, -np.nan, 1.0], np.float32)
    v, inv, cnt = wt.unique(wt.tensor(a), return_inverse=True, return_counts=True)
    # NaNs are one value (PyTorch >= 2.1 on CPU, numpy); -0.0 == 0.0, the first in x kept.
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0, np.inf, np.nan])
    assert np.signbit(v.numpy()[0])
    np.testing.assert_array_equal(cnt.numpy(), [2, 2, 1, 3])
    np.testing.assert_array_equal(inv.numpy(), [3, 1, 0, 3, 0, 2, 3, 1])
    z = wt.unique(wt.tensor(np.array([0.0, -0.0], np.float32)))
    assert z.shape == (1,) and not np.signbit(z.numpy()[0])


def test_unique_empty_and_0d():
    v, inv, cnt = wt.unique(wt.zeros(0, 3), return_inverse=True, return_counts=True)
    assert v.shape == (0,) and cnt.shape == (0,) and inv.shape == (0, 3)
    r = wt.unique(wt.zeros(0), fixed_size=True)
    assert r.shape == (0,) and int(r.count.numpy()) == 0
    v, inv = wt.unique(wt.tensor(5), return_inverse=True)
    assert_same(v, np.array([5], np.int32))
    assert inv.shape == () and int(inv.numpy()) == 0


def test_unique_fixed_size_never_syncs(rng):
    a = rand_np(rng, (3000,), wt.float32, special=True)
    t = wt.tensor(a)
    wt.synchronize()
    n0 = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        v, inv, cnt = wt.unique(t, return_inverse=True, return_counts=True, fixed_size=True)
        wt.synchronize()
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == n0
    assert v.shape == (3000,) and cnt.shape == (3000,) and inv.shape == (3000,)
    assert v.count is not None and cnt.count is not None
    k = int(v.count.numpy())
    ev, ecnt = np.unique(a, return_counts=True)
    assert k == len(ev) and int(cnt.count.numpy()) == k
    np.testing.assert_array_equal(v.numpy()[:k], ev)
    np.testing.assert_array_equal(cnt.numpy()[:k], ecnt)
    np.testing.assert_array_equal(v.numpy()[:k][inv.numpy()], a)


def test_unique_exact_reads_once_and_async(rng):
    a = rand_np(rng, (999,), wt.int32)
    t = wt.tensor(a)
    wt.synchronize()
    n0 = wt.sync_count()
    v = wt.unique(t, return_counts=True)
    assert wt.sync_count() == n0 + 1                  # the one documented read: the count
    ev, ecnt = np.unique(a, return_counts=True)
    assert_same(v[0], ev)
    wt.synchronize()
    dev = get_device()
    r0, n1 = dev.bytes_read, wt.sync_count()

    async def main():
        res = await wt.unique_async(t, return_inverse=True, return_counts=True)
        # (checked inside: asyncio.run reprs the result, which reads it)
        assert wt.sync_count() == n1 + 1 and dev.bytes_read - r0 == 4
        return res

    r = asyncio.run(main())
    assert isinstance(r, tuple) and len(r) == 3 and all(isinstance(x, wt.Tensor) for x in r)
    assert_same(r[0], ev)
    assert_same(r[2], ecnt.astype(np.int32))
    assert_same(asyncio.run(wt.unique_async(t)), ev)
    assert_same(t.unique(), ev)


def test_unique_many_launches(rng):
    a = rand_np(rng, (20000,), wt.float32, special=True)
    with override_limits(max_groups=3):
        check_unique(a, wt.tensor(a))


def test_unique_bad_input_before_gpu_work():
    t = wt.tensor([[1, 2], [2, 3]])
    with no_gpu_work():
        with pytest.raises(NotImplementedError, match="unique slices"):
            wt.unique(t, dim=0)
        with pytest.raises(IndexError, match="Dimension out of range"):
            wt.unique(t, dim=3)
        with pytest.raises(TypeError, match="expected a wgpu_tensor.Tensor"):
            U.unique([1, 2])
    # Sorting one row of 300 needs 2,400 bytes of pairs: over a 2 KiB binding.
    row = wt.tensor(np.arange(600, dtype=np.float32))
    big = row.reshape(20, 30)[:, ::2]   # strided: unique would copy it first
    with override_limits(max_binding=2048), no_gpu_work():
        with pytest.raises(ValueError, match="storage binding"):
            wt.unique(big)
        with pytest.raises(ValueError, match="storage binding"):
            wt.topk(row[:300], 3)
    assert_same(wt.unique(wt.tensor([2, 1, 2]), dim=0), np.array([1, 2], np.int32))

"""Integer-index ops and in-place assignment (wgpu_tensor/ops/index.py) against numpy:
gather / scatter / scatter_add / index_select (take_along_axis, put_along_axis, take),
x[idx] and x[idx] = v (fancy indexing), x[key] = v and copy_ (basic-index assignment)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.ops import index as I
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, assert_same, rand_np

SIZES = [0, 1, 3, 5, 255, 256, 257, 4099]
IDX_DTYPES = [np.int32, np.uint32]


def T(a):
    t = wt.from_numpy(np.asarray(a))
    assert t.dtype.np == np.asarray(a).dtype
    return t


def _distinct(rng, size, k, shape_rest, dtype=np.int32):
    """Indices along an axis of ``size`` for k positions, distinct along that axis for every
    other coordinate (so a scatter has no duplicate targets): shape (k,) + shape_rest."""
    out = np.empty((k,) + tuple(shape_rest), np.int64)
    for pos in np.ndindex(*shape_rest):
        out[(slice(None),) + pos] = rng.permutation(size)[:k]
    return out.astype(dtype)


def _moveaxis_distinct(rng, xs, ish, d, dtype=np.int32):
    rest = tuple(s for k, s in enumerate(ish) if k != d)
    a = _distinct(rng, xs[d], ish[d], rest, dtype)
    return np.moveaxis(a, 0, d)


def _sub(shape, ish, d):
    return tuple(slice(None) if k == d else slice(0, ish[k]) for k in range(len(shape)))


# ---------------------------------------------------------------- gather
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_gather_1d(rng, dtype, n):
    x = rand_np(rng, (n,), dtype)
    k = max(n - 2, 0) if n else 0
    idx = rng.integers(0, max(n, 1), k).astype(np.int32)
    assert_same(wt.gather(T(x), 0, T(idx)), np.take_along_axis(x, idx, 0))
    assert_same(T(x).gather(-1, T(idx.astype(np.uint32))), np.take_along_axis(x, idx, 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5), (17, 33), (4, 5, 6), (2, 1, 257)])
def test_gather_each_dim(rng, dtype, shape):
    x = rand_np(rng, shape, dtype)
    for d in range(-len(shape), len(shape)):
        ish = tuple(max(1, s - 1) if k != d % len(shape) else s + 2 for k, s in enumerate(shape))
        idx = rng.integers(0, shape[d], ish).astype(np.int32)
        exp = np.take_along_axis(x[_sub(shape, ish, d % len(shape))], idx, d)
        assert_same(T(x).gather(d, T(idx)), exp)


@pytest.mark.parametrize("dtype", [wt.bool, wt.float16, wt.float32])
def test_gather_strided_views(rng, dtype):
    x = rand_np(rng, (9, 14), dtype)
    tx = T(x).T                      # (14, 9), strides (1, 14)
    idx = rng.integers(0, 14, (20, 7)).astype(np.int32)
    ti = T(np.ascontiguousarray(idx.T)).T  # a transposed index view
    assert_same(tx.gather(0, ti), np.take_along_axis(x.T[:, :7], idx, 0))
    big = T(rand_np(rng, (40, 30), dtype))
    view = big[3::2, 1::3]                    # offset and strided
    ref = big.numpy()[3::2, 1::3]
    idx2 = rng.integers(0, view.shape[1], (view.shape[0], 25)).astype(np.uint32)
    assert_same(view.gather(1, T(idx2)), np.take_along_axis(ref, idx2.astype(np.int64), 1))
    # a broadcast (expanded) source and index
    row = T(x[0])
    exp_x = row.unsqueeze(0).expand(5, 14)
    ie = T(np.array([[3, 0, 13]], np.int32)).expand(5, 3)
    assert_same(exp_x.gather(1, ie), np.broadcast_to(x[0][[3, 0, 13]], (5, 3)))


def test_gather_zero_dim():
    x = T(np.array(7.5, np.float32))
    assert_same(x.gather(0, T(np.array(0, np.int32))), np.array(7.5, np.float32))
    assert_same(x.gather(0, T(np.array([0, 0], np.int32))), np.array([7.5, 7.5], np.float32))


# ---------------------------------------------------------------- scatter
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (257,), (4099,), (6, 7), (3, 4, 5)])
def test_scatter_tensor_and_scalar(rng, dtype, shape):
    x = rand_np(rng, shape, dtype)
    for d in range(len(shape)):
        ish = tuple(max(1, s - 1) for s in shape)
        idx = _moveaxis_distinct(rng, shape, ish, d, IDX_DTYPES[d % 2])
        src = rand_np(rng, tuple(s + 1 for s in ish), dtype)  # src may be bigger than index
        exp = x.copy()
        np.put_along_axis(exp[_sub(shape, ish, d)], idx.astype(np.int64), src[tuple(slice(0, s) for s in ish)], d)
        tx = T(x)
        assert_same(tx.scatter(d, T(idx), T(src)), exp)
        assert_same(tx, x)                                   # out of place
        assert tx.scatter_(d - len(shape), T(idx), T(src)) is tx
        assert_same(tx, exp)
        val = True if dtype is wt.bool else 3
        exp2 = x.copy()
        np.put_along_axis(exp2[_sub(shape, ish, d)], idx.astype(np.int64), np.asarray(val, x.dtype), d)
        assert_same(wt.scatter(T(x), d, T(idx), val), exp2)        # positional scalar
        assert_same(T(x).scatter(d, T(idx), value=val), exp2)


@pytest.mark.parametrize("dtype", [wt.bool, wt.float16, wt.int32])
def test_scatter_into_strided_view_keeps_neighbours(rng, dtype):
    base = rand_np(rng, (8, 12), dtype)
    tb = T(base)
    view = tb[1::2, 1::3]                     # (4, 4), neighbours in every word
    idx = _moveaxis_distinct(rng, (4, 4), (3, 4), 0)
    src = rand_np(rng, (3, 4), dtype)
    view.scatter_(0, T(idx), T(src))
    exp = base.copy()
    np.put_along_axis(exp[1::2, 1::3], idx.astype(np.int64), src, 0)
    assert_same(tb, exp)


def test_scatter_duplicates_write_one_of_the_values(rng):
    for dtype in (wt.float16, wt.float32, wt.bool):
        idx = np.zeros(1000, np.int32)
        idx[::2] = 3
        src = rand_np(rng, (1000,), dtype)
        out = T(np.zeros(5, dtype.np)).scatter(0, T(idx), T(src)).numpy()
        assert out[0] in src[1::2] and out[3] in src[0::2]
        assert not out[[1, 2, 4]].any()


@pytest.mark.parametrize("dtype", [wt.float32, wt.float16, wt.int32, wt.uint32, wt.bool])
def test_scatter_add_and_index_add_accumulate_duplicates(rng, dtype):
    n = 300
    idx = rng.integers(0, 7, n).astype(np.int32)
    src = rand_np(rng, (n,), dtype)
    if dtype is wt.uint32:
        src = src % 3
    exp = np.zeros(7, dtype.np)
    if dtype is wt.bool:
        np.logical_or.at(exp, idx, src)
    else:
        np.add.at(exp, idx, src)
    z = T(np.zeros(7, dtype.np))
    assert z.scatter_add_(0, T(idx), T(src)) is z
    assert_same(z, exp)
    assert_same(wt.scatter_add(T(np.zeros(7, dtype.np)), 0, T(idx), T(src)), exp)
    z2 = T(np.zeros((7, 2), dtype.np))
    I.index_add_(z2._v, T(idx - 7)._v, T(np.stack([src, src], 1))._v)    # negatives wrap
    assert_same(z2, np.stack([exp, exp], 1))


# ---------------------------------------------------------------- index_select
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1,), (5,), (257,), (4099,), (3, 0), (6, 7), (3, 4, 5)])
def test_index_select(rng, dtype, shape):
    x = rand_np(rng, shape, dtype)
    for d in range(len(shape)):
        if shape[d] == 0:
            continue
        for k in (0, 1, 5, 300):
            idx = rng.integers(0, shape[d], k).astype(IDX_DTYPES[k % 2])
            assert_same(T(x).index_select(d, T(idx)), np.take(x, idx.astype(np.int64), axis=d))
    if shape[0]:
        got = wt.index_select(T(x), -len(shape), T(np.array(shape[0] - 1, np.int32)))  # 0-d index
        assert_same(got, np.take(x, [shape[0] - 1], axis=0))


# ---------------------------------------------------------------- x[idx]
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_index_get_1d(rng, dtype, n):
    x = rand_np(rng, (n,), dtype)
    for ishape in ((7,), (2, 3), (), (0,)):
        if n == 0 and np.prod(ishape) != 0:
            continue
        idx = rng.integers(-n, max(n, 1), ishape).astype(np.int32)
        assert_same(T(x)[T(idx)], x[idx])
    if n:
        idx = rng.integers(0, n, 11).astype(np.uint32)
        assert_same(T(x)[T(idx)], x[idx])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 5, 6), (9, 1, 257)])
def test_index_get_nd_and_views(rng, dtype, shape):
    x = rand_np(rng, shape, dtype)
    idx = rng.integers(-shape[0], shape[0], (2, 4)).astype(np.int32)
    assert_same(T(x)[T(idx)], x[idx])
    tx = T(x).T
    idx2 = rng.integers(0, shape[-1], 6).astype(np.int32)
    assert_same(tx[T(idx2)], x.T[idx2])
    assert_same(T(x)[1:][T(idx[:1, :2] % (shape[0] - 1))], x[1:][idx[:1, :2] % (shape[0] - 1)])
    assert_same(T(x)[[0, -1]], x[[0, -1]])                    # a list becomes an index tensor


# ---------------------------------------------------------------- x[idx] = v
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES[1:])
def test_index_put_scalar_and_tensor(rng, dtype, n):
    x = rand_np(rng, (n,), dtype)
    k = max(1, n // 3)
    pos = rng.permutation(n)[:k]
    idx = np.where(rng.random(k) < 0.5, pos - n, pos).astype(np.int32)   # negatives wrap
    tx = T(x)
    val = False if dtype is wt.bool else 2
    tx[T(idx)] = val
    exp = x.copy()
    exp[idx] = val
    assert_same(tx, exp)
    v = rand_np(rng, (k,), dtype)
    tx[T(idx)] = T(v)
    exp[idx] = v
    assert_same(tx, exp)
    assert I.index_put_(tx._v, T(pos.astype(np.uint32))._v, T(v[:1])._v) is tx._v    # broadcast value
    exp[pos] = v[:1]
    assert_same(tx, exp)


def test_seed_mask_pattern():
    mask = wt.ones(10, dtype=wt.bool)
    mask[wt.tensor([2, 5, 7])] = False
    exp = np.ones(10, bool)
    exp[[2, 5, 7]] = False
    assert_same(mask, exp)


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_put_rows_broadcast_and_cast(rng, dtype):
    x = rand_np(rng, (6, 4, 3), dtype)
    tx = T(x)
    idx = np.array([[4, -6], [2, 1]], np.int32)
    v = rand_np(rng, (4, 1), dtype)                        # broadcast to (2, 2, 4, 3)
    tx[T(idx)] = T(v)
    exp = x.copy()
    exp[idx] = v
    assert_same(tx, exp)
    vi = np.array([1, 0, 2], np.int32)                    # int32 into any dtype, as numpy casts
    tx[T(np.array([3], np.int32))] = T(vi)
    exp[[3]] = vi.astype(x.dtype)
    assert_same(tx, exp)
    tx[T(np.array([5], np.int32))] = 2.75                 # a float scalar truncates into ints
    exp[[5]] = np.asarray(2.75).astype(x.dtype)
    assert_same(tx, exp)


def test_index_put_strided_target_and_aliasing(rng):
    base = rand_np(rng, (10, 6), wt.float16)
    tb = T(base)
    view = tb.T[1:]                 # (5, 10) view, strides (1, 6), offset 1
    view[T(np.array([0, 3], np.int32))] = T(np.arange(10, dtype=np.float16))
    exp = base.copy()
    exp.T[1:][[0, 3]] = np.arange(10, dtype=np.float16)
    assert_same(tb, exp)
    xi = T(np.array([3, 1, 0, 2], np.int32))
    xi[xi] = xi[T(np.array([1, 2, 3, 0], np.int32))]          # index and value read the target
    assert_same(xi, _alias_ref())


def _alias_ref():
    a = np.array([3, 1, 0, 2], np.int32)
    a[a.copy()] = a[[1, 2, 3, 0]]
    return a


# ---------------------------------------------------------------- x[key] = v, copy_
KEYS = [np.s_[1], np.s_[:, 1], np.s_[::2], np.s_[1:4, ::3], np.s_[..., -1], np.s_[2:2],
        np.s_[None, 1:, 0], np.s_[:]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", KEYS, ids=[str(k) for k in KEYS])
def test_assign_basic_keys(rng, dtype, key):
    x = rand_np(rng, (7, 9), dtype)
    tx = T(x)
    before = wt.sync_count()
    val = True if dtype is wt.bool else 5
    tx[key] = val
    exp = x.copy()
    exp[key] = val
    v = rand_np(rng, exp[key].shape, dtype)
    tx[key] = T(v)
    exp[key] = v
    if exp[key].ndim:
        v1 = rand_np(rng, exp[key].shape[-1:], dtype)        # broadcast along the leading dims
        tx[key] = T(v1)
        exp[key] = v1
    assert wt.sync_count() == before                          # assignment never reads
    assert_same(tx, exp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_assign_sizes_neighbours(rng, dtype, n):
    x = rand_np(rng, (n,), dtype)
    tx = T(x)
    v = rand_np(rng, x[1::3].shape, dtype)
    tx[1::3] = T(v)
    exp = x.copy()
    exp[1::3] = v
    tx[2::5] = T(v[:1])
    exp[2::5] = v[:1]
    assert_same(tx, exp)


def test_assign_transposed_view_and_0d(rng):
    for dtype in (wt.bool, wt.float16, wt.float32):
        x = rand_np(rng, (5, 6), dtype)
        tx = T(x)
        v = rand_np(rng, (6, 5), dtype)
        tx.T.copy_(T(v))
        assert_same(tx, v.T)
        z = T(rand_np(rng, (), dtype))
        z.copy_(T(v[0, 0]))
        assert_same(z, v[0, 0])


def test_assign_overlapping_value_is_copied_first(rng):
    for dtype in (wt.bool, wt.float16, wt.int32):
        x = rand_np(rng, (4099,), dtype)
        tx = T(x)
        tx[1:] = tx[:-1]
        exp = x.copy()
        exp[1:] = x[:-1]
        assert_same(tx, exp)
        tx[:-3] = tx[3:]
        exp[:-3] = exp[3:].copy()
        assert_same(tx, exp)
        m = T(x.reshape(1, -1)[:, :4096].reshape(64, 64))
        mn = m.numpy()
        m.copy_(m.T)                           # in-place transpose
        assert_same(m, mn.T)


def test_copy_and_fill_casts():
    x = T(np.zeros((2, 3), np.float32))
    src = T(np.array([1, -2, 3], np.int32))
    assert x.copy_(src) is x
    assert_same(x, np.array([[1, -2, 3]] * 2, np.float32))
    b = T(np.zeros(5, bool))
    b.copy_(T(np.array([0, 2.5, 0, -1, 0], np.float32)))
    assert_same(b, np.array([0, 1, 0, 1, 0], bool))
    h = T(np.zeros(3, np.float16))
    h[:] = 65504.0 * 4                                           # overflows to inf, as numpy
    assert_same(h, np.full(3, np.inf, np.float16))
    u = T(np.zeros(3, np.uint32))
    u[1] = 2 ** 32 - 1
    assert_same(u, np.array([0, 2 ** 32 - 1, 0], np.uint32))


@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.data())
def test_assign_random_slices_hypothesis(shape, data):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-9, 9, shape).astype(np.float16)
    key = tuple(slice(data.draw(st.integers(0, s)), None, data.draw(st.integers(1, 3))) for s in shape)
    tx = T(x)
    v = rng.integers(-9, 9, x[key].shape).astype(np.float16)
    tx[key] = T(v)
    x[key] = v
    assert_same(tx, x)


# ---------------------------------------------------------------- errors: raised before writing
@pytest.mark.parametrize("dtype", [wt.bool, wt.float16, wt.float32])
def test_out_of_range_raises_before_writing(rng, dtype):
    x = rand_np(rng, (5, 3), dtype)
    tx = T(x)
    bad = T(np.array([0, 7, 1], np.int32))
    neg = T(np.array([[0, -1, 1]], np.int32))
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 5"):
        tx[bad] = 1
    with pytest.raises(IndexError, match="index -6 is out of bounds for dimension 0 with size 5"):
        tx[T(np.array([-6], np.int32))] = T(rand_np(rng, (3,), dtype))
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        tx[bad]
    with pytest.raises(IndexError, match="index -1 is out of bounds for dimension 1 with size 3"):
        tx.scatter_(1, neg, T(rand_np(rng, (1, 3), dtype)))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        tx.gather(1, neg)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        tx.scatter_(1, T(np.array([[3]], np.uint32)), True)
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        tx.index_select(0, T(np.array([5], np.uint32)))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        tx.index_select(0, T(np.array([-1], np.int32)))
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 0"):
        T(np.zeros((0, 2), np.float32))[T(np.array([0], np.int32))]
    assert_same(tx, x)                                         # nothing was written


def test_wrong_dtypes_and_shapes_raise_before_gpu_work(rng):
    x = T(rand_np(rng, (4, 3), wt.float32))
    xn = x.numpy()
    fidx = T(np.array([0.0, 1.0], np.float32))
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool"):
        x[fidx]
    with pytest.raises(IndexError, match="tensors used as indices"):
        x[fidx] = 1.0
    with pytest.raises(IndexError, match="Expected dtype int32 or uint32"):
        x.gather(0, T(np.zeros((1, 1), bool)))
    with pytest.raises(IndexError, match="Expected dtype int32 or uint32"):
        x.index_select(0, fidx)
    i2 = T(np.zeros((2, 2), np.int32))
    with pytest.raises(TypeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter_(0, i2, T(np.zeros((2, 2), np.int32)))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(0, T(np.zeros(2, np.int32)))
    with pytest.raises(RuntimeError, match="Size does not match at dimension 1"):
        x.gather(0, T(np.zeros((2, 4), np.int32)))
    with pytest.raises(RuntimeError, match="smaller size than src"):
        x.scatter_(0, i2, T(np.zeros((1, 2), np.float32)))
    with pytest.raises(RuntimeError, match="smaller than self"):
        x.scatter(0, T(np.zeros((2, 5), np.int32)), 1.0)
    with pytest.raises(TypeError, match="src"):
        x.scatter(0, i2)
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        x.index_select(0, i2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.gather(2, i2)
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 0"):
        T(np.array(1.0, np.float32))[T(np.array([0], np.int32))]
    with pytest.raises(RuntimeError, match="shape mismatch"):
        x[T(np.array([0, 1], np.int32))] = T(np.zeros(2, np.float32))
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        x[1:3] = T(np.zeros((3, 3), np.float32))
    with pytest.raises(OverflowError):
        T(np.zeros(3, np.int32))[0] = 2 ** 40
    with pytest.raises(OverflowError):
        T(np.zeros(3, np.uint32))[T(np.array([1], np.int32))] = -1
    with pytest.raises(TypeError):
        x[0] = "a"
    with pytest.raises(TypeError, match="must be Tensor"):
        x.copy_(1.0)
    assert_same(x, xn)


def test_overlapping_target_is_refused():
    row = T(np.arange(3, dtype=np.float32))
    ex = row.unsqueeze(0).expand(4, 3)
    msg = "more than one element of the written-to tensor refers to a single memory location"
    with pytest.raises(RuntimeError, match=msg):
        ex.fill_(1.0)
    with pytest.raises(RuntimeError, match=msg):
        ex[T(np.array([0], np.int32))] = 1.0
    with pytest.raises(RuntimeError, match=msg):
        ex.scatter_(0, T(np.zeros((1, 3), np.int32)), 2.0)
    assert_same(row, np.arange(3, dtype=np.float32))
    assert_same(ex.scatter(0, T(np.zeros((1, 3), np.int32)), 2.0),   # out of place is fine
                np.array([[2, 2, 2]] + [[0, 1, 2]] * 3, np.float32))


# ---------------------------------------------------------------- syncs
def test_syncs_one_per_validated_index_none_for_assignment(rng):
    x = T(rand_np(rng, (50, 4), wt.float32))
    idx = T(np.array([3, 1, 2], np.int32))
    before = wt.sync_count()
    x[idx]
    x.gather(0, T(np.zeros((2, 4), np.int32)))
    x[idx] = 1.0
    x.index_select(1, T(np.array([0], np.int32)))
    assert wt.sync_count() == before + 4
    x[T(np.zeros(0, np.int32))] = 2.0                      # an empty index reads nothing
    x[T(np.zeros(0, np.int32))]
    assert wt.sync_count() == before + 4
    wt.set_sync_debug_mode("error")
    try:
        x[1:3] = 5.0
        x[:, 0].copy_(x[:, 1])
        x[0, 0] = T(np.array(2.0, np.float32))
        with pytest.raises(RuntimeError, match="implicit"):
            x[idx]                                              # the range check is an implicit read
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == before + 4                   # the refused read is not counted


# ---------------------------------------------------------------- bigger than a binding / grid
@pytest.mark.parametrize("dtype", [wt.bool, wt.float16, wt.float32])
def test_multi_window_and_2d_grid(rng, dtype):
    n = 30001
    x = rand_np(rng, (n,), dtype)
    idx = rng.integers(-n, n, 9000).astype(np.int32)
    pos = rng.permutation(n)[:9000].astype(np.int32)
    v = rand_np(rng, (9000,), dtype)
    x2 = rand_np(rng, (150, 200), dtype)
    i2 = rng.integers(0, 150, (120, 200)).astype(np.int32)
    # Bindings of 4 KiB: a gather binds every window of its source (30 for float32), more
    # than an adapter with 16 storage buffers per stage has (the OpenGL backend): there,
    # windows four times bigger (8 of them), still several windows and a 2-D grid.
    binding = 4096
    while -(-n * 4 // binding) + 4 > get_device().max_storage_bindings:
        binding *= 2
    with override_limits(max_binding=binding, max_groups=5):
        tx = T(x)
        assert_same(tx[T(idx)], x[idx])
        tx[T(pos)] = T(v)
        exp = x.copy()
        exp[pos] = v
        assert_same(tx, exp)
        tx[::7] = T(v[:1])                                     # strided target over many windows
        exp[::7] = v[:1]
        assert_same(tx, exp)
        t2 = T(x2)
        assert_same(t2.gather(0, T(i2)), np.take_along_axis(x2, i2, 0))
        assert_same(t2.T.index_select(1, T(pos[:77] % 150)), x2.T[:, pos[:77] % 150])
        src = rand_np(rng, (120, 200), dtype)
        i3 = _moveaxis_distinct(rng, (150, 200), (120, 200), 0)
        t2.scatter_(0, T(i3), T(src))
        e2 = x2.copy()
        np.put_along_axis(e2, i3.astype(np.int64), src, 0)
        assert_same(t2, e2)
        with pytest.raises(IndexError, match=f"index {n} is out of bounds"):
            tx[T(np.concatenate([idx, [n]]).astype(np.int32))]


def test_more_workgroups_than_one_grid_dimension(rng):
    n = 30001
    x = rand_np(rng, (n,), wt.float16)
    idx = rng.integers(-n, n, n).astype(np.int32)
    with override_limits(max_groups=2):                      # 2-D grids and several launches
        tx = T(x)
        assert_same(tx[T(idx)], x[idx])
        v = rand_np(rng, (n,), wt.float16)
        tx[T(np.arange(n, dtype=np.int32)[::-1].copy())] = T(v)
        assert_same(tx, v[::-1])
        for pos in (0, n // 2, n - 1):                         # every value is checked
            bad = idx.copy()
            bad[pos] = n
            with pytest.raises(IndexError, match=f"index {n} is out of bounds"):
                tx[T(bad)]
            bad[pos] = -n - 1
            with pytest.raises(IndexError, match=f"index {-n - 1} is out of bounds"):
                tx[T(bad)] = 0.0
    assert_same(tx, v[::-1])


def test_leading_unit_dims_of_the_value_are_dropped():
    x = T(np.zeros((2, 3), np.float32))
    x[0] = T(np.ones((1, 1, 3), np.float32))
    x[T(np.array([1], np.int32))] = T(np.full((1, 1, 3), 2, np.float32))
    assert_same(x, np.array([[1, 1, 1], [2, 2, 2]], np.float32))


def test_too_many_windows_is_a_clear_error(rng):
    x = T(np.zeros(100000, np.float32))
    with override_limits(max_binding=1024):
        with pytest.raises(MemoryError, match="storage bindings"):
            x[T(np.array([0, 99999], np.int32))]


def test_real_tensor_over_one_binding():
    dev = get_device()
    n = dev.max_binding // 4 + 1000
    if n * 4 > 160 * 2 ** 20:
        pytest.skip("only on adapters with a binding near lavapipe's 128 MiB")
    x = wt.arange(n, dtype=wt.float32)
    idx = np.array([0, n - 1, n // 2, n - 1000, 5], np.int32)
    assert_same(x[T(idx)], idx.astype(np.float32))
    x[T(idx[:2])] = -1.0
    assert_same(x[n - 3:], np.array([n - 3, n - 2, -1], np.float32))

"""Reductions (sum, mean, any, all, count_nonzero, amax, amin) against numpy on random data."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, assert_same, no_gpu_work, rand_np

OPS = ["sum", "mean", "any", "all", "count_nonzero", "amax", "amin"]
FLOATS = [wt.float16, wt.float32]


def _axis(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return tuple(sorted(d % max(ndim, 1) for d in dims)) if ndim else ()


def ref(op, a, dim=None, keepdim=False, dtype=None):
    """numpy result with this runtime's dtype rules."""
    ax = _axis(dim, a.ndim)
    dtype = None if dtype is None else wt.dtypes.to_dtype(dtype)
    kd = keepdim and op != "count_nonzero"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if op == "sum":
            out = np.dtype(dtype.np if dtype is not None else (np.int32 if a.dtype == np.bool_ else a.dtype))
            if out.kind == "f":
                src = a.astype(out) if dtype is not None else a
                return np.sum(src.astype(np.float64), axis=ax, keepdims=kd).astype(out)
            wide = np.uint64 if out == np.uint32 else np.int64
            src = a.astype(out) if dtype is not None else a
            return np.sum(src.astype(wide), axis=ax, keepdims=kd).astype(out)
        if op == "mean":
            out = dtype.np if dtype is not None else a.dtype
            src = a.astype(out) if dtype is not None else a
            return np.mean(src.astype(np.float64), axis=ax, keepdims=kd).astype(out)
        nz = a != 0
        if op == "any":
            return np.any(nz, axis=ax, keepdims=kd)
        if op == "all":
            return np.all(nz, axis=ax, keepdims=kd)
        if op == "count_nonzero":
            return np.asarray(np.sum(nz, axis=ax)).astype(np.int32)
        f = np.max if op == "amax" else np.min
        return np.asarray(f(a, axis=ax, keepdims=kd)).astype(a.dtype)


def run(op, x, dim=None, keepdim=False, **kw):
    f = getattr(x, op)
    if op == "count_nonzero":
        return f(dim)
    return f(dim, keepdim, **kw)


def check(op, x, a, dim=None, keepdim=False, dtype=None, rtol=None):
    kw = {"dtype": dtype} if dtype is not None else {}
    got = run(op, x, dim, keepdim, **kw)
    exp = ref(op, a, dim, keepdim, dtype)
    if rtol is None:
        rtol = 0
        if op == "mean":
            rtol = 2e-3 if exp.dtype == np.float16 else 1e-6
    assert_same(got, exp, rtol=rtol, atol=0 if not rtol else 1e-30)
    return got


def supported(op, dtype):
    return op != "mean" or dtype.is_floating_point


DIMS = [None, 0, 1, 2, -1, -3, (0, 2), (2, 0), [1, 2], (0, 1, 2), ()]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("op", OPS)
def test_every_dim_and_keepdim(rng, op, dtype):
    a = rand_np(rng, (5, 6, 7), dtype)
    x = wt.tensor(a, dtype=dtype)
    if not supported(op, dtype):
        with pytest.raises(TypeError, match="mean"):
            x.mean(0)
        return
    for dim in DIMS:
        for keepdim in (False, True):
            got = check(op, x, a, dim, keepdim)
            assert got.dtype is {"any": wt.bool, "all": wt.bool, "count_nonzero": wt.int32}.get(
                op, wt.int32 if (op == "sum" and dtype is wt.bool) else dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("op", OPS)
def test_nan_inf_and_signed_zero(rng, op, dtype):
    a = rand_np(rng, (9, 70), dtype, special=True)
    a[3] = -0.0
    a[4, :] = np.nan
    a[5, :] = np.inf
    x = wt.tensor(a)
    for dim in (None, 0, 1):
        check(op, x, a, dim)


def test_nan_propagates_in_amax_amin():
    a = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 2.0], [-0.0, 0.0, -0.0]], np.float32)
    x = wt.tensor(a)
    assert_same(x.amax(1), np.array([np.nan, np.inf, 0.0], np.float32))
    assert_same(x.amin(1), np.array([np.nan, -np.inf, 0.0], np.float32))
    assert np.isnan(x.amax().item()) and np.isnan(x.amin().item())
    # NaN is nonzero, -0.0 is zero
    assert_same(x.any(1), np.array([True, True, False]))
    assert_same(x.all(1), np.array([True, True, False]))
    assert_same(x.count_nonzero(1), np.array([3, 3, 0], np.int32))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 1025, 4095, 4096,
                               4097, 4099, 16385])
def test_edge_sizes_1d(rng, n):
    for dtype in DTYPES:
        a = rand_np(rng, (n,), dtype)
        x = wt.tensor(a, dtype=dtype)
        for op in OPS:
            if not supported(op, dtype) or (n == 0 and op in ("amax", "amin")):
                continue
            check(op, x, a, None)
            check(op, x, a, 0, True)


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (1, 5), (4099, 3), (3, 4099), (257, 255), (255, 257),
                                   (64, 65), (2, 3000), (3000, 2), (17, 1, 33)])
def test_edge_shapes_2d(rng, shape):
    for dtype in (wt.bool, wt.int32, wt.float16, wt.float32):
        a = rand_np(rng, shape, dtype)
        x = wt.tensor(a, dtype=dtype)
        for op in OPS:
            if not supported(op, dtype):
                continue
            for dim in (0, 1, -1, None):
                check(op, x, a, dim)


@pytest.mark.parametrize("shape, dim", [((0,), 0), ((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((3, 0), 0),
                                        ((2, 0, 4), (0, 2)), ((2, 0, 4), 1), ((0,), None), ((3, 0), None)])
def test_empty(shape, dim):
    for dtype in DTYPES:
        a = np.zeros(shape, dtype.np)
        x = wt.tensor(a, dtype=dtype)
        for op in ("sum", "mean", "any", "all", "count_nonzero"):
            if supported(op, dtype):
                for keepdim in (False, True):
                    check(op, x, a, dim, keepdim)
    x = wt.zeros(shape)
    assert_same(x.sum(dim), np.zeros(ref("sum", np.zeros(shape, np.float32), dim).shape, np.float32))
    if 0 in [shape[d] for d in _axis(dim, len(shape))]:
        assert np.isnan(x.mean(dim).numpy()).all()
        assert x.any(dim).numpy().all() == False  # noqa: E712
        assert x.all(dim).numpy().all()


def test_amax_amin_of_empty_raise():
    x = wt.zeros((3, 0))
    for op in ("amax", "amin"):
        with pytest.raises(RuntimeError, match=rf"{op}\(\): Expected reduction dim 1 to have non-zero size"):
            getattr(x, op)(1)
        with pytest.raises(RuntimeError, match="Expected reduction dim to be specified"):
            getattr(x, op)()
        with pytest.raises(RuntimeError, match="Expected reduction dim 1"):
            getattr(x, op)((0, 1))
        assert_same(getattr(x, op)(0), np.zeros((0,), np.float32))  # no reduced dim is empty
        assert_same(getattr(wt.zeros((0, 3)), op)(1), np.zeros((0,), np.float32))


def test_zero_dim_input():
    for dtype in DTYPES:
        a = np.array(3 if dtype is not wt.bool else True, dtype.np)
        x = wt.tensor(a, dtype=dtype)
        for op in OPS:
            if supported(op, dtype):
                for dim in (None, 0, -1, (0,)):
                    for keepdim in (False, True):
                        got = check(op, x, a, dim, keepdim)
                        assert got.shape == ()
    with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\], but got 1"):
        wt.tensor(1.0).sum(1)


def test_keepdim_with_dim_none_keeps_every_dim():
    x = wt.ones((2, 3, 4))
    assert x.sum(keepdim=True).shape == (1, 1, 1)
    assert x.amax(None, True).shape == (1, 1, 1)
    assert x.sum().shape == ()
    assert x.count_nonzero().shape == ()


@pytest.mark.parametrize("shape, dims", [((300, 5, 3), (0, 2)), ((20, 3, 30, 3, 4), (0, 2, 4)),
                                         ((7, 2, 9, 2, 5, 2, 3), (0, 2, 4, 6)), ((3, 50, 2), (0, 2)),
                                         ((40, 6, 33), (2, 0))])
def test_reduced_dims_that_do_not_merge(rng, shape, dims):
    """Several strided reduced dims, the innermost shorter or longer than the invocations per row."""
    for dtype in (wt.bool, wt.int32, wt.float16, wt.float32):
        a = rand_np(rng, shape, dtype)
        x = wt.tensor(a, dtype=dtype)
        for op in OPS:
            if supported(op, dtype):
                check(op, x, a, dims)
                check(op, x[1:], a[1:], dims, True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_views(rng, dtype):
    a = rand_np(rng, (9, 10, 11), dtype)
    x = wt.tensor(a, dtype=dtype)
    views = [
        (x.T, a.transpose()),
        (x[::2, 1::3, 2:], a[::2, 1::3, 2:]),
        (x[1:, 3], a[1:, 3]),
        (x[4:5, 2:9:3, ::5], a[4:5, 2:9:3, ::5]),
        (x[:, :, 3:4].expand(9, 10, 6), np.broadcast_to(a[:, :, 3:4], (9, 10, 6))),
        (x[2, 3][None].expand(70, 11), np.broadcast_to(a[2, 3], (70, 11))),
        (x.reshape(-1)[7:], a.reshape(-1)[7:]),
    ]
    for t, an in views:
        an = np.ascontiguousarray(an)
        for op in OPS:
            if not supported(op, dtype):
                continue
            for dim in [None] + list(range(an.ndim)) + [tuple({0, an.ndim - 1})]:
                check(op, t, an, dim)
    assert_same(x, a)  # the input is untouched


@pytest.mark.parametrize("op", OPS)
def test_many_workgroups_2d_grid(rng, op):
    a = rand_np(rng, (9001, 3), wt.float32)
    b = rand_np(rng, (40, 3001), wt.float32)
    x, y = wt.tensor(a), wt.tensor(b)
    with override_limits(max_groups=5):
        for dim in (None, 0, 1):
            check(op, x, a, dim)
            check(op, y, b, dim)


@pytest.mark.parametrize("op", OPS)
def test_input_over_one_binding(rng, op):
    """A 4 KiB storage binding: inputs, outputs and strided rows span many windows."""
    a = rand_np(rng, (700, 23), wt.float32)
    h = rand_np(rng, (3001,), wt.float16)
    m = rand_np(rng, (33, 301), wt.bool)
    x, xh, xm = wt.tensor(a), wt.tensor(h), wt.tensor(m)
    with override_limits(max_binding=4096, max_groups=3):
        for dim in (None, 0, 1, (0, 1)):
            check(op, x, a, dim)
            check(op, x[1::3, 2:], a[1::3, 2:], dim)
            check(op, x.T, a.T, dim)
        for dim in (None, 0):
            check(op, xh, h, dim)
        if op != "mean":
            for dim in (None, 0, 1):
                check(op, xm, m, dim)


def test_thin_views_over_small_bindings(rng):
    """Rows far apart in memory: one element, or 2 / 4 packed outputs, per window."""
    a = rand_np(rng, (16, 1024), wt.float32)
    x = wt.tensor(a)
    h = rand_np(rng, (8, 2048), wt.float16)
    m = rand_np(rng, (8, 4096), wt.bool)
    with override_limits(max_binding=4096):
        for op in OPS:
            check(op, x[:, ::1024].expand(16, 16), np.repeat(a[:, :1], 16, 1), 0)
            check(op, x[:, ::1024].expand(16, 16), np.repeat(a[:, :1], 16, 1), 1)
            check(op, x[::3, ::257], a[::3, ::257], 0)
            check(op, wt.tensor(h)[:, ::2048], h[:, ::2048], 1)
            if op != "mean":
                check(op, wt.tensor(m)[:, ::4096], m[:, ::4096], 1)
                check(op, wt.tensor(m)[:, ::4095], m[:, ::4095], 1)


def test_real_big_sum_is_accurate():
    """2**25 + 1000 floats (over lavapipe's 128 MiB binding): the sum is pairwise enough
    to match numpy's float64 sum to 1e-5; amax and a column sum over the same data."""
    n = 2 ** 25 + 1000
    x = wt.rand(n, seed=3)
    s, mu, mx = x.sum(), x.mean(), x.amax()
    cols = x[: 2 ** 25].reshape(2 ** 13, 2 ** 12).sum(0)
    a = x.numpy()
    np.testing.assert_allclose(s.item(), a.astype(np.float64).sum(), rtol=1e-5)
    np.testing.assert_allclose(mu.item(), a.astype(np.float64).mean(), rtol=1e-5)
    assert mx.item() == a.max()
    np.testing.assert_allclose(cols.numpy(), a[: 2 ** 25].reshape(2 ** 13, -1).astype(np.float64).sum(0),
                               rtol=1e-5)


def test_big_dim_none(rng):
    n = 2 ** 20 + 3
    a = rng.standard_normal(n).astype(np.float32)
    x = wt.tensor(a)
    np.testing.assert_allclose(x.sum().item(), a.astype(np.float64).sum(),
                               atol=1e-6 * np.abs(a).sum())
    assert x.amax().item() == a.max() and x.amin().item() == a.min()
    m = a > 2.5
    xm = wt.tensor(m)
    assert xm.count_nonzero().item() == m.sum()
    assert xm.sum().item() == m.sum()
    assert xm.any().item() and not xm.all().item()
    assert (x > -100).all().item()
    i = (a * 1000).astype(np.int32)
    assert wt.tensor(i).sum().item() == i.astype(np.int64).sum()


def test_float16_sum_overflows_to_inf():
    h = np.ones((3, 70000), np.float16)
    h[1] *= -1
    h[2, 5] = np.nan
    x = wt.tensor(h)
    assert_same(x.sum(1), np.array([np.inf, -np.inf, np.nan], np.float16))
    assert_same(x.mean(1), np.array([1, -1, np.nan], np.float16))
    assert_same(x[:2].sum(), np.float16(0))
    f = np.full(70000, 1.0, np.float32)
    assert_same(wt.tensor(f).sum(dtype=wt.float16), np.float16(np.inf))
    assert_same(wt.tensor(f * 70000).mean(dtype=wt.float16), np.float16(np.inf))  # inf after the cast


def test_int_sum_wraps_and_uint_stays_unsigned():
    a = np.full(5, 2 ** 30, np.int32)
    assert_same(wt.tensor(a).sum(), np.array(np.int64(5 * 2 ** 30)).astype(np.int32))
    u = np.full(5, 2 ** 31, np.uint32)
    got = wt.tensor(u).sum()
    assert got.dtype is wt.uint32
    assert_same(got, np.uint32((5 * 2 ** 31) % 2 ** 32))
    assert_same(wt.tensor(u).amax(), np.uint32(2 ** 31))
    v = np.array([0xFFFFFFFF, 1, 7], np.uint32)
    assert_same(wt.tensor(v).amax(), np.uint32(0xFFFFFFFF))
    assert_same(wt.tensor(v).amin(), np.uint32(1))
    i = np.array([-(2 ** 31), 2 ** 31 - 1, 0], np.int32)
    assert_same(wt.tensor(i).amax(), np.int32(2 ** 31 - 1))
    assert_same(wt.tensor(i).amin(), np.int32(-(2 ** 31)))


def test_sum_and_mean_dtype(rng):
    m = rand_np(rng, (7, 300), wt.bool)
    xm = wt.tensor(m)
    check("sum", xm, m, 1, dtype=wt.float32)
    check("sum", xm, m, None, dtype=wt.float16)
    check("mean", xm, m, 1, dtype=wt.float32)
    f = rng.standard_normal((7, 300)).astype(np.float32) * 5
    xf = wt.tensor(f)
    check("sum", xf, f, 1, dtype=wt.int32)  # each element truncated first
    check("sum", xf, f, 0, dtype=wt.float16, rtol=1e-3)  # rounded to float16 first
    check("mean", xf, f, 1, dtype=wt.float16, rtol=2e-3)
    i = rand_np(rng, (7, 300), wt.int32)
    check("sum", wt.tensor(i), i, 0, dtype=wt.float32)
    check("mean", wt.tensor(i), i, (0, 1), dtype="float32")
    check("sum", wt.tensor(i), i, 1, dtype=wt.uint32)
    assert xf.sum(dtype=wt.float32).dtype is wt.float32
    # summing in bool is a logical or, as PyTorch
    assert_same(wt.tensor(i).sum(1, dtype=wt.bool), (i != 0).any(1))


def test_mean_of_integers_raises():
    for dt, name in ((wt.int32, "Int"), (wt.bool, "Bool"), (wt.uint32, "UInt32")):
        with pytest.raises(TypeError, match=rf"mean\(\): could not infer output dtype. Input dtype must be "
                                            rf"either a floating point or complex dtype. Got: {name}"):
            wt.zeros(3, dtype=dt).mean()
    with pytest.raises(TypeError, match="Optional dtype must be either a floating point.*Got: Int"):
        wt.zeros(3).mean(dtype=wt.int32)


def test_bad_dims_raise_before_gpu_work():
    x = wt.zeros((2, 3))
    with no_gpu_work(), pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        x.sum(2)
    with no_gpu_work(), pytest.raises(IndexError, match=r"but got -3"):
        x.amax((0, -3))
    with no_gpu_work(), pytest.raises(RuntimeError, match="dim 1 appears multiple times in the list of dims"):
        x.sum((1, -1))
    with no_gpu_work(), pytest.raises(RuntimeError, match="appears multiple times"):
        x.count_nonzero([0, 0])
    with no_gpu_work(), pytest.raises(TypeError, match="dim must be an int"):
        x.sum(1.5)
    with no_gpu_work(), pytest.raises(TypeError, match="dim must be an int"):
        x.any(True)
    with no_gpu_work(), pytest.raises(TypeError):
        x.sum(dtype="complex64")


@pytest.mark.parametrize("op", OPS)
def test_no_sync(rng, op):
    a = rand_np(rng, (300, 70), wt.float32)
    x = wt.tensor(a)
    wt.synchronize()
    before = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        outs = [run(op, x, d) for d in (None, 0, 1)] + [run(op, wt.rand(2 ** 17), None)]
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == before
    assert all(isinstance(o, wt.Tensor) for o in outs)
    check(op, x, a, 1)


def test_module_functions_match_methods(rng):
    a = rand_np(rng, (4, 5), wt.float32)
    x = wt.tensor(a)
    assert_same(wt.sum(x, 1, True), x.sum(1, True).numpy())
    assert_same(wt.mean(x, dim=0), x.mean(0).numpy())
    assert_same(wt.any(x, 0), x.any(0).numpy())
    assert_same(wt.all(x, (0, 1)), x.all((0, 1)).numpy())
    assert_same(wt.count_nonzero(x, 1), x.count_nonzero(1).numpy())
    assert_same(wt.amax(x, -1), x.amax(-1).numpy())
    assert_same(wt.amin(x), x.amin().numpy())
    assert_same(wt.sum(wt.tensor(a > 0), dtype=wt.float32), np.float32((a > 0).sum()))


@given(shape=st.lists(st.integers(0, 7), min_size=0, max_size=4),
       data=st.data(), op=st.sampled_from(OPS), dtype=st.sampled_from(DTYPES))
def test_random_shapes_dims_views(shape, data, op, dtype):
    if not supported(op, dtype):
        dtype = wt.float32
    rng = np.random.default_rng(len(shape) * 1000 + sum(shape))
    nd = len(shape)
    big = [s * 2 for s in shape]
    a = rand_np(rng, big, dtype)
    x = wt.tensor(a, dtype=dtype)
    if nd:  # a stepped view of a bigger tensor
        sl = tuple(slice(1 if s else 0, None, 2) for s in shape)
        x, a = x[sl], np.ascontiguousarray(a[sl])
    dims = data.draw(st.one_of(st.none(), st.integers(-max(nd, 1), max(nd, 1) - 1),
                               st.lists(st.integers(0, max(nd, 1) - 1), unique=True, max_size=max(nd, 1)).map(tuple)))
    if nd == 0 and isinstance(dims, tuple) and dims:
        dims = (0,)
    keepdim = data.draw(st.booleans())
    if op in ("amax", "amin") and any(a.shape[d] == 0 for d in _axis(dims, nd)):
        with pytest.raises(RuntimeError):
            run(op, x, dims, keepdim)
        return
    check(op, x, a, dims, keepdim)

"""cumsum, cumprod, cummax, cummin against numpy (ops/scan.py, shaders/scan_rows.wgsl).

Float data from rand_np are multiples of 0.25 in [-3, 3]: every partial sum of a row
of up to 2**20 of them is exact in float32 (|sum| stays far under 2**22), so cumsum
is compared exactly with numpy's float64 cumsum (cast to the result dtype), whatever
order the GPU adds in. cumprod of floats is compared with float64 with a relative
tolerance of 2e-7 per element of the row (products of values near 1); integer scans
wrap as numpy's int64 scans do modulo 2**32."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import scan as SC
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, assert_same, no_gpu_work, rand_np

ROWS = [1, 255, 256, 257, 4097]   # one invocation's run, a tile, a tile and one, many tiles


@pytest.fixture(params=[None, 64, 4], ids=["r_adapter", "r64", "r4"])
def r_max(request, monkeypatch):
    """Elements per invocation at most: the adapter's choice (1024 on lavapipe: rows up
    to 65,536 in one tile), the GPU's 64 (tiles of 4,096: a row of 4,097 takes the
    run-totals path) and 4 (tiles of 256: rows of 257 and up do, 4,097 over three
    levels)."""
    monkeypatch.setattr(SC, "R_MAX", request.param)
    return request.param


# ---------------------------------------------------------------- references
def np_cumsum(a, axis):
    """Exact reference: int64/float64 sums, then the result dtype (ints wrap)."""
    if a.dtype == np.bool_ or a.dtype == np.int32:
        return np.cumsum(a.astype(np.int64), axis).astype(np.int32)
    if a.dtype == np.uint32:
        return np.cumsum(a.astype(np.uint64), axis).astype(np.uint32)
    return np.cumsum(a.astype(np.float64), axis).astype(a.dtype)


def np_cumprod(a, axis):
    if a.dtype == np.bool_ or a.dtype == np.int32:
        with np.errstate(over="ignore"):
            return np.cumprod(a.astype(np.int64), axis).astype(np.int32)
    if a.dtype == np.uint32:
        return np.cumprod(a.astype(np.uint64), axis).astype(np.uint32)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.cumprod(a.astype(np.float64), axis).astype(a.dtype)


def np_cumext(a, axis, largest=True):
    """(values, indices) as torch.cummax/cummin: ties to the later index, NaN propagates
    (its index the last NaN so far)."""
    a = np.moveaxis(a, axis, -1)
    acc = np.maximum.accumulate if largest else np.minimum.accumulate
    vals = acc(a, axis=-1)
    if a.dtype.kind == "f":
        mark = (a == vals) | (np.isnan(a) & np.isnan(vals))
    else:
        mark = a == vals
    pos = np.where(mark, np.arange(a.shape[-1]), -1)
    idx = np.maximum.accumulate(pos, axis=-1).astype(np.int32)
    return np.moveaxis(vals, -1, axis), np.moveaxis(idx, -1, axis)


def check_cumsum(a, t, dim):
    out = wt.cumsum(t, dim)
    exp = np_cumsum(a, dim)
    assert_same(out, exp)


def check_cumext(a, t, dim, largest=True):
    v, i = (wt.cummax if largest else wt.cummin)(t, dim)
    ev, ei = np_cumext(a, dim, largest)
    assert_same(v, ev)
    assert_same(i, ei)


# ---------------------------------------------------------------- cumsum
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", ROWS)
def test_cumsum_rows(rng, dtype, n, r_max):
    a = rand_np(rng, (3, n), dtype)
    t = wt.tensor(a)
    check_cumsum(a, t, 1)
    check_cumsum(a, t, -1)
    if n <= 257:
        check_cumsum(a, t, 0)


def test_cumsum_long_row(rng, r_max):
    # 2**20 + 3: 257 tiles of 4096 whose totals are scanned by a second level.
    n = 2 ** 20 + 3
    a = rand_np(rng, (n,), wt.float32)
    check_cumsum(a, wt.tensor(a), 0)
    b = rand_np(rng, (n,), wt.int32)
    check_cumsum(b, wt.tensor(b), 0)


def test_cumsum_three_levels(rng, monkeypatch):
    # Tiles of 64 x 4 = 256: a row of 70,001 needs three levels of totals.
    monkeypatch.setattr(SC, "R_MAX", 4)
    a = rand_np(rng, (2, 70001), wt.float32)
    check_cumsum(a, wt.tensor(a), 1)
    check_cumext(a, wt.tensor(a), 1)


def test_cumsum_many_short_rows(rng):
    a = rand_np(rng, (5000, 3), wt.float32)
    t = wt.tensor(a)
    check_cumsum(a, t, 1)
    check_cumsum(a, t, 0)
    b = rand_np(rng, (300, 17, 5), wt.int32)
    for d in range(3):
        check_cumsum(b, wt.tensor(b), d)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_cumsum_strided_and_transposed(rng, dtype):
    a = rand_np(rng, (40, 66), dtype)
    t = wt.tensor(a)
    tt = wt.Tensor._wrap(t._v.derive((66, 40), (1, 66), 0))     # a transposed view
    for d in (0, 1):
        check_cumsum(a.T, tt, d)
        check_cumsum(a[3:37:2, 1::3], t[3:37:2, 1::3], d)
    check_cumsum(a[5], t[5], 0)                                # a row at an offset not of 4
    check_cumsum(a[:, 7], t[:, 7], 0)                          # a column


def test_cumsum_special_floats(rng):
    a = rand_np(rng, (4, 300), wt.float32, special=True)
    with np.errstate(invalid="ignore"):
        check_cumsum(a, wt.tensor(a), 1)
    z = np.array([-0.0, -0.0, 0.0, -0.0], np.float32)
    got = wt.cumsum(wt.tensor(z), 0).numpy()
    assert list(np.signbit(got)) == [True, True, False, False]


def test_cumsum_dtype_argument_and_float16_accumulation():
    t = wt.tensor([1, 2, 3])
    assert_same(wt.cumsum(t, 0, dtype=wt.float32), np.array([1, 3, 6], np.float32))
    assert_same(t.cumsum(0, dtype=wt.uint32), np.array([1, 3, 6], np.uint32))
    assert wt.cumsum(wt.tensor([True, True]), 0).dtype is wt.int32
    # 4096 halves of 1.0: float16 alone would stop at 2048; accumulated in float32 the
    # last sum 4096 is exact in float16.
    h = wt.ones(4096, dtype=wt.float16)
    out = wt.cumsum(h, 0)
    assert out.dtype is wt.float16
    np.testing.assert_array_equal(out.numpy(), np.arange(1, 4097).astype(np.float16))


def test_cumsum_int_wraps():
    a = np.array([2 ** 31 - 1, 1, 5], np.int64)
    assert_same(wt.cumsum(wt.tensor(a), 0), np.array([2 ** 31 - 1, -2 ** 31, -2 ** 31 + 5], np.int32))


def test_cumsum_0d_and_empty():
    assert_same(wt.cumsum(wt.tensor(3.5), 0), np.array(3.5, np.float32))
    assert_same(wt.cumsum(wt.tensor(2), -1), np.array(2, np.int32))
    e = wt.zeros(0, 3)
    assert wt.cumsum(e, 0).shape == (0, 3) and wt.cumsum(e, 1).shape == (0, 3)
    v, i = wt.cummax(wt.zeros(4, 0), 1)
    assert v.shape == (4, 0) and i.dtype is wt.int32


def test_scans_bad_input_before_gpu_work():
    t = wt.tensor([[1.0, 2.0]])
    with no_gpu_work():
        with pytest.raises(IndexError, match="Dimension out of range"):
            wt.cumsum(t, 2)
        with pytest.raises(IndexError, match="Dimension out of range"):
            wt.cummax(t, -3)
        with pytest.raises(TypeError, match="dim must be an int"):
            wt.cumprod(t, 0.5)
        with pytest.raises(TypeError, match="dtype=bool"):
            wt.cumsum(t, 0, dtype=wt.bool)
        with pytest.raises(TypeError, match="unsupported dtype"):
            wt.cumsum(t, 0, dtype="complex")
        with pytest.raises(TypeError, match="expected a wgpu_tensor.Tensor"):
            SC.cumsum([1, 2], 0)


def test_scan_row_over_one_binding_raises(rng):
    t = wt.tensor(np.arange(2000, dtype=np.float32))
    with override_limits(max_binding=4096), no_gpu_work():
        with pytest.raises(ValueError, match="storage binding"):
            wt.cumsum(t, 0)
        with pytest.raises(ValueError, match="storage binding"):
            wt.cummax(t, 0)


def test_scan_row_groups_and_more_than_max_groups(rng):
    # A 4 KiB binding: rows of 100 go 9 to a group (each bound from its own aligned
    # offset); 3 workgroups per dimension: at most 9 tiles per launch, 2-D grids.
    a = rand_np(rng, (37, 100), wt.float32)
    b = rand_np(rng, (70, 700), wt.int32)
    c = rand_np(rng, (3000,), wt.float32)
    dev = get_device()
    with override_limits(max_binding=4096, max_groups=3):
        with dev.record_commands() as log:
            check_cumsum(a, wt.tensor(a), 1)
        assert sum(1 for c_ in log if c_.kind == "dispatch") >= 5
        check_cumsum(b, wt.tensor(b), 1)     # 70 rows x 3 tiles: TOTALS over many launches
        check_cumext(b, wt.tensor(b), 1, largest=False)
    with override_limits(max_groups=3):
        check_cumsum(c, wt.tensor(c), 0)


def test_scans_never_sync(rng):
    a = rand_np(rng, (5, 5000), wt.float32)
    t = wt.tensor(a)
    wt.synchronize()
    n0 = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        r = [wt.cumsum(t, 1), wt.cumprod(t, 0), wt.cummax(t, 1), wt.cummin(t, 0)]
        wt.synchronize()
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == n0
    assert_same(r[0], np_cumsum(a, 1))


# ---------------------------------------------------------------- cumprod
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", ROWS)
def test_cumprod_rows(rng, dtype, n, r_max):
    if dtype.kind == "f":
        a = rng.uniform(0.99, 1.01, (3, n)).astype(dtype.np)
        a[:, ::37] *= -1
    else:
        a = rand_np(rng, (3, n), dtype)
    t = wt.tensor(a)
    for d in (1, 0) if n <= 257 else (1,):
        out = wt.cumprod(t, d)
        exp = np_cumprod(a, d)
        if dtype.kind == "f":
            tol = 1e-3 if dtype is wt.float16 else 2e-7 * a.shape[d]
            assert out.dtype is dtype
            np.testing.assert_allclose(out.numpy().astype(np.float64),
                                       np.cumprod(a.astype(np.float64), d), rtol=tol)
        else:
            assert_same(out, exp)


def test_cumprod_transposed_zeros_and_special(rng):
    a = rand_np(rng, (30, 50), wt.float32, special=True)
    t = wt.tensor(a)
    tt = wt.Tensor._wrap(t._v.derive((50, 30), (1, 50), 0))
    with np.errstate(invalid="ignore", over="ignore"):
        for d in (0, 1):
            out = wt.cumprod(tt, d)
            np.testing.assert_allclose(out.numpy(), np.cumprod(a.T.astype(np.float64), d),
                                       rtol=1e-5, equal_nan=True)
    assert_same(wt.cumprod(wt.tensor([1, 2, 3]), 0, dtype=wt.float32), np.array([1, 2, 6], np.float32))


def test_cumprod_long_row(rng):
    n = 2 ** 20 + 3
    a = rand_np(rng, (n,), wt.int32)
    assert_same(wt.cumprod(wt.tensor(a), 0), np_cumprod(a, 0))


# ---------------------------------------------------------------- cummax, cummin
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", ROWS)
def test_cummax_cummin_rows(rng, dtype, n, r_max):
    a = rand_np(rng, (3, n), dtype, special=True)
    t = wt.tensor(a)
    for d in (1, 0) if n <= 257 else (1,):
        check_cumext(a, t, d, True)
        check_cumext(a, t, d, False)


def test_cummax_long_row_and_views(rng):
    n = 2 ** 20 + 3
    a = rand_np(rng, (n,), wt.float32)
    check_cumext(a, wt.tensor(a), 0)
    b = rand_np(rng, (50, 60), wt.int32)
    t = wt.tensor(b)
    tt = wt.Tensor._wrap(t._v.derive((60, 50), (1, 60), 0))
    check_cumext(b.T, tt, 0, False)
    check_cumext(b[1::3, ::2], t[1::3, ::2], 1)


def test_cummax_ties_nan_and_extremes():
    nan, inf = np.nan, np.inf
    a = np.array([1.0, 1.0, nan, 5.0, nan, -inf, inf], np.float32)
    v, i = wt.cummax(wt.tensor(a), 0)
    np.testing.assert_array_equal(v.numpy(), [1, 1, nan, nan, nan, nan, nan])
    np.testing.assert_array_equal(i.numpy(), [0, 1, 2, 2, 4, 4, 4])
    v, i = wt.cummin(wt.tensor(np.array([-inf, 3, -inf, -0.0], np.float32)), 0)
    np.testing.assert_array_equal(i.numpy(), [0, 0, 2, 2])
    e = np.array([-2 ** 31, 2 ** 31 - 1, -2 ** 31], np.int64)
    check_cumext(e.astype(np.int32), wt.tensor(e), 0)
    check_cumext(e.astype(np.int32), wt.tensor(e), 0, False)
    u = np.array([0, 2 ** 32 - 1, 7, 2 ** 32 - 1], np.uint32)
    check_cumext(u, wt.tensor(u, dtype=wt.uint32), 0)
    check_cumext(u, wt.tensor(u, dtype=wt.uint32), 0, False)
    r = wt.cummax(wt.tensor([3.0, 1.0]), 0)
    assert r._fields == ("values", "indices") and r.indices.dtype is wt.int32


def test_cummax_0d():
    v, i = wt.cummax(wt.tensor(2.5), 0)
    assert_same(v, np.array(2.5, np.float32))
    assert_same(i, np.array(0, np.int32))


# ---------------------------------------------------------------- gradients
def fd_grad(f, a, w, eps=1e-6):
    """Finite-difference gradient of sum(w * f(a)) in float64."""
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        p, m = a.copy(), a.copy()
        p[idx] += eps
        m[idx] -= eps
        g[idx] = ((w * f(p)).sum() - (w * f(m)).sum()) / (2 * eps)
    return g


def grad_of(name, a, w, dim, **kw):
    x = wt.tensor(a.astype(np.float32), requires_grad=True)
    out = getattr(wt, name)(x, dim, **kw)
    if isinstance(out, tuple):
        out = out.values
    (out * wt.tensor(w.astype(np.float32))).sum().backward()
    return x.grad.numpy().astype(np.float64)


@pytest.mark.parametrize("dim", [0, 1])
def test_cumsum_gradient(rng, dim):
    a = rng.uniform(-2, 2, (4, 9))
    w = rng.uniform(-1, 1, (4, 9))
    np.testing.assert_allclose(grad_of("cumsum", a, w, dim),
                               fd_grad(lambda v: np.cumsum(v, dim), a, w), rtol=1e-5, atol=1e-5)


def test_cumsum_gradient_long_row_and_transposed(rng, r_max):
    # The reverse cumsum of the gradient along a row of several tiles (and levels).
    n = 10000
    w = rand_np(rng, (n,), wt.float32)
    x = wt.zeros(n, requires_grad=True)
    (wt.cumsum(x, 0) * wt.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.cumsum(w[::-1].astype(np.float64))[::-1])
    a = rng.uniform(-1, 1, (6, 5))
    wv = rng.uniform(-1, 1, (5, 6))
    x = wt.tensor(a.astype(np.float32), requires_grad=True)
    xt = x.flatten().reshape(6, 5)   # a view through the tape
    (wt.cumsum(xt, 0) * wt.tensor(wv.T.astype(np.float32))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), fd_grad(lambda v: np.cumsum(v, 0), a, wv.T),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_gradient(rng, dim):
    a = rng.uniform(0.5, 1.5, (4, 7)) * rng.choice([-1, 1], (4, 7))
    w = rng.uniform(-1, 1, (4, 7))
    np.testing.assert_allclose(grad_of("cumprod", a, w, dim),
                               fd_grad(lambda v: np.cumprod(v, dim), a, w), rtol=1e-4, atol=1e-5)


def test_cumprod_gradient_with_zeros(rng):
    # One zero, two zeros, a zero first and a zero last: exact (no division by zero).
    a = rng.uniform(0.5, 1.5, (4, 8))
    a[0, 3] = 0
    a[1, 2] = a[1, 5] = 0
    a[2, 0] = 0
    a[3, 7] = 0
    w = rng.uniform(-1, 1, (4, 8))
    got = grad_of("cumprod", a, w, 1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, fd_grad(lambda v: np.cumprod(v, 1), a, w), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,largest", [("cummax", True), ("cummin", False)])
def test_cummax_gradient(rng, name, largest):
    a = rng.permutation(40).reshape(5, 8) / 7.0   # distinct: no ties
    w = rng.uniform(-1, 1, (5, 8))
    acc = np.maximum.accumulate if largest else np.minimum.accumulate
    for dim in (0, 1):
        np.testing.assert_allclose(grad_of(name, a, w, dim),
                                   fd_grad(lambda v: acc(v, axis=dim), a, w), rtol=1e-5, atol=1e-5)
    # Ties: the gradient goes to the index PyTorch reports (the later one).
    x = wt.tensor([2.0, 2.0, 1.0], requires_grad=True)
    wt.cummax(x, 0).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 2, 0])


def test_scans_on_float16_gradients():
    x = wt.tensor(np.array([1, 2, 3], np.float16), requires_grad=True)
    wt.cumsum(x, 0).sum().backward()
    assert x.grad.dtype is wt.float16
    np.testing.assert_array_equal(x.grad.numpy(), [3, 2, 1])


def test_bench_scan_smoke():
    # benchmarks/bench_scan.py end to end at tiny sizes (it checks its results itself).
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_scan.py"
    spec = importlib.util.spec_from_file_location("bench_scan", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--log2n", "12", "--log2n-sort", "10", "--k", "5", "--repeat", "1"])
    assert res["n"] == 4096 and res["cumsum_over_copy"] > 0

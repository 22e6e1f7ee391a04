"""Reductions with dim (max, min, argmax, argmin, prod, var, std, nansum, nanmean,
logsumexp, norm) against numpy (float64 where the accumulation order differs), their
gradients against finite differences of float64 numpy, bad input, sizes and views."""
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.runtime import override_limits

from conftest import DTYPES, assert_same, no_gpu_work, rand_np

FLOATS = [wt.float16, wt.float32]
# Tolerances: float32 results of f32 accumulation (one or two passes, a different
# order than numpy's) against float64 numpy; float16 results round once at the end.
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float16): 2e-3}


def _axis(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return tuple(sorted(d % max(ndim, 1) for d in dims)) if ndim else ()


def _quiet():
    warnings.simplefilter("ignore")
    return np.errstate(all="ignore")


# ---------------------------------------------------------------- numpy references
def ref_max(a, dim, keepdim, largest=True):
    """(values, int32 indices) of the first largest (smallest) element along dim; NaN is
    the extreme (numpy's argmax/argmin pick the first NaN too)."""
    f, af = (np.max, np.argmax) if largest else (np.min, np.argmin)
    if a.ndim == 0:
        return a.copy(), np.array(0, np.int32)
    v = f(a, axis=dim, keepdims=keepdim)
    i = af(a, axis=dim, keepdims=keepdim).astype(np.int32)
    return np.asarray(v, a.dtype), np.asarray(i)


def ref_prod(a, dim, keepdim):
    ax = _axis(dim, a.ndim)
    if a.dtype.kind == "f":
        return np.asarray(np.prod(a.astype(np.float64), axis=ax, keepdims=keepdim)).astype(a.dtype)
    wide, out = (np.uint64, np.uint32) if a.dtype == np.uint32 else (np.int64, np.int32)
    with _quiet():  # products wrap, as the GPU's 32-bit ones do
        return np.asarray(np.prod(a.astype(wide), axis=ax, keepdims=keepdim)).astype(out)


def ref_var(a, dim, keepdim, correction, sqrt=False):
    ax = _axis(dim, a.ndim)
    with warnings.catch_warnings(), _quiet():
        a64 = a.astype(np.float64)
        n = math.prod(a.shape[d] for d in ax) if a.ndim else 1
        s = np.sum((a64 - a64.mean(axis=ax, keepdims=True)) ** 2, axis=ax, keepdims=keepdim)
        v = s / max(0, n - correction)
        return np.asarray(np.sqrt(v) if sqrt else v).astype(a.dtype)


def ref_logsumexp(a, dim, keepdim):
    ax = _axis(dim, a.ndim)
    out = a.dtype if a.dtype.kind == "f" else np.float32
    with warnings.catch_warnings(), _quiet():
        a64 = a.astype(np.float64)
        m = np.max(a64, axis=ax, keepdims=True) if a.size else np.zeros([1] * a.ndim)
        m = np.where(np.isinf(m), 0, m)
        r = np.log(np.sum(np.exp(a64 - m), axis=ax, keepdims=True)) + m
        if not keepdim:
            r = r.reshape([s for d, s in enumerate(r.shape) if d not in ax])
        return np.asarray(r).astype(out)


def ref_norm(a, p, dim, keepdim):
    ax = _axis(dim, a.ndim)
    with warnings.catch_warnings(), _quiet():
        x = np.abs(a.astype(np.float64))
        if p == math.inf:
            r = np.max(x, axis=ax, keepdims=keepdim)
        elif p == -math.inf:
            r = np.min(x, axis=ax, keepdims=keepdim)
        elif p == 0:
            r = np.sum(x != 0, axis=ax, keepdims=keepdim).astype(np.float64)
        else:
            r = np.sum(x ** p, axis=ax, keepdims=keepdim) ** (1.0 / p)
        return np.asarray(r).astype(a.dtype)


def close(t, exp, tol=None, atol=None):
    exp = np.asarray(exp)
    tol = TOL.get(exp.dtype, 0) if tol is None else tol
    assert_same(t, exp, rtol=tol, atol=(tol * 1e-3 if tol else 0) if atol is None else atol)


def check_max(x, a, dim, keepdim, largest=True):
    f = x.max if largest else x.min
    got = f(dim, keepdim)
    assert type(got).__name__ == ("max" if largest else "min") and got._fields == ("values", "indices")
    v, i = ref_max(a, dim, keepdim, largest)
    assert_same(got.values, v)
    assert_same(got.indices, i)
    assert_same(got[1], i)
    argf = x.argmax if largest else x.argmin
    assert_same(argf(dim, keepdim), i)


# ---------------------------------------------------------------- max / min / argmax / argmin
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_max_min_every_dim(rng, dtype):
    a = rand_np(rng, (5, 6, 7), dtype)  # small integers: ties everywhere, the first one wins
    x = wt.tensor(a, dtype=dtype)
    for dim in (0, 1, 2, -1, -3):
        for keepdim in (False, True):
            for largest in (True, False):
                check_max(x, a, dim, keepdim, largest)
    assert_same(x.max(), np.asarray(a.max()))
    assert_same(x.min(), np.asarray(a.min()))
    for largest, f, af in ((True, np.max, np.argmax), (False, np.min, np.argmin)):
        arg = x.argmax if largest else x.argmin
        assert_same(arg(), np.asarray(af(a), np.int32))
        assert_same(arg(None, True), np.asarray(af(a), np.int32).reshape(1, 1, 1))
    assert x.max(1).indices.dtype is wt.int32 and x.max(1).values.dtype is dtype


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_max_min_nan_inf(rng, dtype):
    a = rand_np(rng, (9, 70), dtype, special=True)
    a[2, :] = np.nan
    a[3, :] = -np.inf
    a[4, :] = np.inf
    a[5, :] = 0.0
    a[5, 7] = np.nan
    a[5, 9] = np.nan
    x = wt.tensor(a)
    for dim in (0, 1):
        for largest in (True, False):
            check_max(x, a, dim, False, largest)
    assert np.isnan(x.max().item()) and np.isnan(x.min().item())
    assert x.argmax().item() == np.argmax(a) and x.argmin().item() == np.argmin(a)
    assert_same(x[5].max(0).indices, np.int32(7))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 9000])
def test_arg_edge_sizes_and_long_rows(rng, n):
    """Rows of every length: one invocation per row, trees, and two passes (> 64 * 64)."""
    for dtype in (wt.bool, wt.int32, wt.float16, wt.float32):
        a = rand_np(rng, (3, n), dtype)
        x = wt.tensor(a, dtype=dtype)
        check_max(x, a, 1, False, True)
        check_max(x, a, 1, False, False)
        check_max(x, a, 0, True, True)
    f = rng.standard_normal(n).astype(np.float32)  # distinct values, the extreme anywhere
    assert wt.tensor(f).argmax().item() == np.argmax(f) and wt.tensor(f).argmin().item() == np.argmin(f)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_views(rng, dtype):
    a = rand_np(rng, (9, 10, 11), dtype)
    x = wt.tensor(a, dtype=dtype)
    views = [(x.T, a.transpose()), (x[::2, 1::3, 2:], a[::2, 1::3, 2:]), (x[1:, 3], a[1:, 3]),
             (x[:, :, 3:4].expand(9, 10, 6), np.broadcast_to(a[:, :, 3:4], (9, 10, 6)))]
    for t, an in views:
        an = np.ascontiguousarray(an)
        for dim in range(an.ndim):
            check_max(t, an, dim, False, True)
            check_max(t, an, dim, True, False)
            close(t.prod(dim), ref_prod(an, dim, False))
            if dtype.is_floating_point:
                close(t.var(dim), ref_var(an, dim, False, 1))
                close(t.logsumexp(dim), ref_logsumexp(an, dim, False))
                close(t.norm(2, dim), ref_norm(an, 2, dim, False))
                close(t.nansum(dim), np.nansum(an.astype(np.float64), dim).astype(an.dtype))
        assert_same(t.argmax(), np.asarray(np.argmax(an), np.int32))
    assert_same(x, a)  # the input is untouched


def test_zero_dim_and_empty():
    x = wt.tensor(3.5)
    for dim in (0, -1):
        r = x.max(dim)
        assert_same(r.values, np.float32(3.5))
        assert_same(r.indices, np.int32(0))
        assert_same(x.argmin(dim, True), np.int32(0))
    assert_same(x.max(), np.float32(3.5))
    assert_same(x.argmax(), np.int32(0))
    e = wt.zeros((0, 3))
    r = e.max(1)  # no reduced dim is empty: an empty result
    assert r.values.shape == (0,) and r.indices.shape == (0,)
    assert_same(e.argmin(1, True), np.zeros((0, 1), np.int32))
    assert_same(e.prod(0), np.ones(3, np.float32))
    assert_same(e.nansum(0), np.zeros(3, np.float32))
    assert np.isnan(e.nanmean(0).numpy()).all() and np.isnan(e.var(0).numpy()).all()
    assert_same(e.logsumexp(0), np.full(3, -np.inf, np.float32))
    assert_same(e.norm(2, 0), np.zeros(3, np.float32))
    assert_same(e.norm(), np.float32(0))


def test_many_rows_over_the_grid_limit(rng):
    """More than 65,535 rows, with a grid limit that forces the 2-D grid and many launches."""
    a = rand_np(rng, (70001, 3), wt.float32)
    x = wt.tensor(a)
    with override_limits(max_groups=64):
        check_max(x, a, 1, False, True)
        check_max(x, a, 1, False, False)
        close(x.prod(1), ref_prod(a, 1, False))
        close(x.var(1), ref_var(a, 1, False, 1))
        close(x.logsumexp(1), ref_logsumexp(a, 1, False))
        close(x.norm(1, 1), ref_norm(a, 1, 1, False))
        close(x.nanmean(1), np.nanmean(a.astype(np.float64), 1).astype(np.float32))
        check_max(x, a, 0, False, True)


def test_small_binding_windows(rng):
    """A 4 KiB storage binding: the arg-reductions' inputs and index passes span windows.
    (Not a transposed view: the elementwise pass cannot split one that thinly.)"""
    a = rand_np(rng, (700, 23), wt.float32, special=True)
    x = wt.tensor(a)
    with override_limits(max_binding=4096, max_groups=3):
        for dim in (0, 1):
            check_max(x, a, dim, False, True)
            check_max(x[1::3, 2:], np.ascontiguousarray(a[1::3, 2:]), dim, False, False)
        assert x.argmax().item() == np.argmax(a)


# ---------------------------------------------------------------- prod
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_prod(rng, dtype):
    a = rand_np(rng, (5, 6, 7), dtype)
    if dtype.is_floating_point:
        a = np.where(a == 0, np.asarray(0.5, a.dtype), a)
        a[0, 0, 0] = 0
    x = wt.tensor(a, dtype=dtype)
    for dim in (None, 0, 1, -1):
        for keepdim in (False, True):
            got = x.prod(dim, keepdim)
            close(got, ref_prod(a, dim, keepdim), tol=1e-5 if dtype is wt.float32 else None)
    assert x.prod().dtype is ({wt.bool: wt.int32}.get(dtype, dtype))


def test_prod_wraps_long_rows_and_specials(rng):
    i = np.full(40, 3, np.int32)
    assert_same(wt.tensor(i).prod(), ref_prod(i, None, False))  # 3**40 wraps mod 2**32
    u = np.full(40, 3, np.uint32)
    assert_same(wt.tensor(u).prod(), ref_prod(u, None, False))
    f = (1 + rng.standard_normal((2, 9000)) * 1e-3).astype(np.float32)
    close(wt.tensor(f).prod(1), ref_prod(f, 1, False), tol=1e-4)
    s = np.array([[1, np.nan, 2], [np.inf, 0, 1], [np.inf, -2, 1]], np.float32)
    assert_same(wt.tensor(s).prod(1), np.array([np.nan, np.nan, -np.inf], np.float32))
    assert_same(wt.tensor(s).prod(1, dtype=wt.float16), np.array([np.nan, np.nan, -np.inf], np.float16))


# ---------------------------------------------------------------- var / std
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_var_std(rng, dtype):
    a = rand_np(rng, (5, 6, 70), dtype)
    x = wt.tensor(a)
    for dim in (None, 0, 2, (0, 2), -1):
        for keepdim in (False, True):
            close(x.var(dim, keepdim=keepdim), ref_var(a, dim, keepdim, 1))
            close(x.std(dim, keepdim=keepdim), ref_var(a, dim, keepdim, 1, True))
    for c in (0, 2, 0.5):
        close(x.var(1, correction=c), ref_var(a, 1, False, c))
        close(wt.std(x, 1, correction=c), ref_var(a, 1, False, c, True))
    close(x.var(1, False), ref_var(a, 1, False, 0))       # var(dim, unbiased)
    close(x.var(False), ref_var(a, None, False, 0))       # var(unbiased)
    close(x.std(2, unbiased=True, keepdim=True), ref_var(a, 2, True, 1, True))
    assert x.var(1).dtype is dtype


def test_var_std_edges(rng):
    one = wt.tensor(np.array([[2.0], [3.0]], np.float32))
    assert np.isnan(one.var(1).numpy()).all()              # N - correction == 0: 0 / 0
    assert_same(one.var(1, correction=0), np.zeros(2, np.float32))
    assert_same(one.var(1, correction=5), np.full(2, np.nan, np.float32))
    big = (1e4 + rng.standard_normal(100000)).astype(np.float32)  # two passes, a large mean
    close(wt.tensor(big).var(), ref_var(big, None, False, 1), tol=1e-3)
    s = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 2.0]], np.float32)
    assert np.isnan(wt.tensor(s).std(1).numpy()).all()


# ---------------------------------------------------------------- nansum / nanmean
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_nansum_nanmean(rng, dtype):
    a = rand_np(rng, (6, 5, 300), dtype, special=dtype.is_floating_point)
    if dtype.is_floating_point:
        a[1, 2, :] = np.nan
    x = wt.tensor(a, dtype=dtype)
    with warnings.catch_warnings(), _quiet():
        for dim in (None, 0, 2, (0, 1)):
            ax = _axis(dim, 3)
            if dtype.is_floating_point:
                close(x.nansum(dim), np.nansum(a.astype(np.float64), ax).astype(a.dtype))
                close(x.nanmean(dim, True), np.nanmean(a.astype(np.float64), ax, keepdims=True).astype(a.dtype))
            else:
                exp = np.sum(a.astype(np.uint64 if dtype is wt.uint32 else np.int64), ax)
                assert_same(x.nansum(dim), exp.astype(np.uint32 if dtype is wt.uint32 else np.int32))
                with pytest.raises(TypeError, match="nanmean"):
                    x.nanmean(dim)
    if dtype is wt.int32:
        close(x.nanmean(2, dtype=wt.float32), a.astype(np.float64).mean(2).astype(np.float32))


# ---------------------------------------------------------------- logsumexp
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_logsumexp(rng, dtype):
    a = rand_np(rng, (4, 5, 300), dtype)
    x = wt.tensor(a, dtype=dtype)
    for dim in (0, 2, (0, 2), -1, ()):
        for keepdim in (False, True):
            got = x.logsumexp(dim, keepdim)
            # log of a sum near 1 is near 0: an absolute tolerance of f32's rounding of the sum
            close(got, ref_logsumexp(a, dim, keepdim), tol=TOL[np.dtype(np.float16)] if dtype is wt.float16
                  else 2e-5, atol=2e-3 if dtype is wt.float16 else 1e-6)
            assert got.dtype is (dtype if dtype.is_floating_point else wt.float32)


def test_logsumexp_is_stable_and_handles_infinities():
    a = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0],
                  [np.nan, 1.0, 2.0], [-1e30, -1e30, -np.inf], [np.inf, -np.inf, 0.0]], np.float32)
    got = wt.tensor(a).logsumexp(1).numpy()
    exp = np.array([1000 + np.log(2), -np.inf, np.inf, np.nan, -1e30 + np.log(2), np.inf], np.float32)
    np.testing.assert_allclose(got, exp, rtol=1e-6)
    long = np.full(20000, -3.0, np.float32)
    close(wt.tensor(long).logsumexp(0), np.float32(-3 + np.log(20000)), tol=1e-5)


# ---------------------------------------------------------------- norm
PS = [2, 1, math.inf, -math.inf, 0, 3, 0.5, -1.5, "fro"]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("p", PS, ids=str)
def test_norm(rng, dtype, p):
    a = rand_np(rng, (5, 6, 70), dtype)
    x = wt.tensor(a)
    pp = 2 if p == "fro" else p
    tol = 2e-3 if dtype is wt.float16 else (1e-5 if pp in (1, 2, 0, math.inf, -math.inf) else 2e-5)
    for dim in (None, 0, 2, (0, 2), -1):
        for keepdim in (False, True):
            close(x.norm(p, dim, keepdim), ref_norm(a, pp, dim, keepdim), tol=tol)
    close(wt.norm(x, p, 1), ref_norm(a, pp, 1, False), tol=tol)


def test_norm_specials_and_long_rows(rng):
    s = np.array([[3, np.nan, 4], [3, np.inf, 4], [3, -np.inf, 4], [0, 0, 0]], np.float32)
    x = wt.tensor(s)
    assert_same(x.norm(2, 1), np.array([np.nan, np.inf, np.inf, 0], np.float32))
    assert_same(x.norm(math.inf, 1), np.array([np.nan, np.inf, np.inf, 0], np.float32))
    assert_same(x.norm(-math.inf, 1), np.array([np.nan, 3, 3, 0], np.float32))
    assert_same(x.norm(0, 1), np.array([3, 3, 3, 0], np.float32))
    f = rng.standard_normal(100003).astype(np.float32)
    close(wt.tensor(f).norm(), ref_norm(f, 2, None, False), tol=1e-5)
    close(wt.tensor(f).norm(1), ref_norm(f, 1, None, False), tol=1e-5)


# ---------------------------------------------------------------- bad input, no sync, functions
def test_bad_input_raises_before_gpu_work():
    x = wt.zeros((2, 3))
    i = wt.zeros((2, 3), dtype=wt.int32)
    e = wt.zeros((3, 0))
    cases = [
        (lambda: x.max(x), TypeError, "wt.maximum"),
        (lambda: x.min(x), TypeError, "wt.minimum"),
        (lambda: x.max((0, 1)), TypeError, "dim must be an int"),
        (lambda: x.max(2), IndexError, "Dimension out of range"),
        (lambda: x.argmin(-3), IndexError, "Dimension out of range"),
        (lambda: x.max(keepdim=True), TypeError, "keepdim needs a dim"),
        (lambda: e.max(1), RuntimeError, r"max\(\): Expected reduction dim 1 to have non-zero size"),
        (lambda: e.min(), RuntimeError, "Expected reduction dim to be specified"),
        (lambda: e.argmax(), RuntimeError, r"argmax\(\): Expected reduction dim to be specified"),
        (lambda: e.argmin(1), RuntimeError, "non-zero size"),
        (lambda: i.var(), TypeError, "floating point"),
        (lambda: i.std(0), TypeError, "floating point"),
        (lambda: x.var(0, unbiased=True, correction=1), ValueError, "both unbiased and correction"),
        (lambda: x.var(0, correction="a"), TypeError, "correction must be a number"),
        (lambda: i.norm(), TypeError, "floating point"),
        (lambda: x.norm("nuc"), ValueError, "not supported"),
        (lambda: x.norm(float("nan")), ValueError, "NaN"),
        (lambda: e.norm(math.inf, 1), RuntimeError, "inf norm on an empty tensor"),
        (lambda: e.norm(-math.inf), RuntimeError, "inf norm on an empty tensor"),
        (lambda: i.nanmean(), TypeError, "floating point"),
        (lambda: x.prod((0, 0)), TypeError, "dim must be an int"),
        (lambda: x.logsumexp(5), IndexError, "Dimension out of range"),
        (lambda: x.nansum((1, 1)), RuntimeError, "appears multiple times"),
        (lambda: wt.argmax([1, 2]), TypeError, "expected a wgpu_tensor.Tensor"),
    ]
    for f, exc, msg in cases:
        with no_gpu_work(), pytest.raises(exc, match=msg):
            f()


def test_no_sync():
    x = wt.rand(300, 70, seed=1)
    wt.synchronize()
    before = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        outs = [x.max(), x.max(1), x.min(0, True), x.argmax(), x.argmin(1), x.prod(1), x.var(0), x.std(),
                x.nansum(1), x.nanmean(), x.logsumexp(1), x.norm(), x.norm(3, 1), x.norm(math.inf, 0)]
        y = wt.rand(300, 70, seed=2, requires_grad=True)
        loss = (y.max(1).values.sum() + y.amax(0).sum() + y.prod(1).sum() + y.std(0).sum()
                + y.logsumexp(1).sum() + y.norm(3) + y.nanmean() + y.min())
        loss.backward()
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == before
    assert len(outs) == 14 and y.grad is not None


def test_module_functions_match_methods(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    x = wt.tensor(a)
    assert_same(wt.max(x, 1).values, x.max(1).values.numpy())
    assert_same(wt.min(x, dim=0, keepdim=True).indices, x.min(0, True).indices.numpy())
    assert_same(wt.argmax(x, dim=1), np.argmax(a, 1).astype(np.int32))
    assert_same(wt.argmin(x), np.int32(np.argmin(a)))
    close(wt.prod(x, 1), ref_prod(a, 1, False))
    close(wt.var(x, 0), ref_var(a, 0, False, 1))
    close(wt.std(x), ref_var(a, None, False, 1, True))
    close(wt.nansum(x), np.float32(a.astype(np.float64).sum()))
    close(wt.nanmean(x, 1), a.astype(np.float64).mean(1).astype(np.float32))
    close(wt.logsumexp(x, 1), ref_logsumexp(a, 1, False))


# ---------------------------------------------------------------- gradients
def fd_grad(f, a, eps=1e-3):
    """Central differences of the float64 numpy function f at a (host reference only)."""
    a = a.astype(np.float64)
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        p, q = a.copy(), a.copy()
        p[i] += eps
        q[i] -= eps
        g[i] = (f(p) - f(q)) / (2 * eps)
    return g


def check_grad(rng, a, wt_f, np_f, tol=2e-3):
    """Gradient of sum(w * op(x)) against finite differences of float64 numpy."""
    x = wt.tensor(a.astype(np.float32), requires_grad=True)
    out = wt_f(x)
    w = rng.standard_normal(out.shape).astype(np.float32)
    (out * wt.tensor(w)).sum().backward()
    num = fd_grad(lambda v: float(np.sum(w.astype(np.float64) * np_f(v))), a)
    got = x.grad.numpy()
    assert x.grad.dtype is wt.float32 and got.shape == a.shape
    np.testing.assert_allclose(got, num, rtol=tol, atol=tol)


def _distinct(rng, shape):
    """Values far apart (finite differences of max/min/norm-inf need a unique extreme)."""
    n = math.prod(shape)
    return (rng.permutation(n).reshape(shape) * 0.1 - n * 0.05).astype(np.float32)


@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_grad_max_min_amax_amin(rng, dim, keepdim):
    a = _distinct(rng, (4, 5))
    for name in ("max", "min"):
        nf = np.max if name == "max" else np.min
        if dim is None:
            check_grad(rng, a, lambda x: getattr(x, name)(), lambda v: nf(v))
        else:
            check_grad(rng, a, lambda x: getattr(x, name)(dim, keepdim).values,
                       lambda v: nf(v, axis=dim, keepdims=keepdim))
    for name, nf in (("amax", np.max), ("amin", np.min)):
        check_grad(rng, a, lambda x: getattr(x, name)(dim, keepdim), lambda v: nf(v, axis=dim, keepdims=keepdim))


def test_grad_ties_are_shared_evenly_or_go_to_the_index():
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [np.nan, 1.0, np.nan, 5.0]], np.float32)
    for name in ("amax", "max_all"):
        x = wt.tensor(a, requires_grad=True)
        (x.amax(1) if name == "amax" else x[:2].max()).sum().backward()
        exp = (np.array([[0, 0.5, 0.5, 0], [0.25] * 4, [0.5, 0, 0.5, 0]], np.float32) if name == "amax"
               else np.array([[0, 0.5, 0.5, 0], [0] * 4, [0] * 4], np.float32))
        assert_same(x.grad, exp)
    x = wt.tensor(a, requires_grad=True)
    x.max(1).values.sum().backward()  # max(dim): all to the first index, as PyTorch
    assert_same(x.grad, np.array([[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], np.float32))
    x = wt.tensor(a, requires_grad=True)
    x.min(0, keepdim=True).values.sum().backward()
    # NaN is the minimum of columns 0 and 2 (row 2); column 1's minimum is in row 2 too
    assert_same(x.grad, np.array([[0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]], np.float32))


def test_argmax_has_no_grad():
    x = wt.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    assert not x.argmax(1).requires_grad and not x.argmin().requires_grad
    assert not x.max(1).indices.requires_grad


def test_grad_prod_with_zeros(rng):
    a = rng.uniform(0.5, 1.5, (5, 4)).astype(np.float32)
    a[1, 2] = 0            # one zero
    a[2, 0] = a[2, 3] = 0  # two zeros
    a[3, :] = 0            # all zeros
    for dim in (1, None):
        x = wt.tensor(a, requires_grad=True)
        x.prod(dim).sum().backward()
        exp = np.zeros_like(a, dtype=np.float64)
        rows = a[None].reshape(1, -1) if dim is None else a
        for r in range(rows.shape[0]):
            for j in range(rows.shape[1]):
                exp.reshape(rows.shape)[r, j] = np.prod(np.delete(rows[r].astype(np.float64), j))
        np.testing.assert_allclose(x.grad.numpy(), exp, rtol=1e-5, atol=1e-7)
    check_grad(rng, rng.uniform(0.5, 1.5, (3, 4)), lambda x: x.prod(0, keepdim=True),
               lambda v: np.prod(v, 0, keepdims=True))


@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, True), ((0, 2), False)])
def test_grad_var_std(rng, dim, keepdim):
    a = rng.standard_normal((3, 4, 5))
    ax = _axis(dim, 3)
    for c in (1, 0):
        check_grad(rng, a, lambda x: x.var(dim, keepdim=keepdim, correction=c),
                   lambda v: np.var(v, axis=ax, ddof=c, keepdims=keepdim))
        check_grad(rng, a, lambda x: x.std(dim, keepdim=keepdim, correction=c),
                   lambda v: np.std(v, axis=ax, ddof=c, keepdims=keepdim))
    x = wt.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    x.std(1).sum().backward()  # std == 0: gradient 0, as PyTorch
    assert_same(x.grad, np.zeros((2, 3), np.float32))


def test_grad_nansum_nanmean_logsumexp(rng):
    a = rng.standard_normal((4, 6))
    check_grad(rng, a, lambda x: x.logsumexp(1), lambda v: np.log(np.exp(v).sum(1)))
    check_grad(rng, a, lambda x: x.logsumexp((0, 1), True), lambda v: np.log(np.exp(v).sum(keepdims=True)))
    check_grad(rng, a, lambda x: x.nansum(0), lambda v: v.sum(0))
    check_grad(rng, a, lambda x: x.nanmean(1, True), lambda v: v.mean(1, keepdims=True))
    n = a.astype(np.float32)
    n[1, 2] = n[3, 0] = np.nan
    for name in ("nansum", "nanmean"):
        x = wt.tensor(n, requires_grad=True)
        getattr(x, name)(1).sum().backward()
        exp = np.where(np.isnan(n), 0, 1 / (np.sum(~np.isnan(n), 1, keepdims=True) if name == "nanmean" else 1))
        np.testing.assert_allclose(x.grad.numpy(), exp.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, -1.5, math.inf, -math.inf, 0])
def test_grad_norm(rng, p):
    a = _distinct(rng, (4, 5)) + 0.05  # no zeros, unique |x| extremes

    def nf(v, dim=None, keepdim=False):
        ax = _axis(dim, 2)
        x = np.abs(v)
        if p == math.inf:
            return x.max(ax, keepdims=keepdim)
        if p == -math.inf:
            return x.min(ax, keepdims=keepdim)
        if p == 0:
            return (x != 0).sum(ax, keepdims=keepdim).astype(np.float64)
        return (x ** p).sum(ax, keepdims=keepdim) ** (1 / p)
    check_grad(rng, a, lambda x: x.norm(p), nf)
    check_grad(rng, a, lambda x: x.norm(p, 1, True), lambda v: nf(v, 1, True))
    x = wt.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    x.norm(p if p > 0 else 2 if p != 0 and math.isfinite(p) else p, 1).sum().backward()
    assert_same(x.grad, np.zeros((2, 3), np.float32))  # norm 0: gradient 0 (PyTorch masks it)


def test_grad_float16_input(rng):
    a = rng.standard_normal((3, 5)).astype(np.float16)
    x = wt.tensor(a, requires_grad=True)
    (x.norm(2, 1).sum() + x.logsumexp(1).sum()).backward()
    a64 = a.astype(np.float64)
    exp = a64 / np.linalg.norm(a64, axis=1, keepdims=True) + np.exp(a64) / np.exp(a64).sum(1, keepdims=True)
    assert x.grad.dtype is wt.float16
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), exp, rtol=3e-3, atol=3e-3)


# ---------------------------------------------------------------- the OpenGL adapter
_GL_SCRIPT = r"""
import numpy as np, wgpu_tensor as wt
rng = np.random.default_rng(5)
a = rng.integers(-8, 9, (37, 300)).astype(np.float32)
a[3, 7] = np.nan
x = wt.tensor(a)
r = x.max(1)
assert str(wt.device_info()["backend"]) == "OpenGL"
assert (r.indices.numpy() == np.argmax(a, 1)).all()
assert (x.argmin(0).numpy() == np.argmin(a, 0)).all()
np.testing.assert_allclose(x[:, :20].prod(1).numpy(), np.prod(a[:, :20].astype(np.float64), 1), rtol=1e-5)
np.testing.assert_allclose(x.nansum(1).numpy(), np.nansum(a, 1), rtol=1e-6)
np.testing.assert_allclose(x[4:].std(1).numpy(), a[4:].std(1, ddof=1), rtol=1e-5)
np.testing.assert_allclose(x[4:].logsumexp(1).numpy(), np.log(np.exp(a[4:].astype(np.float64)).sum(1)), rtol=1e-5)
np.testing.assert_allclose(x[4:].norm(3, 1).numpy(), (np.abs(a[4:].astype(np.float64)) ** 3).sum(1) ** (1 / 3), rtol=1e-5)
print("ok")
"""


def test_on_the_opengl_adapter():
    """The same ops on wgpu's OpenGL backend (no subgroups, 16 storage buffers per stage)."""
    if str(wt.device_info()["backend"]) == "OpenGL":
        pytest.skip("this process already runs on the OpenGL adapter")
    env = dict(os.environ, WGPU_BACKEND_TYPE="OpenGL")
    r = subprocess.run([sys.executable, "-c", _GL_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "no WebGPU adapter" in r.stderr + r.stdout:
        msg = "no OpenGL adapter here (Mesa's GL driver: libegl-mesa0 libgl1-mesa-dri)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI runs both adapters")
        pytest.skip(msg)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


# ---------------------------------------------------------------- random shapes, dims and views
from hypothesis import given, strategies as st  # noqa: E402


@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), data=st.data(),
       dtype=st.sampled_from(DTYPES))
def test_random_shapes_dims_views(shape, data, dtype):
    """max/min/argmax/argmin/prod (every dtype) and var/logsumexp/norm (floats) over a
    stepped view of a bigger tensor, a random dim and keepdim."""
    rng = np.random.default_rng(len(shape) * 1000 + sum(shape))
    nd = len(shape)
    a = rand_np(rng, [s * 2 for s in shape], dtype)
    sl = tuple(slice(1, None, 2) for _ in shape)
    x, a = wt.tensor(a, dtype=dtype)[sl], np.ascontiguousarray(a[sl])
    dim = data.draw(st.integers(-nd, nd - 1))
    keepdim = data.draw(st.booleans())
    check_max(x, a, dim, keepdim, data.draw(st.booleans()))
    close(x.prod(dim, keepdim), ref_prod(a, dim, keepdim), tol=1e-5 if dtype is wt.float32 else None)
    if dtype.is_floating_point:
        close(x.var(dim, keepdim=keepdim), ref_var(a, dim, keepdim, 1))
        close(x.logsumexp(dim, keepdim), ref_logsumexp(a, dim, keepdim), atol=2e-3 if dtype is wt.float16 else 1e-6)
        close(x.norm(3, dim, keepdim), ref_norm(a, 3, dim, keepdim))

"""Arithmetic, the promotion table, unary ops, where and casts against numpy."""
import operator

import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from conftest import DTYPES, NUMERIC, assert_same, no_gpu_work, rand_np

B, I, U, H, F = wt.bool, wt.int32, wt.uint32, wt.float16, wt.float32

# The promotion table of the SPEC, written out: result of tensor (op) tensor.
PROMOTE = {
    (B, B): B, (B, I): I, (B, U): U, (B, H): H, (B, F): F,
    (I, I): I, (I, U): I, (I, H): H, (I, F): F,
    (U, U): U, (U, H): H, (U, F): F,
    (H, H): H, (H, F): F,
    (F, F): F,
}
ARITH = [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul), ("div", operator.truediv)]


def result_dtype(name, da, db):
    pd = PROMOTE.get((da, db)) or PROMOTE[(db, da)]
    if name == "div":
        return pd if pd.kind == "f" else F
    return I if pd is B else pd


def reference(name, a, b, dt):
    """numpy computing in the result dtype (integers wrap, float16 rounds once)."""
    with np.errstate(all="ignore"):
        a, b = np.asarray(a).astype(dt.np), np.asarray(b).astype(dt.np)
        return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[name](a, b)


@pytest.mark.parametrize("name, op", ARITH, ids=[a[0] for a in ARITH])
@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_arith_tensor_tensor_all_dtype_pairs(rng, name, op, da, db):
    a = rand_np(rng, (5, 53), da, special=True)
    b = rand_np(rng, (5, 53), db, special=True)
    x, y = wt.tensor(a), wt.tensor(b)
    dt = result_dtype(name, da, db)
    r = op(x, y)
    assert r.dtype is dt
    tol = 1e-6 if name == "div" else 0
    assert_same(r, reference(name, a, b, dt), rtol=tol)
    assert_same(getattr(x, name)(y), reference(name, a, b, dt), rtol=tol)
    assert_same(getattr(wt, name)(x, y), reference(name, a, b, dt), rtol=tol)


@pytest.mark.parametrize("da, db, expected", [
    (B, B, I), (B, F, F), (F, B, F), (B, I, I), (B, H, H), (B, U, U), (I, U, I), (U, I, I),
    (I, F, F), (I, H, H), (H, F, F), (U, H, H),
])
def test_promotion_examples(da, db, expected):
    x, y = wt.ones(3, dtype=da), wt.ones(3, dtype=db)
    assert (x + y).dtype is expected and (x * y).dtype is expected and (x - y).dtype is expected


@pytest.mark.parametrize("dtype, scalar, expected", [
    (I, 2, I), (I, 2.5, F), (I, True, I), (U, 3, U), (U, 0.5, F), (H, 2, H), (H, 2.5, H), (H, True, H),
    (F, 2, F), (F, True, F), (B, True, I), (B, 2, I), (B, 2.5, F),
])
@pytest.mark.parametrize("name, op", ARITH[:3], ids=[a[0] for a in ARITH[:3]])
def test_arith_tensor_scalar_promotion(rng, dtype, scalar, expected, name, op):
    a = rand_np(rng, (131,), dtype)
    if dtype is U and name == "sub":
        a = a + np.uint32(3)  # stay non-negative: a uint32 result wraps, numpy too, but keep it readable
    x = wt.tensor(a)
    r, rr = op(x, scalar), op(scalar, x)
    assert r.dtype is expected and rr.dtype is expected
    s = np.asarray(scalar).astype(expected.np)
    assert_same(r, reference(name, a, s, expected))
    assert_same(rr, reference(name, s, a, expected))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True, -4])
def test_div_tensor_scalar(rng, dtype, scalar):
    a = rand_np(rng, (77,), dtype)
    x = wt.tensor(a)
    expected = dtype if dtype.kind == "f" else F
    r, rr = x / scalar, scalar / x
    assert r.dtype is expected and rr.dtype is expected
    s = np.asarray(scalar).astype(expected.np)
    assert_same(r, reference("div", a, s, expected), rtol=1e-6)
    assert_same(rr, reference("div", s, a, expected), rtol=1e-6)


def test_int_div_int_is_float32_true_division():
    a = np.array([7, -7, 1, 0, 0, 5, 2 ** 31 - 1], np.int32)
    b = np.array([2, 2, 3, 0, -1, 0, 1], np.int32)
    r = wt.tensor(a) / wt.tensor(b)
    assert r.dtype is F
    with np.errstate(all="ignore"):
        assert_same(r, (a.astype(np.float32) / b.astype(np.float32)))
    assert_same(wt.tensor([1, 2]) / 4, np.array([0.25, 0.5], np.float32))
    assert_same(3 / wt.tensor([2, 4]), np.array([1.5, 0.75], np.float32))


def test_integer_overflow_wraps():
    i = np.array([2 ** 31 - 1, -(2 ** 31), 65536], np.int32)
    with np.errstate(all="ignore"):
        assert_same(wt.tensor(i) + 1, i + np.int32(1))
        assert_same(wt.tensor(i) * wt.tensor(i), i * i)
    u = np.array([0, 1, 2 ** 32 - 1], np.uint32)
    with np.errstate(all="ignore"):
        assert_same(wt.tensor(u) - 1, u - np.uint32(1))
        assert_same(wt.tensor(u) + 1, u + np.uint32(1))


def test_int32_with_uint32_wraps_into_int32():
    u = np.array([3_000_000_000, 5], np.uint32)
    i = np.array([1, -7], np.int32)
    r = wt.tensor(u) + wt.tensor(i)
    assert r.dtype is I
    assert_same(r, u.astype(np.int32) + i)


def test_scalars_out_of_range_raise_before_work():
    x = wt.tensor([1, 2, 3])
    u = wt.tensor([1, 2], dtype=U)
    m = x > 1
    for bad in (lambda: x + 2 ** 31, lambda: x * (-(2 ** 31) - 1),
                lambda: u - (-1), lambda: u + 2 ** 32, lambda: wt.where(m, x, 2 ** 40)):
        # nothing allocated, nothing recorded: the scalar is checked first
        with no_gpu_work(), pytest.raises(OverflowError, match="does not fit"):
            bad()
    assert_same(x + (2 ** 31 - 1) - (2 ** 31 - 1), np.array([1, 2, 3], np.int32))


def test_float16_arith_rounds_like_numpy(rng):
    a = rng.standard_normal(1000).astype(np.float16)
    b = rng.standard_normal(1000).astype(np.float16)
    x, y = wt.tensor(a), wt.tensor(b)
    assert_same(x + y, a + b)
    assert_same(x * y, a * b)
    assert_same(x - 0.1, a - np.float16(0.1))
    assert_same(x * 1000.0, a * np.float16(1000.0))  # overflows to inf where numpy does
    with np.errstate(over="ignore"):
        assert_same(x * 70000, a * np.float16(np.inf))  # 70000 is inf in float16
    # computed in f32 and rounded once to float16, as numpy does: the same bits
    assert_same(x / y, a / b)
    assert_same(x / 3.0, a / np.float16(3.0))
    assert_same(3.0 / y, np.float16(3.0) / b)


def test_float32_special_values():
    a = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e38, 1e-45], np.float32)
    b = np.array([np.inf, np.inf, 1.0, 0.0, 0.0, 10.0, 0.5], np.float32)
    x, y = wt.tensor(a), wt.tensor(b)
    with np.errstate(all="ignore"):
        for name, op in ARITH:
            got, ref = op(x, y).numpy(), op(a, b)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
            np.testing.assert_array_equal(got[:6][~np.isnan(ref[:6])], ref[:6][~np.isnan(ref[:6])])


def test_bool_times_float_masks(rng):
    a = rng.standard_normal(300).astype(np.float32)
    x = wt.tensor(a)
    m = x > 0
    assert (x * m).dtype is F
    assert_same(x * m, a * (a > 0))
    assert_same(m * x, (a > 0) * a)
    assert_same(m + m, (a > 0).astype(np.int32) * 2)
    assert_same(m - True, (a > 0).astype(np.int32) - 1)


# ---------------------------------------------------------------- unary
@pytest.mark.parametrize("dtype", NUMERIC)
def test_neg_abs(rng, dtype):
    a = rand_np(rng, (4, 33), dtype, special=True)
    x = wt.tensor(a)
    with np.errstate(all="ignore"):
        assert_same(-x, -a)
        assert_same(x.neg(), -a)
        assert_same(wt.neg(x), -a)
        assert_same(abs(x), np.abs(a))
        assert_same(x.abs(), np.abs(a))
        assert_same(wt.abs(x), np.abs(a))
        assert_same(-x[:, ::3], -a[:, ::3])
        assert_same(abs(x[1]), np.abs(a[1]))
    assert +x is x


def test_neg_abs_edges():
    f = np.array([-0.0, 0.0, np.nan, -np.inf, 1e-45], np.float32)
    assert_same(-wt.tensor(f), -f)
    np.testing.assert_array_equal((-wt.tensor(f)).numpy().view(np.uint32), (-f).view(np.uint32))
    np.testing.assert_array_equal(abs(wt.tensor(f)).numpy().view(np.uint32), np.abs(f).view(np.uint32))
    i = np.array([-(2 ** 31), -1, 0, 5], np.int32)
    with np.errstate(all="ignore"):
        assert_same(-wt.tensor(i), -i)
        assert_same(abs(wt.tensor(i)), np.abs(i))


def test_unary_on_bool_raises():
    m = wt.tensor([True, False])
    with pytest.raises(TypeError):
        -m
    with pytest.raises(TypeError):
        abs(m)
    assert_same(m, np.array([True, False]))


# ---------------------------------------------------------------- where
@pytest.mark.parametrize("dx", DTYPES)
@pytest.mark.parametrize("dy", DTYPES)
def test_where_tensors(rng, dx, dy):
    c = rng.random((3, 1, 9)) < 0.5
    a = rand_np(rng, (4, 9), dx, special=True)
    b = rand_np(rng, (3, 4, 1), dy, special=True)
    r = wt.where(wt.tensor(c), wt.tensor(a), wt.tensor(b))
    pd = PROMOTE.get((dx, dy)) or PROMOTE[(dy, dx)]
    assert r.dtype is pd
    assert_same(r, np.where(c, a.astype(pd.np), b.astype(pd.np)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar, sdt", [(True, B), (3, I), (-2.5, F), (float("nan"), F)])
def test_where_scalars(rng, dtype, scalar, sdt):
    c = rng.random(70) < 0.5
    a = rand_np(rng, (70,), dtype)
    x, m = wt.tensor(a), wt.tensor(c)
    if sdt is F:
        pd = dtype if dtype.kind == "f" else F
    elif sdt is I:
        pd = I if dtype is B else dtype
    else:
        pd = dtype
    for r, ref in ((wt.where(m, x, scalar), np.where(c, a.astype(pd.np), np.asarray(scalar).astype(pd.np))),
                   (wt.where(m, scalar, x), np.where(c, np.asarray(scalar).astype(pd.np), a.astype(pd.np)))):
        assert r.dtype is pd
        assert_same(r, ref)


def test_where_two_scalars_and_broadcasting(rng):
    c = rng.random((5, 1)) < 0.5
    m = wt.tensor(c)
    assert_same(wt.where(m, 1, 0), np.where(c, 1, 0).astype(np.int32))
    assert_same(wt.where(m, 1.5, 0), np.where(c, 1.5, 0).astype(np.float32))
    assert_same(wt.where(m, True, False), c)
    x = wt.arange(6)
    assert_same(wt.where(m, x, -1), np.where(c, np.arange(6), -1).astype(np.int32))
    assert_same(wt.where(m[:, 0][::2, None], x[::2], x[1::2]),
                np.where(c[:, 0][::2, None], np.arange(6)[::2], np.arange(6)[1::2]).astype(np.int32))


def test_where_errors():
    x = wt.zeros(4)
    with pytest.raises(TypeError, match="bool"):
        wt.where(x, x, x)
    with pytest.raises(TypeError):
        wt.where(np.array([True] * 4), x, x)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        wt.where(wt.tensor([True, False, True]), x, 0)
    with pytest.raises(TypeError):
        wt.where(x > 0, x, "a")
    assert_same(x, np.zeros(4, np.float32))


# ---------------------------------------------------------------- properties
@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.sampled_from(range(len(ARITH))),
       st.lists(st.integers(1, 6), min_size=0, max_size=3), st.integers(0, 2 ** 32 - 1))
def test_arith_random(da, db, k, shape, seed):
    rng = np.random.default_rng(seed)
    a = rand_np(rng, shape, da, special=True)
    b = rand_np(rng, shape[1:], db, special=True)
    name, op = ARITH[k]
    dt = result_dtype(name, da, db)
    assert_same(op(wt.tensor(a), wt.tensor(b)), reference(name, a, b, dt), rtol=1e-6 if name == "div" else 0)


@given(st.lists(st.floats(width=32, allow_nan=True), min_size=1, max_size=50))
def test_float32_to_float16_cast_matches_numpy(values):
    a = np.array(values, np.float32)
    with np.errstate(all="ignore"):
        expected = a.astype(np.float16)
    got = wt.tensor(a).half().numpy()
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- reciprocal
def reciprocal_np(a):
    """torch.reciprocal's rule: floats keep their dtype (float16 computed in float32 and
    rounded), bool and integers give float32."""
    with np.errstate(divide="ignore"):
        r = np.float32(1) / a.astype(np.float32)
    return r.astype(np.float16) if a.dtype == np.float16 else r


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 3, 63, 64, 65, 255, 257, 4099])
def test_reciprocal(rng, dtype, n):
    a = rand_np(rng, (n,), dtype, special=dtype.is_floating_point)
    x = wt.tensor(a)
    for r in (x.reciprocal(), wt.reciprocal(x)):
        assert_same(r, reciprocal_np(a))


def test_reciprocal_views_and_edges(rng):
    a = rand_np(rng, (6, 9), wt.float32, special=True)
    x = wt.tensor(a)
    assert_same(x[:, ::2].reciprocal(), reciprocal_np(a[:, ::2]))              # strided
    assert_same(x[1:5, 3].reciprocal(), reciprocal_np(a[1:5, 3]))                # a column
    assert_same(x[2:3].expand(4, 9).reciprocal(), reciprocal_np(np.broadcast_to(a[2:3], (4, 9))))
    e = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.0, -0.5, 3e38], np.float32)
    got = wt.tensor(e).reciprocal().numpy()
    np.testing.assert_array_equal(got.view(np.uint32), reciprocal_np(e).view(np.uint32))  # signs of 0 and inf


def test_reciprocal_gradient_matches_finite_differences(rng):
    a = (rng.random(40) + 0.5).astype(np.float32) * np.where(rng.random(40) < 0.5, -1, 1).astype(np.float32)
    w = rng.standard_normal(40).astype(np.float32)
    x = wt.tensor(a, requires_grad=True)
    y = x.reciprocal()
    assert y.grad_fn is not None and "Reciprocal" in repr(y)
    (y * wt.tensor(w)).sum().backward()
    eps = 1e-4
    a64 = a.astype(np.float64)
    num = w * ((1 / (a64 + eps)) - (1 / (a64 - eps))) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-3)
    np.testing.assert_allclose(x.grad.numpy(), -w / (a64 * a64), rtol=1e-5)
    h = wt.tensor(a.astype(np.float16), requires_grad=True)
    h.reciprocal().sum().backward()
    assert h.grad.dtype is wt.float16
    np.testing.assert_allclose(h.grad.numpy(), (-1 / a.astype(np.float16).astype(np.float64) ** 2), rtol=2e-3)

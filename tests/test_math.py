"""Elementwise math (ops/elementwise.py's UNARY and BINARY rows, shaders/elementwise_math.wgsl)
against numpy: exact ops bit for bit, transcendental ones within the ulp bounds measured
on lavapipe (README: "Elementwise math"), at the sizes, views and dtypes that break GPU
code, with NaN/inf/-0.0, the split-launch and 2-D grid paths, and no host reads."""
import math
import operator

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits
from conftest import DTYPES, NUMERIC, assert_same, no_gpu_work, rand_np

B, I, U, H, F = wt.bool, wt.int32, wt.uint32, wt.float16, wt.float32
MATH_SIZES = [0, 1, 3, 63, 64, 65, 255, 256, 257, 1025]
_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


# name -> (float64 reference, inputs (rng, n) -> float32 array, max error in float32 ulps)
# The ulp bounds are the measured worst case on lavapipe over 10^5 points (README) with a
# margin.
def _wide(lo, hi):
    return lambda rng, n: rng.uniform(lo, hi, n)


def _logspace(rng, n):
    return np.exp(rng.uniform(-87, 88, n))


FLOAT_UNARY = {
    "exp": (np.exp, _wide(-103, 88.7), 2),
    "log": (np.log, _logspace, 2),
    "log1p": (np.log1p, lambda rng, n: np.concatenate([rng.uniform(-0.999, 10, n - n // 2),
                                                        rng.uniform(-1e-4, 1e-4, n // 2)]), 3),
    "expm1": (np.expm1, lambda rng, n: np.concatenate([rng.uniform(-20, 88, n - n // 2),
                                                        rng.uniform(-1e-4, 1e-4, n // 2)]), 3),
    "sqrt": (np.sqrt, _logspace, 0.5),
    "rsqrt": (lambda x: 1 / np.sqrt(x), _logspace, 2),
    "sin": (np.sin, lambda rng, n: np.concatenate([rng.uniform(-4, 4, n - n // 2),
                                                   rng.uniform(-1e4, 1e4, n // 2)]), 3),
    "cos": (np.cos, lambda rng, n: np.concatenate([rng.uniform(-4, 4, n - n // 2),
                                                   rng.uniform(-1e4, 1e4, n // 2)]), 3),
    "tanh": (np.tanh, lambda rng, n: np.concatenate([rng.uniform(-12, 12, n - n // 2),
                                                      rng.uniform(-1e-4, 1e-4, n // 2)]), 4),
    "sigmoid": (_sigmoid, _wide(-80, 30), 3),
    "silu": (lambda x: x * _sigmoid(x), _wide(-80, 30), 4),
    "gelu": (lambda x: 0.5 * x * _erfc(-x / np.sqrt(2)), _wide(-9, 8), 64),
}


def ulp_error(got, ref):
    """|got - ref| in float32 ulps of ref (ref in float64); NaN where both are NaN."""
    got = got.astype(np.float64)
    with np.errstate(over="ignore"):
        ref32 = np.abs(ref.astype(np.float32))
    sp = np.spacing(np.maximum(ref32, np.float32(1.1754944e-38))).astype(np.float64)
    with np.errstate(invalid="ignore"):
        e = np.abs(got - ref) / sp
    e[(got == ref)] = 0.0  # infinities
    return e


def assert_ulps(t, ref, ulps, dtype=F):
    """t (a float Tensor) is within ``ulps`` float32 ulps of the float64 reference; a
    float16 result is the float32 one rounded, so within one float16 ulp of ref."""
    got = t.numpy()
    assert got.dtype == dtype.np and got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    if dtype is H:
        r16 = ref.astype(np.float16)
        sp = np.spacing(np.abs(r16)).astype(np.float64)
        with np.errstate(invalid="ignore"):
            err = np.abs(got.astype(np.float64) - ref)
        assert np.all((err[ok] <= sp[ok]) | (got[ok] == r16[ok])), "float16 result off by more than 1 ulp"
        return
    e = ulp_error(got, ref)
    # WGSL lets an adapter flush subnormals (the GL backend does): below the smallest
    # normal float32 the result only needs to be within that much of the reference.
    with np.errstate(invalid="ignore"):
        e[np.abs(got.astype(np.float64) - ref) <= 1.1754944e-38] = 0.0
    e = e[ok]
    assert e.size == 0 or e.max() <= ulps, f"max error {e.max():.2f} ulps > {ulps}"


@pytest.mark.parametrize("n", MATH_SIZES)
@pytest.mark.parametrize("name", FLOAT_UNARY)
def test_float_unary_float32_against_float64(rng, name, n):
    ref_fn, gen, ulps = FLOAT_UNARY[name]
    a = np.asarray(gen(rng, n), np.float32)[:n]
    x = wt.tensor(a)
    out = getattr(wt, name)(x)
    assert out.dtype is F and out.shape == (n,)
    with np.errstate(all="ignore"):
        assert_ulps(out, ref_fn(a.astype(np.float64)), ulps)
    assert_ulps(getattr(x, name)(), ref_fn(a.astype(np.float64)), ulps)


def test_float_unary_wide_sample_accuracy(rng):
    # One large sample per function: the ulp bounds hold over 20,000 points.
    for name, (ref_fn, gen, ulps) in FLOAT_UNARY.items():
        a = np.asarray(gen(rng, 20000), np.float32)
        with np.errstate(all="ignore"):
            assert_ulps(getattr(wt, name)(wt.tensor(a)), ref_fn(a.astype(np.float64)), ulps)


def test_sin_cos_large_arguments(rng):
    # |x| >= 4 is reduced exactly (Payne-Hanek in u32 arithmetic): within 3 ulps out to
    # 3.4e38 and next to multiples of pi/2 (where the reduction cancels most), where the
    # driver's own sin/cos return +-1 past 1e8.
    a = np.exp(rng.uniform(np.log(4), np.log(3.4e38), 4000)) * rng.choice([-1, 1], 4000)
    k = rng.integers(3, 2 ** 22, 2000)
    a = np.concatenate([a, k * (np.pi / 2), [4.0, 8388608.0, 1e8, 1e20, 3.4e38, -3.4e38, 2.0 ** 100]])
    a = a.astype(np.float32)
    for name, f in (("sin", np.sin), ("cos", np.cos)):
        assert_ulps(getattr(wt, name)(wt.tensor(a)), f(a.astype(np.float64)), 3)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-40, -1e-40, 1e-45,
                    88.0, 89.0, -104.0, 3.4e38, -3.4e38, 0.5], np.float32)


@pytest.mark.parametrize("name", FLOAT_UNARY)
def test_float_unary_special_values(name):
    ref_fn, _, ulps = FLOAT_UNARY[name]
    a = SPECIAL
    with np.errstate(all="ignore"):
        ref = ref_fn(a.astype(np.float64))
        ref = np.where(np.abs(ref) > np.finfo(np.float32).max, ref * np.inf, ref)  # float32 overflow
    got = getattr(wt, name)(wt.tensor(a)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)].astype(np.float32))
    # tiny results: within 2 ulps or 1e-38 absolute (subnormals, flushed or not)
    err = np.abs(got[fin].astype(np.float64) - ref[fin])
    assert np.all((ulp_error(got[fin], ref[fin]) <= max(ulps, 2)) | (err < 1e-38)), (got, ref)
    # sign of zero kept where the function is odd
    if name in ("sin", "tanh", "expm1", "log1p", "sqrt", "silu", "gelu"):
        assert np.signbit(got[1]) and not np.signbit(got[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["exp", "log1p", "tanh", "sigmoid", "sqrt", "sin"])
def test_float_unary_dtypes(rng, name, dtype):
    # integer and bool inputs give float32; float16 is computed in f32 and rounded once
    a = rand_np(rng, (7, 37), dtype)
    if name in ("sqrt", "log1p") and dtype.kind in "if":
        a = np.abs(a)
    out = getattr(wt, name)(wt.tensor(a))
    want = H if dtype is H else F
    assert out.dtype is want
    ref_fn, _, ulps = FLOAT_UNARY[name]
    assert_ulps(out, ref_fn(a.astype(np.float64)), ulps, want)


def test_gelu_tanh_and_approximate_argument(rng):
    a = rng.uniform(-6, 6, 3001).astype(np.float32)
    x64 = a.astype(np.float64)
    ref = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3)))
    x = wt.tensor(a)
    # PyTorch's own float formula cancels in 1 + tanh(.) for x << 0: compare absolutely there
    assert_same(wt.gelu(x, approximate="tanh"), ref.astype(np.float32), rtol=1e-6, atol=4e-7)
    assert_same(x.gelu(approximate="tanh"), ref.astype(np.float32), rtol=1e-6, atol=4e-7)
    assert_ulps(wt.gelu(x, approximate="none"), 0.5 * x64 * _erfc(-x64 / np.sqrt(2)), 64)
    # the tanh form differs from the exact one (so the flag is not ignored)
    assert not np.array_equal(wt.gelu(x).numpy(), wt.gelu(x, approximate="tanh").numpy())


# ---------------------------------------------------------------- exact unary ops
def _torch_sign(a):
    with np.errstate(invalid="ignore"):
        return ((0 < a).astype(a.dtype) - (a < 0).astype(a.dtype)) if a.dtype.kind == "f" else np.sign(a)


EXACT_UNARY = {
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "round": np.round,  # np.round: half to even
    "sign": _torch_sign, "square": np.square,
}


@pytest.mark.parametrize("n", [0, 1, 65, 257])
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("name", EXACT_UNARY)
def test_exact_unary_keeps_dtype_bit_for_bit(rng, name, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    if dtype.kind == "f" and n:
        a[:: 7] = (rng.integers(-40, 40, a[::7].shape) + 0.5).astype(dtype.np)  # halves
    out = getattr(wt, name)(wt.tensor(a))
    assert out.dtype is dtype
    with np.errstate(all="ignore"):
        ref = EXACT_UNARY[name](a).astype(dtype.np)
    assert_same(out, ref)
    if dtype.kind == "f":  # the sign of zero too
        np.testing.assert_array_equal(np.signbit(out.numpy()), np.signbit(ref))


def test_round_half_to_even_and_sign_of_zero_and_nan():
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 8388609.0, -0.0, np.nan, 0.49999997], np.float32)
    got = wt.round(wt.tensor(a)).numpy()
    np.testing.assert_array_equal(got, [0, 2, 2, -0.0, -2, -2, 4, 8388609, -0.0, np.nan, 0])
    assert np.signbit(got[3]) and np.signbit(got[8])
    s = wt.sign(wt.tensor(np.array([-0.0, 0.0, np.nan, -np.inf, 3.0], np.float32))).numpy()
    np.testing.assert_array_equal(s, [0.0, 0.0, 0.0, -1.0, 1.0])  # PyTorch: sign(nan) = 0
    assert not np.signbit(s[0])
    assert_same(wt.round(wt.tensor([1.25, 2.675, -1.35]), decimals=1),
                np.array([np.round(np.float32(1.25) * np.float32(10)) / np.float32(10),
                          np.round(np.float32(2.675) * np.float32(10)) / np.float32(10),
                          np.round(np.float32(-1.35) * np.float32(10)) / np.float32(10)], np.float32))
    assert_same(wt.round(wt.tensor([1250.0, -1750.0]), decimals=-2), np.array([1200.0, -1800.0], np.float32))


def test_sign_square_on_bool_and_uint():
    m = wt.tensor([True, False, True])
    assert_same(wt.sign(m), np.array([True, False, True]))
    assert_same(wt.square(m), np.array([1, 0, 1], np.int32))
    u = np.array([0, 1, 7, 2 ** 31, 2 ** 32 - 1], np.uint32)
    assert_same(wt.sign(wt.tensor(u)), np.sign(u))
    assert_same(wt.square(wt.tensor(u)), u * u)  # wraps as uint32


@pytest.mark.parametrize("dtype", NUMERIC)
def test_relu(rng, dtype):
    a = rand_np(rng, (5, 41), dtype, special=True)
    out = wt.relu(wt.tensor(a))
    assert out.dtype is dtype
    ref = np.where(a < 0, np.zeros_like(a), a) if dtype.kind != "u" else a
    assert_same(out, ref)  # NaN stays NaN (PyTorch)


@pytest.mark.parametrize("dtype", DTYPES)
def test_isnan_isinf_isfinite(rng, dtype):
    a = rand_np(rng, (3, 67), dtype, special=True)
    x = wt.tensor(a)
    assert_same(wt.isnan(x), np.isnan(a) if dtype.kind == "f" else np.zeros(a.shape, bool))
    assert_same(x.isinf(), np.isinf(a) if dtype.kind == "f" else np.zeros(a.shape, bool))
    assert_same(wt.isfinite(x), np.isfinite(a) if dtype.kind == "f" else np.ones(a.shape, bool))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_to_num(rng, dtype):
    a = rand_np(rng, (129,), dtype, special=True)
    x = wt.tensor(a)
    assert_same(wt.nan_to_num(x), np.nan_to_num(a) if dtype.kind == "f" else a)
    if dtype.kind == "f":
        assert_same(x.nan_to_num(nan=1.5, posinf=7.0, neginf=-9.0),
                    np.nan_to_num(a, nan=1.5, posinf=7.0, neginf=-9.0))
        assert_same(wt.nan_to_num(x, posinf=2.0), np.nan_to_num(a, posinf=2.0))


# ---------------------------------------------------------------- binary math
def _np_floordiv(a, b):
    with np.errstate(all="ignore"):
        r = np.floor_divide(a, b)
    if a.dtype.kind in "iu":
        r = np.where(b == 0, 0, r).astype(a.dtype)  # our documented integer x // 0 = 0
    return r


def _np_rem(a, b):
    with np.errstate(all="ignore"):
        r = np.remainder(a, b)
    return np.where(b == 0, 0, r).astype(a.dtype) if a.dtype.kind in "iu" else r


def _np_fmod(a, b):
    with np.errstate(all="ignore"):
        r = np.fmod(a, b)
    return np.where(b == 0, 0, r).astype(a.dtype) if a.dtype.kind in "iu" else r


EXACT_BINARY = {"floor_divide": (_np_floordiv, operator.floordiv), "remainder": (_np_rem, operator.mod),
                "fmod": (_np_fmod, None), "maximum": (np.maximum, None), "minimum": (np.minimum, None)}


@pytest.mark.parametrize("n", [1, 63, 257])
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("name", EXACT_BINARY)
def test_exact_binary_bit_for_bit(rng, name, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    b = rand_np(rng, (n,), dtype, special=True)
    if dtype.kind == "f":
        b[::5] = dtype.np.type(0.75)
    ref_fn, pyop = EXACT_BINARY[name]
    ref = ref_fn(a, b).astype(dtype.np)
    x, y = wt.tensor(a), wt.tensor(b)
    for out in (getattr(wt, name)(x, y), getattr(x, name)(y)) + ((pyop(x, y),) if pyop else ()):
        assert out.dtype is dtype
        assert_same(out, ref)


def test_float_remainder_fmod_floordiv_are_exact_over_wide_ranges(rng):
    # fmod is exact (musl's long division), also for 1e38 % 1e-38 (a 277-step loop)
    a = (np.exp(rng.uniform(-87, 87, 4099)) * rng.choice([-1, 1], 4099)).astype(np.float32)
    b = (np.exp(rng.uniform(-87, 87, 4099)) * rng.choice([-1, 1], 4099)).astype(np.float32)
    a[:4], b[:4] = [3.4e38, -3.4e38, 1e-45, 7.0], [1e-45, 1.1754944e-38, 3e-45, -np.inf]
    x, y = wt.tensor(a), wt.tensor(b)
    with np.errstate(all="ignore"):
        assert_same(wt.fmod(x, y), np.fmod(a, b))
        assert_same(x % y, np.remainder(a, b))
        assert_same(x // y, np.floor_divide(a, b))


def test_division_edge_cases():
    a = np.array([7, -7, 7, -7, 0, -2 ** 31, -2 ** 31, 5], np.int32)
    b = np.array([2, 2, -2, -2, 3, -1, 0, 0], np.int32)
    x, y = wt.tensor(a), wt.tensor(b)
    assert_same(x // y, np.array([3, -4, -4, 3, 0, -2 ** 31, 0, 0], np.int32))  # x // 0 = 0 (documented)
    assert_same(x % y, np.array([1, 1, -1, -1, 0, 0, 0, 0], np.int32))  # Python's sign rule, x % 0 = 0
    assert_same(wt.fmod(x, y), np.array([1, -1, 1, -1, 0, 0, 0, 0], np.int32))  # C's sign rule
    f = np.array([7.5, -7.5, 1.0, -1.0, 0.0, np.inf, np.nan, 5.0], np.float32)
    g = np.array([2.0, 2.0, 0.0, 0.0, 0.0, 2.0, 1.0, -np.inf], np.float32)
    with np.errstate(all="ignore"):
        assert_same(wt.tensor(f) // wt.tensor(g), np.floor_divide(f, g))
        assert_same(wt.tensor(f) % wt.tensor(g), np.remainder(f, g))
        assert_same(wt.fmod(wt.tensor(f), wt.tensor(g)), np.fmod(f, g))
    # scalars on either side, Python's rule
    assert_same(wt.tensor(a[:5]) % 3, np.remainder(a[:5], 3))
    assert_same(-7 % wt.tensor([2, -2, 3], dtype=wt.int32), np.array([1, -1, 2], np.int32))
    assert_same(7.5 // wt.tensor([2.0, -2.0]), np.array([3.0, -4.0], np.float32))
    assert (wt.tensor([1, 2]) // 2.0).dtype is F and (wt.tensor([1, 2]) % 2).dtype is I


def test_maximum_minimum_nan_and_promotion():
    a = np.array([1.0, np.nan, 3.0, -0.0, np.inf], np.float32)
    b = np.array([np.nan, 2.0, 1.0, 0.0, 5.0], np.float32)
    assert_same(wt.maximum(wt.tensor(a), wt.tensor(b)), np.maximum(a, b))
    assert_same(wt.minimum(wt.tensor(a), wt.tensor(b)), np.minimum(a, b))
    m, n = np.array([True, False, False]), np.array([True, True, False])
    assert_same(wt.maximum(wt.tensor(m), wt.tensor(n)), np.maximum(m, n))
    assert_same(wt.minimum(wt.tensor(m), wt.tensor(n)), np.minimum(m, n))
    i = np.array([-3, 5, 7], np.int32)
    out = wt.maximum(wt.tensor(i), wt.tensor(np.array([1.5, 2.5, 9.5], np.float16)))
    assert out.dtype is H
    assert_same(out, np.maximum(i.astype(np.float16), np.array([1.5, 2.5, 9.5], np.float16)))
    u = np.array([0, 2 ** 32 - 1, 5], np.uint32)
    assert_same(wt.minimum(wt.tensor(u), wt.tensor(np.array([1, 4, 3], np.uint32))), np.minimum(u, [1, 4, 3]).astype(np.uint32))


# ---------------------------------------------------------------- pow
def _int_pow(a, b, dtype):
    """PyTorch's integer pow: wrapping products; negative exponents give 0 except for +-1."""
    out = []
    for x, y in zip(a.tolist(), b.tolist()):
        if y < 0:
            out.append(1 if x == 1 else (-1 if y % 2 else 1) if x == -1 else 0)
        else:
            out.append(pow(x, y, 2 ** 32))
    return np.array(out, np.uint64).astype(np.uint32).view(np.int32 if dtype is I else np.uint32) \
        if out else np.zeros(0, dtype.np)


@pytest.mark.parametrize("n", [0, 1, 65, 257])
@pytest.mark.parametrize("dtype", [I, U])
def test_integer_pow_stays_integer(rng, dtype, n):
    a = rand_np(rng, (n,), dtype)
    b = rng.integers(0 if dtype is U else -3, 34, n).astype(dtype.np)
    out = wt.tensor(a) ** wt.tensor(b)
    assert out.dtype is dtype
    assert_same(out, _int_pow(a.astype(np.int64), b.astype(np.int64), dtype))
    sq = wt.tensor(a) ** 2
    assert sq.dtype is dtype
    assert_same(sq, (a * a).astype(dtype.np))
    assert_same(2 ** wt.tensor(np.abs(b).astype(dtype.np) % 31),
                (2 ** (np.abs(b).astype(np.int64) % 31)).astype(dtype.np))
    assert (wt.tensor(a) ** 0.5).dtype is F and (2.0 ** wt.tensor(a)).dtype is F


def test_float_pow_special_cases_follow_c():
    xs = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan], np.float32)
    ys = np.array([0.0, -0.0, 1.0, -1.0, 2.0, 3.0, -3.0, 0.5, 2.5, -2.5, np.inf, -np.inf, np.nan], np.float32)
    a, b = np.meshgrid(xs, ys)
    a, b = a.ravel(), b.ravel()
    with np.errstate(all="ignore"):
        ref = np.power(a.astype(np.float64), b.astype(np.float64))
    got = (wt.tensor(a) ** wt.tensor(b)).numpy()
    np.testing.assert_allclose(got, ref.astype(np.float32), rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(ref)]), np.signbit(ref[~np.isnan(ref)]))


def test_float_pow_accuracy(rng):
    x = (np.exp(rng.uniform(-10, 10, 20000)) * rng.choice([-1, 1], 20000)).astype(np.float32)
    y = rng.uniform(-8, 8, 20000).astype(np.float32)
    y[::2] = np.round(y[::2])  # negative bases need integer exponents
    with np.errstate(all="ignore"):
        ref = np.power(x.astype(np.float64), y.astype(np.float64))
    got = (wt.tensor(x) ** wt.tensor(y)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = np.isfinite(ref) & (np.abs(ref) > 1e-37) & (np.abs(ref) < 3e38)
    # exp(y log|x|): error grows with |y log x| (README: up to (|y ln x| + 2) * 2 ulps)
    bound = 2 * (np.abs(y * np.log(np.abs(x.astype(np.float64)))) + 2)
    assert np.all(ulp_error(got[ok], ref[ok]) <= bound[ok])
    # exponents PyTorch's scalar kernel special-cases: 2 (x*x), 3 (x*x*x), 0.5 (sqrt),
    # -0.5 (1/sqrt), -1 (1/x), -2 (1/(x*x)), 1
    a = rng.standard_normal(1000).astype(np.float32)
    t = wt.tensor(a)
    assert_same(t ** 2, a * a)
    assert_same(t.abs() ** 0.5, np.sqrt(np.abs(a)))
    assert_same(t ** -1, np.float32(1) / a)
    assert_same(t ** 1, a)
    assert_same(t ** 3, a * a * a)
    assert_same(t ** -2, np.float32(1) / (a * a))
    assert_same(t.abs() ** -0.5, np.float32(1) / np.sqrt(np.abs(a)))
    assert_same(wt.pow(t, wt.full((1000,), 2.0)), a * a)


def test_pow_float16_and_bool(rng):
    a = np.abs(rand_np(rng, (300,), H)) + np.float16(0.25)
    out = wt.tensor(a) ** 1.5
    assert out.dtype is H
    assert_ulps(out, a.astype(np.float64) ** 1.5, 0, H)
    assert (wt.tensor([True, False]) ** 2).dtype is I


# ---------------------------------------------------------------- clamp
@pytest.mark.parametrize("dtype", NUMERIC)
def test_clamp_scalars(rng, dtype):
    a = rand_np(rng, (3, 85), dtype, special=True)
    x = wt.tensor(a)
    lo, hi = (2, 9) if dtype is U else (-2, 3)
    assert_same(wt.clamp(x, lo, hi), np.clip(a, dtype.np.type(lo), dtype.np.type(hi)))
    assert_same(x.clamp(min=lo), np.maximum(a, dtype.np.type(lo)))
    assert_same(x.clamp(max=hi), np.minimum(a, dtype.np.type(hi)))
    assert_same(wt.clip(x, lo, hi), np.clip(a, dtype.np.type(lo), dtype.np.type(hi)))
    assert_same(x.clip(hi, lo), np.full(a.shape, lo, dtype.np) if dtype.kind != "f"
                else np.where(np.isnan(a), a, dtype.np.type(lo)))  # min > max gives max


def test_clamp_tensors_broadcast_nan_and_promotion(rng):
    a = rng.standard_normal((6, 9)).astype(np.float32)
    lo = rng.standard_normal((9,)).astype(np.float32) - 1
    hi = rng.standard_normal((6, 1)).astype(np.float32) + 1
    lo[2], hi[3, 0], a[1, 1] = np.nan, np.nan, np.nan
    out = wt.clamp(wt.tensor(a), wt.tensor(lo), wt.tensor(hi))
    assert_same(out, np.minimum(np.maximum(a, lo), hi))
    i = np.arange(-5, 6, dtype=np.int32)
    out = wt.clamp(wt.tensor(i), -2.5, 2.5)  # a float bound makes an int tensor float32 (torch's result type)
    assert out.dtype is F
    assert_same(out, np.clip(i.astype(np.float32), -2.5, 2.5))
    assert_same(wt.clamp(wt.tensor(i), wt.tensor(np.int32(-1)), 3), np.clip(i, -1, 3))


# ---------------------------------------------------------------- bitwise and logical
INTS = [I, U, B]
BIT = {"bitwise_and": (np.bitwise_and, operator.and_), "bitwise_or": (np.bitwise_or, operator.or_),
       "bitwise_xor": (np.bitwise_xor, operator.xor)}


@pytest.mark.parametrize("n", [0, 1, 63, 65, 257])
@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", BIT)
def test_bitwise_ops(rng, name, dtype, n):
    if dtype is B:
        a, b = rng.random(n) < 0.5, rng.random(n) < 0.5
    else:
        a = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32).view(dtype.np)
        b = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32).view(dtype.np)
    npf, pyop = BIT[name]
    x, y = wt.tensor(a), wt.tensor(b)
    for out in (getattr(wt, name)(x, y), pyop(x, y), getattr(x, name)(y)):
        assert out.dtype is dtype
        assert_same(out, npf(a, b))
    if dtype is not B:
        assert_same(~x, np.invert(a))
        assert_same(wt.bitwise_not(x), np.invert(a))
        assert_same(pyop(x, 6), npf(a, dtype.np.type(6)))
        assert_same(pyop(6, x), npf(dtype.np.type(6), a))
    else:
        assert_same(~x, ~a)


def test_bitwise_mixed_dtypes_and_bool_dispatch():
    i = np.array([5, -6, 7], np.int32)
    u = np.array([3, 2 ** 31 + 1, 0xFF], np.uint32)
    m = np.array([True, False, True])
    # int32 with uint32 gives int32 (bits as they are); bool with int promotes (torch)
    out = wt.tensor(i) & wt.tensor(u)
    assert out.dtype is I
    assert_same(out, i & u.view(np.int32))
    out = wt.tensor(m) | wt.tensor(i)
    assert out.dtype is I
    assert_same(out, m.astype(np.int32) | i)
    assert_same(wt.tensor(m) ^ True, m ^ True)  # bool with a Python bool: logical
    assert (wt.tensor(m) & 1).dtype is I


SHIFT_B = np.array([0, 1, 5, 30, 31, 32, 33, 40, -1, -5], np.int32)


def _torch_shift(a, b, left, dtype):
    out = []
    for x, s in zip(a.tolist(), b.tolist()):
        if left:
            out.append(0 if s < 0 or s >= 32 else (x << s) % 2 ** 32)
        elif dtype is I:
            out.append(x >> 31 if s < 0 or s >= 31 else x >> s)
        else:
            out.append(0 if s < 0 or s >= 32 else x >> s)
    return np.array(out, np.int64).astype(np.uint32).view(dtype.np) if dtype is I else \
        np.array(out, np.uint64).astype(np.uint32)


@pytest.mark.parametrize("dtype", [I, U])
def test_shifts_follow_pytorch_past_the_width(rng, dtype):
    a = np.array([1, -1, 12345, -2 ** 31, 2 ** 30, 7, -7, 3, 9, -100] if dtype is I else
                 [1, 2 ** 32 - 1, 12345, 2 ** 31, 2 ** 30, 7, 8, 3, 9, 100], dtype.np)
    b = SHIFT_B if dtype is I else SHIFT_B.clip(0).astype(np.uint32)
    x, y = wt.tensor(a), wt.tensor(b)
    for out, left in ((x << y, True), (x >> y, False), (wt.bitwise_left_shift(x, y), True),
                      (wt.bitwise_right_shift(x, y), False)):
        assert out.dtype is dtype
        assert_same(out, _torch_shift(a.astype(np.int64), b.astype(np.int64), left, dtype))
    assert_same(x << 3, _torch_shift(a.astype(np.int64), np.full(10, 3), True, dtype))
    assert_same(1 << wt.tensor(np.arange(5, dtype=np.int32)), np.array([1, 2, 4, 8, 16], np.int32))


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", [B, I, F])
def test_logical_ops_on_any_dtype(rng, da, db):
    a = rand_np(rng, (4, 33), da, special=True)
    b = rand_np(rng, (33,), db, special=True)
    x, y = wt.tensor(a), wt.tensor(b)
    for name in ("logical_and", "logical_or", "logical_xor"):
        out = getattr(wt, name)(x, y)
        assert out.dtype is B
        assert_same(out, getattr(np, name)(a, b))  # nonzero (NaN too) is true
    assert_same(wt.logical_not(x), np.logical_not(a))
    assert_same(x.logical_not(), np.logical_not(a))


# ---------------------------------------------------------------- lerp, addcmul
@pytest.mark.parametrize("dtype", [F, H])
def test_lerp(rng, dtype):
    s = rand_np(rng, (5, 66), dtype)
    e = rand_np(rng, (66,), dtype)
    w = rng.uniform(-0.5, 1.5, (5, 66)).astype(dtype.np)
    def ref(s, e, w):
        s, e, w = (np.asarray(v, np.float64) for v in (s, e, w))
        return np.where(np.abs(w) < 0.5, s + w * (e - s), e - (e - s) * (1 - w))
    out = wt.lerp(wt.tensor(s), wt.tensor(e), wt.tensor(w))
    assert out.dtype is dtype
    tol = 1e-6 if dtype is F else 1e-3
    assert_same(out, ref(s, e, w).astype(dtype.np), rtol=tol, atol=tol)
    assert_same(wt.tensor(s).lerp(wt.tensor(e), 0.25), ref(s, e, 0.25).astype(dtype.np), rtol=tol, atol=tol)
    # at weight 1 PyTorch's form gives end exactly, at 0 start exactly
    assert_same(wt.lerp(wt.tensor(s), wt.tensor(e), 1.0), np.broadcast_to(e, s.shape))
    assert_same(wt.lerp(wt.tensor(s), wt.tensor(e), 0.0), s)


@pytest.mark.parametrize("dtype", [I, U, H, F])
def test_addcmul(rng, dtype):
    a = rand_np(rng, (3, 70), dtype)
    b = rand_np(rng, (70,), dtype)
    c = rand_np(rng, (3, 1), dtype)
    v = 3 if dtype.kind in "iu" else 0.5
    out = wt.addcmul(wt.tensor(a), wt.tensor(b), wt.tensor(c), value=v)
    assert out.dtype is dtype
    ref = (a.astype(np.float64) + v * b.astype(np.float64) * c.astype(np.float64))
    if dtype.kind in "iu":
        assert_same(out, ref.astype(np.int64).astype(dtype.np))
    else:
        assert_same(out, ref.astype(dtype.np), rtol=1e-3 if dtype is H else 1e-6)
    assert_same(wt.tensor(a).addcmul(wt.tensor(b), wt.tensor(c)),
                (a.astype(np.float64) + b.astype(np.float64) * c).astype(dtype.np)
                if dtype.kind == "f" else (a + b * c).astype(dtype.np), rtol=1e-3 if dtype is H else 0)


# ---------------------------------------------------------------- views, broadcast, launches, syncs
def transposed(t):
    """A transposed view of a contiguous 2-D tensor (strides swapped, no copy)."""
    v = t._v
    return wt.Tensor._wrap(v.derive(v.shape[::-1], v._strides[::-1], v._offset))


def test_strided_transposed_and_expanded_inputs(rng):
    a = rng.uniform(-3, 3, (40, 66)).astype(np.float32)
    b = rng.uniform(0.5, 3, (66,)).astype(np.float32)
    x, y = wt.tensor(a), wt.tensor(b)
    cases = [(x[:, ::2], a[:, ::2]), (x[1::3, 5:], a[1::3, 5:]), (transposed(x), a.T),
             (y.unsqueeze(0).expand(40, 66), np.broadcast_to(b, (40, 66)))]
    for t, ref in cases:
        assert_ulps(wt.exp(t), np.exp(ref.astype(np.float64)), 2)
        assert_same(wt.floor(t), np.floor(ref))
        assert_same(t % 0.75, np.remainder(ref, np.float32(0.75)))
        assert_same(wt.clamp(t, -1, 1), np.clip(ref, -1, 1))
        assert_same(wt.maximum(t, t[..., :1]), np.maximum(ref, ref[..., :1]))
        assert_same(t ** 2, ref * ref)
    i = rng.integers(-50, 50, (33, 20)).astype(np.int32)
    ti = wt.tensor(i)
    assert_same(ti[:, ::2] & ti[:, 1::2], i[:, ::2] & i[:, 1::2])
    assert_same(ti[::2] // 7, np.floor_divide(i[::2], 7))
    assert_same(transposed(ti) << 2, i.T << 2)
    assert_same(wt.sign(transposed(ti)), np.sign(i.T))


LIMITS = [dict(max_groups=4), dict(max_binding=4096), dict(max_binding=4096, max_groups=3)]


@pytest.mark.parametrize("limits", LIMITS, ids=["groups4", "binding4096", "binding4096-groups3"])
def test_split_launches_and_2d_grid(rng, limits):
    # 4099 elements: past 4 x 4 workgroups of 256 (a 2-D grid, several launches) and
    # past a 4096-byte binding (windows)
    a = rng.uniform(-4, 4, 4099).astype(np.float32)
    b = rng.uniform(0.5, 2, 4099).astype(np.float32)
    i = rng.integers(-1000, 1000, 4099).astype(np.int32)
    x, y, ti = wt.tensor(a), wt.tensor(b), wt.tensor(i)
    with override_limits(**limits):
        n0 = get_device().counters()["dispatch"]
        assert_ulps(wt.tanh(x), np.tanh(a.astype(np.float64)), 4)
        assert get_device().counters()["dispatch"] - n0 > 1
        assert_same(x // y, np.floor_divide(a, b))
        assert_same(wt.fmod(x, y), np.fmod(a, b))
        assert_same(wt.clamp(x, y * -1, y), np.clip(a, -b, b))
        assert_same(ti ^ (ti >> 2), i ^ (i >> 2))
        assert_same(wt.isnan(x / 0.0), np.isnan(a / np.float32(0)))
        assert_same(wt.nan_to_num(x[::3]), a[::3])
        assert_same(wt.addcmul(x, x, y, value=2.0), (a + np.float32(2) * a * b), rtol=1e-6)


def test_no_host_reads():
    x = wt.rand(1000, seed=1) * 4 - 2
    i = wt.randint(-100, 100, (1000,), seed=2)
    before = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        outs = [wt.exp(x), wt.log1p(x.abs()), wt.gelu(x), x ** 3, 2 ** x, x % 0.3, x // 0.3,
                wt.clamp(x, -1, 1), wt.maximum(x, 0.5), wt.nan_to_num(x), wt.isnan(x),
                i & 3, i << 2, ~i, i ** 2, i % 7, wt.logical_and(x, i), wt.lerp(x, x * 2, 0.5),
                wt.addcmul(x, x, x), wt.round(x), wt.sign(x)]
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == before
    assert len(outs) == 21 and outs[0].shape == (1000,)


def test_fast_path_serves_the_new_binary_ops(rng):
    from wgpu_tensor.ops import elementwise as E
    a = rng.integers(1, 50, 300).astype(np.int32)
    x = wt.tensor(a)
    for name, op, ref in (("remainder", operator.mod, a % 7), ("floor_divide", operator.floordiv, a // 7),
                          ("bitwise_and", operator.and_, a & 7), ("bitwise_left_shift", operator.lshift, a << 7),
                          ("pow", operator.pow, (a.astype(np.int64) ** 7 % 2 ** 32).astype(np.uint32).view(np.int32))):
        first = op(x, 7)
        assert E.fast_binary(name, x._v, 7) is not None
        assert_same(first, ref)
        assert_same(op(x, 7), ref)


# ---------------------------------------------------------------- bad input
BAD_Z4 = []
BAD = [
    ("int_pow_negative", lambda x, i, m: i ** -1, RuntimeError, "negative integer powers"),
    ("bitwise_float", lambda x, i, m: x & i, TypeError, "bitwise_and needs bool tensors or integer"),
    ("bitwise_float_scalar", lambda x, i, m: i | 1.5, TypeError, "bitwise_or needs"),
    ("bitwise_not_float", lambda x, i, m: ~x, TypeError, "bitwise_not needs a bool or integer"),
    ("shift_bool", lambda x, i, m: m << m, TypeError, "bitwise_left_shift needs integer"),
    ("shift_float", lambda x, i, m: x >> 1, TypeError, "bitwise_right_shift needs integer"),
    ("clamp_no_bounds", lambda x, i, m: wt.clamp(x), RuntimeError, "At least one of"),
    ("clamp_bool", lambda x, i, m: wt.clamp(m, 0, 1), TypeError, "not supported for bool"),
    ("clamp_shapes", lambda x, i, m: wt.clamp(x, BAD_Z4[0]), ValueError, "broadcast"),
    ("clamp_string", lambda x, i, m: wt.clamp(x, "a"), TypeError, "unsupported scalar"),
    ("clamp_overflow", lambda x, i, m: wt.clamp(i, 2 ** 40), OverflowError, "does not fit"),
    ("lerp_int", lambda x, i, m: wt.lerp(i, i, 0.5), TypeError, "must be a float tensor"),
    ("lerp_shapes", lambda x, i, m: wt.lerp(x, BAD_Z4[0], 0.5), ValueError, "broadcast"),
    ("addcmul_float_value_int", lambda x, i, m: wt.addcmul(i, i, i, value=0.5), TypeError, "float value"),
    ("addcmul_bool", lambda x, i, m: wt.addcmul(m, m, m), TypeError, "not supported for bool"),
    ("gelu_approximate", lambda x, i, m: wt.gelu(x, approximate="fast"), ValueError, "approximate must be"),
    ("round_decimals_int", lambda x, i, m: wt.round(i, decimals=1), TypeError, "needs a float tensor"),
    ("relu_bool", lambda x, i, m: wt.relu(m), TypeError, "relu needs"),
    ("floor_bool", lambda x, i, m: wt.floor(m), TypeError, "floor needs"),
    ("nan_to_num_string", lambda x, i, m: wt.nan_to_num(x, nan="a"), TypeError, "unsupported scalar"),
    ("maximum_shapes", lambda x, i, m: wt.maximum(x, BAD_Z4[0]), ValueError, "broadcast"),
]


@pytest.mark.parametrize("call, exc, pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_before_gpu_work(call, exc, pattern):
    x, i, m = wt.tensor([1.0, 2.0, 3.0]), wt.tensor([1, 2, 3]), wt.tensor([True, False, True])
    BAD_Z4[:] = [wt.zeros(4)]
    with no_gpu_work(), pytest.raises(exc, match=pattern):
        call(x, i, m)


# ---------------------------------------------------------------- properties (hypothesis)
from hypothesis import given, settings, strategies as st  # noqa: E402

_I32 = st.integers(-2 ** 31, 2 ** 31 - 1)
_EDGE = st.sampled_from([-2 ** 31, -2 ** 31 + 1, -1, 0, 1, 2 ** 31 - 1, 7, -7])


def _wrap32(v):
    return (v + 2 ** 31) % 2 ** 32 - 2 ** 31


@settings(max_examples=15)
@given(st.lists(st.one_of(_I32, _EDGE), min_size=1, max_size=40),
       st.lists(st.one_of(_I32, _EDGE), min_size=1, max_size=40))
def test_int32_division_matches_python_rules(xs, ys):
    n = min(len(xs), len(ys))
    a, b = np.array(xs[:n], np.int32), np.array(ys[:n], np.int32)
    x, y = wt.tensor(a), wt.tensor(b)
    fd = [0 if q == 0 else _wrap32(p // q) for p, q in zip(a.tolist(), b.tolist())]
    rm = [0 if q == 0 else p % q for p, q in zip(a.tolist(), b.tolist())]
    fm = [0 if q == 0 else int(math.fmod(p, q)) for p, q in zip(a.tolist(), b.tolist())]
    assert_same(x // y, np.array(fd, np.int64).astype(np.int32))
    assert_same(x % y, np.array(rm, np.int64).astype(np.int32))
    assert_same(wt.fmod(x, y), np.array(fm, np.int64).astype(np.int32))
    assert_same(x & y, a & b)
    assert_same(~(x | y), ~a & ~b)  # de Morgan, bit for bit


@settings(max_examples=15)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=40),
       st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=40))
def test_float_division_family_matches_numpy(xs, ys):
    n = min(len(xs), len(ys))
    a, b = np.array(xs[:n], np.float32), np.array(ys[:n], np.float32)
    x, y = wt.tensor(a), wt.tensor(b)
    with np.errstate(all="ignore"):
        assert_same(wt.fmod(x, y), np.fmod(a, b))
        assert_same(x % y, np.remainder(a, b))
        assert_same(x // y, np.floor_divide(a, b))
        assert_same(wt.maximum(x, y), np.maximum(a, b))
        assert_same(wt.clamp(x, y), np.maximum(a, b))

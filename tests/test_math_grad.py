"""Gradients of the elementwise math ops against central finite differences of a
float64 numpy reference (PyTorch's rule where the function has a kink or a step)."""
import math

import numpy as np
import pytest

import wgpu_tensor as wt

_erf = np.vectorize(math.erf, otypes=[np.float64])


def numeric_grads(f, args, g, eps=1e-6):
    """d sum(g * f(*args)) / d args[i], by central differences in float64."""
    out = []
    for i, a in enumerate(args):
        a = np.array(a, np.float64)
        d = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            hi, lo = a.copy(), a.copy()
            hi[idx] += eps
            lo[idx] -= eps
            ah = list(args)
            al = list(args)
            ah[i], al[i] = hi, lo
            d[idx] = (np.sum(g * f(*ah)) - np.sum(g * f(*al))) / (2 * eps)
        out.append(d)
    return out


def check(wt_fn, np_fn, arrays, rng, rtol=2e-4, atol=2e-5):
    """Gradients of wt_fn (tensors in) through backward(g) match finite differences."""
    ts = [wt.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    y = wt_fn(*ts)
    g = rng.uniform(0.5, 1.5, y.shape)
    y.backward(wt.tensor(g.astype(np.float32)))
    want = numeric_grads(np_fn, [a.astype(np.float32).astype(np.float64) for a in arrays], g)
    for t, w in zip(ts, want):
        assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype is wt.float32
        np.testing.assert_allclose(t.grad.numpy(), w, rtol=rtol, atol=atol)


def _sig(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "exp": (np.exp, (-3, 3)), "log": (np.log, (0.2, 5)), "log1p": (np.log1p, (-0.7, 5)),
    "expm1": (np.expm1, (-3, 3)), "sqrt": (np.sqrt, (0.2, 5)), "rsqrt": (lambda x: 1 / np.sqrt(x), (0.3, 5)),
    "sin": (np.sin, (-4, 4)), "cos": (np.cos, (-4, 4)), "tanh": (np.tanh, (-3, 3)),
    "sigmoid": (_sig, (-5, 5)), "silu": (lambda x: x * _sig(x), (-5, 5)),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), (-4, 4)),
    "square": (np.square, (-3, 3)),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_gradients(rng, name):
    f, (lo, hi) = UNARY[name]
    check(getattr(wt, name), f, [rng.uniform(lo, hi, (3, 5))], rng)


def test_gelu_tanh_gradient(rng):
    k = np.sqrt(2 / np.pi)
    check(lambda x: wt.gelu(x, approximate="tanh"),
          lambda x: 0.5 * x * (1 + np.tanh(k * (x + 0.044715 * x ** 3))), [rng.uniform(-4, 4, 13)], rng)


def test_relu_and_step_functions(rng):
    a = rng.uniform(0.1, 2, 12) * rng.choice([-1, 1], 12)
    check(wt.relu, lambda x: np.maximum(x, 0), [a], rng)
    a = rng.uniform(-5, 5, 12)
    a = np.where(np.abs(a - np.round(a)) < 0.05, a + 0.2, a)  # away from the steps
    for name in ("floor", "ceil", "round", "trunc", "sign"):
        check(getattr(wt, name), lambda x, name=name: getattr(np, "rint" if name == "round" else name)(x), [a], rng)


def test_pow_gradients(rng):
    x = rng.uniform(0.3, 3, (4, 3))
    y = rng.uniform(-2, 2, (4, 3))
    check(lambda a, b: a ** b, np.power, [x, y], rng, rtol=5e-4)
    check(lambda a: a ** 3, lambda a: a ** 3, [rng.uniform(-2, 2, 9)], rng)
    check(lambda a: a ** 2.5, lambda a: a ** 2.5, [x], rng)
    check(lambda a: 2.0 ** a, lambda a: 2.0 ** a, [y], rng)
    # broadcast exponent: the tape sums its gradient back to (3,)
    check(lambda a, b: wt.pow(a, b), np.power, [x, rng.uniform(-1, 2, 3)], rng, rtol=5e-4)


def test_pow_gradient_at_zero_exponent_and_zero_base():
    # PyTorch: d/dx x^0 = 0 (even at x = 0), d/dy 0^y = 0 for y >= 0
    x = wt.tensor([0.0, 2.0, 0.0], requires_grad=True)
    y = wt.tensor([0.0, 0.0, 2.0], requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(y.grad.numpy(), [0.0, np.log(2.0), 0.0], rtol=1e-6)


def test_remainder_fmod_gradients(rng):
    x = rng.uniform(-9, 9, 12)
    y = rng.uniform(0.7, 3, 12) * rng.choice([-1, 1], 12)
    q = x / y
    x = np.where(np.abs(q - np.round(q)) < 0.05, x + 0.3 * y, x)  # away from the jumps
    check(lambda a, b: a % b, np.remainder, [x, y], rng)
    check(wt.fmod, np.fmod, [x, y], rng)


def test_maximum_minimum_gradients_split_ties(rng):
    a = rng.standard_normal(10)
    b = rng.standard_normal(10)
    check(wt.maximum, np.maximum, [a, b], rng)
    check(wt.minimum, np.minimum, [a, b], rng)
    # equal operands share the gradient (PyTorch halves it)
    x = wt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = wt.tensor([1.0, 5.0, 0.0], requires_grad=True)
    wt.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 1.0, 0.0])


def test_clamp_gradients(rng):
    a = rng.uniform(-3, 3, 20)
    a = np.where(np.abs(np.abs(a) - 1) < 0.05, a * 1.2, a)
    check(lambda x: wt.clamp(x, -1, 1), lambda x: np.clip(x, -1, 1), [a], rng)
    check(lambda x: x.clamp(min=-1), lambda x: np.maximum(x, -1), [a], rng)
    check(lambda x: wt.clip(x, max=1), lambda x: np.minimum(x, 1), [a], rng)
    lo = rng.uniform(-2, -0.5, 20)
    hi = rng.uniform(0.5, 2, 20)
    a = np.where(np.minimum(np.abs(a - lo), np.abs(a - hi)) < 0.05, a + 0.1, a)
    check(wt.clamp, lambda x, l, h: np.minimum(np.maximum(x, l), h), [a, lo, hi], rng)
    # min > max: PyTorch gives the whole gradient to max
    x = wt.tensor([0.0, 5.0], requires_grad=True)
    lo_t = wt.tensor([2.0, 2.0], requires_grad=True)
    hi_t = wt.tensor([1.0, 1.0], requires_grad=True)
    wt.clamp(x, lo_t, hi_t).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(lo_t.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(hi_t.grad.numpy(), [1.0, 1.0])


def test_nan_to_num_gradient():
    x = wt.tensor([1.0, float("nan"), float("inf"), -2.0], requires_grad=True)
    wt.nan_to_num(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0, 1.0])


def test_lerp_addcmul_gradients(rng):
    s, e, w = rng.standard_normal(8), rng.standard_normal(8), rng.uniform(-0.5, 1.5, 8)
    check(wt.lerp, lambda s, e, w: s + w * (e - s), [s, e, w], rng)
    check(lambda s, e: wt.lerp(s, e, 0.3), lambda s, e: s + 0.3 * (e - s), [s, e], rng)
    a, b, c = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 1))
    check(lambda a, b, c: wt.addcmul(a, b, c, value=0.5), lambda a, b, c: a + 0.5 * b * c, [a, b, c], rng)


def test_float16_gradient_dtype(rng):
    x = wt.tensor(rng.uniform(-1, 1, 6).astype(np.float16), requires_grad=True)
    wt.exp(x).sum().backward()
    assert x.grad.dtype is wt.float16
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), np.exp(x.numpy().astype(np.float64)), rtol=2e-3)

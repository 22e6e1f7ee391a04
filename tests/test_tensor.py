"""Creation, the numpy/Python conversion rules, host transfer, repr, views and
basic indexing, checked against numpy."""
import asyncio
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from conftest import DTYPES, SIZES, assert_same, rand_np


# ---------------------------------------------------------------- conversion rules
@pytest.mark.parametrize("np_dtype, expected", [
    (np.bool_, wt.bool), (np.int8, wt.int32), (np.uint8, wt.int32), (np.int16, wt.int32),
    (np.uint16, wt.int32), (np.int32, wt.int32), (np.uint32, wt.uint32), (np.int64, wt.int32),
    (np.uint64, wt.int32), (np.float16, wt.float16), (np.float32, wt.float32),
    (np.float64, wt.float32),
])
def test_from_numpy_dtype_rules(rng, np_dtype, expected):
    a = (rng.integers(0, 100, 37) if np_dtype is not np.bool_ else rng.random(37) < 0.5).astype(np_dtype)
    if np.dtype(np_dtype).kind == "f":
        a = (rng.standard_normal(37) * 100).astype(np_dtype)
    for make in (wt.tensor, wt.from_numpy):
        t = make(a)
        assert t.dtype is expected and t.shape == (37,)
        assert_same(t, a.astype(expected.np))


@pytest.mark.parametrize("np_dtype", [np.int8, np.int16, np.int64])
def test_negative_ints_keep_their_value(np_dtype):
    a = np.array([-128, -1, 0, 1, 127], np_dtype)
    assert_same(wt.tensor(a), a.astype(np.int32))


def test_float64_becomes_float32_rounded():
    a = np.array([0.1, 1 / 3, 1e-30, 3.4e38, -2.5, np.nan, np.inf])
    t = wt.tensor(a)
    assert t.dtype is wt.float32
    assert_same(t, a.astype(np.float32))
    assert wt.tensor([0.1, 0.2]).dtype is wt.float32


@pytest.mark.parametrize("value", [2 ** 31, -(2 ** 31) - 1, 2 ** 40, -(2 ** 62), 2 ** 63 - 1])
def test_int64_that_does_not_fit_raises_overflow(value):
    with pytest.raises(OverflowError):
        wt.tensor(np.array([0, value, 1], np.int64))
    with pytest.raises(OverflowError):
        wt.from_numpy(np.array([value], np.int64))
    with pytest.raises(OverflowError):
        wt.tensor(value)
    with pytest.raises(OverflowError):
        wt.tensor([[1, 2], [value, 3]])


def test_int_range_edges_fit():
    a = np.array([-(2 ** 31), 2 ** 31 - 1], np.int64)
    assert_same(wt.tensor(a), a.astype(np.int32))
    assert_same(wt.tensor(np.array([2 ** 32 - 1], np.uint64), dtype=wt.uint32),
                np.array([2 ** 32 - 1], np.uint32))
    with pytest.raises(OverflowError):
        wt.tensor(np.array([2 ** 63], np.uint64))
    with pytest.raises(OverflowError):
        wt.tensor(2 ** 100)
    with pytest.raises(OverflowError):
        wt.tensor([1, 2 ** 100])
    with pytest.raises(OverflowError):
        wt.tensor([-1, 5], dtype=wt.uint32)
    with pytest.raises(OverflowError):
        wt.tensor([2 ** 32], dtype=wt.uint32)


def test_float_to_int_dtype_truncates_and_checks_range():
    assert_same(wt.tensor([1.7, -1.7, 2 ** 31 - 1.0], dtype=wt.int32),
                np.array([1, -1, 2 ** 31 - 1], np.int32))
    for bad in ([1e10], [-3e9], [np.nan], [np.inf]):
        with pytest.raises(OverflowError):
            wt.tensor(bad, dtype=wt.int32)
    with pytest.raises(OverflowError):
        wt.tensor([-1.0], dtype=wt.uint32)


@pytest.mark.parametrize("value, dtype, np_dtype", [
    (True, wt.bool, np.bool_), (False, wt.bool, np.bool_), (7, wt.int32, np.int32),
    (-3, wt.int32, np.int32), (2.5, wt.float32, np.float32), (np.float64(0.1), wt.float32, np.float32),
    (np.int64(9), wt.int32, np.int32), (np.bool_(True), wt.bool, np.bool_),
])
def test_python_scalars(value, dtype, np_dtype):
    t = wt.tensor(value)
    assert t.dtype is dtype and t.shape == () and t.ndim == 0 and t.numel() == 1
    assert_same(t, np.array(value, np_dtype))
    assert t.item() == np.array(value, np_dtype).item()


@pytest.mark.parametrize("data", ["abc", ["a", "b"], 1 + 2j, [1j], [object()], {"a": 1}, None,
                                  np.array([1 + 1j]), np.array(["x"]), np.array([object()])])
def test_unsupported_data_raises_type_error(data):
    with pytest.raises(TypeError):
        wt.tensor(data)


def test_ragged_list_raises_value_error():
    with pytest.raises(ValueError):
        wt.tensor([[1, 2], [3]])


@pytest.mark.parametrize("dtype", [np.complex64, "complex64", object, "int8x"])
def test_unsupported_dtype_argument(dtype):
    with pytest.raises(TypeError, match="dtype"):
        wt.zeros(3, dtype=dtype)


def test_explicit_dtype_conversions(rng):
    a = rng.integers(-50, 50, (4, 9))
    for dt in DTYPES:
        if dt is wt.uint32:
            continue
        t = wt.tensor(a, dtype=dt)
        assert t.dtype is dt
        assert_same(t, a.astype(dt.np))
    assert wt.tensor([1, 2], dtype="float16").dtype is wt.float16
    assert wt.tensor([1, 2], dtype=float).dtype is wt.float32
    assert wt.tensor([0, 2], dtype=bool).dtype is wt.bool
    assert wt.tensor([1.5], dtype=int).dtype is wt.int32
    assert wt.tensor([1, 2], dtype=np.uint32).dtype is wt.uint32


def test_nested_lists_and_non_contiguous_numpy(rng):
    assert_same(wt.tensor([[1, 2, 3], [4, 5, 6]]), np.array([[1, 2, 3], [4, 5, 6]], np.int32))
    assert_same(wt.tensor([[True], [False]]), np.array([[True], [False]]))
    a = rng.standard_normal((6, 7)).astype(np.float32)
    assert_same(wt.tensor(a.T), a.T)
    assert_same(wt.tensor(a[::2, 1::3]), a[::2, 1::3])
    assert_same(wt.tensor(a.astype(">f4")), a)  # big-endian input


def test_tensor_from_tensor_copies():
    a = wt.tensor([1, 2, 3])
    b = wt.tensor(a)
    assert b._v._buf is not a._v._buf
    assert_same(b, np.array([1, 2, 3], np.int32))
    c = wt.tensor(a, dtype=wt.float32)
    assert_same(c, np.array([1, 2, 3], np.float32))


def test_requires_grad_not_silently_ignored():
    t = wt.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf
    assert wt.tensor(t).requires_grad is False      # a copy of data is a new leaf, as torch.tensor


# ---------------------------------------------------------------- creation functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (5,), (3, 0), (2, 3, 257), (65,)])
def test_zeros_ones_full(dtype, shape):
    assert_same(wt.zeros(shape, dtype=dtype), np.zeros(shape, dtype.np))
    assert_same(wt.ones(*shape, dtype=dtype), np.ones(shape, dtype.np))
    v = {wt.bool: True, wt.int32: -7, wt.uint32: 4000000000, wt.float16: 0.5, wt.float32: -2.25}[dtype]
    assert_same(wt.full(shape, v, dtype=dtype), np.full(shape, v, dtype.np))
    e = wt.empty(shape, dtype=dtype)
    assert e.shape == shape and e.dtype is dtype


def test_default_dtypes():
    assert wt.zeros(2).dtype is wt.float32
    assert wt.ones(2, 2).dtype is wt.float32
    assert wt.empty(2).dtype is wt.float32
    assert wt.full((2,), 3).dtype is wt.int32
    assert wt.full((2,), 3.0).dtype is wt.float32
    assert wt.full((2,), True).dtype is wt.bool
    assert wt.zeros(3).shape == (3,) and wt.zeros((2, 3)).shape == (2, 3) and wt.zeros([2, 3]).shape == (2, 3)
    assert wt.full(4, 1.5).shape == (4,)


def test_full_special_values():
    assert_same(wt.full((3,), np.nan), np.full(3, np.nan, np.float32))
    assert_same(wt.full((3,), -np.inf, dtype=wt.float16), np.full(3, -np.inf, np.float16))
    assert_same(wt.full((2,), 2 ** 31 - 1), np.full(2, 2 ** 31 - 1, np.int32))
    with pytest.raises(OverflowError):
        wt.full((2,), 2 ** 31)
    with pytest.raises(OverflowError):
        wt.full((2,), -1, dtype=wt.uint32)


def test_negative_shape_raises():
    with pytest.raises(ValueError, match="negative dimension"):
        wt.zeros(-1)
    with pytest.raises(TypeError):
        wt.zeros(2.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_like_functions(rng, dtype):
    x = wt.tensor(rand_np(rng, (3, 5), dtype))
    for f, ref in ((wt.zeros_like, np.zeros), (wt.ones_like, np.ones)):
        assert_same(f(x), ref((3, 5), dtype.np))
        assert_same(f(x, dtype=wt.float32), ref((3, 5), np.float32))
    assert_same(wt.full_like(x, 1), np.full((3, 5), 1, dtype.np))
    e = wt.empty_like(x)
    assert e.shape == (3, 5) and e.dtype is dtype
    assert wt.empty_like(x, dtype=wt.int32).dtype is wt.int32


@pytest.mark.parametrize("args, kw", [
    ((10,), {}), ((0,), {}), ((1,), {}), ((3, 17), {}), ((17, 3, -2), {}), ((5, 5), {}),
    ((0, 1, 0.125), {}), ((-1.5, 2.0, 0.5), {}), ((1025,), {}), ((2, 300, 7), {}),
    ((10,), {"dtype": wt.float32}), ((0, 20, 3), {"dtype": wt.float16}), ((7,), {"dtype": wt.uint32}),
])
def test_arange(args, kw):
    t = wt.arange(*args, **kw)
    ref = np.arange(*args)
    if "dtype" in kw:
        ref = ref.astype(kw["dtype"].np)
    elif ref.dtype.kind == "f":
        ref = ref.astype(np.float32)
    else:
        ref = ref.astype(np.int32)
    assert_same(t, ref, rtol=1e-6)


def test_arange_errors():
    with pytest.raises(ValueError):
        wt.arange(0, 5, 0)
    with pytest.raises(TypeError):
        wt.arange(5, dtype=wt.bool)


@pytest.mark.parametrize("f", [wt.rand, wt.randn])
def test_rand_randn_seeded(f):
    a = f(1000, seed=5)
    assert a.dtype is wt.float32 and a.shape == (1000,)
    assert_same(f(1000, seed=5), a.numpy())
    assert not np.array_equal(f(1000, seed=6).numpy(), a.numpy())
    assert f(2, 3, seed=1).shape == (2, 3) and f((2, 3), seed=1).shape == (2, 3)
    assert f(0).shape == (0,)
    h = f(50, seed=5, dtype=wt.float16)
    assert h.dtype is wt.float16
    np.testing.assert_allclose(h.numpy(), a.numpy()[:50].astype(np.float16), rtol=1e-3, atol=1e-3)
    with pytest.raises(TypeError):
        f(3, dtype=wt.int32)


def test_rand_distribution():
    u = wt.rand(200_000, seed=11).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.std() - math.sqrt(1 / 12)) < 0.01
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert hist.min() > 18_000
    n = wt.randn(200_000, seed=12).numpy()
    assert np.isfinite(n).all()
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02
    assert 0.30 < np.mean(n > 0.5) < 0.32  # P(Z > 0.5) = 0.3085


def test_rand_unseeded_differs_and_manual_seed():
    assert not np.array_equal(wt.rand(64).numpy(), wt.rand(64).numpy())
    wt.manual_seed(3)
    a = wt.rand(64).numpy()
    wt.manual_seed(3)
    assert np.array_equal(a, wt.rand(64).numpy())


def test_randint():
    t = wt.randint(-5, 7, (100_000,), seed=1)
    assert t.dtype is wt.int32 and t.shape == (100_000,)
    a = t.numpy()
    assert a.min() == -5 and a.max() == 6
    counts = np.bincount(a + 5)
    assert counts.min() > 7_500
    assert_same(wt.randint(-5, 7, (100_000,), seed=1), a)
    b = wt.randint(10, size=(3, 4), seed=2).numpy()
    assert b.shape == (3, 4) and b.min() >= 0 and b.max() < 10
    big = wt.randint(-(2 ** 31), 2 ** 31 - 1, (1000,), seed=3).numpy()
    assert (big < 0).any() and (big > 0).any()
    assert wt.randint(0, 3, (5,), dtype=wt.float32).dtype is wt.float32
    with pytest.raises(ValueError):
        wt.randint(5, 5, (3,))
    with pytest.raises(TypeError):
        wt.randint(0, 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (7, 3), (2, 5, 6), (0, 3), (1, 1)])
def test_tril_triu(rng, dtype, shape):
    a = rand_np(rng, shape, dtype)
    x = wt.tensor(a)
    for d in (0, 1, -1, 3, -4):
        assert_same(wt.tril(x, d), np.tril(a, d))
        assert_same(wt.triu(x, diagonal=d), np.triu(a, d))
    with pytest.raises(ValueError):
        wt.tril(wt.zeros(3))


# ---------------------------------------------------------------- host transfer
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_transfer_round_trip(rng, dtype):
    a = rand_np(rng, (3, 4, 5), dtype, special=True)
    t = wt.tensor(a)
    out = t.numpy()
    assert out.dtype == dtype.np and out.flags.writeable and out.flags.c_contiguous
    assert_same(t, a)
    out[...] = 0  # the copy is ours: the tensor is unchanged
    assert_same(t, a)
    lst = t.tolist()
    assert isinstance(lst, list) and isinstance(lst[0][0], list)
    np.testing.assert_array_equal(np.array(lst, dtype.np), a)  # NaN-aware
    np.testing.assert_array_equal(np.asarray(t), a)
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), a.astype(np.float64))
    np.testing.assert_array_equal(asyncio.run(t.numpy_async()), a)


def test_float_bits_survive_round_trip():
    a = np.array([1e-40, -1e-45, -0.0, np.nan, np.inf, 3.4028235e38, 1.17549435e-38], np.float32)
    assert_same(wt.tensor(a).clone(), a)
    np.testing.assert_array_equal(wt.tensor(a).clone().numpy().view(np.uint32), a.view(np.uint32))
    h = np.array([6e-8, -6e-8, 1e-5, -0.0, np.nan, -np.inf, 65504], np.float16)
    np.testing.assert_array_equal(wt.tensor(h)[::1].clone().numpy().view(np.uint16), h.view(np.uint16))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_conversions(dtype):
    v = {wt.bool: True, wt.int32: -3, wt.uint32: 3000000000, wt.float16: 1.5, wt.float32: -0.25}[dtype]
    t = wt.tensor(np.array(v, dtype.np))
    assert t.item() == v and type(t.item()) is type(v)
    assert bool(t) == bool(v) and float(t) == float(v) and int(t) == int(v)
    one = t.reshape(1, 1)
    assert one.item() == v and bool(one) == bool(v)
    assert t.tolist() == v


def test_int_tensor_as_index():
    idx = wt.tensor(2)
    assert [10, 20, 30, 40][idx] == 30
    assert range(10)[wt.tensor(np.uint32(7))] == 7
    with pytest.raises(TypeError):
        [1, 2][wt.tensor(1.0)]


def test_many_element_scalar_conversions_raise():
    t = wt.tensor([1.0, 2.0])
    for f in (bool, float, int):
        with pytest.raises(RuntimeError):
            f(t)
    with pytest.raises(RuntimeError):
        t.item()
    with pytest.raises(RuntimeError):
        bool(wt.zeros(0))
    with pytest.raises(RuntimeError):
        wt.zeros(0).item()


def test_empty_transfer():
    for shape in ((0,), (3, 0), (0, 2, 5)):
        t = wt.zeros(shape, dtype=wt.int32)
        assert_same(t, np.zeros(shape, np.int32))
        assert t.tolist() == np.zeros(shape).tolist()


def test_len_iter_size():
    t = wt.tensor(np.arange(12).reshape(3, 4))
    assert len(t) == 3 and t.size() == (3, 4) and t.size(-1) == 4 and t.dim() == 2
    assert t.stride() == (4, 1) and t.element_size() == 4 and t.numel() == 12
    assert [r.tolist() for r in t] == np.arange(12).reshape(3, 4).tolist()
    with pytest.raises(TypeError):
        len(wt.tensor(1))
    with pytest.raises(TypeError):
        iter(wt.tensor(1)).__next__()
    with pytest.raises(IndexError):
        t.size(2)
    with pytest.raises(TypeError):
        wt.Tensor()


# ---------------------------------------------------------------- repr
@pytest.mark.parametrize("make, text", [
    (lambda: wt.tensor([1.0, 3.0, 5.0]), "tensor([1., 3., 5.])"),
    (lambda: wt.tensor([-1.0, 2.0]), "tensor([-1.,  2.])"),
    (lambda: wt.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
    (lambda: wt.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: wt.tensor([True, False]), "tensor([ True, False])"),
    (lambda: wt.tensor(3.0), "tensor(3.)"),
    (lambda: wt.tensor(-7), "tensor(-7)"),
    (lambda: wt.tensor(True), "tensor(True)"),
    (lambda: wt.tensor([]), "tensor([])"),
    (lambda: wt.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: wt.tensor([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
    (lambda: wt.tensor([1, 2], dtype=wt.uint32), "tensor([1, 2], dtype=wgpu_tensor.uint32)"),
    (lambda: wt.tensor([0.5, 2.0], dtype=wt.float16), "tensor([0.5000, 2.0000], dtype=wgpu_tensor.float16)"),
    (lambda: wt.tensor([np.nan, 1.0, np.inf]), "tensor([nan, 1., inf])"),
    (lambda: wt.tensor([np.nan, 1.5]), "tensor([   nan, 1.5000])"),
    (lambda: wt.tensor([1e-6, 1.0]), "tensor([1.0000e-06, 1.0000e+00])"),
])
def test_repr(make, text):
    t = make()
    assert repr(t) == text
    assert str(t) == text


def test_repr_of_views_and_long_tensors():
    t = wt.arange(12).reshape(3, 4)
    assert repr(t[:, 1]) == "tensor([1, 5, 9])"
    long = repr(wt.arange(5000))
    assert long == "tensor([   0,    1,    2,  ..., 4997, 4998, 4999])"
    long2 = repr(wt.arange(5000).reshape(50, 100))
    assert long2 == "tensor([   0,    1,    2,  ..., 4997, 4998, 4999], size=(50, 100))"


# ---------------------------------------------------------------- views and shape ops
def test_reshape_view_flatten(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x = wt.tensor(a)
    assert_same(x.reshape(6, 4), a.reshape(6, 4))
    assert_same(x.reshape((4, -1)), a.reshape(4, -1))
    assert_same(x.view(-1), a.reshape(-1))
    assert_same(x.view(24, 1), a.reshape(24, 1))
    assert_same(x.flatten(), a.reshape(-1))
    assert_same(x.flatten(1), a.reshape(2, 12))
    assert_same(x.flatten(0, 1), a.reshape(6, 4))
    assert_same(wt.tensor(2.0).flatten(), np.array([2.0], np.float32))
    assert_same(x.reshape(()), a) if a.size == 1 else None
    assert x.reshape(2, 12)._v._buf is x._v._buf  # a view, no copy
    with pytest.raises(RuntimeError):
        x.reshape(5, -1)
    with pytest.raises(RuntimeError):
        x.reshape(-1, -1)
    with pytest.raises(RuntimeError):
        x.view(7)
    with pytest.raises(RuntimeError):
        x.flatten(2, 0)


def test_view_of_non_contiguous_raises_but_reshape_copies(rng):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    x = wt.tensor(a)
    xt = x[:, ::2]
    assert not xt.is_contiguous()
    with pytest.raises(RuntimeError, match="reshape"):
        xt.view(-1)
    assert_same(xt.reshape(-1), a[:, ::2].reshape(-1))
    assert_same(x[1:3].view(12), a[1:3].reshape(12))


def test_unsqueeze_squeeze(rng):
    a = rng.integers(0, 9, (3, 1, 4)).astype(np.int32)
    x = wt.tensor(a)
    for d in (0, 1, 3, -1, -4):
        assert_same(x.unsqueeze(d), np.expand_dims(a, d))
    assert_same(x.squeeze(), a.squeeze())
    assert_same(x.squeeze(1), a.squeeze(1))
    assert_same(x.squeeze(0), a)  # not size 1: unchanged, as in PyTorch
    assert_same(x.squeeze((1,)), a.squeeze(1))
    assert_same(wt.tensor(5).unsqueeze(0), np.array([5], np.int32))
    assert_same(wt.tensor([5]).squeeze(), np.array(5, np.int32))
    with pytest.raises(IndexError):
        x.unsqueeze(4)
    with pytest.raises(IndexError):
        x.squeeze(3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_expand_repeat(rng, dtype):
    a = rand_np(rng, (3, 1), dtype)
    x = wt.tensor(a)
    assert_same(x.expand(3, 5), np.broadcast_to(a, (3, 5)))
    assert_same(x.expand(2, -1, 4), np.broadcast_to(a, (2, 3, 4)))
    assert_same(x.expand_as(wt.zeros(7, 3, 2)), np.broadcast_to(a, (7, 3, 2)))
    assert x.expand(3, 5)._v._buf is x._v._buf
    assert_same(x.repeat(2, 3), np.tile(a, (2, 3)))
    assert_same(x.repeat(2, 1, 2), np.tile(a, (2, 1, 2)))
    assert_same(x.repeat(0, 2), np.tile(a, (0, 2)))
    assert_same(x[:, 0].repeat(4), np.tile(a[:, 0], 4))
    with pytest.raises(RuntimeError):
        x.expand(4, 5)
    with pytest.raises(RuntimeError):
        x.expand(5)
    with pytest.raises(RuntimeError):
        x.repeat(2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clone_contiguous_is_a_copy(rng, dtype):
    a = rand_np(rng, (5, 6), dtype)
    x = wt.tensor(a)
    c = x.clone()
    assert c._v._buf is not x._v._buf
    assert_same(c, a)
    assert x.contiguous() is x
    cv = x[:, 1::2].contiguous()
    assert cv.is_contiguous()
    assert_same(cv, a[:, 1::2])


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_to_dtype(rng, src, dst):
    a = rand_np(rng, (4, 67), src)
    x = wt.tensor(a)
    y = x.to(dst)
    assert y.dtype is dst
    if src.kind in "if" and dst is wt.uint32:
        # negative -> uint32: numpy wraps ints (the GPU too) but floats are undefined in C
        a = np.abs(a)
        x, y = wt.tensor(a), wt.tensor(a).to(dst)
    assert_same(y, a.astype(dst.np))
    # the same through a strided view
    assert_same(x[1::2, ::3].to(dst), a[1::2, ::3].astype(dst.np))
    assert x.to(src) is x
    copy = x.to(src, copy=True)
    assert copy._v._buf is not x._v._buf
    assert_same(copy, a)


def test_float_to_int_truncates_and_to_bool_is_nonzero():
    a = np.array([2.7, -2.7, 0.5, -0.5, 0.0, -0.0, 100.0, np.nan, np.inf], np.float32)
    x = wt.tensor(a)
    assert_same(x[:7].int(), a[:7].astype(np.int32))
    assert_same(x.bool(), a.astype(bool))
    assert_same(x.half(), a.astype(np.float16))
    assert_same(wt.tensor([0, 3, -1]).bool(), np.array([False, True, True]))
    assert_same(wt.tensor([True, False]).float(), np.array([1.0, 0.0], np.float32))
    assert x.type() is wt.float32 and x.type(wt.int32).dtype is wt.int32
    assert x.to("float64").dtype is wt.float32        # 64-bit requests give 32 bits (with a warning)
    with pytest.raises(TypeError):
        x.to("complex64")


def test_float32_to_float16_rounds_and_overflows_like_numpy():
    a = np.array([1e6, -1e6, 70000, 65519, 65520, 1e-9, 0.1, 1 / 3, 6e-8, 3e-8], np.float32)
    with np.errstate(over="ignore"):
        expected = a.astype(np.float16)
    assert_same(wt.tensor(a).half(), expected)


# ---------------------------------------------------------------- indexing
KEYS = [
    0, -1, 2, slice(None), slice(1, 3), slice(None, None, 2), slice(1, None, 3), slice(5, 2),
    slice(-3, None), slice(0, 100), (slice(None), 0), (0, 1), (-1, -1, -1), (None,), (None, 0),
    (slice(None), None, 1), Ellipsis, (Ellipsis, 0), (0, Ellipsis), (1, Ellipsis, 2),
    (slice(None, None, 2), slice(1, None, 2), 0), (slice(None), slice(None), slice(None, None, 3)),
    (Ellipsis, None), (None, Ellipsis, None), (slice(2, 2), 0),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
def test_basic_indexing(rng, key, dtype):
    a = rand_np(rng, (4, 5, 6), dtype)
    x = wt.tensor(a)
    v = x[key]
    assert v._v._buf is x._v._buf  # basic indexing makes views
    assert_same(v, a[key])


def test_chained_indexing_and_views_of_views(rng):
    a = rng.standard_normal((6, 7, 8)).astype(np.float32)
    x = wt.tensor(a)
    assert_same(x[1:][:, ::2][..., 3][2], a[1:][:, ::2][..., 3][2])
    assert_same(x[:, 0].unsqueeze(1).expand(6, 3, 8)[::2], np.broadcast_to(a[:, 0][:, None], (6, 3, 8))[::2])
    assert_same(x[2:5, 1].reshape(-1), a[2:5, 1].reshape(-1))
    assert_same(x[None, 1, ..., None], a[None, 1, ..., None])


def test_bad_indexing():
    x = wt.zeros(3, 4)
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError):
        x[0, -5]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x[..., ...]
    with pytest.raises(ValueError):
        x[::-1]
    with pytest.raises(IndexError):                     # as PyTorch
        x["a"]
    with pytest.raises(IndexError):
        wt.tensor(1.0)[0]


@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), data=st.data())
def test_random_slicing_matches_numpy(shape, data):
    a = np.arange(math.prod(shape), dtype=np.int32).reshape(shape)
    key = []
    for s in shape[:data.draw(st.integers(0, len(shape)))]:
        if s and data.draw(st.booleans()):
            key.append(data.draw(st.integers(-s, s - 1)))
        else:
            key.append(slice(data.draw(st.none() | st.integers(-6, 6)), data.draw(st.none() | st.integers(-6, 6)),
                             data.draw(st.none() | st.integers(1, 3))))
        if data.draw(st.integers(0, 5)) == 0:
            key.append(None)
    key = tuple(key)
    assert_same(wt.tensor(a)[key], a[key])
    # and the view as an operand of an op (strided kernel addressing)
    assert_same(wt.tensor(a)[key] + 1, a[key] + 1)

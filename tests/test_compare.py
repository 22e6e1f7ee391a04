"""Compare and logical ops against numpy: every dtype pair, scalars on either
side, broadcasting, strided views, NaN, and the errors."""
import operator

import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from conftest import DTYPES, NUMERIC, assert_same, no_gpu_work, rand_np

CMP = [  # (name, Python operator, numpy reference)
    ("gt", operator.gt, np.greater), ("ge", operator.ge, np.greater_equal),
    ("lt", operator.lt, np.less), ("le", operator.le, np.less_equal),
    ("eq", operator.eq, np.equal), ("ne", operator.ne, np.not_equal),
]
CMP_IDS = [c[0] for c in CMP]


@pytest.mark.parametrize("name, op, ref", CMP, ids=CMP_IDS)
@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_compare_tensor_tensor_all_dtype_pairs(rng, name, op, ref, da, db):
    a = rand_np(rng, (3, 67), da, special=True)
    b = rand_np(rng, (3, 67), db, special=True)
    x, y = wt.tensor(a), wt.tensor(b)
    expected = ref(a, b)
    assert_same(op(x, y), expected)
    assert_same(getattr(x, name)(y), expected)
    assert_same(getattr(wt, name)(x, y), expected)


@pytest.mark.parametrize("name, op, ref", CMP, ids=CMP_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [True, False, 0, 3, -2, 2.5, -0.0, float("nan"), float("inf"), 0.1,
                                    3_000_000_000, -(2 ** 31)])
def test_compare_tensor_scalar_and_reflected(rng, name, op, ref, dtype, scalar):
    a = rand_np(rng, (130,), dtype, special=True)
    x = wt.tensor(a)
    if dtype is wt.float16 and isinstance(scalar, float):
        s_ref = np.float16(scalar)  # numpy and PyTorch round the scalar to the tensor's float16
    else:
        s_ref = scalar
    with np.errstate(over="ignore"):  # numpy casting 3e9 to float16 for its own compare
        expected, reflected = ref(a, s_ref), ref(s_ref, a)
    assert_same(op(x, scalar), expected)
    assert_same(op(scalar, x), reflected)  # reflected: `2 < x` is x.__gt__(2)
    assert_same(getattr(wt, name)(scalar, x), reflected)


def test_float16_tensor_against_python_float():
    h = wt.tensor(np.array([0.1, 0.2, 1 / 3, 65504, -np.inf], np.float16))
    assert_same(h == 0.1, np.array([True, False, False, False, False]))
    assert_same(h >= 1e6, np.zeros(5, bool))  # 1e6 rounds to inf in float16, as numpy
    assert_same(h <= 65504.0, np.array([True, True, True, True, True]))


def test_int32_against_uint32_is_exact():
    u = np.array([0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 7, 3_000_000_000], np.uint32)
    i = np.array([-(2 ** 31), -1, 2 ** 31 - 1, 2 ** 31 - 1, -1, 7, 5], np.int32)
    x, y = wt.tensor(u), wt.tensor(i)
    for name, op, ref in CMP:
        assert_same(op(x, y), ref(u, i))
        assert_same(op(y, x), ref(i, u))
        assert_same(op(x[:, None], y), ref(u[:, None], i))
    assert_same(x > -1, u > -1)
    assert_same(y < 3_000_000_000, np.ones(7, bool))
    assert_same(y == 2 ** 32 - 1, np.zeros(7, bool))
    with pytest.raises(OverflowError):
        x > 2 ** 40
    with pytest.raises(OverflowError):
        y < -(2 ** 40)


def test_nan_compares_false_except_ne():
    nan = float("nan")
    for dtype in (wt.float16, wt.float32):
        x = wt.tensor([nan, nan, 1.0, -np.inf], dtype=dtype)
        y = wt.tensor([nan, 1.0, nan, nan], dtype=dtype)
        for name, op, ref in CMP:
            expected = np.array([name == "ne"] * 4)
            assert_same(op(x, y), expected)
            assert_same(op(x[:2], nan), expected[:2])
            assert_same(op(nan, x[2:]), expected[2:])
        assert_same(x != x, np.array([True, True, False, False]))
        assert_same(x == x, np.array([False, False, True, True]))
    # NaN in a float tensor compared with an int tensor
    assert_same(wt.tensor([nan, 2.0]) >= wt.tensor([0, 2]), np.array([False, True]))


def test_signed_zero_and_infinities():
    x = wt.tensor([0.0, -0.0, np.inf, -np.inf])
    assert_same(x == 0.0, np.array([True, True, False, False]))
    assert_same(x == -0.0, np.array([True, True, False, False]))
    assert_same(x < 0, np.array([False, False, False, True]))
    assert_same(x >= np.inf, np.array([False, False, True, False]))


@pytest.mark.parametrize("sa, sb", [
    ((4, 1), (1, 5)), ((3, 1, 5), (4, 1)), ((), (7,)), ((6,), ()), ((2, 3, 4), (4,)), ((1,), (0,)),
    ((5, 0), (1, 1)), ((1, 1, 1), (2, 1, 3)), ((257,), (1,)),
])
@pytest.mark.parametrize("name, op, ref", CMP[::2], ids=CMP_IDS[::2])
def test_compare_broadcasting(rng, sa, sb, name, op, ref):
    a = rand_np(rng, sa, wt.float32, special=True)
    b = rand_np(rng, sb, wt.int32)
    assert_same(op(wt.tensor(a), wt.tensor(b)), ref(a, b))
    assert_same(op(wt.tensor(b), wt.tensor(a)), ref(b, a))


def test_compare_strided_views(rng):
    a = rand_np(rng, (9, 10, 11), wt.float32)
    b = rand_np(rng, (9, 10, 11), wt.int32)
    x, y = wt.tensor(a), wt.tensor(b)
    assert_same(x[:, 0, 1::2] > y[:, ::2, 3], a[:, 0, 1::2] > b[:, ::2, 3])
    assert_same(x[::2, 0, ::4].unsqueeze(1) >= y[2, ::3, ::4], a[::2, 0, ::4][:, None] >= b[2, ::3, ::4])
    assert_same(x[1::3, ::2, 5:] <= y[0, ::2, :6], a[1::3, ::2, 5:] <= b[0, ::2, :6])
    assert_same(x[..., 2].expand(4, 9, 10) != 0.5, np.broadcast_to(a[..., 2], (4, 9, 10)) != 0.5)
    assert_same(x[None, 3] == y[3][:, None, 4], a[None, 3] == b[3][:, None, 4])


def test_non_broadcastable_shapes_name_both():
    x, y = wt.zeros(5), wt.zeros(3)
    for name, op, _ in CMP:
        with pytest.raises(ValueError, match=r"\(5,\).*\(3,\)"):
            op(x, y)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        wt.zeros(2, 3) < wt.zeros(4, 3)
    with pytest.raises(ValueError, match=r"\(5,\).*\(3,\)"):
        wt.tensor([True] * 5) & wt.tensor([False] * 3)


def test_unsupported_operands():
    x = wt.tensor([1.0, 2.0])
    for bad in ("a", 1j, None, [1, 2], object()):
        with pytest.raises(TypeError):
            x < bad
    with pytest.raises(TypeError):
        wt.gt(1, 2)


# ---------------------------------------------------------------- logical ops
LOGIC = [("logical_and", operator.and_, np.logical_and), ("logical_or", operator.or_, np.logical_or),
         ("logical_xor", operator.xor, np.logical_xor)]


@pytest.mark.parametrize("name, op, ref", LOGIC, ids=[n for n, _, _ in LOGIC])
@pytest.mark.parametrize("sa, sb", [((200,), (200,)), ((3, 1), (1, 7)), ((), (5,)), ((0,), (1,)),
                                    ((4, 5), (5,)), ((1025,), ())])
def test_logical_binary(rng, name, op, ref, sa, sb):
    a, b = rng.random(sa) < 0.5, rng.random(sb) < 0.5
    x, y = wt.tensor(a), wt.tensor(b)
    expected = ref(a, b)
    assert_same(op(x, y), expected)
    assert_same(getattr(x, name)(y), expected)
    assert_same(getattr(wt, name)(x, y), expected)
    for s in (True, False):
        assert_same(op(x, s), ref(a, s))
        assert_same(op(s, x), ref(s, a))  # __rand__ etc.


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 255, 257, 1025])
def test_logical_not(rng, n):
    a = rng.random(n) < 0.5
    x = wt.tensor(a)
    assert_same(~x, ~a)
    assert_same(x.logical_not(), ~a)
    assert_same(wt.logical_not(x), ~a)
    assert_same(~x[1::2], ~a[1::2])
    assert_same(~~x, a)


def test_masks_compose(rng):
    a = rng.standard_normal(1000).astype(np.float32)
    x = wt.tensor(a)
    m = (x > -0.5) & (x < 0.5) | ~(x != x) & (x > 2.0) ^ (x < -1.5)
    assert_same(m, (a > -0.5) & (a < 0.5) | ~(a != a) & (a > 2.0) ^ (a < -1.5))


@pytest.mark.parametrize("dtype", NUMERIC)
def test_logical_ops_on_non_bool_follow_pytorch(dtype):
    # (Was test_logical_ops_need_bool: logical ops on non-bool tensors now follow
    # PyTorch, nonzero is true; & | ^ ~ on non-bool are the bitwise ops, which refuse
    # floats. tests/test_math.py covers both in full.)
    a = np.array([1, 0, 2], dtype.np)
    x = wt.tensor(a)
    m = wt.tensor([True, False, True])
    for name, op, _ in LOGIC:
        if dtype.kind == "f":
            with pytest.raises(TypeError, match="bool"):
                op(x, x)
            with pytest.raises(TypeError, match="bool"):
                op(m, x)
        else:
            assert_same(op(x, x), getattr(np, "bitwise_" + name.split("_")[1])(a, a))
        assert_same(getattr(wt, name)(x, m), getattr(np, name)(a, np.array([True, False, True])))
    assert_same(m & 1, np.array([1, 0, 1], np.int32))
    with pytest.raises(TypeError):
        1.5 | m
    if dtype.kind == "f":
        with pytest.raises(TypeError):
            ~x
    else:
        assert_same(~x, np.invert(a))
    assert_same(wt.logical_not(x), np.logical_not(a))


def test_failed_ops_leave_tensors_intact(rng):
    a = rng.standard_normal(300).astype(np.float32)
    x = wt.tensor(a)
    m = x > 0
    z7, m3, i2 = wt.zeros(7), wt.tensor([True] * 3), wt.tensor([1, 2])
    before = wt.memory_stats()["in_use_bytes"]
    # allocs: buffers the failed op may take before it raises (none: even a scalar
    # that does not fit is checked before the output is allocated)
    for bad, exc, pattern, allocs in ((lambda: x > z7, ValueError, "do not broadcast", 0),
                                      (lambda: x & m, TypeError, "needs bool tensors", 0),
                                      (lambda: ~x, TypeError, "bitwise_not needs a bool or integer", 0),
                                      (lambda: x < "a", TypeError, "unsupported scalar", 0),
                                      (lambda: m & m3, ValueError, "do not broadcast", 0),
                                      (lambda: i2 < 2 ** 40, OverflowError, "does not fit int32", 0)):
        with no_gpu_work(allocs), pytest.raises(exc, match=pattern) as ei:
            bad()
        assert type(ei.value) is exc
        del ei  # its traceback holds the failed op's frames
    assert wt.memory_stats()["in_use_bytes"] == before  # nothing allocated by the failures
    assert_same(x, a)
    assert_same(m, a > 0)
    assert_same(x <= 0, a <= 0)


# ---------------------------------------------------------------- properties
@st.composite
def _operands(draw):
    nd = draw(st.integers(0, 3))
    shape = draw(st.lists(st.integers(1, 9), min_size=nd, max_size=nd))
    sa = [s if draw(st.integers(0, 3)) else 1 for s in shape]
    sb = [s if draw(st.integers(0, 3)) else 1 for s in shape][draw(st.integers(0, nd)):]
    return (tuple(sa), draw(st.sampled_from(DTYPES)), tuple(sb), draw(st.sampled_from(DTYPES)),
            draw(st.sampled_from(range(len(CMP)))), draw(st.integers(0, 2 ** 32 - 1)))


@given(_operands())
def test_compare_random_broadcasts_and_dtypes(args):
    sa, da, sb, db, k, seed = args
    rng = np.random.default_rng(seed)
    a, b = rand_np(rng, sa, da, special=True), rand_np(rng, sb, db, special=True)
    name, op, ref = CMP[k]
    assert_same(op(wt.tensor(a), wt.tensor(b)), ref(a, b))

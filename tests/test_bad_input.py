"""Bad input everywhere (issue 7, part 1).

Two halves:
- property tests (hypothesis) throw random shapes, dtypes, scalars, broadcast
  patterns, empty tensors and views (offset, strided, expanded) at the public ops
  and compare with numpy;
- a table of bad calls, one row per documented error (README, "Errors and reliability"): each must
  raise the documented exception type with a message naming what was wrong, leave
  every tensor made before it intact (compared with copies taken before) and, where
  promised, record nothing at all on the device: no dispatch, clear, copy, upload,
  read or allocation (the device's command log stays empty); the rows that read
  one small value first record exactly that one read.
"""
import asyncio
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import wgpu_tensor as wt
from wgpu_tensor import dtypes as D
from wgpu_tensor.runtime import get_device

from conftest import DTYPES, NUMERIC

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ----------------------------------------------------------------- strategies
dtypes_st = st.sampled_from(DTYPES)
numeric_st = st.sampled_from(NUMERIC)
shape_st = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)


def _np_data(draw, shape, dtype):
    seed = draw(st.integers(0, 2 ** 31))
    rng = np.random.default_rng(seed)
    if dtype is wt.bool:
        return rng.random(shape) < 0.5
    if dtype is wt.int32:
        return rng.integers(-6, 7, shape).astype(np.int32)
    if dtype is wt.uint32:
        return rng.integers(0, 13, shape).astype(np.uint32)
    return np.asarray(rng.integers(-12, 13, shape) / 4, dtype.np)


@st.composite
def operand(draw, shape, dtype):
    """(numpy array, Tensor) of ``shape``, as a plain tensor, an offset slice, a
    strided slice of a bigger tensor or an expanded (stride 0) view."""
    kind = draw(st.sampled_from(["plain", "offset", "strided", "expanded"]))
    if kind == "plain" or len(shape) == 0:
        a = _np_data(draw, shape, dtype)
        return a, wt.tensor(a, dtype=dtype)
    if kind == "offset":
        big = _np_data(draw, (shape[0] + 2,) + shape[1:], dtype)
        return big[2:], wt.tensor(big, dtype=dtype)[2:]
    if kind == "strided":
        big = _np_data(draw, shape[:-1] + (shape[-1] * 2 + 1,), dtype)
        return big[..., 1::2], wt.tensor(big, dtype=dtype)[..., 1::2]
    # expanded: size-1 dims broadcast to the shape
    small_shape = tuple(1 if draw(st.booleans()) else s for s in shape)
    small = _np_data(draw, small_shape, dtype)
    return np.broadcast_to(small, shape), wt.tensor(small, dtype=dtype).expand(*shape)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: each dim of one is the full size, 1 or absent."""
    full = draw(shape_st)
    def side():
        s = tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in full)
        return s[draw(st.integers(0, len(s))):]
    return side(), side()


def _expected(t):
    return t.dtype.np


def _same(t, expected):
    expected = np.asarray(expected)
    got = t.numpy()
    assert t.shape == expected.shape, (t.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got, expected)


def _wt_dtype(npdt):
    return D.from_numpy_dtype(np.dtype(npdt))


# ----------------------------------------------------------------- properties
CMP = {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal,
       "eq": np.equal, "ne": np.not_equal}
ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


@SETTINGS
@given(st.data(), broadcast_pair(), dtypes_st, dtypes_st,
       st.sampled_from(sorted(CMP) + sorted(ARITH) + ["div"]))
def test_binary_ops_match_numpy(data, shapes, da, db, op):
    a, ta = data.draw(operand(shapes[0], da))
    b, tb = data.draw(operand(shapes[1], db))
    pd = D.promote(da, db)
    if op in CMP:
        cmp_dt = np.float32 if pd.kind == "f" else np.int64
        want = CMP[op](a.astype(cmp_dt), b.astype(cmp_dt))
    elif op in ARITH:
        out = D.int32 if pd is D.bool_ else pd
        if out is D.bool_ or (op == "sub" and out is D.bool_):
            return
        with np.errstate(all="ignore"):
            want = ARITH[op](a.astype(np.float32 if out.kind == "f" else np.int64),
                             b.astype(np.float32 if out.kind == "f" else np.int64))
            want = want.astype(out.np) if out.kind == "f" else (want & 0xFFFFFFFF).astype(np.uint32).view(np.int32).astype(out.np) if out is D.int32 else (want & 0xFFFFFFFF).astype(np.uint32)
    else:
        out = pd if pd.kind == "f" else D.float32
        with np.errstate(all="ignore"):
            want = (a.astype(np.float32) / b.astype(np.float32)).astype(out.np)
    got = getattr(wt, op)(ta, tb)
    if op == "div" and out is D.float16:
        _same(got, want)  # f32 division rounded once to float16: numpy's bits
    elif op == "div":
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, equal_nan=True)
        assert got.shape == want.shape
    else:
        _same(got, want)
    # the inputs are untouched
    _same(ta, a)
    _same(tb, b)


SCALARS = st.one_of(st.booleans(), st.integers(-5, 5), st.sampled_from([0.5, -2.25, 3.0, 0.0]))


@SETTINGS
@given(st.data(), shape_st, numeric_st, SCALARS, st.sampled_from(sorted(CMP)), st.booleans())
def test_compare_with_scalar_matches_numpy(data, shape, dt, s, op, reflected):
    a, ta = data.draw(operand(shape, dt))
    if dt is wt.uint32 and isinstance(s, int) and not isinstance(s, bool) and s < 0:
        s = -s
    sv = np.float32(s) if isinstance(s, float) else s
    if reflected:
        got = {"gt": lambda: s > ta, "ge": lambda: s >= ta, "lt": lambda: s < ta, "le": lambda: s <= ta,
               "eq": lambda: ta == s, "ne": lambda: ta != s}[op]()
        want = {"gt": np.less, "ge": np.less_equal, "lt": np.greater, "le": np.greater_equal,
                "eq": np.equal, "ne": np.not_equal}[op](a.astype(np.float64), float(sv))
    else:
        got = getattr(ta, op)(s)
        want = CMP[op](a.astype(np.float64), float(np.float16(sv)) if dt is wt.float16 else float(sv))
    _same(got, np.asarray(want))


@SETTINGS
@given(st.data(), broadcast_pair(), dtypes_st)
def test_masked_select_and_index_match_numpy(data, shapes, dt):
    a, ta = data.draw(operand(shapes[0], dt))
    m, tm = data.draw(operand(shapes[1], wt.bool))
    full = np.broadcast_shapes(a.shape, m.shape)
    ab, mb = np.broadcast_to(a, full), np.broadcast_to(m, full)
    want = ab[mb]
    sel = ta.masked_select(tm, fill_value=0 if dt is not wt.bool else False)
    assert sel.shape == (int(np.prod(full)),)
    assert sel.count.item() == want.size
    got = sel.numpy()
    np.testing.assert_array_equal(got[:want.size], want)
    assert not got[want.size:].any()
    _same(asyncio.run(ta.masked_select_async(tm)), want)
    if m.shape == a.shape[:m.ndim] and m.ndim:
        _same(ta[tm], a[m])


@SETTINGS
@given(st.data(), shape_st, dtypes_st)
def test_nonzero_matches_numpy(data, shape, dt):
    a, ta = data.draw(operand(shape, dt))
    want = np.argwhere(a).astype(np.int32)
    if ta.ndim == 0:
        want = want.reshape(int(bool(a)), 0)
    nz = asyncio.run(ta.nonzero_async())
    _same(nz, want)


@SETTINGS
@given(st.data(), broadcast_pair(), dtypes_st, st.sampled_from(["where", "masked_fill", "masked_scatter"]))
def test_where_fill_scatter_match_numpy(data, shapes, dt, op):
    a, ta = data.draw(operand(shapes[0], dt))
    m, tm = data.draw(operand(shapes[1], wt.bool))
    full = np.broadcast_shapes(a.shape, m.shape)
    ab, mb = np.broadcast_to(a, full), np.broadcast_to(m, full)
    if op == "where":
        b, tb = data.draw(operand(full, dt))
        _same(wt.where(tm, ta, tb), np.where(mb, ab, b))
    elif op == "masked_fill":
        v = True if dt is wt.bool else 3
        _same(ta.masked_fill(tm, v), np.where(mb, np.asarray(v).astype(a.dtype), ab))
    else:
        n = int(np.prod(full))
        src = _np_data(data.draw, (n,), dt)
        want = ab.copy()
        want[mb] = src[:int(mb.sum())]
        _same(ta.masked_scatter(tm, wt.tensor(src, dtype=dt)), want)
    _same(ta, a)
    _same(tm, m)


REDUCE = ["sum", "any", "all", "count_nonzero", "amax", "amin"]


@SETTINGS
@given(st.data(), st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), dtypes_st,
       st.sampled_from(REDUCE), st.booleans())
def test_reductions_match_numpy(data, shape, dt, op, keepdim):
    a, ta = data.draw(operand(shape, dt))
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    if op == "sum":
        acc = np.float32 if dt.kind == "f" else np.uint32 if dt is wt.uint32 else np.int64
        want = a.astype(acc).sum(axis=dim, keepdims=keepdim)
        want = want.astype(dt.np if dt.kind in "fu" else np.int32)
        got = ta.sum(dim, keepdim)
    elif op in ("any", "all"):
        want = getattr(np, op)(a, axis=dim, keepdims=keepdim)
        got = getattr(ta, op)(dim, keepdim)
    elif op == "count_nonzero":
        want = np.asarray(np.count_nonzero(a, axis=dim)).astype(np.int32)
        got = ta.count_nonzero(dim)
    else:
        if dt is wt.bool:
            return
        want = getattr(np, op)(a, axis=dim, keepdims=keepdim)
        got = getattr(ta, op)(dim, keepdim)
    _same(got, np.asarray(want))


@SETTINGS
@given(st.data(), st.lists(st.integers(1, 6), min_size=1, max_size=2).map(tuple), numeric_st,
       st.booleans())
def test_sort_kthvalue_isin_match_numpy(data, shape, dt, descending):
    a, ta = data.draw(operand(shape, dt))
    v, _ = ta.sort(-1, descending)
    want = np.sort(a, axis=-1)
    _same(v, want[..., ::-1] if descending else want)
    k = data.draw(st.integers(1, shape[-1]))
    _same(ta.kthvalue(k).values, np.sort(a, axis=-1)[..., k - 1])
    test = _np_data(data.draw, (data.draw(st.integers(0, 5)),), dt)
    _same(wt.isin(ta, wt.tensor(test, dtype=dt)), np.isin(a, test))


@SETTINGS
@given(st.data(), st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), dtypes_st)
def test_index_ops_match_numpy(data, shape, dt):
    a, ta = data.draw(operand(shape, dt))
    d = data.draw(st.integers(0, len(shape) - 1))
    idx = np.asarray(data.draw(st.lists(st.integers(0, shape[d] - 1), min_size=0, max_size=4)),
                     np.int32)
    ti = wt.tensor(idx, dtype=wt.int32)
    _same(ta.index_select(d, ti), np.take(a, idx, axis=d))
    if d == 0:
        _same(ta[ti], a[idx])
    gshape = tuple(data.draw(st.integers(1, s)) for s in shape)
    gi = np.asarray(data.draw(st.lists(st.integers(0, shape[d] - 1), min_size=int(np.prod(gshape)),
                                       max_size=int(np.prod(gshape)))), np.int32).reshape(gshape)
    tgi = wt.tensor(gi, dtype=wt.int32)
    want = np.take_along_axis(a[tuple(slice(0, s) if k != d else slice(None) for k, s in enumerate(gshape))],
                              gi, axis=d)
    _same(ta.gather(d, tgi), want)
    _same(ta, a)


@SETTINGS
@given(st.data(), shape_st, dtypes_st, dtypes_st)
def test_cast_and_clone_of_views(data, shape, src, dst):
    a, ta = data.draw(operand(shape, src))
    got = ta.to(dst)
    if dst is wt.bool:
        want = a != 0
    elif src.kind == "f" and dst.kind in "iu":
        want = np.trunc(a.astype(np.float32))
        if dst is wt.uint32:
            want = np.clip(want, 0, None)
        want = want.astype(dst.np)
    else:
        want = a.astype(dst.np)
    _same(got, want)
    _same(ta.clone(), a)


# ----------------------------------------------------------------- bad input table
def _f(*shape, dt=wt.float32):
    return wt.tensor(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) % 7, dtype=dt)


def _ctx():
    """Inputs shared by the rows, made before the call so that its GPU work can be
    counted: x float32 (2, 3), xi/xu int32/uint32 (2, 3), m bool (2, 3), m5 bool (5,),
    v float32 (4,), idx int32 (2,), z6i/z5/z2 spare tensors, e0 an empty float32 tensor,
    g a leaf requiring grad."""
    return {"x": _f(2, 3), "xi": _f(2, 3, dt=wt.int32), "xu": _f(2, 3, dt=wt.uint32),
            "m": _f(2, 3) > 2, "m5": _f(5) > 2, "v": _f(4), "idx": wt.tensor([0, 1]),
            "z6i": _f(6, dt=wt.int32), "z5": _f(5), "z2": _f(2), "e0": wt.zeros(0), "g": _grad_leaf()}


def _grad_leaf():
    return wt.tensor([1.0, 2.0, 3.0], requires_grad=True)


def _setitem(t, key, value):
    t[key] = value


# (id, call, exception, message pattern, no GPU work promised)
BAD = [
    # dtypes
    ("mask_not_bool", lambda c: c["x"].masked_select(c["xi"]), TypeError, "expected BoolTensor", True),
    ("mask_not_tensor", lambda c: c["x"].masked_select([True]), TypeError, "mask must be", True),
    ("where_cond_not_bool", lambda c: wt.where(c["x"], c["x"], 0), TypeError, "condition must be a bool", True),
    ("logical_on_float", lambda c: c["x"] & c["m"], TypeError, "needs bool tensors", True),
    ("logical_not_float", lambda c: ~c["x"], TypeError, "bitwise_not needs a bool or integer", True),
    ("neg_bool", lambda c: -c["m"], TypeError, "negation of a bool", True),
    ("abs_bool", lambda c: c["m"].abs(), TypeError, "abs of a bool", True),
    ("masked_fill_int_mask", lambda c: c["x"].masked_fill(c["xi"], 1.0), TypeError, "BoolTensor", True),
    ("masked_fill_string", lambda c: c["x"].masked_fill(c["m"], "a"), TypeError, "unsupported scalar", True),
    ("masked_fill_value_2d", lambda c: c["x"].masked_fill(c["m"], c["x"]), ValueError,
     "0-dimensional value tensor", True),
    ("masked_scatter_dtype", lambda c: c["x"].masked_scatter(c["m"], c["xi"]), TypeError, "same dtypes", True),
    ("masked_scatter_not_tensor", lambda c: c["x"].masked_scatter(c["m"], 1.0), TypeError, "source must be", True),
    ("select_out_dtype", lambda c: c["x"].masked_select(c["m"], out=c["z6i"]), TypeError,
     "out has dtype", True),
    ("select_out_shape", lambda c: c["x"].masked_select(c["m"], out=c["z5"]), ValueError,
     r"out has shape", True),
    ("mean_of_int", lambda c: c["xi"].mean(), TypeError, "mean", True),
    ("scatter_src_dtype", lambda c: c["x"].scatter(0, c["idx"][None].expand(1, 2), c["xi"]), TypeError,
     "dtype", True),
    ("index_float_tensor", lambda c: c["x"][c["v"]], IndexError, "tensors used as indices", True),
    ("gather_float_index", lambda c: c["x"].gather(0, c["x"]), IndexError, "Expected dtype int32", True),
    ("requires_grad_int", lambda c: wt.tensor([1, 2], requires_grad=True), RuntimeError,
     "floating point", True),
    ("tensor_of_strings", lambda c: wt.tensor(["a"]), TypeError, "unsupported", True),
    ("tensor_complex", lambda c: wt.tensor(np.ones(2, np.complex64)), TypeError, "unsupported dtype", True),
    ("unsupported_dtype_arg", lambda c: wt.zeros(3, dtype="complex64"), TypeError, "unsupported dtype", True),
    ("arange_bool", lambda c: wt.arange(3, dtype=wt.bool), TypeError, "bool is not a valid dtype", True),
    ("rand_int_dtype", lambda c: wt.rand(3, dtype=wt.int32), TypeError, "float32 or float16", True),
    # in-place ops check the result fits before any GPU work
    ("float_result_into_int", lambda c: c["xi"].add_(0.5), RuntimeError, "can't be cast", True),
    ("inplace_shape_grows", lambda c: c["v"][:1].add_(c["v"]), RuntimeError,
     "doesn't match the broadcast shape", True),
    # shapes
    ("mask_no_broadcast", lambda c: c["x"].masked_select(c["m5"]), ValueError, r"\(2, 3\) and \(5,\)", True),
    ("binary_no_broadcast", lambda c: c["x"] + c["v"], ValueError, "do not broadcast", True),
    ("where_no_broadcast", lambda c: wt.where(c["m"], c["x"], c["v"]), ValueError, "do not broadcast", True),
    ("seed002_range", lambda c: (c["v"][:3] >= c["v"]), ValueError, "do not broadcast", True),
    ("inplace_mask_grows", lambda c: c["v"][:3].masked_fill_(c["m"], 0.0), ValueError, "broadcast", True),
    ("index_mask_shape", lambda c: c["x"][:, :1][c["m"]], IndexError, r"shape of the mask \[2, 3\]", True),
    ("index_mask_too_many_dims", lambda c: c["v"][c["m"]], IndexError, "too many indices", True),
    ("reshape_bad", lambda c: c["x"].reshape(4, 2), RuntimeError, "invalid for input of size 6", True),
    ("view_noncontig", lambda c: c["x"][:, ::2].view(-1), RuntimeError, "view size is not compatible", True),
    ("expand_bad", lambda c: c["x"].expand(3, 3), RuntimeError, "expanded size", True),
    ("negative_shape", lambda c: wt.zeros(2, -1), ValueError, "negative dimension", True),
    ("gather_ndim", lambda c: c["x"].gather(0, c["idx"]), RuntimeError, "same number of dimensions", True),
    ("index_select_2d_index", lambda c: c["x"].index_select(0, c["idx"][None]), IndexError,
     "supposed to be a vector", True),
    ("dim_out_of_range", lambda c: c["x"].sum(dim=2), IndexError, "Dimension out of range", True),
    ("dim_repeated", lambda c: c["x"].sum(dim=(0, 0)), RuntimeError, "appears multiple times", True),
    ("amax_empty_all", lambda c: c["e0"].amax(), RuntimeError, "numel\\(\\) == 0", True),
    ("tril_1d", lambda c: wt.tril(c["v"]), ValueError, "at least 2 dimensions", True),
    ("slice_step_negative", lambda c: c["v"][::-1], ValueError, "step must be greater than zero", True),
    ("basic_index_oob", lambda c: c["x"][2], IndexError, "out of bounds for dimension 0 with size 2", True),
    ("too_many_indices", lambda c: c["x"][0, 0, 0], IndexError, "too many indices", True),
    ("item_of_many", lambda c: c["x"].item(), RuntimeError, "cannot be converted to Scalar", True),
    ("setitem_value_shape", lambda c: _setitem(c["x"], (0,), c["v"]), RuntimeError, "cannot be broadcast", True),
    # ranges
    ("kthvalue_k_big", lambda c: c["x"].kthvalue(4), IndexError, "k out of range", True),
    ("kthvalue_k_zero", lambda c: c["x"].kthvalue(0), RuntimeError, "k out of range", True),
    ("int_overflow_tensor", lambda c: wt.tensor([2 ** 40]), OverflowError, "does not fit int32", True),
    ("int64_overflow_numpy", lambda c: wt.from_numpy(np.array([2 ** 33])), OverflowError, "does not fit", True),
    ("scalar_overflow_op", lambda c: c["xi"] + 2 ** 40, OverflowError, "does not fit", True),
    ("isin_overflow", lambda c: wt.isin(c["xi"], 2 ** 40), OverflowError, "does not fit", True),
    ("fill_overflow", lambda c: c["xi"].masked_fill(c["m"], 2 ** 40), OverflowError, "does not fit int32", True),
    ("randint_empty_range", lambda c: wt.randint(3, 3, (2,)), ValueError, "must be greater than low", True),
    ("arange_step_zero", lambda c: wt.arange(0, 3, 0), ValueError, "step must be nonzero", True),
    ("sync_mode_bad", lambda c: wt.set_sync_debug_mode("loud"), ValueError, "sync debug mode", True),
    ("device_other", lambda c: wt.zeros(2, device="tpu"), ValueError, "one WebGPU adapter", True),
    ("too_big_for_adapter", lambda c: wt.empty(get_device().max_buffer // 4 + 1), MemoryError,
     "max-buffer-size", True),
    # checks that need one read of the data (a GPU min/max or a count): tensors untouched
    ("index_oob", lambda c: c["x"][wt.tensor([0, 2])], IndexError,
     "index 2 is out of bounds for dimension 0 with size 2", False),
    ("index_put_oob", lambda c: _setitem(c["x"], wt.tensor([5]), 1.0), IndexError, "out of bounds", False),
    ("gather_oob", lambda c: c["x"].gather(1, wt.tensor([[3]])), IndexError, "out of bounds", False),
    ("scatter_oob", lambda c: c["x"].scatter_(1, wt.tensor([[3]]), 1.0), IndexError, "out of bounds", False),
    ("index_select_negative", lambda c: c["x"].index_select(0, wt.tensor([-1])), IndexError,
     "out of bounds", False),
    ("masked_scatter_short_source", lambda c: c["x"].masked_scatter(c["m"], c["z2"]), ValueError,
     "at least as many elements", False),
    ("mask_assign_wrong_count", lambda c: _setitem(c["x"], c["m"], c["z2"]), ValueError,
     "shape mismatch", False),
    # autograd (the forward op in the call is GPU work; backward itself raises first)
    ("backward_non_scalar", lambda c: (c["g"] * 2).backward(), RuntimeError,
     "only for scalar outputs", False),
    ("backward_no_grad", lambda c: c["x"].sum().backward(), RuntimeError, "does not require grad", False),
    ("inplace_on_leaf", lambda c: c["g"].add_(1.0), RuntimeError, "leaf", True),
]


@pytest.mark.parametrize("row", [b[0] for b in BAD])
def test_bad_input_raises_and_leaves_tensors_intact(row):
    call, exc, pattern, no_gpu = next(b[1:] for b in BAD if b[0] == row)
    c = _ctx()
    before = {k: t.numpy().copy() for k, t in c.items()}
    dev = get_device()
    dev.flush()
    counts = dev.counters()
    with dev.record_commands() as log:
        with pytest.raises(exc, match=pattern):
            call(c)
    after = dev.counters()
    for k, t in c.items():
        np.testing.assert_array_equal(t.numpy(), before[k], err_msg=k)
    # the device still works
    _same(c["x"] + 1, before["x"] + 1)
    if no_gpu:
        assert log == [], f"the check ran after GPU work was recorded: {log[:4]}"
        assert after == counts, (counts, after)
    elif pattern not in ("only for scalar outputs", "does not require grad"):
        # a check that reads one small value (a GPU min/max or a count), then raises
        reads = [e for e in log if e.kind == "read"]
        assert len(reads) == 1 and reads[0].params["nbytes"] <= 8, reads
        assert after["read"] - counts["read"] == 1


def test_bad_input_table_is_documented():
    """Every row id above appears in the README's error table."""
    import pathlib
    doc = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    missing = [b[0] for b in BAD if f"`{b[0]}`" not in doc]
    assert not missing, missing

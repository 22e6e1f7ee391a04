"""masked_fill(_), masked_scatter(_) and x[mask] = value: against numpy, on both scan paths."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, assert_same, no_gpu_work, rand_np

SIZES = [0, 1, 3, 5, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 12345]


def _np_scatter(x, m, src):
    out = np.array(np.broadcast_to(x, np.broadcast_shapes(x.shape, m.shape)))
    full = np.broadcast_to(m, out.shape)
    out[full] = src.reshape(-1)[:full.sum()]
    return out


# ---------------------------------------------------------------- masked_fill
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 5, 255, 256, 257, 4099])
def test_masked_fill_dtypes_and_sizes(rng, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    m = rng.random(n) < 0.5
    value = {wt.bool: True, wt.int32: -7, wt.uint32: 7, wt.float16: 2.5, wt.float32: -0.125}[dtype]
    expected = a.copy()
    expected[m] = value
    assert_same(wt.tensor(a).masked_fill(wt.tensor(m), value), expected)
    t = wt.tensor(a)
    assert t.masked_fill_(wt.tensor(m), value) is t
    assert_same(t, expected)


def test_masked_fill_value_is_cast_to_the_tensors_dtype():
    m = wt.tensor([True, False, True])
    assert_same(wt.tensor([1, 2, 3]).masked_fill(m, 2.7), np.array([2, 2, 2], np.int32))
    assert_same(wt.tensor([1, 2, 3]).masked_fill(m, -2.7), np.array([-2, 2, -2], np.int32))
    assert_same(wt.tensor([1.5, 2.5, 3.5]).masked_fill(m, 4), np.array([4, 2.5, 4], np.float32))
    assert_same(wt.tensor([False, False, True]).masked_fill(m, 0.5), np.array([True, False, True]))
    assert_same(wt.tensor([1.0, 2.0, 3.0]).masked_fill(m, float("nan")),
                np.array([np.nan, 2, np.nan], np.float32))
    assert_same(wt.tensor([1.0, 2.0, 3.0], dtype=wt.float16).masked_fill(m, 0.1),
                np.array([0.1, 2, 0.1], np.float16))
    # A 0-d tensor value, of another dtype: cast, as PyTorch does.
    assert_same(wt.tensor([1.0, 2.0, 3.0]).masked_fill(m, wt.tensor(9)), np.array([9, 2, 9], np.float32))
    with pytest.raises(ValueError, match="0-dimensional value tensor"):
        wt.tensor([1.0, 2.0, 3.0]).masked_fill(m, wt.tensor([9.0]))
    with pytest.raises(OverflowError):
        wt.tensor([1, 2, 3], dtype=wt.uint32).masked_fill(m, -1)
    with pytest.raises(TypeError):
        wt.tensor([1, 2, 3]).masked_fill(m, "x")


def test_masked_fill_broadcasting_and_views(rng):
    a = rng.standard_normal((4, 6, 5)).astype(np.float32)
    m = rng.random((6, 1)) < 0.5
    assert_same(wt.tensor(a).masked_fill(wt.tensor(m), 0.0), np.where(m, np.float32(0), a))
    # out of place, the mask may grow the result (PyTorch broadcasts both)
    m2 = rng.random((3, 4, 6, 5)) < 0.5
    assert_same(wt.tensor(a).masked_fill(wt.tensor(m2), 1.0), np.where(m2, np.float32(1), a))
    # in place the target cannot grow
    with pytest.raises(ValueError, match="in-place"):
        wt.tensor(a).masked_fill_(wt.tensor(m2), 1.0)
    # targets that are views: strided, offset, transposed-like
    base = wt.tensor(a)
    view = base[1:, ::2, 1:4]
    mv = rng.random(view.shape) < 0.5
    view.masked_fill_(wt.tensor(mv), -1.0)
    expected = a.copy()
    sub = expected[1:, ::2, 1:4]
    sub[mv] = -1.0
    assert_same(base, expected)
    # bool target views: neighbouring bytes stay untouched
    b = rng.random((9, 7)) < 0.5
    bt = wt.tensor(b)
    mb = rng.random((9, 3)) < 0.5
    bt[:, 2:5].masked_fill_(wt.tensor(mb), True)
    b[:, 2:5][mb] = True
    assert_same(bt, b)


def test_masked_fill_rejects_bad_masks_before_gpu_work():
    x = wt.tensor([1.0, 2.0, 3.0])
    ver = x.numpy().copy()
    mi, m2 = wt.tensor([1, 0, 1]), wt.tensor([True, False])
    with no_gpu_work():
        with pytest.raises(TypeError, match="BoolTensor"):
            x.masked_fill(x, 0.0)
        with pytest.raises(TypeError, match="BoolTensor"):
            x.masked_fill_(mi, 0.0)
        with pytest.raises(ValueError, match="broadcast"):
            x.masked_fill(m2, 0.0)
        with pytest.raises(TypeError, match="mask must be a wgpu_tensor.Tensor"):
            x.masked_fill([True, False, True], 0.0)
    assert_same(x, ver)


# ---------------------------------------------------------------- masked_scatter
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("frac", [0.0, 0.5, 1.0])
def test_masked_scatter_sizes(scan_path, n, frac):
    rng = np.random.default_rng(n + int(frac * 10))
    a = rng.standard_normal(n).astype(np.float32)
    m = rng.random(n) < frac
    src = rng.standard_normal(n + 3).astype(np.float32)
    assert_same(wt.tensor(a).masked_scatter(wt.tensor(m), wt.tensor(src)), _np_scatter(a, m, src))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 257, 4097])
def test_masked_scatter_dtypes(scan_path, rng, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    m = rng.random(n) < 0.5
    src = rand_np(rng, (n,), dtype, special=True)
    assert_same(wt.tensor(a).masked_scatter(wt.tensor(m), wt.tensor(src)), _np_scatter(a, m, src))
    t = wt.tensor(a)
    assert t.masked_scatter_(wt.tensor(m), wt.tensor(src)) is t
    assert_same(t, _np_scatter(a, m, src))


def test_masked_scatter_consumes_source_in_row_major_order(rng):
    a = np.zeros((3, 4), np.int32)
    m = rng.random((3, 4)) < 0.5
    src = np.arange(100, 124, dtype=np.int32).reshape(2, 3, 4)  # any shape: read flat
    assert_same(wt.tensor(a).masked_scatter(wt.tensor(m), wt.tensor(src)), _np_scatter(a, m, src))
    # broadcast mask and strided source view
    m1 = rng.random((1, 4)) < 0.5
    s = wt.tensor(src)[:, ::2, 1:]
    assert_same(wt.tensor(a).masked_scatter(wt.tensor(m1), s), _np_scatter(a, m1, src[:, ::2, 1:]))


def test_masked_scatter_syncs_only_when_the_source_may_be_short(rng):
    a = rng.standard_normal(1000).astype(np.float32)
    m = rng.random(1000) < 0.3
    x, mt = wt.tensor(a), wt.tensor(m)
    # A source with as many elements as the mask has positions: no read at all,
    # so masked_select's fixed-size result feeds masked_scatter without a sync.
    sel = wt.tensor(a * 2).masked_select(mt)
    before = wt.sync_count()
    with_sel = x.masked_scatter(mt, sel)
    assert wt.sync_count() == before
    assert_same(with_sel, np.where(m, a * 2, a).astype(np.float32))
    # A shorter source: the count is read back once to check it.
    short = wt.tensor(rng.standard_normal(int(m.sum())).astype(np.float32))
    before = wt.sync_count()
    res = x.masked_scatter(mt, short)
    assert wt.sync_count() == before + 1
    assert_same(res, _np_scatter(a, m, short.numpy()))


def test_masked_scatter_bad_input_leaves_target_untouched(rng):
    a = rng.standard_normal(50).astype(np.float32)
    m = rng.random(50) < 0.5
    x = wt.tensor(a)
    with pytest.raises(ValueError, match="at least as many elements as ones in mask"):
        x.masked_scatter_(wt.tensor(m), wt.zeros(int(m.sum()) - 1))
    with pytest.raises(TypeError, match="same dtypes"):
        x.masked_scatter_(wt.tensor(m), wt.zeros(50, dtype=wt.int32))
    with pytest.raises(TypeError, match="BoolTensor"):
        x.masked_scatter_(wt.tensor(m.astype(np.int32)), wt.zeros(50))
    with pytest.raises(TypeError, match="source must be a Tensor"):
        x.masked_scatter_(wt.tensor(m), [1.0] * 50)
    with pytest.raises(ValueError, match="in-place"):
        x.masked_scatter_(wt.tensor(np.ones((2, 50), bool)), wt.zeros(100))
    assert_same(x, a)


def test_masked_scatter_segments_and_source_windows(scan_path):
    """A 64 KiB pretend binding: the target runs as several segments and the
    source is read through several windows; 9 workgroups per dimension force 2-D grids."""
    rng = np.random.default_rng(3)
    with override_limits(max_binding=65536, max_groups=9):
        for n in (16383, 16385, 50001):
            for dtype in (wt.float32, wt.float16, wt.bool):
                a = rand_np(rng, (n,), dtype)
                m = rng.random(n) < 0.7
                src = rand_np(rng, (n + 5,), dtype)
                assert_same(wt.tensor(a).masked_scatter(wt.tensor(m), wt.tensor(src)), _np_scatter(a, m, src))


@given(shape=st.lists(st.integers(0, 7), min_size=0, max_size=4), frac=st.floats(0, 1),
       seed=st.integers(0, 2 ** 16), bdims=st.integers(0, 4))
def test_masked_scatter_hypothesis(shape, frac, seed, bdims):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    a = rng.integers(-100, 100, shape).astype(np.int32)
    m = rng.random(tuple(1 if i < bdims else s for i, s in enumerate(shape))) < frac
    src = rng.integers(1000, 2000, max(1, a.size)).astype(np.int32)
    assert_same(wt.tensor(a).masked_scatter(wt.tensor(m), wt.tensor(src)), _np_scatter(a, m, src))


# ---------------------------------------------------------------- x[mask] = value
@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_mask_scalar_and_tensor(rng, dtype):
    a = rand_np(rng, (6, 5), dtype)
    m = rng.random((6, 5)) < 0.5
    v = rand_np(rng, (int(m.sum()),), dtype)
    x = wt.tensor(a)
    x[wt.tensor(m)] = wt.tensor(v)
    expected = a.copy()
    expected[m] = v
    assert_same(x, expected)
    scalar = {wt.bool: False, wt.int32: 3, wt.uint32: 3, wt.float16: 1.5, wt.float32: 1.5}[dtype]
    x[wt.tensor(m)] = scalar
    expected[m] = scalar
    assert_same(x, expected)


def test_setitem_mask_casts_and_broadcasts_like_numpy(rng):
    # seed 003: int32 values into a float32 target
    dest = wt.zeros((2, 2))
    cond = wt.tensor([[True, False], [False, True]])
    src = wt.tensor([[1, 2], [3, 4]])
    dest[cond] = src[cond]
    assert_same(dest, np.array([[1, 0], [0, 4]], np.float32))
    # a one-element tensor fills; a mask over the leading dims selects rows
    a = rng.standard_normal((5, 3)).astype(np.float32)
    rows = np.array([True, False, True, True, False])
    x = wt.tensor(a)
    x[wt.tensor(rows)] = wt.tensor([7.0])
    expected = a.copy()
    expected[rows] = 7.0
    assert_same(x, expected)
    x[wt.tensor(rows)] = wt.tensor([1.0, 2.0, 3.0])          # broadcast to [3, 3]
    expected[rows] = np.array([1.0, 2.0, 3.0], np.float32)
    assert_same(x, expected)
    vals = rng.standard_normal((3, 3)).astype(np.float32)
    x[wt.tensor(rows)] = wt.tensor(vals)
    expected[rows] = vals
    assert_same(x, expected)
    x[wt.tensor(rows)] = 0
    expected[rows] = 0
    assert_same(x, expected)
    # a list of bools is a mask too, as in PyTorch
    x[[True, False, False, False, True]] = -1.0
    expected[[0, 4]] = -1.0
    assert_same(x, expected)


def test_setitem_mask_errors_leave_target_untouched(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    x = wt.tensor(a)
    m = wt.tensor(np.array([[True, False, True]] * 4))
    with pytest.raises(ValueError, match="shape mismatch"):
        x[m] = wt.tensor([1.0, 2.0, 3.0])                    # 8 selected, 3 values
    with pytest.raises(IndexError, match="does not match"):
        x[wt.tensor([[True], [False], [True], [False]])] = 1.0
    with pytest.raises(IndexError, match="too many indices"):
        x[wt.tensor(np.ones((4, 3, 1), bool))] = 1.0
    assert_same(x, a)


def test_setitem_scalar_mask_needs_no_sync(rng):
    a = rng.standard_normal(100).astype(np.float32)
    x = wt.tensor(a)
    m = x > 0
    one = wt.tensor(1.0)
    before = wt.sync_count()
    x[m] = 0.0
    assert wt.sync_count() == before
    assert_same(x, np.where(a > 0, np.float32(0), a))
    before = wt.sync_count()
    x[m] = one
    assert wt.sync_count() == before
    assert_same(x, np.where(a > 0, np.float32(1), a))
    assert 0 < (a > 0).sum() < a.size  # both sides of the mask are checked

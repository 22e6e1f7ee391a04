"""sort, kthvalue and isin against numpy: every dtype, the sizes that break GPU code,
each dim of 2-D/3-D inputs, views, NaN/inf/-0.0, the multi-launch paths."""
import numpy as np
import pytest

try:
    from hypothesis import given, strategies as st
except ImportError:  # pragma: no cover
    given = None

import wgpu_tensor as wt
from wgpu_tensor.ops import sort as S
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, no_gpu_work, rand_np

SORT_SIZES = [0, 1, 2, 3, 5, 255, 256, 257, 1023, 1025, 4099]


def _bits(a):
    """Exact bit patterns (so -0.0 != 0.0 and NaN payloads count)."""
    a = np.ascontiguousarray(a)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[a.dtype.itemsize])


def ref_order(a, axis=-1, descending=False):
    """Stable order of a along axis as PyTorch sorts it: NaN largest, -0.0 == 0.0."""
    a = np.moveaxis(np.asarray(a), axis, -1)
    out = np.empty(a.shape, np.int64)
    for idx in np.ndindex(a.shape[:-1]):
        row = a[idx].astype(np.float64)
        nan = np.isnan(row)
        k = np.where(nan, 0.0, row)
        pos = np.arange(row.size)
        out[idx] = np.lexsort((pos, -k, ~nan)) if descending else np.lexsort((pos, k, nan))
    return np.moveaxis(out, -1, axis)


def check_sort(x_np, t, dim=-1, descending=False):
    res = wt.sort(t, dim=dim, descending=descending)
    values, indices = res
    assert res.values is values and res.indices is indices
    assert values.dtype is t.dtype and indices.dtype is wt.int32
    assert values.shape == x_np.shape and indices.shape == x_np.shape
    order = ref_order(x_np, dim, descending)
    got_i = indices.numpy()
    # The sort is stable: the indices are exactly numpy's stable order.
    np.testing.assert_array_equal(got_i, order)
    # Values are the input's elements, bit for bit (-0.0 and NaN payloads kept).
    np.testing.assert_array_equal(_bits(values.numpy()), _bits(np.take_along_axis(x_np, order, dim)))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", SORT_SIZES)
def test_sort_1d(rng, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    t = wt.tensor(a)
    check_sort(a, t)
    check_sort(a, t, descending=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(7, 5), (3, 300), (33, 129), (4, 5, 6), (2, 3, 257)])
def test_sort_each_dim(rng, dtype, shape):
    a = rand_np(rng, shape, dtype, special=True)
    t = wt.tensor(a)
    for d in range(-len(shape), len(shape)):
        check_sort(a, t, dim=d, descending=bool(d % 2))


@pytest.mark.parametrize("dtype", [wt.float32, wt.int32, wt.float16], ids=lambda d: d.name)
@pytest.mark.parametrize("n", [4097, 10000, 70001])
def test_sort_long_rows(rng, dtype, n):
    # Rows longer than a tile run the global steps (sort_step) and merges.
    a = rand_np(rng, (n,), dtype, special=True)
    if dtype is wt.float32:
        a = a + rng.integers(0, 1000, n).astype(np.float32)  # many distinct values
    t = wt.tensor(a)
    check_sort(a, t)
    check_sort(a, t, descending=True)


@pytest.mark.parametrize("group_log, tile", [(3, 256), (4, 128), (3, 2048)])
def test_sort_other_group_and_tile_sizes(rng, monkeypatch, group_log, tile):
    # Smaller tiles put more stages in sort_step and merge on small data; group_log 3
    # is the other register group size.
    monkeypatch.setattr(S, "GROUP_LOG", group_log)
    monkeypatch.setattr(S, "TILE", tile)
    for shape, d in [((3000,), 0), ((5, 700), 1), ((600, 3), 0), ((9, 33), 1)]:
        a = rand_np(rng, shape, wt.float32, special=True)
        check_sort(a, wt.tensor(a), dim=d)
        check_sort(a, wt.tensor(a), dim=d, descending=True)


def test_sort_views(rng):
    base = rand_np(rng, (40, 90), wt.float32, special=True)
    t = wt.tensor(base)
    check_sort(base[3:, 5::3], t[3:, 5::3])                       # offset + strided
    check_sort(base[3:, 5::3], t[3:, 5::3], dim=0, descending=True)
    row = rand_np(rng, (1, 77), wt.int32)
    check_sort(np.broadcast_to(row, (6, 77)), wt.tensor(row).expand(6, 77))   # expanded
    check_sort(np.broadcast_to(row, (6, 77)), wt.tensor(row).expand(6, 77), dim=0)
    col = rand_np(rng, (50, 1), wt.float16, special=True)
    check_sort(np.broadcast_to(col, (50, 4)), wt.tensor(col).expand(50, 4), dim=0)
    b = rand_np(rng, (3001,), wt.bool)
    check_sort(b[1::2], wt.tensor(b)[1::2], descending=True)


def test_sort_special_floats():
    a = np.array([np.nan, 1.0, -0.0, np.inf, 0.0, -np.inf, -1.0, np.nan, 0.0, -0.0, 3.5],
                 np.float32)
    a[7] = np.frombuffer(np.uint32(0xFFC00001).tobytes(), np.float32)[0]  # a negative NaN
    for dt in (np.float32, np.float16):
        x = a.astype(dt)
        check_sort(x, wt.tensor(x))
        check_sort(x, wt.tensor(x), descending=True)
    # Denormals keep their order and bits.
    d = np.array([1e-45, -1e-45, 0.0, 1e-40, -1e-40, -0.0], np.float32)
    check_sort(d, wt.tensor(d))


def test_sort_int_extremes():
    a = np.array([2 ** 31 - 1, -2 ** 31, 0, -1, 1, -2 ** 31, 2 ** 31 - 1], np.int32)
    check_sort(a, wt.tensor(a))
    u = np.array([2 ** 32 - 1, 0, 2 ** 31, 2 ** 31 - 1, 1, 2 ** 32 - 1], np.uint32)
    check_sort(u, wt.tensor(u), descending=True)


def test_sort_0d_and_empty():
    t = wt.tensor(2.5)
    for dim in (0, -1):
        v, i = wt.sort(t, dim=dim)
        assert v.shape == () and v.item() == 2.5 and i.shape == () and i.item() == 0
    with pytest.raises(IndexError):
        wt.sort(t, dim=1)
    for shape, dim in [((0,), 0), ((3, 0), 1), ((3, 0), 0), ((0, 4), 1), ((2, 0, 3), 2)]:
        v, i = wt.sort(wt.zeros(shape), dim=dim)
        assert v.shape == shape and i.shape == shape and i.dtype is wt.int32


def test_sort_bad_input_before_gpu_work():
    t = wt.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    with no_gpu_work():
        with pytest.raises(IndexError, match="Dimension out of range"):
            wt.sort(t, dim=2)
        with pytest.raises(IndexError, match="Dimension out of range"):
            t.sort(dim=-3)
        with pytest.raises(TypeError):
            wt.sort([3, 1, 2])


def test_sort_method_and_wt_function(rng):
    a = rand_np(rng, (4, 9), wt.int32)
    t = wt.tensor(a)
    v1, i1 = t.sort(0, True)
    v2, i2 = wt.sort(t, dim=0, descending=True)
    np.testing.assert_array_equal(v1.numpy(), v2.numpy())
    np.testing.assert_array_equal(i1.numpy(), i2.numpy())


def test_sort_many_row_groups(rng):
    # A 4 KiB binding holds 4 rows of 100 pairs: 37 rows run as 10 groups, each bound
    # from its own (aligned) offset.
    a = rand_np(rng, (37, 100), wt.float32, special=True)
    t = wt.tensor(a)
    with override_limits(max_binding=4096):
        check_sort(a, t)
        check_sort(a, t, descending=True)
        v, i = wt.kthvalue(t, 17)
        np.testing.assert_array_equal(v.numpy(), np.sort(a, axis=1)[:, 16])
        # Along dim 0 the sorted rows are x's columns: 8 rows of 300, one per group.
        c = rand_np(rng, (300, 8), wt.int32)
        check_sort(c, wt.tensor(c), dim=0, descending=True)
        check_kth(c, wt.tensor(c), 123, dim=0, keepdim=True)
        h = rand_np(rng, (3, 37, 50), wt.float16, special=True)
        check_kth(h, wt.tensor(h), 2, dim=1)
        # Moving x's layout to rows and back goes box by box: slabs of 40 x 6 (two per
        # box), and a 300 x 8 slab split into boxes of a few rows.
        m = rand_np(rng, (5, 40, 6), wt.bool)
        check_sort(m, wt.tensor(m), dim=1, descending=True)
        w = rand_np(rng, (2, 300, 9), wt.float32, special=True)
        check_sort(w, wt.tensor(w), dim=1)


def test_sort_row_over_one_binding_raises():
    t = wt.tensor(np.arange(600, dtype=np.float32))
    one = wt.tensor([1.0])
    with override_limits(max_binding=4096), no_gpu_work():
        with pytest.raises(ValueError, match="storage binding"):
            wt.sort(t)
        with pytest.raises(ValueError, match="storage binding"):
            wt.kthvalue(t, 3)
        with pytest.raises(ValueError, match="storage binding"):
            wt.isin(one, t)
    with override_limits(max_binding=4096):
        # A short row of the same tensor still sorts.
        v, _ = wt.sort(t.reshape(60, 10), dim=1)
    np.testing.assert_array_equal(v.numpy(), np.arange(600, dtype=np.float32).reshape(60, 10))


def test_sort_more_than_max_groups(rng):
    # 3 workgroups per dimension: at most 9 per launch, so tiles, global steps and the
    # elementwise passes all split into many launches and 2-D grids.
    a = rand_np(rng, (70, 300), wt.float32, special=True)
    b = rand_np(rng, (20000,), wt.int32)
    with override_limits(max_groups=3):
        check_sort(a, wt.tensor(a), dim=1)
        check_sort(a, wt.tensor(a), dim=0, descending=True)
        check_sort(b, wt.tensor(b))


# ---------------------------------------------------------------- kthvalue
def check_kth(a, t, k, dim=-1, keepdim=False):
    v, i = wt.kthvalue(t, k, dim=dim, keepdim=keepdim)
    s = np.sort(a.astype(np.float64) if a.dtype == np.bool_ else a, axis=dim)
    exp = np.take(s, [k - 1], axis=dim)
    if not keepdim:
        exp = np.squeeze(exp, axis=dim)
    assert v.dtype is t.dtype and i.dtype is wt.int32
    assert v.shape == exp.shape and i.shape == exp.shape
    np.testing.assert_array_equal(v.numpy().astype(exp.dtype), exp)
    # Each index points at an element equal to the value (NaN == NaN).
    idx = i.numpy()
    picked = np.take_along_axis(a, idx if keepdim else np.expand_dims(idx, dim), dim)
    picked = picked if keepdim else np.squeeze(picked, dim)
    np.testing.assert_array_equal(picked, v.numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_kthvalue(rng, dtype):
    for shape in [(1,), (5,), (257,), (6, 33), (4, 5, 7)]:
        a = rand_np(rng, shape, dtype, special=True)
        t = wt.tensor(a)
        for dim in range(len(shape)):
            n = shape[dim]
            for k in sorted({1, n, (n + 1) // 2}):
                check_kth(a, t, k, dim, keepdim=bool(k % 2))


def test_kthvalue_nan_is_largest():
    a = np.array([[np.nan, 1.0, 2.0], [3.0, np.nan, np.nan]], np.float32)
    v, i = wt.kthvalue(wt.tensor(a), 2)
    np.testing.assert_array_equal(v.numpy(), [2.0, np.nan])
    assert i.numpy()[0] == 2 and i.numpy()[1] in (1, 2)
    v, _ = wt.kthvalue(wt.tensor(a), 3)
    assert np.isnan(v.numpy()).all()


def test_kthvalue_views_and_long_rows(rng):
    a = rand_np(rng, (30, 5000), wt.float32)
    a += rng.integers(0, 100, a.shape).astype(np.float32)
    t = wt.tensor(a)
    check_kth(a[2:, 7::2], t[2:, 7::2], 1000)
    check_kth(a[:, ::500], t[:, ::500], 12, dim=0, keepdim=True)


def test_kthvalue_0d_and_errors():
    t = wt.tensor(7)
    v, i = wt.kthvalue(t, 1)
    assert v.shape == () and v.item() == 7 and i.item() == 0
    v, i = wt.kthvalue(t, 1, dim=0, keepdim=True)
    assert v.shape == ()
    x = wt.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    z30 = wt.zeros((3, 0))
    with no_gpu_work():
        for k, dim in [(0, 1), (5, 1), (4, 0), (-1, 0)]:
            with pytest.raises(RuntimeError, match=f"kthvalue\\(\\): selected number k out of range "
                                                   f"for dimension {dim}"):
                wt.kthvalue(x, k, dim=dim)
            with pytest.raises(IndexError):  # also an IndexError
                x.kthvalue(k, dim)
        with pytest.raises(RuntimeError, match="out of range for dimension 0"):
            wt.kthvalue(t, 2)
        with pytest.raises(IndexError, match="Dimension out of range"):
            wt.kthvalue(x, 1, dim=2)
        with pytest.raises(IndexError, match="non-zero size"):
            wt.kthvalue(z30, 1)
        with pytest.raises(TypeError):
            wt.kthvalue(x, 1.5)
    v, i = wt.kthvalue(wt.zeros((0, 5)), 2, dim=1)
    assert v.shape == (0,) and i.shape == (0,)


# ---------------------------------------------------------------- isin
def check_isin(e_np, t_np, e, t, invert=False):
    got = wt.isin(e, t, invert=invert)
    exp = np.isin(e_np, t_np, invert=invert)
    assert got.dtype is wt.bool and got.shape == np.shape(e_np)
    np.testing.assert_array_equal(got.numpy(), exp)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n, m", [(0, 5), (1, 1), (5, 3), (257, 40), (4099, 1), (1000, 12000)])
def test_isin(rng, dtype, n, m):
    e_np = rand_np(rng, (n,), dtype, special=True)
    t_np = rand_np(rng, (m,), dtype, special=True)
    if dtype.kind == "f":  # NaN is never in (numpy agrees: NaN != NaN)
        t_np[: min(m, 3)] = np.nan
    e, t = wt.tensor(e_np), wt.tensor(t_np)
    check_isin(e_np, t_np, e, t)
    check_isin(e_np, t_np, e, t, invert=True)


def test_isin_large_test_set(rng):
    e_np = rng.integers(-10 ** 6, 10 ** 6, (300, 70)).astype(np.int32)
    t_np = rng.integers(-10 ** 6, 10 ** 6, 20000).astype(np.int32)
    check_isin(e_np, t_np, wt.tensor(e_np), wt.tensor(t_np))
    f_np = (rng.standard_normal(50000) * 100).round(1).astype(np.float32)
    g_np = (rng.standard_normal(15000) * 100).round(1).astype(np.float32)
    check_isin(f_np, g_np, wt.tensor(f_np), wt.tensor(g_np), invert=True)


def test_isin_special_floats():
    e = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.5, 2.0], np.float32)
    t = np.array([-0.0, np.nan, -np.inf, 2.0], np.float32)
    check_isin(e, t, wt.tensor(e), wt.tensor(t))
    check_isin(e, t, wt.tensor(e), wt.tensor(t), invert=True)
    check_isin(e.astype(np.float16), t, wt.tensor(e.astype(np.float16)), wt.tensor(t))


def test_isin_mixed_dtypes():
    ints = np.array([1, 2, 3, -4, 70000], np.int32)
    floats = np.array([2.0, 3.5, -4.0, 70000.0], np.float32)
    check_isin(ints, floats, wt.tensor(ints), wt.tensor(floats))          # -> float32
    check_isin(floats, ints, wt.tensor(floats), wt.tensor(ints))
    # int vs float16 compares in float16 (70000 -> inf, 2049 rounds to 2048), as PyTorch.
    h = np.array([2048.0, 3.0], np.float16)
    got = wt.isin(wt.tensor(np.array([2049, 3, 70000], np.int32)), wt.tensor(h))
    np.testing.assert_array_equal(got.numpy(), [True, True, False])
    b = np.array([True, False, True])
    check_isin(b, np.array([1], np.int32), wt.tensor(b), wt.tensor(np.array([1], np.int32)))
    check_isin(b, np.array([0.0], np.float32), wt.tensor(b), wt.tensor(np.array([0.0], np.float32)))
    # int32 against uint32: exact, as PyTorch's int64 promotion (no wrap-around).
    u = np.array([1, 2, 2 ** 32 - 1, 2 ** 31], np.uint32)
    i = np.array([-1, 2, -2 ** 31, 7], np.int32)
    got = wt.isin(wt.tensor(u), wt.tensor(i))
    np.testing.assert_array_equal(got.numpy(), [False, True, False, False])
    got = wt.isin(wt.tensor(i), wt.tensor(u), invert=True)
    np.testing.assert_array_equal(got.numpy(), [True, False, True, True])


def test_isin_scalars_and_lists():
    x = wt.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(wt.isin(x, 3).numpy(), [[False, False], [True, False]])
    np.testing.assert_array_equal(wt.isin(x, 3, invert=True).numpy(), [[True, True], [False, True]])
    np.testing.assert_array_equal(wt.isin(x, 3.0).numpy(), [[False, False], [True, False]])
    np.testing.assert_array_equal(wt.isin(x, 2.5).numpy(), [[False] * 2] * 2)
    np.testing.assert_array_equal(wt.isin(x, [4, 1, 9]).numpy(), [[True, False], [False, True]])
    np.testing.assert_array_equal(wt.isin(x, []).numpy(), [[False] * 2] * 2)
    np.testing.assert_array_equal(wt.isin(x, [], invert=True).numpy(), [[True] * 2] * 2)
    r = wt.isin(3, x)
    assert r.shape == () and r.dtype is wt.bool and r.item() is True
    assert wt.isin(5, x).item() is False and wt.isin(5, x, invert=True).item() is True
    assert wt.isin(2 ** 31 + 1, wt.tensor([1, 2])).item() is False
    f = wt.tensor([0.5, float("nan")])
    np.testing.assert_array_equal(wt.isin(f, float("nan")).numpy(), [False, False])
    np.testing.assert_array_equal(wt.isin(f, 0.5).numpy(), [True, False])
    np.testing.assert_array_equal(wt.isin(f, np.float32(0.5)).numpy(), [True, False])
    assert wt.isin(np.int64(2), wt.tensor([1, 2])).item() is True
    u = wt.tensor(np.array([0, 4294967295], np.uint32))
    np.testing.assert_array_equal(wt.isin(u, -1).numpy(), [False, False])
    np.testing.assert_array_equal(wt.isin(u, 4294967295).numpy(), [False, True])


def test_isin_views(rng):
    base = rand_np(rng, (30, 40), wt.int32)
    test = rand_np(rng, (1, 9), wt.int32)
    e, t = wt.tensor(base), wt.tensor(test)
    check_isin(base[2:, 1::3], test, e[2:, 1::3], t)
    check_isin(base, np.broadcast_to(test, (4, 9)), e, t.expand(4, 9))
    check_isin(base[::2, 5], test[0, ::2], e[::2, 5], t[0, ::2])


def test_isin_errors():
    one = wt.tensor([1])
    with no_gpu_work():
        with pytest.raises(TypeError):
            wt.isin(1, 2)
        with pytest.raises(TypeError):
            wt.isin(one, "a")
        with pytest.raises(TypeError):
            wt.isin([1, 2], one)
        with pytest.raises(OverflowError, match="does not fit"):
            wt.isin(one, 2 ** 40)


def test_isin_multi_launch(rng):
    e_np = rand_np(rng, (5000,), wt.int32)
    t_np = rand_np(rng, (7,), wt.int32)
    e, t = wt.tensor(e_np), wt.tensor(t_np)
    with override_limits(max_binding=4096, max_groups=3):
        check_isin(e_np, t_np, e, t)
        check_isin(e_np[1::3], t_np, e[1::3], t, invert=True)


def test_isin_no_sync():
    x = wt.tensor(np.arange(100, dtype=np.int32))
    t = wt.tensor([3, 5, 99])
    wt.synchronize()
    before = wt.sync_count()
    r = wt.isin(x, t)
    wt.sort(x, descending=True)
    wt.kthvalue(x, 5)
    assert wt.sync_count() == before
    assert r.numpy().sum() == 3


if given is not None:
    @given(st.lists(st.integers(1, 40), min_size=1, max_size=3), st.integers(0, 2),
           st.booleans(), st.sampled_from(["float32", "int32", "float16"]), st.integers(0, 2 ** 31))
    def test_sort_hypothesis(shape, dim, descending, dtype, seed):
        rng = np.random.default_rng(seed)
        dt = wt.dtypes.get(dtype)
        a = rand_np(rng, shape, dt, special=True)
        check_sort(a, wt.tensor(a), dim=dim % len(shape), descending=descending)

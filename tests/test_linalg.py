"""matmul / @ / mm / bmm and softmax / log_softmax against numpy.

Float tolerances: the GPU sums K products in f32 in another order than the float64
reference; each partial sum carries at most ~K * 2**-24 relative error of the sum of
|products|, so a result is checked as |got - ref| <= RTOL * (|a| @ |b|) with
RTOL = 4 * K * 2**-24 (+ a floor), which any wrong element (a missing or doubled
product) exceeds by orders of magnitude. float16 results are rounded once (2**-11)."""
import math

import numpy as np
import pytest

import wgpu_tensor as wt
import wgpu_tensor.nn.functional as F
from wgpu_tensor.ops import linalg as L
from wgpu_tensor.runtime import get_device, override_limits
from conftest import no_gpu_work


def T(a, **kw):
    return wt.tensor(a, **kw)


def transposed(t):
    """A transposed view of t's last two dims (same storage, swapped strides)."""
    return wt.Tensor._wrap(L.transpose_last(t._v))


def check_matmul(got, a, b, rel=None, f16=False):
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref = np.matmul(a64, b64)
    bound = np.matmul(np.abs(a64), np.abs(b64))
    k = a64.shape[-1]
    rel = rel if rel is not None else 4 * max(k, 1) * 2.0 ** -24 + 2.0 ** -23
    g = got.numpy().astype(np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = rel * bound + 1e-30
    if f16:
        tol = tol + 2.0 ** -11 * np.abs(ref)
    bad = np.abs(g - ref) > tol
    assert not bad.any(), f"{bad.sum()} elements off; worst {np.max(np.abs(g - ref) - tol)}"


SHAPES = [1, 3, 17, 65, 257]


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 17, 65), (17, 65, 3), (65, 257, 17), (257, 3, 65),
                                   (257, 257, 257), (1, 257, 1), (65, 1, 257), (17, 17, 17)])
def test_matmul_2d_sizes_off_the_tile(rng, m, k, n):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    check_matmul(T(a) @ T(b), a, b)
    check_matmul(wt.mm(T(a), T(b)), a, b)
    check_matmul(T(a).matmul(T(b)), a, b)


def test_matmul_batched_and_broadcast_batch_dims(rng):
    cases = [((2, 3, 17, 65), (65, 33)), ((4, 1, 5, 7), (3, 7, 2)), ((5, 7), (2, 3, 7, 4)),
             ((3, 65, 17), (3, 17, 9)), ((2, 1, 3, 1, 4, 5), (1, 2, 1, 3, 5, 6))]
    for sa, sb in cases:
        a = rng.standard_normal(sa).astype(np.float32)
        b = rng.standard_normal(sb).astype(np.float32)
        check_matmul(T(a) @ T(b), a, b)
    a = rng.standard_normal((4, 17, 9)).astype(np.float32)
    b = rng.standard_normal((4, 9, 65)).astype(np.float32)
    check_matmul(wt.bmm(T(a), T(b)), a, b)
    # An expanded (stride 0) batch operand is read in place.
    b1 = rng.standard_normal((1, 9, 65)).astype(np.float32)
    check_matmul(T(a) @ T(b1).expand(4, 9, 65), a, np.broadcast_to(b1, (4, 9, 65)))


@pytest.mark.parametrize("sa,sb", [((7,), (7,)), ((5, 7), (7,)), ((7,), (7, 5)), ((3, 5, 7), (7,)),
                                   ((7,), (3, 7, 5)), ((1,), (1,)), ((257,), (257, 3))])
def test_matmul_1d_operands(rng, sa, sb):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    got = T(a) @ T(b)
    assert got.shape == np.matmul(a, b).shape
    check_matmul(got, a, b)


def test_matmul_transposed_and_strided_operands_without_copy(rng):
    a = rng.standard_normal((65, 17)).astype(np.float32)   # used as a^T: [17, 65]
    b = rng.standard_normal((33, 65)).astype(np.float32)   # used as b^T: [65, 33]
    ta, tb = T(a), T(b)
    dev = get_device()
    with dev.record_commands() as log:
        got = transposed(ta) @ transposed(tb)
    assert [c.name for c in log if c.kind == "dispatch"] == ["matmul"]  # no copy first
    check_matmul(got, a.T, b.T)
    # Slices with steps, and batch transposes.
    c = rng.standard_normal((3, 40, 66)).astype(np.float32)
    d = rng.standard_normal((3, 7, 66)).astype(np.float32)
    got = T(c)[:, ::2, 1::2] @ transposed(T(d))[:, 1::2, :]
    check_matmul(got, c[:, ::2, 1::2], np.swapaxes(d, -1, -2)[:, 1::2, :])


def test_matmul_float16_accumulates_in_f32(rng):
    a = rng.standard_normal((3, 65, 257)).astype(np.float16)
    b = rng.standard_normal((257, 17)).astype(np.float16)
    got = T(a) @ T(b)
    assert got.dtype is wt.float16
    check_matmul(got, a, b, f16=True)
    # Products that a float16 accumulator would lose: 4096 * (1 + 2**-10).
    ones = np.full((1, 4096), 1 + 2 ** -10, np.float16)
    got = (T(ones) @ T(np.ones((4096, 1), np.float16))).numpy()
    assert got[0, 0] == np.float16(4096 * (1 + 2 ** -10))


def test_matmul_int32_exact(rng):
    a = rng.integers(-50, 50, (17, 65)).astype(np.int32)
    b = rng.integers(-50, 50, (65, 33)).astype(np.int32)
    got = T(a) @ T(b)
    assert got.dtype is wt.int32
    np.testing.assert_array_equal(got.numpy(), (a.astype(np.int64) @ b).astype(np.int32))


def test_matmul_empty_dims():
    a = wt.ones(3, 0)
    b = wt.ones(0, 4)
    got = a @ b
    np.testing.assert_array_equal(got.numpy(), np.zeros((3, 4), np.float32))
    assert (wt.ones(0, 5) @ wt.ones(5, 4)).shape == (0, 4)
    assert (wt.ones(3, 5) @ wt.ones(5, 0)).shape == (3, 0)
    assert (wt.ones(0, 3, 5) @ wt.ones(5, 2)).shape == (0, 3, 2)
    d = wt.ones(0) @ wt.ones(0)
    assert d.shape == () and d.item() == 0.0
    np.testing.assert_array_equal((wt.ones(2, 0, dtype=wt.int32) @ wt.ones(0, 2, dtype=wt.int32)).numpy(),
                                  np.zeros((2, 2), np.int32))


def test_matmul_long_inner_dim_in_chunks(rng):
    # K past K_CHUNK: several launches add into the result (llvmpipe's loop limit).
    k = 2 * L.K_CHUNK + 1001
    a = rng.standard_normal((2, k)).astype(np.float32)
    b = rng.standard_normal((k, 3)).astype(np.float32)
    dev = get_device()
    with dev.record_commands() as log:
        got = T(a) @ T(b)
    assert sum(c.name == "matmul" for c in log) == 3
    check_matmul(got, a, b)


def test_matmul_grid_over_the_workgroup_limit(rng):
    # 5 batches x 2 x 3 tiles = 30 workgroups, with at most 7 per grid dimension.
    a = rng.standard_normal((5, 100, 20)).astype(np.float32)
    b = rng.standard_normal((20, 150)).astype(np.float32)
    ta, tb = T(a), T(b)
    dev = get_device()
    with override_limits(max_groups=7), dev.record_commands() as log:
        got = ta @ tb
    grids = [c.grid for c in log if c.name == "matmul"]
    assert grids and all(gy > 1 for gx, gy in grids)
    check_matmul(got, a, b)


def test_matmul_windows_split_batches_and_row_bands(rng):
    # With 4 KiB bindings: one batch of A at a time, and a big A in bands of 64 rows.
    a = rng.standard_normal((3, 60, 8)).astype(np.float32)     # 1920 bytes per batch
    b = rng.standard_normal((3, 8, 5)).astype(np.float32)
    big = rng.standard_normal((300, 8)).astype(np.float32)     # 9600 bytes
    ta, tb, tbig, tb0 = T(a), T(b), T(big), T(b[0])
    dev = get_device()
    with override_limits(max_binding=4096), dev.record_commands() as log:
        got = ta @ tb
    assert sum(c.name == "matmul" for c in log) == 3
    with override_limits(max_binding=4096), dev.record_commands() as log2:
        got2 = tbig @ tb0
    assert sum(c.name == "matmul" for c in log2) >= 3
    for c in log + log2:
        if c.kind == "dispatch":
            assert all(bd is None or bd[2] <= 4096 for bd in c.bindings)
    check_matmul(got, a, b)
    check_matmul(got2, big, b[0])


def fd_grad(f, x, eps=1e-6):
    """Central differences of scalar f at float64 x."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((4,), (2, 4, 3)),
                                   ((2, 1, 3, 4), (4,)), ((4,), (4,))])
def test_matmul_gradients_by_finite_differences(rng, sa, sb):
    a = rng.standard_normal(sa)
    b = rng.standard_normal(sb)
    w = rng.standard_normal(np.matmul(a, b).shape)

    def loss(a_, b_):
        return float(np.sum(w * np.matmul(a_, b_)))
    ta = T(a.astype(np.float32), requires_grad=True)
    tb = T(b.astype(np.float32), requires_grad=True)
    (ta @ tb * T(w.astype(np.float32))).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), fd_grad(lambda x: loss(x, b), a), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tb.grad.numpy(), fd_grad(lambda x: loss(a, x), b), rtol=1e-4, atol=1e-4)
    assert ta.grad.shape == sa and tb.grad.shape == sb


def test_mm_bmm_gradients_and_float16(rng):
    a = rng.standard_normal((2, 3, 4))
    b = rng.standard_normal((2, 4, 5))
    ta = T(a.astype(np.float32), requires_grad=True)
    tb = T(b.astype(np.float32), requires_grad=True)
    wt.bmm(ta, tb).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), np.ones((2, 3, 5)) @ np.swapaxes(b, 1, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb.grad.numpy(), np.swapaxes(a, 1, 2) @ np.ones((2, 3, 5)), rtol=1e-5, atol=1e-5)
    h = T(a[0].astype(np.float16), requires_grad=True)
    (h @ T(b[0].astype(np.float16))).sum().backward()
    assert h.grad.dtype is wt.float16
    np.testing.assert_allclose(h.grad.numpy(), np.ones((3, 5)) @ b[0].astype(np.float16).T.astype(np.float64),
                               rtol=2e-3, atol=2e-3)


def test_matmul_bad_input_raises_before_gpu_work():
    a, b = wt.ones(3, 4), wt.ones(5, 6)
    i, m, h = wt.ones(4, 5, dtype=wt.int32), wt.ones(4, 5, dtype=wt.bool), wt.ones(4, 5, dtype=wt.float16)
    u = wt.ones(4, 5, dtype=wt.uint32)
    s = wt.tensor(1.0)
    b5, m5, u5, v3, v4 = wt.ones(5, 4, dtype=wt.bool), m, wt.ones(5, 4, dtype=wt.uint32), wt.ones(3), wt.ones(4)
    a234, a345, a3d, b45, a34 = wt.ones(2, 3, 4), wt.ones(3, 4, 5), wt.ones(2, 3, 4), wt.ones(4, 5), wt.ones(3, 4)
    with no_gpu_work():
        with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x4 and 5x6\)"):
            a @ b
        with pytest.raises(TypeError, match="same dtype"):
            a @ i
        with pytest.raises(TypeError, match="same dtype"):
            a @ h
        with pytest.raises(TypeError, match="not implemented for bool"):
            wt.matmul(b5, m5)
        with pytest.raises(TypeError, match="not implemented for uint32"):
            wt.matmul(u5, u)
        with pytest.raises(RuntimeError, match="at least 1D"):
            s @ a
        with pytest.raises(RuntimeError, match="inconsistent tensor size"):
            v3 @ v4
        with pytest.raises(ValueError, match="do not broadcast"):
            a234 @ a345
        with pytest.raises(RuntimeError, match="self must be a matrix"):
            wt.mm(a3d, b45)
        with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
            wt.bmm(a34, b45)
        with pytest.raises(RuntimeError, match="Expected size for first two dimensions of batch2"):
            wt.bmm(a234, a345)
        with pytest.raises(TypeError, match="expected a wgpu_tensor.Tensor"):
            wt.matmul(a, np.ones((4, 2)))


def test_rmatmul_and_no_sync(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    b2 = rng.standard_normal((5, 3)).astype(np.float32)
    ta, tb = T(a), T(b)
    wt.set_sync_debug_mode("error")
    try:
        before = wt.sync_count()
        r = ta.__rmatmul__(T(b2))  # other @ self
        c = ta @ tb
        s = F.softmax(c, dim=-1)
        ls = wt.log_softmax(c, -1)
        assert wt.sync_count() == before
    finally:
        wt.set_sync_debug_mode("default")
    np.testing.assert_allclose(r.numpy(), b2.astype(np.float64) @ a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.numpy(), softmax_ref(a.astype(np.float64) @ b, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ls.numpy(), log_softmax_ref(a.astype(np.float64) @ b, -1), rtol=1e-5,
                               atol=1e-5)


# ---------------------------------------------------------------- softmax
def softmax_ref(x, dim):
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - x.max(dim, keepdims=True))
        return e / e.sum(dim, keepdims=True)


def log_softmax_ref(x, dim):
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = x.max(dim, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(dim, keepdims=True))


# Softmax tolerance: f32 exp / sum / log, each a few ulp: 1e-6 absolute on values in
# [0, 1] (relative 1e-5), log_softmax 1e-5 * (1 + |value|).
@pytest.mark.parametrize("shape,dim", [((1,), 0), ((3, 17), -1), ((65, 257), 1), ((257, 65), 0),
                                       ((4, 5, 6), 1), ((2, 3, 4, 5), 0), ((2, 20000), -1),
                                       ((1025,), 0)])
def test_softmax_and_log_softmax_against_numpy(rng, shape, dim):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    got = wt.softmax(T(x), dim)
    np.testing.assert_allclose(got.numpy(), softmax_ref(x, dim), rtol=1e-5, atol=1e-6)
    got = T(x).log_softmax(dim)
    ref = log_softmax_ref(x, dim)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)


# Contiguous float32 rows of L % 4 == 0 and L <= 1024 are read once into registers (NV
# vec4s per invocation, NV a power of two); around NV's steps and the 1024 limit, with a
# NaN row, an all -inf row and a row with -inf entries among them.
@pytest.mark.parametrize("n", [4, 28, 32, 36, 64, 100, 512, 516, 1020, 1024, 1028])
def test_softmax_rows_held_in_registers(rng, n):
    x = (rng.standard_normal((5, n)) * 4).astype(np.float32)
    x[1, n // 2] = np.nan
    x[2] = -np.inf
    x[3, ::3] = -np.inf
    for log, ref in ((False, softmax_ref), (True, log_softmax_ref)):
        got = (T(x).log_softmax(-1) if log else T(x).softmax(-1)).numpy()
        want = ref(x, -1)
        assert np.isnan(got[1:3]).all()
        ok = [0, 3, 4]
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-5 if log else 1e-6)


def test_softmax_sums_in_one_order_with_or_without_subgroups(rng, monkeypatch):
    """The row sums add the same terms in the same order through subgroupBroadcast and
    through workgroup memory: the same bits either way (the order does not follow the
    adapter's subgroup size)."""
    dev = get_device()
    if not dev.use_subgroups:
        pytest.skip("this adapter has no subgroups: only the workgroup-memory variant exists")
    cases = [(rng.standard_normal((6, 1024)) * 5).astype(np.float32),    # registers
             (rng.standard_normal((3, 2052)) * 5).astype(np.float32),    # vec4 loops
             (rng.standard_normal((4, 37)) * 5).astype(np.float32)]      # word loops
    with_sub = [(T(x).softmax(-1).numpy(), T(x).log_softmax(-1).numpy()) for x in cases]
    monkeypatch.setattr(dev, "use_subgroups", False)
    for x, (s, ls) in zip(cases, with_sub):
        np.testing.assert_array_equal(T(x).softmax(-1).numpy(), s)
        np.testing.assert_array_equal(T(x).log_softmax(-1).numpy(), ls)


def test_softmax_rows_too_long_for_eight_invocations(rng):
    """Rows past 8 * 60,000 elements go to 256 invocations per row (workgroup memory)."""
    x = (rng.standard_normal((1, 8 * 60000 + 4)) * 3).astype(np.float32)
    np.testing.assert_allclose(T(x).softmax(-1).numpy(), softmax_ref(x, -1), rtol=1e-5, atol=1e-9)


def test_softmax_strided_broadcast_and_0d(rng):
    x = (rng.standard_normal((30, 40)) * 3).astype(np.float32)
    t = T(x)
    np.testing.assert_allclose(F.softmax(transposed(t), dim=-1).numpy(), softmax_ref(x.T, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.softmax(t[::3, 1::2], dim=0).numpy(), softmax_ref(x[::3, 1::2], 0),
                               rtol=1e-5, atol=1e-6)
    row = T(x[:1])
    np.testing.assert_allclose(row.expand(5, 40).softmax(-1).numpy(),
                               softmax_ref(np.broadcast_to(x[:1], (5, 40)), -1), rtol=1e-5, atol=1e-6)
    assert wt.tensor(3.0).softmax(0).item() == 1.0
    assert wt.tensor(3.0).log_softmax(0).item() == 0.0
    assert wt.ones(0, 5).softmax(-1).shape == (0, 5)
    assert wt.ones(5, 0).softmax(-1).shape == (5, 0)


def test_softmax_many_rows_over_the_workgroup_limit(rng):
    x = rng.standard_normal((45, 3)).astype(np.float32)
    t = T(x)
    dev = get_device()
    with override_limits(max_groups=7), dev.record_commands() as log:
        got = t.softmax(-1)
    assert any(c.name == "softmax" and c.grid[1] > 1 for c in log)
    np.testing.assert_allclose(got.numpy(), softmax_ref(x, -1), rtol=1e-5, atol=1e-6)
    with override_limits(max_binding=256), dev.record_commands() as log:  # <= 21 rows per window
        got = t.softmax(-1)
    assert sum(c.name == "softmax" for c in log) >= 3
    np.testing.assert_allclose(got.numpy(), softmax_ref(x, -1), rtol=1e-5, atol=1e-6)


def test_softmax_nan_and_inf_rows_as_pytorch():
    inf, nan = float("inf"), float("nan")
    x = np.array([[0.0, -inf, 1.0, -inf],       # -inf entries: 0
                  [-inf, -inf, -inf, -inf],     # all -inf: NaN (PyTorch)
                  [1.0, nan, 2.0, 3.0],         # a NaN: NaN row
                  [inf, 1.0, 2.0, 3.0],         # +inf: NaN row (inf - inf)
                  [1e30, -1e30, 0.0, 88.0]], np.float32)
    got = wt.softmax(T(x), -1).numpy()
    np.testing.assert_allclose(got[0], softmax_ref(x[0], -1), rtol=1e-6)
    assert np.isnan(got[1:4]).all()
    np.testing.assert_allclose(got[4], [1.0, 0.0, 0.0, 0.0], atol=1e-30)
    lg = wt.log_softmax(T(x), -1).numpy()
    assert lg[0, 1] == -inf and lg[0, 3] == -inf
    np.testing.assert_allclose(lg[0, [0, 2]], log_softmax_ref(x[0], -1)[[0, 2]], rtol=1e-6)
    assert np.isnan(lg[1:4]).all()
    # The attention's variant (PyTorch's _safe_softmax): an all -inf row gives zeros.
    safe = wt.Tensor._wrap(L.softmax(T(x)._v, -1, safe=True)).numpy()
    np.testing.assert_array_equal(safe[1], np.zeros(4, np.float32))
    assert np.isnan(safe[2:4]).all()


def test_softmax_dtypes(rng):
    x = (rng.standard_normal((17, 65)) * 3).astype(np.float16)
    got = wt.softmax(T(x), -1)
    assert got.dtype is wt.float16
    np.testing.assert_allclose(got.numpy().astype(np.float64), softmax_ref(x, -1), rtol=2e-3, atol=1e-4)
    got = wt.softmax(T(x), -1, dtype=wt.float32)   # computed on the float16 values, in f32
    assert got.dtype is wt.float32
    np.testing.assert_allclose(got.numpy(), softmax_ref(x, -1), rtol=1e-5, atol=1e-6)
    xf = (rng.standard_normal((5, 9)) * 3).astype(np.float32)
    got = F.log_softmax(T(xf), dim=1, dtype=wt.float16)   # the input is cast first, as PyTorch
    assert got.dtype is wt.float16
    np.testing.assert_allclose(got.numpy().astype(np.float64), log_softmax_ref(xf.astype(np.float16), 1),
                               rtol=2e-3, atol=2e-3)
    xi = rng.integers(-3, 4, (4, 6)).astype(np.int32)
    np.testing.assert_allclose(wt.softmax(T(xi), 1, dtype=wt.float32).numpy(), softmax_ref(xi, 1),
                               rtol=1e-5, atol=1e-6)


def test_softmax_bad_input_raises_before_gpu_work():
    i = wt.ones(3, 4, dtype=wt.int32)
    x = wt.ones(3, 4)
    with no_gpu_work():
        with pytest.raises(TypeError, match="not implemented for int32"):
            i.softmax(-1)
        with pytest.raises(TypeError, match="dtype must be a floating point"):
            x.softmax(-1, dtype=wt.int32)
        with pytest.raises(IndexError, match="Dimension out of range"):
            x.softmax(2)
        with pytest.raises(TypeError, match="missing its dim"):
            F.softmax(x)
        with pytest.raises(TypeError, match="expected a wgpu_tensor.Tensor"):
            F.log_softmax([1.0, 2.0], dim=0)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,dim", [((3, 5), -1), ((4, 3, 2), 1), ((6,), 0)])
def test_softmax_gradients_by_finite_differences(rng, log, shape, dim):
    x = rng.standard_normal(shape)
    w = rng.standard_normal(shape)
    ref = log_softmax_ref if log else softmax_ref
    t = T(x.astype(np.float32), requires_grad=True)
    y = wt.log_softmax(t, dim) if log else wt.softmax(t, dim)
    (y * T(w.astype(np.float32))).sum().backward()
    num = fd_grad(lambda z: float(np.sum(w * ref(z, dim))), x)
    np.testing.assert_allclose(t.grad.numpy(), num, rtol=1e-4, atol=1e-5)


def test_softmax_gradient_of_a_broadcast_incoming_gradient(rng):
    x = rng.standard_normal((4, 6))
    t = T(x.astype(np.float32), requires_grad=True)
    wt.softmax(t, 0).sum().backward()   # g is ones expanded (stride 0): the gradient is 0
    np.testing.assert_allclose(t.grad.numpy(), np.zeros((4, 6)), atol=1e-6)


@pytest.mark.parametrize("use_subgroups", [True, False])
def test_softmax_subgroup_and_workgroup_memory_paths(rng, use_subgroups):
    # lavapipe takes the subgroup path (one 8-lane subgroup per row); the OpenGL adapter
    # has no subgroups and reduces in workgroup memory: both, on vec4 and scalar rows.
    dev = get_device()
    if use_subgroups and not dev.use_subgroups:
        pytest.skip("the adapter has no usable subgroups")
    x = (rng.standard_normal((7, 36)) * 4).astype(np.float32)
    x[2, 5] = np.nan
    x[4] = -np.inf
    old = dev.use_subgroups
    dev.use_subgroups = use_subgroups
    try:
        with dev.record_commands() as log:
            outs = [wt.softmax(T(x), -1), wt.log_softmax(T(x), -1), wt.softmax(T(x)[:, 1:34], -1),
                    wt.softmax(T(x), 0)]
    finally:
        dev.use_subgroups = old
    flags = [(c.params["SUBGROUPS"], c.params["VEC4"]) for c in log if c.name == "softmax"]
    assert flags == [(use_subgroups, True), (use_subgroups, True), (use_subgroups, False),
                     (use_subgroups, False)]
    for got, ref in zip(outs, [softmax_ref(x, -1), log_softmax_ref(x, -1), softmax_ref(x[:, 1:34], -1),
                               softmax_ref(x, 0)]):
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa,sb", [((17, 68), (68, 4)), ((3, 65, 8), (8, 132)), ((2, 1, 33, 16), (3, 16, 64)),
                                   ((1, 4), (4, 4)), ((257, 36), (36, 260))])
def test_matmul_vec4_kernel_on_aligned_float32(rng, sa, sb):
    # Contiguous float32 operands with K and N multiples of 4 take matmul_vec4 (reads
    # vec4 straight from the buffers); anything else the tiled kernel (tested above).
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    ta, tb = T(a), T(b)
    dev = get_device()
    with dev.record_commands() as log:
        got = ta @ tb
    assert {c.name for c in log if c.kind == "dispatch"} == {"matmul_vec4"}
    check_matmul(got, a, b)


@pytest.mark.parametrize("sa,sb", [((1, 8), (8, 4)), ((3, 12), (12, 36)), ((17, 68), (68, 4)),
                                   ((2, 65, 20), (20, 260)), ((257, 36), (1, 36, 68)),
                                   ((31, 12), (12, 60)), ((33, 4), (4, 28)), ((64, 8), (8, 68)),
                                   ((5, L.K_CHUNK + 4), (L.K_CHUNK + 4, 8))])
def test_matmul_vec4_same_bits_with_or_without_subgroups(rng, sa, sb, monkeypatch):
    """With subgroups the vec4 kernel reads each row of A once per subgroup and
    broadcasts it (a 32 x 32 tile per workgroup); without, every invocation reads its 4
    rows: the same products added in the same order, so the same bits (rows and columns
    off both tiles and +-1 around them, a broadcast batch, K over a chunk)."""
    dev = get_device()
    if not dev.use_subgroups:
        pytest.skip("this adapter has no subgroups: only the plain vec4 variant exists")
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    with dev.record_commands() as log:
        got = T(a) @ T(b)
    assert {c.params["SUBGROUPS"] for c in log if c.name == "matmul_vec4"} == {True}
    check_matmul(got, a, b)
    monkeypatch.setattr(dev, "use_subgroups", False)
    with dev.record_commands() as log:
        plain = T(a) @ T(b)
    assert {c.params["SUBGROUPS"] for c in log if c.name == "matmul_vec4"} == {False}
    np.testing.assert_array_equal(got.numpy(), plain.numpy())


@pytest.mark.parametrize("use_subgroups", [True, False])
def test_matmul_vec4_fallbacks_chunks_and_windows(rng, use_subgroups, monkeypatch):
    dev = get_device()
    if use_subgroups and not dev.use_subgroups:
        pytest.skip("the adapter has no usable subgroups")
    monkeypatch.setattr(dev, "use_subgroups", use_subgroups)
    a = rng.standard_normal((40, 12)).astype(np.float32)
    b = rng.standard_normal((12, 8)).astype(np.float32)
    ta, tb = T(a), T(b)
    # A view starting off a vec4 boundary (offset 1 element) and a transposed B are
    # copied contiguous, then take the vec4 kernel: the same bits as contiguous operands.
    a5 = rng.standard_normal((40, 13)).astype(np.float32)
    with dev.record_commands() as log:
        got = T(a5)[:, 1:] @ tb
        got_t = ta @ transposed(T(np.ascontiguousarray(b.T)))
    assert [c.name for c in log if c.kind == "dispatch"] == ["elementwise", "matmul_vec4"] * 2
    check_matmul(got, a5[:, 1:], b)
    check_matmul(got_t, a, b)
    np.testing.assert_array_equal(got.numpy(), (T(np.ascontiguousarray(a5[:, 1:])) @ tb).numpy())
    np.testing.assert_array_equal(got_t.numpy(), (ta @ tb).numpy())
    # K past a chunk, and windows of 4 KiB (batches one at a time, rows in bands).
    k = L.K_CHUNK + 4
    a2 = rng.standard_normal((3, k)).astype(np.float32)
    b2 = rng.standard_normal((k, 4)).astype(np.float32)
    with dev.record_commands() as log:
        got = T(a2) @ T(b2)
    assert [c.name for c in log if c.kind == "dispatch"] == ["matmul_vec4"] * 2
    check_matmul(got, a2, b2)
    big = rng.standard_normal((3, 100, 12)).astype(np.float32)   # 4800 bytes per batch
    tbig = T(big)
    with override_limits(max_binding=4096, max_groups=3), dev.record_commands() as log:
        got = tbig @ tb
    launches = [c for c in log if c.name == "matmul_vec4"]
    assert len(launches) >= 6 and all(bd[2] <= 4096 for c in launches for bd in c.bindings)
    check_matmul(got, big, b)

"""masked_select, masked_select_async, x[mask], nonzero: against numpy, on both scan paths."""
import asyncio

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits

SIZES = [0, 1, 3, 4, 5, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 12345]
FRACS = [0.0, 0.01, 0.5, 0.99, 1.0]
DTYPES = [np.float32, np.int32, np.uint32, np.float16, np.bool_]


def _data(rng, n, dtype):
    if dtype == np.bool_:
        return rng.random(n) < 0.5
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, 2 ** 32 - 1, n, dtype=np.uint32)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-(2 ** 31), 2 ** 31 - 1, n, dtype=np.int32)
    return (rng.standard_normal(n) * 1000).astype(dtype)


TAIL = {"check": True}   # whether the path under test writes the rejected elements to the tail


@pytest.fixture(params=["threepass", "onepass", "onepass-wg", "fallback", "fallback-wg", "sparse"])
def sel_path(request):
    """Run a test on both masked_select algorithms: "onepass" with the adapter's
    one-pass kernel, "-wg" with the workgroup kernel (the GPU layout; the same
    kernel on the workgroup-memory scan path), "fallback" with no polls, so every
    block counts its predecessor itself; "sparse" with every subgroup tile on
    its sparse path (only the selected elements written: no tail to check)."""
    from wgpu_tensor.ops import select as S
    old = S.PATH, S.SPINS, S.ONEPASS_KERNEL, S.SPARSE
    S.PATH = "threepass" if request.param == "threepass" else "onepass"
    S.SPARSE = 1 if request.param == "sparse" else 0
    TAIL["check"] = request.param != "sparse"
    if request.param.startswith("fallback"):
        S.SPINS = 0
    if request.param.endswith("-wg"):
        S.ONEPASS_KERNEL = "workgroup"
    yield request.param
    S.PATH, S.SPINS, S.ONEPASS_KERNEL, S.SPARSE = old
    TAIL["check"] = True


def _check_fixed(res, expected, n, rejected=None):
    """The selected elements first; ``rejected`` given: the implementation's tail
    (unspecified by the API) holds the rejected elements, last first, which checks
    that every element was written to its own place."""
    assert res.shape == (n,)
    assert res.count.shape == () and res.count.dtype is wt.int32
    k = res.count.item()
    assert k == len(expected)
    got = res.numpy()
    np.testing.assert_array_equal(got[:k], expected)
    if rejected is not None and TAIL["check"]:
        np.testing.assert_array_equal(got[k:][::-1], rejected)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("frac", FRACS)
def test_masked_select_sizes_and_selectivity(scan_path, sel_path, n, frac):
    rng = np.random.default_rng(n * 7 + int(frac * 100))
    a = _data(rng, n, np.float32)
    m = rng.random(n) < frac
    _check_fixed(wt.tensor(a).masked_select(wt.tensor(m)), a[m], n, a[~m])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 257, 4097, 9999])
def test_masked_select_dtypes(scan_path, sel_path, dtype, n):
    rng = np.random.default_rng(n)
    a = _data(rng, n, dtype)
    m = rng.random(n) < 0.4
    x = wt.tensor(a, dtype=wt.uint32 if dtype == np.uint32 else None)
    res = x.masked_select(wt.tensor(m))
    assert res.dtype is x.dtype
    _check_fixed(res, a[m], n, a[~m])


@pytest.mark.parametrize("dtype", DTYPES)
def test_fill_value_writes_the_tail(sel_path, dtype):
    rng = np.random.default_rng(1)
    a = _data(rng, 1001, dtype)
    m = rng.random(1001) < 0.3
    fill = True if dtype == np.bool_ else 7
    res = wt.tensor(a, dtype=wt.uint32 if dtype == np.uint32 else None).masked_select(
        wt.tensor(m), fill_value=fill)
    expected = np.concatenate([a[m], np.full(1001 - m.sum(), fill, dtype=a.dtype)])
    np.testing.assert_array_equal(res.numpy(), expected)


def test_out_argument_is_filled_in_place(sel_path):
    a = np.arange(10, dtype=np.float32)
    m = a % 3 == 0
    out = wt.zeros(10)
    res = wt.masked_select(wt.tensor(a), wt.tensor(m), out=out, fill_value=-1.0)
    assert res is out
    np.testing.assert_array_equal(out.numpy(), [0, 3, 6, 9, -1, -1, -1, -1, -1, -1])
    assert out.count.item() == 4
    # out= at an offset of a bigger buffer, no fill: the selected elements land there
    big = wt.zeros(5000)
    view = big[1000:3000]
    a2 = np.random.default_rng(5).standard_normal(2000).astype(np.float32)
    m2 = a2 > 0
    wt.masked_select(wt.tensor(a2), wt.tensor(m2), out=view)
    got = big.numpy()
    np.testing.assert_array_equal(got[1000:1000 + m2.sum()], a2[m2])
    assert not got[:1000].any() and not got[3000:].any()


def test_out_argument_checks():
    x = wt.tensor([1.0, 2.0, 3.0])
    m = x > 1
    with pytest.raises(TypeError, match="dtype"):
        x.masked_select(m, out=wt.zeros(3, dtype=wt.int32))
    with pytest.raises(ValueError, match="shape"):
        x.masked_select(m, out=wt.zeros(4))


def test_broadcast_mask_and_broadcast_input(scan_path, sel_path):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((37, 129)).astype(np.float32)
    row = rng.random(129) < 0.5
    col = rng.random((37, 1)) < 0.5
    x = wt.tensor(a)
    _check_fixed(x.masked_select(wt.tensor(row)), a[np.broadcast_to(row, a.shape)], a.size)
    _check_fixed(x.masked_select(wt.tensor(col)), a[np.broadcast_to(col, a.shape)], a.size)
    # x broadcast by a bigger mask: x (37, 1) against mask (37, 129)
    xb = a[:, :1]
    mb = rng.random((37, 129)) < 0.5
    _check_fixed(wt.tensor(xb).masked_select(wt.tensor(mb)),
                 np.broadcast_to(xb, mb.shape)[mb], mb.size)


def test_views_as_input_and_mask(scan_path, sel_path):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((64, 90)).astype(np.float32)
    m = rng.random((64, 90)) < 0.5
    x, mm = wt.tensor(a), wt.tensor(m)
    _check_fixed(x[::2, 3:].masked_select(mm[1::2, :87]), a[::2, 3:][m[1::2, :87]], 32 * 87)
    _check_fixed(x[:, 5].masked_select(mm[:, 7]), a[:, 5][m[:, 7]], 64)
    _check_fixed(x[1:].masked_select(mm[1:]), a[1:][m[1:]], 63 * 90)


def test_no_sync_on_the_fixed_size_path():
    dev = get_device()
    x = wt.randn(5000, seed=1)
    before = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        res = x.masked_select(x > 0.5)
        res2 = wt.masked_select(x, x < 0, fill_value=0.0)
        nz = (x > 1).nonzero()
        dev.flush()
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == before
    xs = x.numpy()
    _check_fixed(res, xs[xs > 0.5], 5000)
    _check_fixed(res2, xs[xs < 0], 5000)
    k = nz.count.item()
    np.testing.assert_array_equal(nz.numpy()[:k], np.argwhere(xs > 1))


def test_sync_debug_mode_catches_an_implicit_read():
    x = wt.tensor([1.0, 2.0])
    wt.set_sync_debug_mode("error")
    try:
        with pytest.raises(RuntimeError, match="implicit"):
            bool((x > 1).masked_select(x > 1).count)
        x.numpy()  # explicit reads are allowed
    finally:
        wt.set_sync_debug_mode("default")


def test_masked_select_async_exact_and_reads_only_the_count():
    dev = get_device()
    rng = np.random.default_rng(5)
    a = rng.standard_normal(100_000).astype(np.float32)
    x = wt.tensor(a)
    r0, s0 = dev.bytes_read, wt.sync_count()

    async def main():
        res = await x.masked_select_async(x > 1.0)
        assert dev.bytes_read - r0 == 4, "only the 4-byte count may cross to the host"
        assert wt.sync_count() - s0 == 1
        return res

    res = asyncio.run(main())
    r0 = dev.bytes_read
    k = int((a > 1.0).sum())
    assert res.shape == (k,)
    np.testing.assert_array_equal(res.numpy(), a[a > 1.0])
    assert dev.bytes_read - r0 == 4 * k, "then .numpy() moves exactly the k selected elements"


def test_many_async_selections_in_flight():
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(n).astype(np.float32) for n in (0, 1, 100, 5000, 40000)]

    async def main():
        ts = [wt.tensor(a) for a in arrays]
        return await asyncio.gather(*[t.masked_select_async(t > 0) for t in ts])

    results = asyncio.run(main())
    for a, r in zip(arrays, results):
        np.testing.assert_array_equal(r.numpy(), a[a > 0])


def test_masked_select_async_does_not_block_the_event_loop():
    """Other tasks run while the GPU works: 4M elements keep lavapipe busy for
    tens of ms after submission, and the ticker must tick during the await."""
    x = wt.randn(4_000_000, seed=2)
    m = x > 0
    wt.synchronize()
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    async def main():
        t = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        start = len(ticks)
        res = await x.masked_select_async(m)
        during = len(ticks) - start
        t.cancel()
        return res, during

    res, during = asyncio.run(main())
    assert during > 0, "the event loop was blocked while the selection ran"
    xs = x.numpy()
    np.testing.assert_array_equal(res.numpy(), xs[xs > 0])


def test_index_with_mask_exact():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((20, 30, 4)).astype(np.float32)
    x = wt.tensor(a)
    m = a > 0
    np.testing.assert_array_equal(x[wt.tensor(m)].numpy(), a[m])
    rows = rng.random((20, 30)) < 0.3     # mask over the leading dims selects whole rows
    got = x[wt.tensor(rows)]
    assert got.shape == (int(rows.sum()), 4)
    np.testing.assert_array_equal(got.numpy(), a[rows])
    lead = rng.random(20) < 0.5
    np.testing.assert_array_equal(x[wt.tensor(lead)].numpy(), a[lead])
    before = wt.sync_count()
    x[wt.tensor(m)]
    assert wt.sync_count() - before == 1, "x[mask] blocks exactly once, for the count"


def test_index_with_mismatched_mask_raises_index_error():
    x = wt.zeros((3, 1))
    with pytest.raises(IndexError, match=r"shape of the mask \[3, 2\] at index 1"):
        x[wt.tensor([[True, False], [False, True], [True, False]])]


def test_seed_examples():
    x = wt.tensor([[1, 2, 3], [4, 5, 6]])
    sel = x.masked_select(x.gt(3))
    assert sel.shape == (6,) and sel.count.item() == 3
    assert sel.numpy()[:3].tolist() == [4, 5, 6]
    nz = x.masked_select(x.ne(0))
    assert nz.count.item() == 6


def test_errors():
    x = wt.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="BoolTensor"):
        x.masked_select(wt.tensor([1, 0, 1]))
    with pytest.raises(TypeError, match="BoolTensor"):
        x.masked_select(wt.ones(3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        x.masked_select(wt.tensor([True, False, True, True]))
    with pytest.raises(TypeError):
        x.masked_select([True, False, True])
    # nothing was lost
    np.testing.assert_array_equal(x.numpy(), [1, 2, 3])


def test_empty_inputs():
    e = wt.zeros(0)
    r = e.masked_select(e > 0)
    assert r.shape == (0,) and r.count.item() == 0
    assert asyncio.run(e.masked_select_async(e > 0)).shape == (0,)
    z = wt.zeros((0, 3))
    assert z.nonzero().shape == (0, 2) and z.nonzero().count.item() == 0
    assert e[e > 0].shape == (0,)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (4, 1, 6), (2, 3, 4, 5), (300, 257), (1023,), (4097,), (12345,)])
def test_nonzero(scan_path, sel_path, shape):
    rng = np.random.default_rng(len(shape))
    a = (rng.random(shape) < 0.3).astype(np.float32) * rng.standard_normal(shape).astype(np.float32)
    x = wt.tensor(a)
    nz = x.nonzero()
    n = a.size
    assert nz.shape == (n, len(shape)) and nz.dtype is wt.int32
    k = nz.count.item()
    np.testing.assert_array_equal(nz.numpy()[:k], np.argwhere(a))
    exact = asyncio.run(x.nonzero_async())
    np.testing.assert_array_equal(exact.numpy(), np.argwhere(a))
    tup = asyncio.run(x.nonzero_async(as_tuple=True))
    for got, want in zip(tup, np.nonzero(a)):
        np.testing.assert_array_equal(got.numpy(), want)


def test_nonzero_of_a_scalar_and_of_bools():
    assert asyncio.run(wt.tensor(5.0).nonzero_async()).shape == (1, 0)
    assert asyncio.run(wt.tensor(0.0).nonzero_async()).shape == (0, 0)
    b = np.array([[True, False], [True, True]])
    np.testing.assert_array_equal(asyncio.run(wt.tensor(b).nonzero_async()).numpy(), np.argwhere(b))


def test_segments_and_output_windows_on_a_small_binding(scan_path, sel_path):
    """Inputs over one storage binding run as segments; outputs over one binding
    are several windows. A 64 KiB pretend binding exercises both on small data,
    and 9 workgroups per dimension forces 2-D dispatch."""
    rng = np.random.default_rng(8)
    with override_limits(max_binding=65536, max_groups=9):
        for n in (16383, 16384, 16385, 50001):
            for frac in (0.01, 0.5, 1.0):
                for dtype in (np.float32, np.float16, np.bool_):
                    a = _data(rng, n, dtype)
                    m = rng.random(n) < frac
                    _check_fixed(wt.tensor(a).masked_select(wt.tensor(m), fill_value=0),
                                 a[m], n)
                    _check_fixed(wt.tensor(a).masked_select(wt.tensor(m)), a[m], n, a[~m])
        b = rng.random((120, 201)) < 0.5
        nz = wt.tensor(b).nonzero()
        np.testing.assert_array_equal(nz.numpy()[:nz.count.item()], np.argwhere(b))


def test_bigger_than_one_storage_binding():
    """2**25 + 12345 float32 is over lavapipe's 128 MiB binding: a real multi-segment run."""
    n = 2 ** 25 + 12345
    x = wt.arange(n)
    m = (x * 40503) < 0   # int32 wrap-around: a scattered ~50% pattern, built on the GPU
    res = x.masked_select(m)
    k = res.count.item()
    idx = np.arange(n, dtype=np.int64)
    expected = idx[(idx * 40503).astype(np.int32) < 0]
    assert k == len(expected)
    np.testing.assert_array_equal(res.numpy()[:k], expected)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=4),
       frac=st.floats(0, 1), seed=st.integers(0, 2 ** 16),
       bdims=st.integers(0, 4))
def test_hypothesis_against_numpy(shape, frac, seed, bdims):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    a = rng.standard_normal(shape).astype(np.float32)
    mshape = tuple(1 if i < bdims else s for i, s in enumerate(shape))
    m = rng.random(mshape) < frac
    res = wt.tensor(a).masked_select(wt.tensor(m))
    full = np.broadcast_to(m, shape)
    _check_fixed(res, a[full], a.size)


def test_bad_input_raises_before_any_gpu_work():
    dev = get_device()
    x9 = wt.zeros((1, 2) * 4 + (2,))          # 9 dims, none mergeable for nonzero
    x = wt.tensor([1.0, 2.0, 3.0])
    before = dev.dispatches
    with pytest.raises(ValueError, match="at most 8"):
        x9.nonzero()
    with pytest.raises(TypeError, match="BoolTensor"):
        x.masked_select(x)
    with pytest.raises(OverflowError):
        wt.tensor([1, 2, 3]).masked_select(wt.tensor([True, False, True]), fill_value=2 ** 40)
    assert dev.dispatches == before


def test_two_dimensional_grids_with_surplus_workgroups(scan_path, sel_path):
    """5 workgroups per dimension: the grid has more workgroups than blocks (the
    one-pass kernels must leave before taking a tile)."""
    rng = np.random.default_rng(11)
    with override_limits(max_groups=5):
        for n in (50001, 90001):
            a = _data(rng, n, np.float32)
            m = rng.random(n) < 0.5
            _check_fixed(wt.tensor(a).masked_select(wt.tensor(m)), a[m], n, a[~m])


def test_select_path_choice(monkeypatch):
    from wgpu_tensor.ops import select as S
    dev = get_device()
    monkeypatch.setattr(S, "PATH", None)
    assert S.select_path(dev, 1000) in ("onepass", "threepass")
    assert S.select_path(dev, S.ONEPASS_MAX + 1) == "threepass"   # 30-bit look-back states
    monkeypatch.setattr(S, "PATH", "threepass")
    assert S.select_path(dev, 1000) == "threepass"
    monkeypatch.setattr(S, "PATH", "onepass")
    assert S.select_path(dev, 1000) == "onepass"
    monkeypatch.setattr(S, "PATH", "fast")
    with pytest.raises(ValueError, match="WGPU_TENSOR_SELECT"):
        S.select_path(dev, 1000)

"""masked_select, masked_select_async, x[mask], nonzero: against numpy, on both scan paths."""
import asyncio

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits
from conftest import no_gpu_work

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

# The production setting of the one-pass kernel's sparse tiles, read before any
# fixture changes it.
from wgpu_tensor.ops import select as _S  # noqa: E402
PRODUCTION_SPARSE = _S.SPARSE
SELECT_KERNELS = ("select_onepass_sg", "select_onepass", "scatter_selected", "scatter_selected_sg",
                  "count_blocks", "count_blocks_sg")


def onepass_name(dev, param):
    """The one-pass shader that path ``param`` must run on ``dev``: the subgroup
    kernel on a CPU adapter with usable subgroups (lavapipe), unless "-wg"."""
    cpu = "cpu" in str(dev.info()["type"]).lower() or dev.is_lavapipe
    if param.endswith("-wg") or not dev.use_subgroups or not cpu:
        return "select_onepass"
    return "select_onepass_sg"


def check_path_ran(param, log, dev, *, expect_work=True, values=True):
    """The selection dispatches in ``log`` are those of path ``param`` on the scan
    path ``dev.use_subgroups`` selects: the right shaders, look-back polls and
    sparse-tile limit. ``values``: at least one masked_select (not only nonzero,
    which takes the three passes on the workgroup kernel) ran."""
    from wgpu_tensor.ops import select as S
    sel = [c for c in log if c.kind == "dispatch" and c.name in SELECT_KERNELS]
    if not expect_work:
        assert not sel, "an empty selection recorded kernels"
        return
    assert sel, f"no selection kernel ran on path {param!r}"
    for c in sel:
        assert c.params["SUBGROUPS"] is dev.use_subgroups, (param, c.name, "scan path not in effect")
    one = [c for c in sel if c.name.startswith("select_onepass")]
    if param == "threepass":
        assert not one, f"path 'threepass' ran {one[0].name}"
        assert any(c.name.startswith("scatter_selected") for c in sel)
        return
    name = onepass_name(dev, param)
    assert {c.name for c in one} <= {name}, f"path {param!r} ran {sorted({c.name for c in one})}, not {name}"
    if values or name == "select_onepass_sg":
        assert one, f"path {param!r} ran no one-pass kernel ({sorted({c.name for c in sel})})"
    spins = 0 if param.startswith("fallback") else 4
    for c in one:
        assert c.params["SPINS"] == spins, (param, c.params["SPINS"])
        if name == "select_onepass_sg" and c.params["VALUES"]:
            lim = c.params["SPARSE_LIM"]
            tile = c.params["TILE"]
            if param == "sparse":
                assert lim == tile + 1, ("every tile sparse", lim)
            elif param == "default":
                assert 1 < S.SPARSE == PRODUCTION_SPARSE and lim == tile // PRODUCTION_SPARSE, (
                    "the production sparse setting (mixed sparse and dense tiles)", lim)
            else:
                assert lim == 0, ("no sparse tiles", lim)


@pytest.fixture(params=["threepass", "onepass", "onepass-wg", "fallback", "fallback-wg", "sparse",
                        "default"])
def sel_path(request):
    """Run a test on both masked_select algorithms: "onepass" with the adapter's
    one-pass kernel, "-wg" with the workgroup kernel (the GPU layout; the same
    kernel on the workgroup-memory scan path), "fallback" with no polls, so every
    block counts its predecessor itself; "sparse" with every subgroup tile on
    its sparse path (only the selected elements written: no tail to check);
    "default" with the production settings untouched (sparse and dense tiles
    mixed: the tail is checked only where fill_value defines it).
    Afterwards the recorded commands must show that the path asked for ran
    (check_path_ran)."""
    from wgpu_tensor.ops import select as S
    dev = get_device()
    param = request.param
    old = S.PATH, S.SPINS, S.ONEPASS_KERNEL, S.SPARSE
    if param != "default":
        S.PATH = "threepass" if param == "threepass" else "onepass"
        S.SPARSE = 1 if param == "sparse" else 0
    # (_check_fixed also asks writes_rejected: the subgroup kernel writes no tail)
    TAIL["check"] = param not in ("sparse", "default")
    if param.startswith("fallback"):
        S.SPINS = 0
    if param.endswith("-wg"):
        S.ONEPASS_KERNEL = "workgroup"
    try:
        with dev.record_commands() as log:
            yield param
    finally:
        S.PATH, S.SPINS, S.ONEPASS_KERNEL, S.SPARSE = old
        TAIL["check"] = True
    params = getattr(request.node, "callspec", None)
    n = params.params.get("n") if params else None
    check_path_ran(param, log, dev, expect_work=n != 0,
                   values=request.node.originalname != "test_nonzero")


def writes_rejected(dev, n):
    """Whether the selection path now in effect writes the rejected elements to the
    tail (last first): the three passes and the workgroup one-pass kernel do, the
    subgroup one-pass kernel writes only the selected elements."""
    from wgpu_tensor.ops import select as S
    return S.select_path(dev, n) == "threepass" or S.onepass_kernel(dev) == "workgroup"


def _check_fixed(res, expected, n, rejected=None):
    """The selected elements first; ``rejected`` given: the implementation's tail
    (unspecified by the API) holds the rejected elements, last first, which checks
    that every element was written to its own place."""
    assert res.shape == (n,)
    assert res.count.shape == () and res.count.dtype is wt.int32
    k = res.count.item()
    assert k == len(expected)
    np.testing.assert_array_equal(res.numpy(), expected)   # a counted result reads its valid prefix
    got = res.uncounted().numpy()                           # the whole fixed-size buffer
    np.testing.assert_array_equal(got[:k], expected)
    if rejected is not None and TAIL["check"] and writes_rejected(res.device, n):
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
    np.testing.assert_array_equal(res.uncounted().numpy(), expected)   # the whole buffer
    np.testing.assert_array_equal(res.numpy(), a[m])                    # the counted read


def test_out_argument_is_filled_in_place(sel_path):
    a = np.arange(10, dtype=np.float32)
    m = a % 3 == 0
    out = wt.zeros(10)
    res = wt.masked_select(wt.tensor(a), wt.tensor(m), out=out, fill_value=-1.0)
    assert res is out
    np.testing.assert_array_equal(out.uncounted().numpy(), [0, 3, 6, 9, -1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(out.numpy(), [0, 3, 6, 9])
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
    """Other tasks run while the GPU works. A ticker task stamps the time at each
    turn of the loop; against a blocking baseline (the same selection, then a
    blocking read of its count: T, hundreds of ms on lavapipe), the await of
    masked_select_async must hand the loop back at once (its synchronous part,
    up to the first tick, under T / 4: a blocking map stalls right there, before
    the await point) and never stall it for most of T. Up to three tries: the
    machine is shared, and only a blocking read fails all of them."""
    import time
    x = wt.randn(2 ** 23, seed=2)
    m = x > 0
    wt.synchronize()

    def blocking():
        t0 = time.perf_counter()
        x.masked_select(m).count.item()
        return time.perf_counter() - t0

    async def main():
        ticks = []

        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        start = time.perf_counter()
        res = await x.masked_select_async(m)
        end = time.perf_counter()
        t.cancel()
        return res, np.diff([start] + [s for s in ticks if start < s < end] + [end])

    blocking()  # warm-up: pipelines, pooled buffers
    tries = []
    for _ in range(3):
        wt.synchronize()
        base = blocking()
        wt.synchronize()
        res, gaps = asyncio.run(main())
        tries.append((base, gaps[0], gaps.max(), len(gaps) - 1))
        if gaps[0] < base / 4 and gaps.max() < base * 0.75 and len(gaps) > 10:
            break
    else:
        pytest.fail("the event loop was blocked while the selection ran: (blocking baseline s, "
                    f"first gap s, longest gap s, ticks) per try: {tries}")
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


def _dispatches_named(log, *names):
    return [c for c in log if c.kind == "dispatch" and c.name in names]


def _pieces(n, seg, tile):
    """(start, end) of each one-pass dispatch: segments of ``seg`` elements, each
    split into its whole tiles and a partial last tile (``tile`` = None: unsplit)."""
    out = []
    for s0 in range(0, n, seg):
        e0 = min(n, s0 + seg)
        cut = s0 + (e0 - s0) // tile * tile if tile else e0
        out += [(s, e) for s, e in ((s0, cut), (cut, e0)) if e > s]
    return out


def _covers(wins, uid, nbytes, limit):
    """Windows (uid, offset, size) of buffer ``uid``, each within one binding of
    ``limit`` bytes, that cover bytes [0, nbytes) in order."""
    assert wins and all(w[0] == uid for w in wins), wins
    assert all(w[2] <= limit for w in wins), (wins, limit)
    pos = 0
    for _, off, size in wins:
        assert off <= pos, ("a gap before", off, pos)
        pos = max(pos, off + size)
    assert pos >= nbytes, (pos, nbytes)


def mixed_tile_mask(rng, n, tile, lim):
    """A mask whose tiles of ``tile`` elements select 0, 1, lim - 1, lim, lim + 1,
    half, all but one or all of their elements, at random places: sparse tiles
    (under ``lim`` selected) and dense ones side by side, on both sides of the limit."""
    choices = np.array([0, 1, lim - 1, lim, lim + 1, tile // 2, tile - 1, tile])
    m = np.zeros(n, bool)
    for t0 in range(0, n, tile):
        size = min(tile, n - t0)
        c = min(int(rng.choice(choices)), size)
        m[t0 + rng.choice(size, c, replace=False)] = True
    return m


def onepass_result(a, m, before, tile, lim):
    """What the one-pass kernel leaves in an [n] output that held ``before``: the
    selected elements first; each rejected element of a tile of ``lim`` or more
    selected (the workgroup kernel: lim 0, every tile) at n - 1 - (its rank among
    the rejected); the others are not written (``before`` stays there: the subgroup
    kernel, lim = inf, writes no rejected element)."""
    n = a.size
    tiles = np.arange(n) // tile
    dense = np.bincount(tiles, weights=m, minlength=tiles[-1] + 1)[tiles] >= lim
    rej = ~m
    out = before.copy()
    k = int(m.sum())
    out[:k] = a[m]
    rank = np.cumsum(rej) - 1
    out[n - 1 - rank[rej & dense]] = a[rej & dense]
    return out


@pytest.mark.parametrize("n, binding", [(50_001, None), (300_007, None), (300_007, 65536)],
                         ids=["50001", "300007", "300007-binding64K"])
def test_default_setting_mixed_sparse_and_dense_tiles(scan_path, n, binding):
    """The production settings untouched (the one-pass kernel; on the subgroup
    kernel, tiles under 1/SPARSE selected write only their selected elements)
    over many tiles, each side of the sparse limit, in one binding and in
    segments and output windows. The output starts as a sentinel: the subgroup
    kernel must write the selected elements and leave every other place untouched
    (the workgroup kernel writes the rejected ones to the tail); with fill_value the
    whole tail."""
    from wgpu_tensor.ops import select as S
    dev = get_device()
    assert S.PATH is None and S.ONEPASS_KERNEL is None, "a test left its path setting behind"
    tile = S.TILE_SG
    assert 1 < S.SPARSE < tile, f"SPARSE={S.SPARSE}: the production setting must mix sparse and dense tiles"
    sg = onepass_name(dev, "default") == "select_onepass_sg"
    lim = np.inf if sg else 0     # the subgroup kernel writes no rejected element, the workgroup kernel all
    rng = np.random.default_rng(n)
    m = mixed_tile_mask(rng, n, tile, tile // S.SPARSE)
    dense = np.bincount(np.arange(n) // tile, weights=m) >= tile // S.SPARSE
    assert dense.any() and not dense.all()
    while binding and -(-n * 4 // binding) + 3 > dev.max_storage_bindings:
        binding *= 2  # an adapter with fewer storage buffers per stage (OpenGL: 16) gets fewer windows
    for dtype, sentinel in ((np.float32, -1e30), (np.int32, -(2 ** 31))):
        a = _data(rng, n, dtype)
        x, mm = wt.tensor(a), wt.tensor(m)
        out = wt.full((n,), sentinel, dtype=wt.float32 if dtype == np.float32 else wt.int32)
        with override_limits(max_binding=binding), dev.record_commands() as log:
            res = wt.masked_select(x, mm, out=out)
            filled = wt.masked_select(x, mm, fill_value=7)
        assert res.count.item() == filled.count.item() == m.sum()
        np.testing.assert_array_equal(
            res.uncounted().numpy(), onepass_result(a, m, np.full(n, sentinel, dtype), tile, lim))
        np.testing.assert_array_equal(
            filled.uncounted().numpy(), np.concatenate([a[m], np.full(n - m.sum(), 7, dtype)]))
        one = _dispatches_named(log, "select_onepass_sg", "select_onepass")
        assert {c.name for c in one} == {"select_onepass_sg" if sg else "select_onepass"}
        if sg:
            assert {c.params["SPARSE_LIM"] for c in one} == {tile // S.SPARSE}
        seg = (binding or dev.max_binding) // 4 // S.BLOCK * S.BLOCK
        assert len(one) == 2 * len(_pieces(n, seg, tile if sg else None))
        if binding:
            assert -(-n // seg) > 1 and all(c.params["K"] > 1 for c in one)  # segments and windows


@pytest.mark.slow
@pytest.mark.parametrize("path", ["default", "default-fill", "threepass"])
def test_bigger_than_one_storage_binding(big_binding, path):
    """2**25 + 12345 float32 (134 MB) over a 128 MiB storage binding (lavapipe's
    own, pretended exactly, so the counts below follow from that constant and not
    from the adapter): the input runs as two segments, the output is bound as two
    windows. "default": the production one-pass path into an output holding a
    sentinel (the tail as the kernel leaves it, mixed sparse and dense tiles);
    "default-fill": with fill_value (the whole tail defined); "threepass": count,
    scan and scatter (the tail holds the rejected elements, last first)."""
    from wgpu_tensor.ops import select as S
    dev = get_device()
    n = 2 ** 25 + 12345
    tile, block = S.TILE_SG, S.BLOCK
    seg = big_binding // 4 // block * block          # elements per segment
    assert -(-n // seg) == 2 and n * 4 > big_binding
    rng = np.random.default_rng(25)
    a = rng.random(n, dtype=np.float32)
    # per tile: none, few, around the sparse limit, half, most or all selected
    thr = rng.choice(np.array([0, 0.05, 0.12, 0.125, 0.13, 0.5, 0.97, 1], np.float32), -(-n // tile))
    m = rng.random(n, dtype=np.float32) < np.repeat(thr, tile)[:n]
    del thr
    sentinel = np.float32(-1e30)
    x, mm = wt.tensor(a), wt.tensor(m)
    out = wt.full((n,), float(sentinel)) if path == "default" else None
    old = S.PATH
    S.PATH = "threepass" if path == "threepass" else old
    try:
        with dev.record_commands() as log:
            res = wt.masked_select(x, mm, out=out, fill_value=-1.0 if path == "default-fill" else None)
    finally:
        S.PATH = old
    k = int(m.sum())
    assert res.count.item() == k
    got = res.uncounted().numpy()
    if path == "default":
        sg = onepass_name(dev, "default") == "select_onepass_sg"
        want = onepass_result(a, m, np.full(n, sentinel), tile, np.inf if sg else 0)
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_array_equal(got[:k], a[m])
        del a
        if path == "default-fill":
            assert (got[k:] == -1).all()
        else:
            np.testing.assert_array_equal(got[k:], x.numpy()[~m][::-1])
    # the segments, windows and launches it recorded
    xu, ou = x._v._buf.uid, res._v._buf.uid
    out_wins = [(ou, 0, big_binding), (ou, big_binding, res._v._buf.size - big_binding)]
    if path == "threepass":
        counts = _dispatches_named(log, "count_blocks", "count_blocks_sg")
        scans = _dispatches_named(log, "scan_blocks")
        scatters = _dispatches_named(log, "scatter_selected", "scatter_selected_sg")
        assert not _dispatches_named(log, "select_onepass", "select_onepass_sg")
        assert (len(counts), len(scans), len(scatters)) == (2, 1, 2)
        assert [c.bindings[0][1] for c in counts] == [0, seg]               # the mask's segments
        assert [c.bindings[0][1] for c in scatters] == [0, seg]
        assert [c.bindings[2][1] for c in scatters] == [0, seg * 4]         # x's segments
        for c in scatters:
            assert list(c.bindings[3:]) == out_wins and c.params["K"] == 2
        _covers([c.bindings[2] for c in scatters], xu, n * 4, big_binding)
    else:
        one = _dispatches_named(log, "select_onepass_sg", "select_onepass")
        sg = one[0].name == "select_onepass_sg"
        pieces = _pieces(n, seg, tile if sg else None)
        # the subgroup kernel: the first segment's whole tiles, then the second's whole
        # tiles (if any) and its partial last tile, each a launch
        rest = n - seg
        assert len(one) == len(pieces) == (1 + (rest >= tile) + (rest % tile > 0) if sg else 2)
        assert [c.bindings[2][1] for c in one] == [s * 4 for s, _ in pieces]   # x's window per launch
        assert [c.bindings[0][1] for c in one] == [s for s, _ in pieces]       # the mask's (1 byte each)
        for c in one:
            assert list(c.bindings[3:5]) == out_wins and c.params["K"] == 2
        _covers([c.bindings[2] for c in one], xu, n * 4, big_binding)
        fills = _dispatches_named(log, "fill_tail")
        if path == "default-fill":
            assert len(fills) == 2
            _covers([c.bindings[1] for c in fills], ou, n * 4, big_binding)
        else:
            assert not fills


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
    x9 = wt.zeros((1, 2) * 4 + (2,))          # 9 dims, none mergeable for nonzero
    x = wt.tensor([1.0, 2.0, 3.0])
    xi, mi = wt.tensor([1, 2, 3]), wt.tensor([True, False, True])
    with no_gpu_work():
        with pytest.raises(ValueError, match="at most 8"):
            x9.nonzero()
        with pytest.raises(TypeError, match="BoolTensor"):
            x.masked_select(x)
        with pytest.raises(OverflowError, match="does not fit int32"):
            xi.masked_select(mi, fill_value=2 ** 40)
        with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
            x.masked_select(mi[:2])


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


def _one_tile_masks(rng, n, tile, lim):
    """Masks over n elements that hit the packed stores' edge cases: nothing, one
    element, lim - 1 and lim selected in every tile (each side of the sparse limit),
    half, all but one, all."""
    out = [np.zeros(n, bool), np.zeros(n, bool), rng.random(n) < 0.5, np.ones(n, bool)]
    out[1][n // 2] = True
    almost = np.ones(n, bool)
    almost[rng.integers(0, n)] = False
    out.append(almost)
    for c in (lim - 1, lim):
        m = np.zeros(n, bool)
        for t0 in range(0, n, tile):
            size = min(tile, n - t0)
            m[t0 + rng.choice(size, min(c, size), replace=False)] = True
        out.append(m)
    return out


@pytest.mark.parametrize("binding", [None, 65536, 16384], ids=["one-window", "windows64K", "windows16K"])
def test_packed_stores_at_window_boundaries_heads_and_tails(binding):
    """The subgroup kernel's dense tiles store the selected words as aligned vec4s
    (each lane's partial first and last vec4 word by word): sizes around the tile,
    every kind of tile (none, one, each side of the sparse limit, half, all), an
    output that starts off a vec4 boundary (a view at element 1 of a bigger buffer:
    the head words of the first lane), and outputs bound as many windows of
    16K or 4K elements (a vec4 never straddles two; the tile shrinks to divide the
    16 KiB segment). Checks the selected elements, the count and that nothing past
    the count (nor before the view) is touched; the same through the fused
    predicate, 1-D nonzero and fill_value."""
    from wgpu_tensor.ops import select as S
    dev = get_device()
    sg = onepass_name(dev, "default") == "select_onepass_sg"
    rng = np.random.default_rng(7 if binding is None else binding)
    seg = (binding or dev.max_binding) // 4 // S.BLOCK * S.BLOCK
    tile = S.TILE_SG
    while seg % tile:
        tile //= 2
    lim = tile // S.SPARSE
    sizes = [tile - 1, tile, tile + 1, 3 * tile + 5]
    if binding:
        sizes.append(5 * seg + 3)    # several segments
    sentinel = np.float32(-7e30)
    for n in sizes:
        if binding and -(-(n + 1) * 4 // binding) + 4 > dev.max_storage_bindings:
            continue
        a = (rng.standard_normal(n) * 100).astype(np.float32)
        x = wt.tensor(a)
        for m in _one_tile_masks(rng, n, tile, lim):
            k = int(m.sum())
            big = wt.full((n + 1,), float(sentinel))
            out = big[1:]
            with override_limits(max_binding=binding), dev.record_commands() as log:
                res = wt.masked_select(x, wt.tensor(m), out=out)
                fused = x.masked_select(x > 0.0)
                nz = wt.nonzero(wt.tensor(m))
                filled = wt.masked_select(x, wt.tensor(m), fill_value=3.0)
            assert res.count.item() == k and nz.count.item() == k
            got = big.numpy()
            assert got[0] == sentinel, "a store before the output"
            np.testing.assert_array_equal(got[1:k + 1], a[m])
            if sg:
                assert (got[k + 1:] == sentinel).all(), "the subgroup kernel wrote past the count"
            np.testing.assert_array_equal(fused.numpy(), a[a > 0.0])
            np.testing.assert_array_equal(nz.numpy()[:, 0], np.flatnonzero(m))
            np.testing.assert_array_equal(filled.uncounted().numpy(),
                                          np.concatenate([a[m], np.full(n - k, 3.0, np.float32)]))
            one = _dispatches_named(log, "select_onepass_sg")
            if sg:
                assert {c.params["TILE"] for c in one} == {tile}
                assert all(c.params["OUTV"] and c.params["PACKED"] for c in one)
                if binding and n > binding // 4:
                    assert any(c.params["K"] > 1 for c in one), "no output windows"


def test_packed_stores_fall_back_to_words_where_the_buffer_forbids_vec4(monkeypatch):
    """S.PACKED = False (the path taken when an output window cannot be bound as
    vec4s): the same packing, every vec4 written as four words; same results."""
    from wgpu_tensor.ops import select as S
    dev = get_device()
    if onepass_name(dev, "default") != "select_onepass_sg":
        pytest.skip("the subgroup kernel's packed stores")
    monkeypatch.setattr(S, "PACKED", False)
    rng = np.random.default_rng(3)
    for n in (1, 4097, S.TILE_SG + 3):
        a = rng.standard_normal(n).astype(np.float32)
        for frac in (0.0, 0.5, 1.0):
            m = rng.random(n) < frac
            with dev.record_commands() as log:
                got = wt.tensor(a)[wt.tensor(m)].numpy()
            np.testing.assert_array_equal(got, a[m])
            assert {c.params["OUTV"] for c in _dispatches_named(log, "select_onepass_sg")} == {False}

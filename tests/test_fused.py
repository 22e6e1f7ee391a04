"""masked_select(x, x OP t) with the compare fused into the selection: x OP t is a
lazy mask (nothing runs), and the one-pass kernel evaluates it from x instead of
reading a mask. Results, the mask itself (written when read), and every case
where fusing must not happen, against numpy on both one-pass kernels and both
scan paths. tests/test_lazy_mask.py covers the other expressions and consumers."""
import asyncio
import operator

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import select as S
from wgpu_tensor.runtime import get_device, override_limits
from conftest import require_subgroups
from test_select import _check_fixed, onepass_name, sel_path  # noqa: F401  (the fixture)

OPS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le, "eq": operator.eq,
       "ne": operator.ne}
SIZES = [1, 2, 3, 5, 63, 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097, 12345]


def fused_select(x, op, t):
    """x.masked_select(x OP t), asserting the fused path ran: on the one-pass path
    the only dispatches recorded are the fused one-pass kernel's, and it is the
    kernel S.ONEPASS_KERNEL asks for (asking for the subgroup kernel needs usable
    subgroups: else the runtime would quietly run the workgroup kernel); on the
    three passes, count and scatter evaluate the compare (no compare runs)."""
    dev = x.device
    if S.ONEPASS_KERNEL == "subgroup":
        require_subgroups("the fused subgroup one-pass kernel")
    before = S.fused
    with dev.record_commands() as log:
        m = OPS[op](x, t)
        res = x.masked_select(m)
    onepass = S.select_path(dev, x.numel()) == "onepass"
    assert S.fused - before == 1
    ran = [c for c in log if c.kind == "dispatch"]
    assert not [c for c in log if c.kind == "alloc" and c.params["nbytes"] == x.numel()], \
        "a mask-sized buffer was allocated"
    if onepass:
        want = {"subgroup": "select_onepass_sg", "workgroup": "select_onepass"}.get(
            S.ONEPASS_KERNEL) or onepass_name(dev, "default")
        assert ran and [c.name for c in ran] == [want] * len(ran), [c.name for c in ran]
        assert all(c.params["FUSED"] for c in ran), "the compare was not fused"
    else:
        names = [c.name.removesuffix("_sg") for c in ran]
        assert set(names) == {"count_blocks", "scan_blocks", "scatter_selected"}, names
        assert all(c.params["FUSED"] for c in ran if c.name != "scan_blocks"), "the compare was not fused"
    return m, res


def padded(rng, n, fill=7.0):
    """A 16-byte-aligned view of n values inside a bigger tensor whose other
    elements (fill) satisfy x > 0: a kernel reading past n would count them."""
    big = np.full(n + 37, fill, np.float32)
    big[4:4 + n] = (rng.standard_normal(n) * 3).astype(np.float32)
    return wt.tensor(big)[4:4 + n], big[4:4 + n]


@pytest.mark.parametrize("n", SIZES)
def test_fused_sizes_and_mask(scan_path, sel_path, n):
    rng = np.random.default_rng(n)
    x, a = padded(rng, n)
    for t in (0.0, 2.5, -10.0, 10.0):  # about half, a few, all, none
        m, res = fused_select(x, "gt", t)
        sel = a > np.float32(t)
        _check_fixed(res, a[sel], n, a[~sel])
        np.testing.assert_array_equal(m.numpy(), sel)  # the mask holds the compare's result
        # and later ops read it: a second (unfused) selection with the same mask
        _check_fixed(x.masked_select(m), a[sel], n, a[~sel])


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype, scalars", [
    (wt.float32, [0.5, -0.0, float("nan"), float("inf"), 3]),
    (wt.int32, [0, -3, 2, 1.5, 2 ** 31 - 1]),
    (wt.uint32, [0, 5, 2 ** 32 - 1, 2.5]),
])
@pytest.mark.parametrize("kern", ["subgroup", "workgroup"])
def test_fused_ops_dtypes_and_scalars(monkeypatch, kern, op, dtype, scalars):
    """Every compare, dtype and kind of scalar (each a kernel of its own) on both
    one-pass kernels, against numpy; the recorded commands show the kernel asked
    for ran, fused (the subgroup kernel needs usable subgroups: without them the
    runtime would quietly take the workgroup kernel). The paths' other variants
    are the sizes test's."""
    monkeypatch.setattr(S, "ONEPASS_KERNEL", kern)
    monkeypatch.setattr(S, "PATH", "onepass")
    monkeypatch.setattr(S, "SPARSE", 0)
    rng = np.random.default_rng(3)
    n = 4099
    if dtype is wt.float32:
        a = (rng.integers(-8, 9, n) / 2).astype(np.float32)
        a[::17] = np.nan
        a[::29] = -0.0
        a[::31] = np.inf
    elif dtype is wt.int32:
        a = rng.integers(-6, 7, n).astype(np.int32)
        a[::13] = 2 ** 31 - 1
    else:
        a = rng.integers(0, 9, n).astype(np.uint32)
        a[::13] = 2 ** 32 - 1
    x = wt.tensor(a, dtype=dtype)
    for t in scalars:
        want_mask = np_compare(op, a, t)
        m, res = fused_select(x, op, t)  # asserts the kernel asked for ran, fused
        np.testing.assert_array_equal(m.numpy(), want_mask)
        _check_fixed(res, a[want_mask], n, a[~want_mask])


def np_compare(op, a, t):
    """numpy's answer for ``a OP t`` under PyTorch's promotion: a float scalar or
    float data compares in float32, ints exactly."""
    if isinstance(t, float) or a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return OPS[op](a.astype(np.float32), np.float32(t))
    return OPS[op](a.astype(np.int64), np.int64(t))


def test_fused_with_fallback_over_many_tiles():
    """SPINS = 0: every tile counts its predecessors itself, from x (the fused
    predicate in the look-back fallback)."""
    old = S.SPINS, S.PATH, S.SPARSE
    S.SPINS, S.PATH, S.SPARSE = 0, "onepass", 0
    try:
        rng = np.random.default_rng(5)
        x, a = padded(rng, 40_000)
        for kern in ("subgroup", "workgroup"):
            S.ONEPASS_KERNEL = kern
            m, res = fused_select(x, "lt", 0.25)
            _check_fixed(res, a[a < 0.25], a.size, a[~(a < 0.25)])
    finally:
        S.SPINS, S.PATH, S.SPARSE = old
        S.ONEPASS_KERNEL = None


def test_fused_two_d_grids():
    """More workgroups than one grid dimension holds (pretend limit of 26): the
    compare's plan (641 workgroups) and the workgroup kernel (41 blocks) take
    2-D grids."""
    rng = np.random.default_rng(6)
    try:
        for kern in ("workgroup", "subgroup"):
            S.ONEPASS_KERNEL = kern
            with override_limits(max_groups=26):
                x, a = padded(rng, 40 * 4096 + 3)
                m, res = fused_select(x, "ge", -0.5)
                _check_fixed(res, a[a >= -0.5], a.size)
                np.testing.assert_array_equal(m.numpy(), a >= -0.5)
    finally:
        S.ONEPASS_KERNEL = None


def test_fused_index_async_fill_and_grad():
    rng = np.random.default_rng(7)
    a = rng.standard_normal(3000).astype(np.float32)
    x = wt.tensor(a)
    before = S.fused
    np.testing.assert_array_equal(x[x > 0.1].numpy(), a[a > 0.1])

    async def go():
        return await x.masked_select_async(x < -0.2)
    box = []
    asyncio.run(_store(go(), box))
    np.testing.assert_array_equal(box[0].numpy(), a[a < -0.2])
    r = x.masked_select(x > 1.0, fill_value=-1.0)
    k = int((a > 1.0).sum())
    np.testing.assert_array_equal(r.uncounted().numpy(),
                                  np.concatenate([a[a > 1.0], np.full(a.size - k, -1.0, np.float32)]))
    assert S.fused - before == 3
    w = wt.tensor(a, requires_grad=True)
    w.masked_select(w > 0.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), (a > 0).astype(np.float32))


async def _store(coro, box):
    box.append(await coro)


def test_fused_or_not_whatever_comes_between():
    """A lazy mask fuses into a later selection whatever ran in between, with any
    input of its shape; a change of its input in place, a view of the mask or a
    copy of it make the selection read a written mask, which holds the compare
    of the input as it was."""
    rng = np.random.default_rng(8)
    a = rng.standard_normal(5000).astype(np.float32)
    x = wt.tensor(a)
    y = wt.tensor(a[::-1].copy())
    cases = []

    before = S.fused
    m = x > 0.0
    z = x + 1.0  # another op recorded in between
    cases.append((x.masked_select(m), a[a > 0]))
    m = x > 0.0
    cases.append((y.masked_select(m), a[::-1][a > 0]))  # another input
    assert S.fused - before == 2

    before = S.fused
    m = x > 0.0
    x.add_(1.0)  # the input changed in place after the compare: the mask is the old one
    cases.append((x.masked_select(m), (a + 1)[a > 0]))
    x.sub_(1.0)

    m = x > 0.0
    x.copy_(wt.tensor(a * 2))  # an upload / copy in between
    cases.append((x.masked_select(m), (a * 2)[a > 0]))
    x.copy_(wt.tensor(a))

    m = x > 0.0
    cases.append((x[1:].masked_select(m[1:]), a[1:][a[1:] > 0]))  # views

    m = x > 0.0
    cases.append((x.masked_select(m.clone()), a[a > 0]))  # a copy of the mask
    assert S.fused == before
    for res, want in cases:
        k = res.count.item()
        np.testing.assert_array_equal(res.numpy()[:k], want)
    np.testing.assert_array_equal(m.numpy(), a > 0)
    np.testing.assert_array_equal(z.numpy(), a + np.float32(1))


def test_lazy_mask_is_written_for_every_other_use():
    """A lazy mask is written for any use that is not fused: reads, reductions,
    timing, another compare."""
    dev = get_device()
    a = np.arange(-50, 50, dtype=np.float32)
    x = wt.tensor(a)
    np.testing.assert_array_equal((x > 3.0).numpy(), a > 3)
    m = x > 3.0
    assert m.sum().item() == int((a > 3).sum())
    m1, m2 = x > 1.0, x > 2.0
    np.testing.assert_array_equal(m1.numpy(), a > 1)
    np.testing.assert_array_equal(m2.numpy(), a > 2)
    m = x < 0.0
    if dev.start_pass_timing():
        dev.stop_pass_timing()
    np.testing.assert_array_equal(m.numpy(), a < 0)


def test_failed_fused_recording_leaves_the_mask_readable(monkeypatch):
    a = np.linspace(-1, 1, 999, dtype=np.float32)
    x = wt.tensor(a)
    m = x > 0.0

    def boom(*args, **kw):
        raise RuntimeError("injected")
    with monkeypatch.context() as mp:
        mp.setattr(S, "_record_onepass", boom)
        with pytest.raises(RuntimeError, match="injected"):
            x.masked_select(m)
    np.testing.assert_array_equal(m.numpy(), a > 0)
    np.testing.assert_array_equal(x.masked_select(m).numpy()[:int((a > 0).sum())], a[a > 0])


# ---------------------------------------------------------------- the three passes
# nonzero on the workgroup one-pass kernel (GPUs, the OpenGL backend), masked_scatter
# and x[mask] = tensor (always), masked_select forced to three passes: count_blocks
# and scatter_selected evaluate the lazy mask's predicate. Each against the same
# consumer over the mask written first (a clone), bit for bit, and numpy.
THREE_SIZES = [0, 1, 3, 4095, 4096, 4097, 12345]
X_DTYPES = [np.float32, np.int32, np.float16, np.bool_]


@pytest.fixture
def three_passes(monkeypatch):
    monkeypatch.setattr(S, "ONEPASS_KERNEL", "workgroup")
    monkeypatch.setattr(S, "PATH", "threepass")


def x_data(rng, n, dtype):
    if dtype == np.bool_:
        return rng.random(n) < 0.5
    if dtype == np.int32:
        return rng.integers(-5, 6, n).astype(np.int32)
    a = (rng.standard_normal(n) * 2).astype(dtype)
    if n > 10:
        a[::11] = np.nan
        a[::13] = -np.inf
    return a


def one_and_two(x, a, y, b):
    """Lazy masks over x alone and over x and y, with numpy's answers."""
    if a.dtype == np.bool_:
        one, w1 = ~x, ~a
        two, w2 = x & (y < 0.5), a & (b < 0.5)
    else:
        with np.errstate(invalid="ignore"):
            one, w1 = x > 0, a > 0
            two, w2 = (x > -1) & (y < 0.5), (a > -1) & (b < 0.5)
    assert is_lazy(one) and is_lazy(two) or not a.size  # (an empty compare is not lazy)
    return [(one, w1), (two, w2)]


def is_lazy(t):
    return t._v._st.lazy is not None


def bits(t):
    return t.numpy().tobytes()


def consumers(x, m, src):
    """nonzero, masked_select (the whole fixed-size buffer: the tail too),
    masked_scatter and x[mask] = tensor over mask ``m``, as bytes."""
    nz = m.nonzero()
    sel = x.masked_select(m)
    ms = x.masked_scatter(m, src)
    put = x.clone()
    k = sel.count.item()
    put[m] = src[:k]
    return [bits(nz), sel.count.item(), bits(sel.uncounted()), bits(ms), bits(put)]


def expected_fused(n, k):
    """Fused selections of one consumers() call: nonzero, masked_select and
    masked_scatter one each; x[mask] = tensor two (its count, then the scatter), but
    a one-element value fills instead. Empty: nothing runs (nor is lazy)."""
    return 0 if n == 0 else 3 + (0 if k == 1 else 2)


@pytest.mark.parametrize("dtype", X_DTYPES)
@pytest.mark.parametrize("n", THREE_SIZES)
def test_three_passes_fused_match_written_mask(scan_path, three_passes, n, dtype):
    rng = np.random.default_rng(n + 11)
    a, b = x_data(rng, n, dtype), x_data(rng, n, np.float32)
    x, y, src = wt.tensor(a), wt.tensor(b), wt.tensor(x_data(rng, n, dtype))
    for m, want in one_and_two(x, a, y, b):
        k = int(want.sum())
        before = S.fused
        got = consumers(x, m, src)
        assert S.fused - before == expected_fused(n, k), "the three passes did not fuse"
        np.testing.assert_array_equal(m.numpy(), want)  # the mask used again: written now
        before = S.fused
        assert consumers(x, m.clone(), src) == got
        assert S.fused == before
        # and numpy's answer
        assert got[0] == np.argwhere(want).astype(np.int32).tobytes()
        assert got[1] == k
        assert np.frombuffer(got[2], a.dtype)[:k].tobytes() == a[want].tobytes()
        scat = a.copy()
        scat[want] = np.asarray(src.numpy())[:k]
        assert got[3] == scat.tobytes() and got[4] == scat.tobytes()


def test_three_passes_several_segments(three_passes):
    """Bindings of 16 KiB: each segment (one block) binds its own windows of the
    predicate's tensors, at offsets inside them."""
    rng = np.random.default_rng(21)
    n = 3 * 4096 + 5
    with override_limits(max_binding=4 * 4096):
        big, b = x_data(rng, n + 9, np.float32), x_data(rng, n, np.float16)
        x, y = wt.tensor(big)[9:], wt.tensor(b)
        a = big[9:]
        src = wt.tensor(x_data(rng, n, np.float32))
        for m, want in one_and_two(x, a, y, b.astype(np.float32)):
            before = S.fused
            got = consumers(x, m, src)
            assert S.fused - before == 5
            assert consumers(x, m.clone(), src) == got
            np.testing.assert_array_equal(m.numpy(), want)
            assert got[0] == np.argwhere(want).astype(np.int32).tobytes()


def test_three_passes_inplace_change_and_later_use(three_passes):
    """An input changed in place after the compare: the mask is written first (the
    old compare), so nothing fuses and every consumer sees the old mask; x[x > 0] =
    t fuses (the scatter pass writes a copy of x) and the mask, used after x
    changed, still holds the compare of x as it was."""
    a = np.linspace(-2, 2, 4099, dtype=np.float32)
    old = a > 0
    k = int(old.sum())
    src = wt.tensor(np.arange(4099, dtype=np.float32))
    x = wt.tensor(a)
    m = x > 0
    x.add_(1.0)
    before = S.fused
    got = consumers(x, m, src)
    assert S.fused == before
    assert not is_lazy(m)
    want = consumers(x, wt.tensor(old), src)
    assert got == want and got[1] == k
    np.testing.assert_array_equal(m.numpy(), old)

    x = wt.tensor(a)
    m = x > 0
    before = S.fused
    x[m] = src[:k]
    assert S.fused - before == 2
    put = a.copy()
    put[old] = np.arange(k, dtype=np.float32)
    np.testing.assert_array_equal(x.numpy(), put)
    np.testing.assert_array_equal(m.numpy(), old)
    x = wt.tensor(a)
    m = (x > 0) & (x < 1)
    x.masked_scatter_(m, src)
    put = a.copy()
    sel = (a > 0) & (a < 1)
    put[sel] = np.arange(int(sel.sum()), dtype=np.float32)
    np.testing.assert_array_equal(x.numpy(), put)
    np.testing.assert_array_equal(m.numpy(), sel)
    np.testing.assert_array_equal(x[m].numpy(), put[sel])


def test_three_passes_over_the_binding_limit_read_a_written_mask(three_passes, monkeypatch):
    """Four storage bindings per stage: nonzero's scatter pass (offsets, one output
    window) has room for the two predicate tensors and fuses; masked_select's (x
    too) has not: it writes the mask, which the later consumers read. The same bits."""
    rng = np.random.default_rng(22)
    n = 4097
    a, b = x_data(rng, n, np.float32), x_data(rng, n, np.float32)
    x, y, src = wt.tensor(a), wt.tensor(b), wt.tensor(x_data(rng, n, np.float32))
    want = consumers(x, ((x > -1) & (y < 0.5)).clone(), src)
    monkeypatch.setattr(get_device(), "max_storage_bindings", 4)
    before = S.fused
    got = consumers(x, (x > -1) & (y < 0.5), src)
    assert S.fused - before == 1  # nonzero only
    assert got == want


def test_three_passes_take_in_place_over_its_own_predicate(three_passes):
    """The scatter pass of masked_scatter writes x in place (x here a tensor of
    the predicate, which masked_scatter itself never passes: it writes a copy):
    the passes then read the written mask, never the predicate from the x they
    write. Against numpy, and the mask holds the compare of x as it was."""
    dev = get_device()
    a = np.linspace(-2, 2, 4099, dtype=np.float32)
    sel = a > 0
    k = int(sel.sum())
    x = wt.tensor(a)
    m = x > 0
    src = wt.tensor(np.arange(4099, dtype=np.float32))
    count = wt.empty((), dtype=wt.int32)
    before = S.fused
    with dev.lock:
        S._record(dev, x._v, m._v, x.shape, "take", src._v._buf, 0, 4099 * 4, count._v)
    assert S.fused == before
    want = a.copy()
    want[sel] = np.arange(k, dtype=np.float32)
    np.testing.assert_array_equal(x.numpy(), want)
    np.testing.assert_array_equal(m.numpy(), sel)


def test_three_passes_two_d_grids(scan_path, three_passes):
    """More blocks than one grid dimension holds (pretend limit of 5): the fused
    count and scatter passes take 2-D grids (the subgroup passes: subgroups stride)."""
    rng = np.random.default_rng(23)
    n = 12 * 4096 + 3
    with override_limits(max_groups=5):
        a, b = x_data(rng, n, np.float32), x_data(rng, n, np.float32)
        x, y, src = wt.tensor(a), wt.tensor(b), wt.tensor(x_data(rng, n, np.float32))
        for m, want in one_and_two(x, a, y, b):
            before = S.fused
            got = consumers(x, m, src)
            assert S.fused - before == 5
            assert consumers(x, m.clone(), src) == got
            assert got[0] == np.argwhere(want).astype(np.int32).tobytes()

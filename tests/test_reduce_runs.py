"""count_nonzero / sum / any / all of a lazy mask (x OP t) over a contiguous x on a CPU
adapter: one contiguous run of up to reduce.RUN elements per invocation, 16 per loop
iteration after a head of up to 3 single elements (x's start not a multiple of 4) and
before a tail of up to 15; the partials folded by one invocation per output; any / all
stop a run once it is decided. Exact counts against numpy at the sizes where the
geometry changes (runs +-1, vec4 tails, several levels of partials), unaligned and
strided views, float16 / int32 / float32 x, rows, and the element that decides any /
all at every place of a run."""
import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import reduce as R
from wgpu_tensor.runtime import get_device

RUN, RUN_MIN = R.RUN, R.RUN_MIN
SIZES = [0, 1, 3, 4, 5, 15, 16, 17, 31, 33, RUN_MIN - 1, RUN_MIN, RUN_MIN + 1, RUN - 1, RUN, RUN + 1,
         2 * RUN + 13, RUN * R.RUN_LANES - 1, RUN * R.RUN_LANES + 1]


def data(rng, n, dtype):
    if dtype == np.int32:
        return rng.integers(-1000, 1000, n).astype(np.int32)
    return (rng.standard_normal(n) * 100).astype(dtype)


def reductions(x, a, t):
    """The four fused reductions of x > t against numpy's, and whether each fused."""
    before = R.fused
    got = (wt.count_nonzero(x > t).item(), (x > t).sum().item(), (x > t).any().item(), (x > t).all().item())
    c = int(np.count_nonzero(a > t))
    assert got == (c, c, c > 0, c == a.size), (a.size, t)
    assert R.fused - before == (4 if a.size else 0)  # (an empty compare is not lazy)


def dispatches(fn):
    with get_device().record_commands() as log:
        fn()
    return [c for c in log if c.kind == "dispatch" and c.name == "reduce"]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16])
@pytest.mark.parametrize("n", SIZES)
def test_run_sizes(n, dtype):
    rng = np.random.default_rng(n)
    a = data(rng, n, dtype)
    x = wt.tensor(a)
    for t in (0, 250, -250, 10 ** 4):  # about half, some, most, none above
        reductions(x, a, a.dtype.type(t))
    if get_device().is_cpu and n >= 16:
        first = dispatches(lambda: wt.count_nonzero(x > 0).item())[0]
        assert first.params["RUN"] and first.params["RED_CONTIG"]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16])
@pytest.mark.parametrize("n", [17, RUN + 7, 3 * RUN + 2])
def test_unaligned_and_strided_views(n, dtype):
    rng = np.random.default_rng(n + 1)
    a = data(rng, n + 8, dtype)
    x = wt.tensor(a)
    for lo in range(1, 4):  # starts 1..3 elements past a multiple of 4: a head of 4 - lo
        for hi in (n + 8, n + 8 - lo):
            reductions(x[lo:hi], a[lo:hi], a.dtype.type(0))
    reductions(x[::2], a[::2], a.dtype.type(0))       # strided: the CPU_EXACT geometry
    reductions(x[1::3], a[1::3], a.dtype.type(30))


@pytest.mark.parametrize("shape", [(3, 4097), (5, 16), (2, 3 * RUN + 1), (7, 15), (1000, 3)])
def test_rows(shape):
    rng = np.random.default_rng(sum(shape))
    a = data(rng, int(np.prod(shape)), np.float32).reshape(shape)
    x = wt.tensor(a)
    for dim in (1, 0, -1):
        np.testing.assert_array_equal(wt.count_nonzero(x > 10, dim=dim).numpy(),
                                      np.count_nonzero(a > 10, axis=dim))
        np.testing.assert_array_equal((x > 10).sum(dim).numpy(), (a > 10).sum(dim))
        np.testing.assert_array_equal((x > 10).any(dim).numpy(), (a > 10).any(dim))
        np.testing.assert_array_equal((x > -200).all(dim).numpy(), (a > -200).all(dim))
    np.testing.assert_array_equal((x[:, 1:] > 10).sum(1).numpy(), (a[:, 1:] > 10).sum(1))


def test_levels_of_partials(monkeypatch):
    """Runs of 64: 3 * 64 * 64 + 5 elements take three passes (193 partials, then 4),
    and the partials' passes are runs too."""
    monkeypatch.setattr(R, "CPU_RUN", (1, 64, 8, 16))
    monkeypatch.setattr(R, "CPU_RUN_PARTIALS", (1, 64, 1, 16))
    n = 3 * 64 * 64 + 5
    rng = np.random.default_rng(5)
    a = data(rng, n, np.float32)
    x = wt.tensor(a)
    reductions(x, a, np.float32(0))
    reductions(x[3:], a[3:], np.float32(0))
    if get_device().is_cpu:
        ran = dispatches(lambda: wt.count_nonzero(x > 0).item())
        # (the last pass folds 4 partials: fewer than 16, one at a time)
        assert len(ran) == 3 and ran[0].params["RUN"] and ran[1].params["RUN"]


@pytest.mark.parametrize("n", [1, 16, 17, RUN_MIN + 3, RUN + 5, 3 * RUN])
def test_the_deciding_element_anywhere(n):
    """any: one element above t; all: one element not above t; at every place that
    matters to a run (first, the head, the last of an iteration of 16, the tail, the
    last of a run, the first of the next); with early stops, and none at all."""
    places = {0, 1, 2, 3, 15, 16, 17, n - 1, n - 2, n - 16, RUN_MIN - 1, RUN_MIN, RUN - 1, RUN, RUN + 1}
    base = np.zeros(n + 3, np.float32)
    x0 = wt.tensor(base)
    for start in (0, 3):  # aligned, and a view with a head
        assert not (x0[start:] > 0.5).any().item()
        assert (x0[start:] < 0.5).all().item()
        for p in sorted(q for q in places if 0 <= q < n):
            a = base.copy()
            a[start + p] = 1.0
            x = wt.tensor(a)[start:start + n]
            assert (x > 0.5).any().item(), (n, start, p)
            assert not (x < 0.5).all().item(), (n, start, p)
            assert wt.count_nonzero(x > 0.5).item() == 1
            a[start + p + 1:] = 1.0  # stops early in the runs before the last
            x = wt.tensor(a)[start:start + n]
            assert (x > 0.5).any().item()
            assert (x > 0.5).all().item() == (p == 0)
            assert wt.count_nonzero(x > 0.5).item() == n - p


def test_small_binding_windows_and_grids():
    """A 4 KiB storage binding and 3 x 3 workgroups at most: runs are cut to fit a
    window (the launches of one pass bind windows of x), the partials span launches."""
    from wgpu_tensor.runtime import override_limits
    rng = np.random.default_rng(9)
    n = 3 * RUN + 37
    a = data(rng, n, np.float32)
    x = wt.tensor(a)
    with override_limits(max_binding=4096, max_groups=3):
        reductions(x, a, np.float32(0))
        reductions(x[5:], a[5:], np.float32(50))
        r = a.reshape(-1, 1)[: n // 7 * 7].reshape(7, -1)
        np.testing.assert_array_equal(wt.count_nonzero(x[: n // 7 * 7].reshape(7, -1) > 0, dim=1).numpy(),
                                      np.count_nonzero(r > 0, axis=1))

"""The replayed binary-op plans (ops/elementwise.py fast_binary) and the
parameter-block reuse in Device.dispatch: a replay must give exactly what the
general path gives, for every operand signature the plan key tells apart."""
import math
import operator

import numpy as np
import pytest
from hypothesis import given, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.ops import elementwise as E
from wgpu_tensor.runtime import get_device
from conftest import DTYPES, rand_np

OPS = ["gt", "ge", "lt", "le", "eq", "ne", "add", "sub", "mul", "div"]
PY = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le, "eq": operator.eq,
      "ne": operator.ne, "add": operator.add, "sub": operator.sub, "mul": operator.mul,
      "div": operator.truediv}


def _v(t):
    return t._v if isinstance(t, wt.Tensor) else t


def general(name, a, b):
    """The same op through the general path (no plan)."""
    return wt.Tensor._wrap(E.binary(name, _v(a), _v(b)))


def fast(name, a, b):
    """The replayed plan of ``a <name> b`` (None when the signature has none)."""
    out = E.fast_binary(name, _v(a), _v(b))
    return None if out is None else wt.Tensor._wrap(out)


def same_bits(t, u):
    assert t.shape == u.shape and t.dtype is u.dtype
    np.testing.assert_array_equal(t.numpy().view(np.uint8), u.numpy().view(np.uint8))


def replayed(name, a, b):
    """Run the op twice through the operators: the first call makes the plan,
    the second replays it. Both must be fast-path results."""
    first = PY[name](a, b)
    assert fast(name, a, b) is not None, "expected a plan for this signature"
    second = PY[name](a, b)
    same_bits(first, second)
    return second


@pytest.mark.parametrize("n", [1, 2, 3, 5, 255, 256, 257, 1023, 1025, 4099])
@pytest.mark.parametrize("name", OPS)
def test_replay_matches_numpy_float32(rng, name, n):
    xa, ya = rand_np(rng, (n,), wt.float32), rand_np(rng, (n,), wt.float32)
    ya[ya == 0] = 0.5
    x, y = wt.from_numpy(xa), wt.from_numpy(ya)
    got = replayed(name, x, y)
    np.testing.assert_array_equal(got.numpy(), PY[name](xa, ya))
    got = replayed(name, x, 1.5)
    np.testing.assert_array_equal(got.numpy(), PY[name](xa, np.float32(1.5)))
    got = replayed(name, 3, y)
    np.testing.assert_array_equal(got.numpy(), PY[name](np.float32(3), ya))


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_replay_equals_general_path_every_dtype_pair(rng, da, db):
    xa, ya = rand_np(rng, (3, 37), da, special=True), rand_np(rng, (3, 37), db, special=True)
    x, y = wt.from_numpy(xa), wt.from_numpy(ya)
    for name in OPS:
        try:
            want = general(name, x, y)
        except TypeError:
            assert fast(name, x, y) is None
            continue
        same_bits(replayed(name, x, y), want)
        for s in (2, -3, 0.25, -0.0, 2 ** 31, 2 ** 32 - 1):
            try:
                want = general(name, x, s)
            except (TypeError, OverflowError):
                assert fast(name, x, s) is None
                continue
            same_bits(replayed(name, x, s), want)
            same_bits(replayed(name, s, x), general(name, s, x))


def test_views_with_offsets_get_their_own_plans(rng):
    base = wt.from_numpy(rand_np(rng, (4101,), wt.float32))
    other = wt.from_numpy(rand_np(rng, (4101,), wt.float32))
    bn, on = base.numpy(), other.numpy()
    for lo in (0, 1, 2, 3, 4, 63, 64, 65):
        x, y = base[lo:lo + 4000], other[4100 - 4000 - lo % 3: 4100 - lo % 3]
        got = replayed("add", x, y)
        np.testing.assert_array_equal(got.numpy(), bn[lo:lo + 4000] + on[4100 - 4000 - lo % 3: 4100 - lo % 3])


def test_scalar_values_and_signs_are_told_apart():
    x = wt.tensor([1.0, -2.0, 0.0])
    for s in (1, 2, 1.0, 2.5):
        np.testing.assert_array_equal((x + s).numpy(), x.numpy() + np.float32(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(2):  # +0.0 and -0.0 are equal keys to a dict: the plan must not mix them
            np.testing.assert_array_equal((x / 0.0).numpy(), x.numpy() / np.float32(0.0))
            np.testing.assert_array_equal((x / -0.0).numpy(), x.numpy() / np.float32(-0.0))
    for _ in range(2):
        np.testing.assert_array_equal((x > math.nan).numpy(), [False] * 3)
        np.testing.assert_array_equal((x != math.nan).numpy(), [True] * 3)
    i = wt.tensor([1, 2, 3], dtype=wt.int32)
    assert (i + True).dtype is wt.int32  # a bool scalar is not replayed as the int 1
    np.testing.assert_array_equal((i + True).numpy(), [2, 3, 4])
    with pytest.raises(OverflowError):
        i + 2 ** 40
    with pytest.raises(OverflowError):  # again: a refused signature is not cached as a plan
        i + 2 ** 40


def test_float16_scalar_is_rounded_like_the_general_path():
    h = wt.tensor([0.1, 0.2, 0.3], dtype=wt.float16)
    for _ in range(2):
        np.testing.assert_array_equal((h == 0.1).numpy(), [True, False, False])


def test_grad_goes_to_the_general_path():
    x = wt.tensor([1.0, 2.0, 3.0])
    y = wt.tensor([4.0, 5.0, 6.0])
    for _ in range(2):
        assert (x * y).grad_fn is None
    x.requires_grad_()
    z = x * y
    assert z.grad_fn is not None
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 5.0, 6.0])
    assert (x > y).grad_fn is None  # a bool result has no gradient


def test_broadcast_and_strided_operands_take_the_general_path(rng):
    a = wt.from_numpy(rand_np(rng, (8, 5), wt.float32))
    b = wt.from_numpy(rand_np(rng, (5,), wt.float32))
    for _ in range(2):
        assert fast("add", a, b) is None
        np.testing.assert_array_equal((a + b).numpy(), a.numpy() + b.numpy())
        t = a[:, ::2]
        assert fast("add", t, 1.0) is None
        np.testing.assert_array_equal((t + 1.0).numpy(), a.numpy()[:, ::2] + np.float32(1))


def test_pooled_buffers_cycle_through_many_plans():
    """Results die and their buffers come back from the pool under other plans:
    bind groups are keyed by plan and buffer, so nothing binds a stale pair."""
    dev = get_device()
    xs = [wt.arange(n, dtype=wt.float32) for n in (5, 6, 7, 8)]
    for rnd in range(3):
        outs = []
        for k, x in enumerate(xs):
            for s in (1.0, 2.0):
                outs.append((x * s + k, x.numpy() * np.float32(s) + np.float32(k)))
        for t, want in outs:
            np.testing.assert_array_equal(t.numpy(), want)
    assert dev.memory_stats()["in_use_bytes"] >= 0


def test_parameter_blocks_shared_across_an_arena_flush():
    """A loop of one op reuses one parameter block; past the arena's capacity of
    distinct blocks (interleaved with other ops) every result is still right."""
    dev = get_device()
    x = wt.arange(300, dtype=wt.float32)
    n_blocks = dev.ARENA_SIZE // dev.uniform_align
    keep = []
    for i in range(n_blocks + 50):
        keep.append(x > (i % 300))  # a new block each time
        keep.append(x > (i % 300))  # the same block again
    xn = x.numpy()
    for i in range(0, len(keep), 97):
        np.testing.assert_array_equal(keep[i].numpy(), xn > (i // 2 % 300))


@given(st.sampled_from(OPS), st.sampled_from(DTYPES), st.integers(0, 600), st.integers(0, 5),
       st.one_of(st.none(), st.integers(-2 ** 31, 2 ** 32 - 1), st.floats(allow_nan=True, width=32)))
def test_property_replay_equals_general(name, dt, n, off, scalar):
    rng = np.random.default_rng(n * 7 + off)
    base = wt.from_numpy(rand_np(rng, (n + off,), dt, special=True))
    x = base[off:]
    y = wt.from_numpy(rand_np(rng, (n,), dt, special=True)) if scalar is None else scalar
    try:
        want = general(name, x, y)
    except (TypeError, OverflowError):
        return
    for _ in range(2):
        same_bits(PY[name](x, y), want)


def test_failed_replay_returns_its_buffer_and_replays_touch_the_pipeline(monkeypatch):
    """A replay allocates its result and records its dispatch under one lock
    (Device.dispatch_fresh): when recording fails, the new buffer goes back to
    the pool (no bytes held by a result that does not exist), and the next replay
    works. Each replay marks the plan's pipeline used, so a hot plan's pipeline is
    the last one the pipeline cache would evict."""
    dev = get_device()
    x = wt.arange(37, dtype=wt.float32)
    np.testing.assert_array_equal((x + 1.5).numpy(), np.arange(37, dtype=np.float32) + 1.5)  # a plan
    kernel = next(p.kernel for p in reversed(dev.plans.values()) if p.kernel is not None)
    wt.arange(5, dtype=wt.int32) * 3  # another pipeline used since
    assert next(reversed(dev._kernels)) is not kernel.key
    held = dev.memory_stats()["in_use_bytes"]

    def fail(*args):
        raise RuntimeError("recording failed")
    monkeypatch.setattr(dev, "_record", fail)
    with pytest.raises(RuntimeError, match="recording failed"):
        x + 1.5
    monkeypatch.undo()
    assert dev.memory_stats()["in_use_bytes"] == held
    r = x + 1.5
    assert next(reversed(dev._kernels)) == kernel.key
    np.testing.assert_array_equal(r.numpy(), np.arange(37, dtype=np.float32) + 1.5)

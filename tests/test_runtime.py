"""The runtime: adapter info, buffer pool, pipeline cache, command batching,
sync counting and the sync debug mode."""
import asyncio
import gc
import operator
import os
import warnings

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import elementwise as E
from wgpu_tensor.runtime import shaders
from conftest import assert_same, no_gpu_work, rand_np


@pytest.fixture
def dev():
    return wt._get_device()


@pytest.fixture(autouse=True)
def _default_sync_mode():
    yield
    wt.set_sync_debug_mode("default")


class _CountingQueue:
    """Forwards to the real queue, counting submits."""

    def __init__(self, queue):
        self._queue = queue
        self.submits = 0

    def submit(self, *a, **k):
        self.submits += 1
        return self._queue.submit(*a, **k)

    def __getattr__(self, name):
        return getattr(self._queue, name)


@pytest.fixture
def queue(dev, monkeypatch):
    q = _CountingQueue(dev.queue)
    monkeypatch.setattr(dev, "queue", q)
    return q


# ---------------------------------------------------------------- adapter
def test_device_info():
    info = wt.device_info()
    for key in ("name", "backend", "type", "vendor"):
        assert isinstance(info[key], str)
    assert info["name"]
    assert info["max_storage_binding_size"] >= 128 * 2 ** 20  # the adapter's maxima were requested
    assert info["max_buffer_size"] >= info["max_storage_binding_size"]
    assert info["max_workgroups_per_dimension"] >= 65535
    if os.environ.get("CI"):
        assert "llvmpipe" in info["name"].lower(), f"CI must use lavapipe, not {info['name']!r}"
    assert wt._get_device().is_lavapipe == ("llvmpipe" in (info["name"] + info["vendor"]).lower())


def test_override_limits_restores(dev):
    before = (dev.max_binding, dev.max_groups)
    with pytest.raises(ZeroDivisionError):
        with wt.runtime.override_limits(max_binding=4096, max_groups=7) as d:
            assert (d.max_binding, d.max_groups) == (4096, 7)
            1 / 0
    assert (dev.max_binding, dev.max_groups) == before


# ---------------------------------------------------------------- buffer pool
def test_pool_reuses_freed_buffers(dev):
    x = wt.arange(5000).float()
    (x * 2 + 1).numpy()
    allocated = wt.memory_stats()["allocated_bytes"]
    for i in range(50):
        y = x * i + 1   # two temporaries per round, freed as soon as they are dropped
        del y
    wt.synchronize()
    assert wt.memory_stats()["allocated_bytes"] == allocated
    t = wt.zeros(3000)
    uid = t._v._buf.uid
    del t
    assert wt.zeros(3000)._v._buf.uid == uid


def test_memory_stats_track_use():
    s0 = wt.memory_stats()
    big = wt.zeros(1 << 20)
    s1 = wt.memory_stats()
    assert s1["in_use_bytes"] >= s0["in_use_bytes"] + 4 * (1 << 20)
    del big
    assert wt.memory_stats()["in_use_bytes"] == s0["in_use_bytes"]
    assert all(v >= 0 for v in wt.memory_stats().values())


def test_recycled_buffer_keeps_program_order(rng):
    a = rng.standard_normal(4096).astype(np.float32)
    x = wt.tensor(a)
    for i in range(10):
        y = x + i                 # recorded, not yet submitted
        m = y > 0.5
        del y                     # y's buffer goes back to the pool while the work is pending
        b = np.full(4096, i, np.float32)
        z = wt.tensor(b)          # may upload into that very buffer
        assert_same(m, a + i > 0.5)
        assert_same(z, b)


def test_empty_cache_keeps_live_tensors(rng):
    a = rng.standard_normal(1000).astype(np.float32)
    x = wt.tensor(a)
    y = x * 2
    del y
    wt.empty_cache()
    assert wt.memory_stats()["pooled_bytes"] == 0
    assert_same(x, a)
    assert_same(x + 1, a + 1)


def test_tensor_in_a_reference_cycle_does_not_poison_the_pool(rng):
    # A tensor freed by the cycle collector (tracebacks, closures hold cycles) once put a
    # buffer whose GPU handle wgpu had already released back into the pool.
    class Holder:
        pass

    for _ in range(3):
        h = Holder()
        h.t = wt.tensor(rng.standard_normal(257).astype(np.float32))
        h.m = h.t > 0
        h.me = h
        del h
        gc.collect()
    for _ in range(6):
        a = rng.standard_normal(257).astype(np.float32)
        x = wt.tensor(a)
        assert_same(x, a)
        assert_same(x > 0, a > 0)


# ---------------------------------------------------------------- pipeline cache
def test_pipeline_cache(dev, monkeypatch):
    x, y = wt.tensor([1.0, 2.0]), wt.tensor([3.0, 0.5])
    (x < y).numpy()
    (x[::1] + 2.5).numpy()
    renders = []
    real = shaders.render
    monkeypatch.setattr(shaders, "render", lambda *a, **k: renders.append(a[0]) or real(*a, **k))
    n_kernels = len(dev._kernels) + dev.evictions  # (a full cache evicts one per compile)
    for _ in range(20):
        x < y
        x + 2.5
        x + 3.5  # another scalar is a parameter, not another kernel
    assert renders == [] and len(dev._kernels) + dev.evictions == n_kernels
    # a kernel no other test needs: rendered and compiled once, then cached
    u, h = wt.tensor([1, 2], dtype=wt.uint32), wt.tensor([1.0, 2.0], dtype=wt.float16)
    for _ in range(3):
        wt.where(u[::1] < h, u, 7)
    assert len(dev._kernels) + dev.evictions - n_kernels == len(renders) <= 2


# ---------------------------------------------------------------- batching
def test_many_ops_few_submits(queue, rng):
    a = rng.standard_normal(2000).astype(np.float32)
    x = wt.tensor(a)
    wt.synchronize()
    queue.submits = 0
    acc, ref = x, a
    for i in range(200):
        acc = acc * 0.5 + x
        ref = ref * np.float32(0.5) + a
    m = (acc > 0) & (x < 1)
    assert queue.submits <= 1  # 400 dispatches recorded into one encoder
    out = m.numpy()
    assert queue.submits <= 2
    np.testing.assert_array_equal(out, (ref > 0) & (a < 1))
    np.testing.assert_allclose(acc.numpy(), ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- sync counting
def test_ops_do_not_sync():
    x = wt.tensor(np.arange(-50, 50, dtype=np.float32))
    wt.set_sync_debug_mode("error")
    n = wt.sync_count()
    m = (x > 0) & ~(x == 3) | (x[::2].unsqueeze(0).expand(3, 50).reshape(-1)[:100] < -40)
    y = wt.where(m, x * 2 - 1, abs(-x) / 3)
    z = y.to(wt.float16).int().bool() ^ m
    wt.tril(y.reshape(10, 10), 1)
    wt.zeros_like(z), wt.arange(7), wt.rand(9), x.clone(), x[3:7].contiguous(), x.repeat(2)
    wt.synchronize()
    assert wt.sync_count() == n


@pytest.mark.parametrize("read", [
    lambda t: bool(t), lambda t: float(t), lambda t: int(t), lambda t: repr(t), lambda t: str(t),
    lambda t: np.asarray(t), lambda t: operator.index(t), lambda t: [1, 2, 3][t], lambda t: f"{t}",
], ids=["bool", "float", "int", "repr", "str", "asarray", "index", "list-index", "format"])
def test_implicit_reads_counted_and_caught(read):
    t = wt.tensor([1])[0]
    n = wt.sync_count()
    read(t)
    assert wt.sync_count() == n + 1
    wt.set_sync_debug_mode("warn")
    with pytest.warns(RuntimeWarning, match="implicit"):
        read(t)
    wt.set_sync_debug_mode("error")
    with pytest.raises(RuntimeError, match="implicit"):
        read(t)
    assert wt.sync_count() == n + 2


def test_explicit_reads_allowed_in_error_mode():
    t = wt.tensor([2.5, -1.0])
    wt.set_sync_debug_mode("error")
    assert wt.get_sync_debug_mode() == "error"
    n = wt.sync_count()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert t.numpy().tolist() == [2.5, -1.0]
        assert t.tolist() == [2.5, -1.0]
        assert t[0].item() == 2.5
        assert asyncio.run(t.numpy_async()).tolist() == [2.5, -1.0]
    assert wt.sync_count() == n + 4


def test_bool_of_many_elements_raises_without_reading():
    t = wt.tensor([True, False])
    n = wt.sync_count()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    with pytest.raises(RuntimeError):
        if wt.tensor([1.0, 2.0]) > 0:
            pass
    assert wt.sync_count() == n
    assert bool(wt.tensor([[True]])) is True and bool(wt.tensor(0.0)) is False


@pytest.mark.parametrize("make, head, tail", [
    (lambda: wt.arange(100_000), "0,     1,     2", "99997, 99998, 99999"),
    (lambda: wt.arange(100_000).reshape(100, 1000), "0,     1,     2", "99997, 99998, 99999"),
    (lambda: wt.arange(300_000).float()[::3], "0.,      3.,      6.", "299991., 299994., 299997."),
    (lambda: wt.arange(5000) > 2, "False, False, False", "True,  True,  True"),
    (lambda: wt.arange(4, 5005).half(), "4.,    5.,    6.", "5000., 5004., 5004."),  # float16 rounding
], ids=["int32", "2d", "strided-float32", "bool", "float16"])
def test_repr_of_a_big_tensor_reads_only_a_summary(dev, make, head, tail):
    """The README: a tensor of over 1,000 elements prints its first and last 3
    elements, reading only those 6 from the GPU: two reads of 3 elements each."""
    t = make()
    dev.flush()
    n, nbytes = wt.sync_count(), dev.bytes_read
    with dev.record_commands() as log:
        text = repr(t)
    assert head in text and tail in text and "..." in text, text
    assert wt.sync_count() - n == 2
    assert dev.bytes_read - nbytes == 6 * t.dtype.itemsize
    reads = [c for c in log if c.kind == "read"]
    assert [c.params["nbytes"] for c in reads] == [3 * t.dtype.itemsize] * 2
    assert all(c.bindings[0][2] <= 16 for c in reads), reads  # at most 16 bytes copied for each


def test_set_sync_debug_mode_rejects_unknown():
    with pytest.raises(ValueError):
        wt.set_sync_debug_mode("loud")
    assert wt.get_sync_debug_mode() == "default"


def test_bad_input_does_no_gpu_work(dev):
    """Each bad call raises its own exception type with its own message, and
    records nothing at all: no command, no read, no allocation."""
    x = wt.tensor([1.0, 2.0, 3.0])
    m = x > 1
    z2, z4 = wt.zeros(2), wt.zeros(4)
    n_sync, used = wt.sync_count(), wt.memory_stats()["in_use_bytes"]
    bad = [(lambda: x + z2, ValueError, "do not broadcast"),
           (lambda: m & x, TypeError, "needs bool tensors"),
           (lambda: -m, TypeError, "negation of a bool"),
           (lambda: x < "s", TypeError, "unsupported scalar"),
           (lambda: wt.where(x, x, x), TypeError, "condition must be a bool"),
           (lambda: wt.where(m, x, z4), ValueError, "do not broadcast"),
           (lambda: wt.tensor(["a"]), TypeError, "unsupported"),
           (lambda: wt.tensor([2 ** 40]), OverflowError, "does not fit int32"),
           (lambda: wt.zeros(3, dtype="complex64"), TypeError, "unsupported dtype"),
           (lambda: x.to("complex64"), TypeError, "unsupported dtype"),
           (lambda: wt.arange(3, dtype=wt.bool), TypeError, "bool is not a valid dtype"),
           (lambda: x.reshape(4), RuntimeError, "invalid for input of size 3"),
           (lambda: x[5], IndexError, "out of bounds for dimension 0 with size 3"),
           (lambda: x.expand(2, 4), RuntimeError, "expanded size")]
    for f, exc, pattern in bad:
        with no_gpu_work(), pytest.raises(exc, match=pattern) as ei:
            f()
        assert type(ei.value) is exc, (type(ei.value), exc)
    assert wt.sync_count() == n_sync
    assert wt.memory_stats()["in_use_bytes"] == used
    assert_same(x, np.array([1, 2, 3], np.float32))
    assert_same(m, np.array([False, True, True]))


def test_pool_over_its_cap_trims_at_the_next_alloc_not_inside_release(monkeypatch):
    """release() runs from __del__ at any point (even mid-dispatch), so it only files
    the buffer; the trim happens in the next alloc(), and results stay right."""
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    monkeypatch.setattr(dev, "POOL_CAP", 64 * 1024)
    rng = np.random.default_rng(0)
    for i in range(30):
        a = rng.standard_normal(4000 + i).astype(np.float32)
        x = wt.tensor(a)
        got = x.masked_select(x > 0)
        k = got.count.item()
        np.testing.assert_array_equal(got.numpy()[:k], a[a > 0])
        del x, got
        wt.tensor([1.0])  # an alloc: trims the pool back under its cap
        assert dev.memory_stats()["pooled_bytes"] <= 64 * 1024 + 4 * 8192


# ---------------------------------------------------------------- small-op fast path
@pytest.mark.parametrize("n", [1, 3, 4, 255, 256, 257, 1023, 1025])
@pytest.mark.parametrize("dtype", [wt.bool, wt.int32, wt.uint32, wt.float16, wt.float32], ids=str)
def test_fast_path_offset_views_every_dtype(rng, n, dtype):
    # contiguous views at odd offsets take the one-dispatch path; results as numpy
    a = rand_np(rng, (n + 7,), dtype)
    b = rand_np(rng, (n + 7,), dtype)
    x, y = wt.tensor(a)[5:5 + n], wt.tensor(b)[2:2 + n]
    xa, yb = a[5:5 + n], b[2:2 + n]
    assert_same(x == y, xa == yb)
    assert_same(wt.where(x > y, x, y), np.where(xa > yb, xa, yb))
    assert_same(x.to(wt.float16), xa.astype(np.float16))
    if dtype is not wt.bool:
        assert_same(x.to(wt.bool), xa != 0)


def test_fast_path_is_one_dispatch_and_yields_to_the_general_path(dev, rng, monkeypatch):
    a = rng.standard_normal(3000).astype(np.float32)
    x = wt.tensor(a)
    n0 = dev.dispatches
    assert_same(x + 1, a + 1)
    assert dev.dispatches - n0 == 1
    monkeypatch.setattr(E, "LAZY", False)  # compares run at once (not lazy masks)
    # bindings too small for the fast path: the general path splits the launch
    with wt.runtime.override_limits(max_binding=2048, max_groups=3):
        for n in (255, 256, 257, 511, 512, 513, 1000, 3000):
            n0 = dev.dispatches
            r = x[:n] > x[3000 - n:]
            launches = dev.dispatches - n0
            assert_same(r, a[:n] > a[3000 - n:])
            assert launches >= -(-n // 512)  # 2048-byte bindings hold 512 words
            if 4 * n + 2 * dev.storage_align <= 2048:
                assert launches == 1  # the fast path
    # same shape, not contiguous / broadcast: the general path
    m = rng.standard_normal((40, 30)).astype(np.float32)
    t = wt.tensor(m)
    assert_same(t[:, ::2] + t[:, 1::2], m[:, ::2] + m[:, 1::2])
    assert_same(t + t[:1], m + m[:1])


def test_binary_plan_cache_keeps_value_dependent_choices():
    # a Python int past int32's range compares through the wide path; plans are
    # cached per dtypes and int kind, not per value
    x = wt.tensor([-1, 0, 5], dtype=wt.int32)
    for v in (2 ** 31 + 1, 3, -2, 2 ** 31 + 1):
        assert_same(x < v, np.array([-1, 0, 5], np.int64) < v)
    h = wt.tensor([0.1, 0.2], dtype=wt.float16)
    assert_same(h == 0.1, np.array([0.1, 0.2], np.float16) == np.float16(0.1))
    with pytest.raises(TypeError):
        h & h
    with pytest.raises(TypeError):  # raised again: errors are not cached
        h & h


# ---------------------------------------------------------------- device timing
def test_pass_timing_measures_compute_passes(dev, rng):
    a = rng.standard_normal(1 << 16).astype(np.float32)
    x = wt.tensor(a)
    wt.synchronize()
    on = dev.start_pass_timing()
    assert on == dev.has_timestamps
    y = (x * 2 + 1) > 0
    dev.clear(wt.zeros(8)._v._buf)  # a copy-engine command between passes
    z = x.masked_select(y)
    t = dev.stop_pass_timing()
    if on:
        assert isinstance(t, float) and 0 < t < 10
    else:
        assert t is None
    k = int(((a * 2 + 1) > 0).sum())
    assert z.count.item() == k and np.array_equal(z.numpy()[:k], a[(a * 2 + 1) > 0])
    assert dev.stop_pass_timing() is None  # off again


def test_pass_timing_degrades_without_the_feature(dev, monkeypatch, rng):
    monkeypatch.setattr(dev, "has_timestamps", False)
    assert dev.start_pass_timing() is False
    a = rng.standard_normal(100).astype(np.float32)
    assert_same(wt.tensor(a) + 1, a + 1)
    assert dev.stop_pass_timing() is None


def test_pass_timing_overflow_gives_none(dev, rng):
    if not dev.has_timestamps:
        pytest.skip("adapter without timestamp-query")
    a = rng.standard_normal(100).astype(np.float32)
    x = wt.tensor(a)
    assert dev.start_pass_timing(capacity=2)
    y = x + 1
    dev.clear(wt.zeros(8)._v._buf)  # ends the first pass; the next one does not fit
    z = y * 2
    assert dev.stop_pass_timing() is None
    assert_same(z, (a + 1) * 2)


def test_timestamp_query_unsupported_driver(dev, monkeypatch):
    # a driver that advertises the feature but fails to make the query set: warn, wall time
    monkeypatch.setattr(dev, "has_timestamps", True)
    import wgpu_tensor.runtime.device as devmod

    class Broken:
        def __init__(self, *a):
            raise RuntimeError("no query sets here")

    monkeypatch.setattr(devmod, "_PassTimer", Broken)
    with pytest.warns(UserWarning, match="timestamp queries unavailable"):
        assert dev.start_pass_timing() is False
    assert dev.stop_pass_timing() is None
    assert dev.has_timestamps is False  # monkeypatch restores it after the test

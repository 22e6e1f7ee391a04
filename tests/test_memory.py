"""The memory ceiling, the bounded caches and the fast fills (runtime/device.py,
ops/elementwise.py fill, shaders/fill.wgsl)."""
import gc
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor import dtypes as D
from wgpu_tensor.ops import elementwise as E
from wgpu_tensor.runtime import cache_limits, get_device, memory_limit, override_limits
from wgpu_tensor.runtime import device as device_mod
from wgpu_tensor.runtime.uniforms import COPY

from conftest import DTYPES, SIZES, no_gpu_work

MiB = 1 << 20


@pytest.fixture
def dev():
    return get_device()


# ----------------------------------------------------------------- the memory ceiling
def test_allocation_past_the_limit_raises_and_keeps_earlier_tensors(dev, rng):
    a_np = rng.standard_normal(10_000).astype(np.float32)
    a = wt.tensor(a_np)
    b = a * 2 + 1
    dev.empty_cache()
    limit = dev.held_bytes() + 10 * MiB
    kept = []
    with memory_limit(limit):
        with pytest.raises(MemoryError) as err:
            for _ in range(20):  # 4 MiB each: the third passes the 10 MiB of room
                kept.append(wt.zeros(MiB))
        assert len(kept) == 2
        msg = str(err.value)
        assert f"memory limit of {limit} bytes" in msg and f"allocating {4 * MiB} bytes" in msg
        assert wt.get_memory_limit() == limit
        assert dev.held_bytes() <= limit
        # the failed call recorded nothing and allocated nothing
        with no_gpu_work(), pytest.raises(MemoryError, match="memory limit"):
            wt.zeros(MiB)
        np.testing.assert_array_equal(a.numpy(), a_np)
        np.testing.assert_array_equal(b.numpy(), a_np * 2 + 1)
        assert not any(bool(k.any()) for k in kept)  # (4-byte reads: no room for 4 MiB)
        del kept[:]
        c = wt.full((MiB,), 5.0)  # freed room is usable again
        assert (c.numpy() == 5.0).all()  # (its readback buffer takes the pooled 4 MiB's room)
    assert wt.get_memory_limit() != limit
    del err  # (its traceback holds this frame: a cycle that would keep the tensors until gc)


def test_the_pool_is_trimmed_before_raising(dev):
    dev.empty_cache()
    base = dev.held_bytes()
    bufs = [wt.empty(MiB // 2) for _ in range(6)]  # 2 MiB each (power-of-two class)
    del bufs
    pooled = dev.memory_stats()["pooled_bytes"]
    assert pooled >= 12 * MiB
    with memory_limit(base + 7 * MiB):  # lowering the limit trims the pool at once
        assert dev.held_bytes() <= base + 7 * MiB and dev.memory_stats()["pooled_bytes"] > 0
        x = wt.ones(MiB)  # 4 MiB, a size the pool does not hold: trims it further
        assert dev.held_bytes() <= base + 7 * MiB
        assert bool((x == 1).all())  # (a 4-byte read: no room to read 4 MiB back)


def test_readback_buffers_count_and_fail_cleanly(dev, rng):
    x_np = rng.standard_normal(3 * MiB // 4).astype(np.float32)  # 3 MiB
    x = wt.tensor(x_np)
    dev.empty_cache()
    busy = dev.memory_stats()["staging_bytes"]  # readback buffers still mapped by earlier work
    syncs = wt.sync_count()
    with memory_limit(dev.held_bytes() + MiB):  # no room for a 3 MiB readback buffer
        with pytest.raises(MemoryError, match=r"reading back \d+ bytes .* memory limit of"):
            x.numpy()
        assert wt.sync_count() == syncs
    np.testing.assert_array_equal(x.numpy(), x_np)
    assert dev.memory_stats()["staging_bytes"] > 0  # counted while it is kept
    dev.empty_cache()
    assert dev.memory_stats()["staging_bytes"] <= busy


def test_set_memory_limit_values(dev):
    old = wt.get_memory_limit()
    try:
        assert wt.set_memory_limit(64 * MiB) == old
        assert wt.get_memory_limit() == 64 * MiB == wt.memory_stats()["limit_bytes"]
        wt.set_memory_limit(0)  # no ceiling
        assert wt.get_memory_limit() == 0
        big = wt.zeros(20 * MiB)  # 80 MiB, past the old 64 MiB
        del big
        wt.set_memory_limit(None)  # the default, recomputed
        if dev.is_lavapipe:
            avail = device_mod.host_memory_available()
            lim = wt.get_memory_limit()
            assert 0 < lim <= dev.held_bytes() + avail
            assert abs(lim - dev.held_bytes() - avail * device_mod.HOST_SHARE) < 0.1 * avail
        for bad, exc in [(-1, ValueError), (float("inf"), ValueError), (float("nan"), ValueError),
                         ("1GB", TypeError), (True, TypeError)]:
            with pytest.raises(exc, match="set_memory_limit"):
                wt.set_memory_limit(bad)
    finally:
        wt.set_memory_limit(old)


def test_cgroup_limit_lowers_the_room(tmp_path, monkeypatch):
    cg = tmp_path / "cg"
    (cg / "job").mkdir(parents=True)
    (cg / "memory.max").write_text("max\n")
    (cg / "job" / "memory.max").write_text(f"{512 * MiB}\n")
    (cg / "job" / "memory.current").write_text(f"{100 * MiB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/job\n")
    assert device_mod._cgroup_room(str(cg), str(proc)) == 412 * MiB
    (cg / "job" / "memory.max").write_text("max\n")
    assert device_mod._cgroup_room(str(cg), str(proc)) is None
    # cgroup v1: the memory controller's own group
    (cg / "memory" / "grp").mkdir(parents=True)
    (cg / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (cg / "memory" / "grp" / "memory.limit_in_bytes").write_text(f"{256 * MiB}\n")
    (cg / "memory" / "grp" / "memory.usage_in_bytes").write_text(f"{56 * MiB}\n")
    proc.write_text("4:memory:/grp\n0::/\n")
    assert device_mod._cgroup_room(str(cg), str(proc)) == 200 * MiB
    monkeypatch.setattr(device_mod, "_cgroup_room", lambda: 7 * MiB)
    assert device_mod.host_memory_available() == 7 * MiB


def test_over_the_adapter_buffer_size_is_a_memory_error_first(dev):
    n = dev.max_buffer // 4 + 1
    with memory_limit(dev.held_bytes() + MiB), no_gpu_work():
        with pytest.raises(MemoryError, match=f"max-buffer-size of {dev.max_buffer} bytes"):
            wt.zeros(n)
        with pytest.raises(MemoryError, match=f"max-buffer-size of {dev.max_buffer} bytes"):
            wt.full((n,), 2.0)


# ----------------------------------------------------------------- bounded caches
def _cache_consistent(dev):
    """Nothing cached refers to a pipeline the pipeline cache no longer holds."""
    live = {id(k) for k in dev._kernels.values()}
    assert all(id(k) in live for k in dev.op_cache.values())
    assert all(p.kernel is None or id(p.kernel) in live for p in dev.plans.values())
    for key in dev._bind_groups:
        k = key[0] if isinstance(key[0], device_mod.Kernel) else key[0].kernel
        assert id(k) in live


def _mixed_ops(rng, n, i):
    """A few ops of several kernels each (plans, elementwise, reductions, selection),
    checked against numpy."""
    a_np = rng.standard_normal(n).astype(np.float32)
    b_np = rng.integers(-50, 50, n).astype(np.int32)
    a, b = wt.tensor(a_np), wt.tensor(b_np)
    np.testing.assert_allclose((a + i).numpy(), a_np + np.float32(i), rtol=1e-6)
    np.testing.assert_array_equal((b * 3 - i).numpy(), b_np * 3 - i)
    np.testing.assert_array_equal((a > 0.5).numpy(), a_np > 0.5)
    np.testing.assert_array_equal(wt.where(b > 0, b, -1).numpy(), np.where(b_np > 0, b_np, -1))
    np.testing.assert_array_equal(a[b > i].numpy(), a_np[b_np > i])
    assert int(b.sum()) == int(b_np.sum())
    np.testing.assert_array_equal(a.half().numpy(), a_np.astype(np.float16))


def test_eviction_keeps_results_right(dev, rng):
    ev0 = dev.evictions
    with cache_limits(pipelines=3, bind_groups=5, plans=2):
        for i in range(3):
            for n in (1, 1000):
                _mixed_ops(rng, n, i)
                s = wt.memory_stats()
                assert s["pipelines"] <= 3 and s["bind_groups"] <= 5 and s["plans"] <= 2
                _cache_consistent(dev)
    assert dev.evictions - ev0 > 10
    assert wt.set_cache_limits() == device_mod.CACHE_LIMITS  # restored


@pytest.mark.slow
def test_thousands_of_distinct_kernels_stay_at_the_cap(dev):
    """2,048 distinct pipelines (the fill and copy shaders at every workgroup size:
    small, about 5 ms each to compile on lavapipe) through a cache of 16: the count
    never passes the cap, and the kernels work."""
    t, u = wt.zeros(4096, dtype=wt.uint32), wt.zeros(4096, dtype=wt.uint32)
    with cache_limits(pipelines=16):
        for wg in range(1, min(1024, dev.device.limits["max-compute-invocations-per-workgroup"]) + 1):
            k = dev.kernel("fill", {"WG": wg}, ["rw"], E.FILL.size)
            dev.dispatch(k, E.FILL.pack(wg, wg), [(t._v._buf, 0, 16 * wg)], 1)  # wg vec4s
            k = dev.kernel("copy_vec4", {"WG": wg}, ["r", "rw"], COPY.size)
            dev.dispatch(k, COPY.pack(wg), [(t._v._buf, 0, 16 * wg), (u._v._buf, 0, 16 * wg)], 1)
            assert len(dev._kernels) <= 16
            if wg % 97 == 0:
                assert (u.numpy()[: 4 * wg] == wg).all()
        assert wt.memory_stats()["pipelines"] == 16
        _cache_consistent(dev)


def test_lru_keeps_the_hot_kernel(dev):
    x = wt.arange(300).float()
    with cache_limits(pipelines=4):
        y = x * 2  # the hot kernel (a plan)
        hot = dev.plans and next(reversed(dev.plans.values())).kernel
        for i in range(12):
            E.launch(f"a + {i}.0", D.float32, [x._v], ["f32"])  # a new pipeline each
            y = x * 2  # a hit moves it to the back
        assert hot in dev._kernels.values()
        np.testing.assert_array_equal(y.numpy(), np.arange(300, dtype=np.float32) * 2)


def test_plans_and_bind_groups_hold_no_buffer(dev, rng):
    """A cached plan or bind group must not keep a freed buffer alive, and after the
    pool is destroyed a cached bind group can never match a new buffer."""
    a_np, b_np = rng.standard_normal(5000).astype(np.float32), rng.standard_normal(5000).astype(np.float32)
    a, b = wt.tensor(a_np), wt.tensor(b_np)
    c = a + b
    refs = [weakref.ref(t._v._buf) for t in (a, b, c)]
    plans, groups = len(dev.plans), len(dev._bind_groups)
    assert plans and groups
    del a, b, c
    dev.empty_cache()
    gc.collect()
    assert all(r() is None for r in refs)
    a, b = wt.tensor(a_np), wt.tensor(b_np)  # new buffers (new uids), same plan
    np.testing.assert_array_equal((a + b).numpy(), a_np + b_np)


def test_cache_limits_from_threads(dev, rng):
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        try:
            for i in range(3):
                _mixed_ops(r, 300 + seed, i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    with cache_limits(pipelines=3, bind_groups=4, plans=2):
        ts = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        _cache_consistent(dev)
    assert not errors, errors


def test_set_cache_limits_checks_and_returns(dev):
    old = wt.set_cache_limits(pipelines=100)
    try:
        assert old == device_mod.CACHE_LIMITS
        assert wt.set_cache_limits()["pipelines"] == 100
        for bad in (0, -3, 2.5, True, "8"):
            with pytest.raises(ValueError, match="set_cache_limits"):
                wt.set_cache_limits(plans=bad)
    finally:
        wt.set_cache_limits(**old)
    s = wt.memory_stats()
    assert s["pipelines"] == len(dev._kernels) and s["held_bytes"] == s["allocated_bytes"] + s["staging_bytes"]


# ----------------------------------------------------------------- fills
_NP = {wt.bool: np.bool_, wt.int32: np.int32, wt.uint32: np.uint32, wt.float16: np.float16,
       wt.float32: np.float32}
_VALUES = {wt.bool: [False, True], wt.int32: [0, 1, -7, 2 ** 31 - 1], wt.uint32: [0, 1, 2 ** 32 - 1],
           wt.float16: [0.0, 1.0, -0.0, 0.1, -2.5, float("inf"), float("nan"), 70000.0],
           wt.float32: [0.0, 1.0, -0.0, 0.1, -2.5, float("-inf"), float("nan")]}


def _expected(shape, value, dtype):
    if dtype is wt.float16:  # through float32, as the elementwise ops convert a scalar
        with np.errstate(over="ignore"):
            return np.full(shape, np.float32(value)).astype(np.float16)
    return np.full(shape, value, _NP[dtype])


def _same_bits(got, exp):
    assert got.dtype == exp.dtype and got.shape == exp.shape
    np.testing.assert_array_equal(np.atleast_1d(got).view(np.uint8), np.atleast_1d(exp).view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_full_zeros_ones_every_dtype_and_size(dtype):
    for n in SIZES:
        for v in _VALUES[dtype]:
            _same_bits(wt.full((n,), v, dtype=dtype).numpy(), _expected((n,), v, dtype))
        _same_bits(wt.zeros(n, dtype=dtype).numpy(), _expected((n,), 0, dtype))
        _same_bits(wt.ones(n, dtype=dtype).numpy(), _expected((n,), 1, dtype))
    _same_bits(wt.full((3, 5, 7), 1, dtype=dtype).numpy(), _expected((3, 5, 7), 1, dtype))
    _same_bits(wt.zeros((), dtype=dtype).numpy(), _expected((), 0, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_fill_over_pooled_garbage(dtype, dev):
    """A pooled buffer comes back dirty: every byte of the new tensor is written."""
    for n in (5, 1023, 4099):
        junk = wt.full((n,), 3, dtype=dtype)
        uid = junk._v._buf.uid
        del junk
        z = wt.zeros(n, dtype=dtype)
        assert z._v._buf.uid == uid  # the same buffer
        _same_bits(z.numpy(), _expected((n,), 0, dtype))
        del z
        o = wt.full((n,), True if dtype is wt.bool else 2, dtype=dtype)
        assert o._v._buf.uid == uid
        _same_bits(o.numpy(), _expected((n,), True if dtype is wt.bool else 2, dtype))


def test_zeros_is_one_clear_and_full_one_fill_kernel(dev):
    with dev.record_commands() as log:
        wt.zeros(1000)
        wt.full((1000,), 0.0, dtype=wt.float16)
        wt.zeros(7, dtype=wt.bool)
    assert [c.kind for c in log if c.kind != "alloc"] == ["clear"] * 3
    with dev.record_commands() as log:
        wt.full((1000,), -0.0)  # not all-zero bits
        wt.ones(1001, dtype=wt.float16)
    assert [(c.kind, c.name) for c in log if c.kind != "alloc"] == [("dispatch", "fill")] * 2
    with dev.record_commands() as log:
        wt.full((MiB,), 2.0)  # 4 MiB: one 1 MiB block filled, four copies
    assert [(c.kind, c.name) for c in log if c.kind != "alloc"] == [("dispatch", "fill")] + [("copy", "")] * 4
    with no_gpu_work(allocs=1):
        e = wt.empty(1000)
    assert e.shape == (1000,) and e.dtype is wt.float32


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("binding, groups", [(4096, 7), (65536, 3)])
def test_fill_over_several_bindings(dtype, binding, groups, dev):
    """Windows of at most max_binding bytes at storage-aligned offsets; with 3
    workgroups per dimension a window of 36,864 bytes is a 3 x 3 grid."""
    step = min(binding, groups ** 2 * 256 * 16)
    for n in (binding * 3 // dtype.itemsize + 5, 30001):
        v = _VALUES[dtype][-1]
        with override_limits(max_binding=binding, max_groups=groups), dev.record_commands() as log:
            t = wt.full((n,), v, dtype=dtype)
        runs = [c for c in log if c.kind == "dispatch"]
        assert len(runs) == -(-n * dtype.itemsize // step)
        assert all(c.bindings[0][2] <= step and c.bindings[0][1] % dev.storage_align == 0 for c in runs)
        assert max(c.grid[1] for c in runs) == (3 if step == 36864 else 1)
        _same_bits(t.numpy(), _expected((n,), v, dtype))
        with override_limits(max_binding=binding, max_groups=groups):
            z = wt.zeros(n, dtype=dtype)
        _same_bits(z.numpy(), _expected((n,), 0, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_large_fill_copies_one_filled_block(dtype, dev, monkeypatch):
    """Past 1 MiB a fill is one block filled by the kernel, copied into every block of
    the result; the last copy is the 4-12 bytes left (odd float16 and bool sizes too),
    up to the very end of a buffer that is exactly the tensor rounded to 4 bytes (as
    past max-buffer-size's size classes)."""
    v = _VALUES[dtype][1]
    for n in (MiB // dtype.itemsize + 1, MiB // dtype.itemsize + 3, 3 * MiB // dtype.itemsize - 1):
        nbytes = -(-n * dtype.itemsize // 4) * 4
        monkeypatch.setattr(dev, "max_buffer", nbytes)
        with dev.record_commands() as log:
            t = wt.full((n,), v, dtype=dtype)
        monkeypatch.undo()
        assert t._v._buf.size == nbytes
        runs = [c for c in log if c.kind in ("dispatch", "copy")]
        assert [c.kind for c in runs] == ["dispatch"] + ["copy"] * -(-nbytes // MiB)
        assert runs[-1].bindings[1][1:] == ((nbytes - 1) // MiB * MiB, nbytes - (nbytes - 1) // MiB * MiB)
        _same_bits(t.numpy(), _expected((n,), v, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_like_and_new_fills(dtype, rng):
    x = wt.tensor(np.ones((3, 5), _NP[dtype]))
    _same_bits(wt.zeros_like(x).numpy(), _expected((3, 5), 0, dtype))
    _same_bits(wt.ones_like(x).numpy(), _expected((3, 5), 1, dtype))
    _same_bits(wt.full_like(x, 1).numpy(), _expected((3, 5), 1, dtype))
    _same_bits(x.new_zeros((2, 7)).numpy(), _expected((2, 7), 0, dtype))
    _same_bits(x.new_full((2, 7), 1).numpy(), _expected((2, 7), 1, dtype))
    e = wt.empty_like(x)
    assert e.shape == (3, 5) and e.dtype is dtype


def test_bad_fills_raise_before_gpu_work():
    with no_gpu_work():
        with pytest.raises(OverflowError, match="int32"):
            wt.full((10,), 2 ** 40, dtype=wt.int32)
        with pytest.raises(OverflowError, match="uint32"):
            wt.full((10,), -1, dtype=wt.uint32)
        with pytest.raises(ValueError, match="negative dimension"):
            wt.zeros((3, -1))


def test_bench_fill_runs():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_fill
    res = bench_fill.main(["--n", "40000", "--repeat", "1"])
    assert set(res["rows"]) >= {"zeros", "full", "copy"}
    assert all(r["seconds"] > 0 for r in res["rows"].values())


def test_sync_error_mode_takes_no_readback_buffer(dev):
    """An implicit read refused by the sync debug mode ("error") raises before a
    readback buffer is taken: none stays counted in staging_bytes afterwards (it
    used to: one per refused read, never given back)."""
    x = wt.tensor(np.arange(5, dtype=np.float32))
    (x > 1).sum().numpy()  # (kernels built, nothing pending)
    dev.empty_cache()
    busy = dev.memory_stats()["staging_bytes"]
    syncs = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            with pytest.raises(RuntimeError, match="implicit GPU-to-CPU read"):
                bool((x > 1).any())
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == syncs
    dev.empty_cache()
    assert dev.memory_stats()["staging_bytes"] <= busy
    assert bool((x > 1).any())


def _live(cls):
    return [o for o in gc.get_objects() if type(o) is cls]


def test_evicted_pipelines_are_not_kept_alive(dev, rng):
    """Under constant eviction nothing of ours keeps an evicted pipeline: no Kernel
    object outside the pipeline cache survives a collection (so neither does its
    wgpu pipeline, bind group layout or bind groups: their count is the cache's),
    however many were compiled and evicted meanwhile."""
    from wgpu.backends.wgpu_native import GPUBindGroupLayout, GPUComputePipeline
    with cache_limits(pipelines=6):
        ev0 = dev.evictions
        for i in range(4):
            _mixed_ops(rng, 33 + i, i)
        dev.flush()
        gc.collect()
        cached = {id(k) for k in dev._kernels.values()}
        stray = [k.key[0] for k in _live(device_mod.Kernel) if id(k) not in cached]
        assert stray == [], stray
        assert dev.evictions - ev0 >= 3
        pipes = {id(k.pipeline) for k in dev._kernels.values()}
        assert len([p for p in _live(GPUComputePipeline) if id(p) not in pipes]) <= 2
        layouts = {id(k.layout) for k in dev._kernels.values()}
        assert len([p for p in _live(GPUBindGroupLayout) if id(p) not in layouts]) <= 2


def test_constant_eviction_trims_the_heap(dev, monkeypatch):
    """Every TRIM_EVERY pipeline evictions the heap is trimmed once (glibc keeps what
    a compile on another thread freed in that thread's malloc arena otherwise: RSS
    then grows under constant eviction); a real trim runs and says so."""
    calls = []
    monkeypatch.setattr(device_mod, "TRIM_EVERY", 3)
    monkeypatch.setattr(device_mod, "_malloc_trim", lambda: calls.append(1) or True)
    x = wt.tensor(np.arange(7, dtype=np.float32))
    with cache_limits(pipelines=2):
        ev0, trims0 = dev.evictions, dev.trims
        for i in range(12):  # 12 distinct kernels through a cache of 2
            out = E.launch(f"a * {i + 0.5} - 1.0", D.float32, [x._v], ["f32"])
            np.testing.assert_array_equal(dev.read(out._buf, 0, 28).view(np.float32),
                                          np.arange(7, dtype=np.float32) * np.float32(i + 0.5) - 1)
        evicted = dev.evictions - ev0
    assert evicted >= 10
    assert len(calls) == dev.trims - trims0 and evicted // 3 - 1 <= len(calls) <= evicted // 3 + 1
    monkeypatch.undo()
    import platform
    assert device_mod._malloc_trim() is (platform.libc_ver()[0] == "glibc")

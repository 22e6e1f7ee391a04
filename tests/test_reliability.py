"""Reliability (issue 7, parts 2-4): memory stays flat over thousands of
create/select/drop cycles, the device is safe to use from several threads and
with many awaits in flight, limits fail early with a clear message, and GPU-side
faults (a broken shader, a rejected batch, a lost device) raise Python exceptions
without poisoning the next call, crashing or hanging.
"""
import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import wgpu
import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits
from wgpu_tensor.runtime import device as device_module, errors, shaders

from conftest import DTYPES, no_gpu_work, rand_np, require_subgroups

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------- memory
def _cycle(rng, i):
    n = int(rng.integers(0, 3000))
    a = rand_np(rng, (n,), wt.float32)
    x = wt.tensor(a)
    m = x > 0
    sel = x.masked_select(m, fill_value=0.0)
    y = wt.where(m, x, -x).sum()
    if i % 50 == 0:  # check some results (each a sync)
        np.testing.assert_array_equal(sel.numpy()[:int((a > 0).sum())], a[a > 0])
        assert y.item() == np.abs(a).sum()
        np.testing.assert_array_equal(x[m].numpy(), a[a > 0])


def test_memory_flat_over_thousands_of_cycles(rng):
    dev = get_device()
    for i in range(300):  # warm-up: pool buckets, pipelines, bind groups
        _cycle(rng, i)
    gc.collect()
    dev.synchronize()
    alloc0, rss0 = dev.memory_stats()["allocated_bytes"], _rss_bytes()
    for i in range(2000):
        _cycle(rng, i)
    gc.collect()
    dev.synchronize()
    stats, rss1 = dev.memory_stats(), _rss_bytes()
    # every tensor of the cycles is dead: nothing of theirs is in use
    assert stats["allocated_bytes"] <= alloc0 + (1 << 20), (alloc0, stats)
    assert rss1 - rss0 < 32 << 20, f"RSS grew {(rss1 - rss0) >> 20} MiB over 2000 cycles"


def test_buffers_return_to_pool_and_pool_is_capped():
    dev = get_device()
    dev.synchronize()
    in_use0 = dev.memory_stats()["in_use_bytes"]
    ts = [wt.zeros(1000 * (i + 1)) for i in range(20)]
    assert dev.memory_stats()["in_use_bytes"] >= in_use0 + sum(4000 * (i + 1) for i in range(20))
    del ts
    gc.collect()
    assert dev.memory_stats()["in_use_bytes"] == in_use0
    old_cap = dev.POOL_CAP
    dev.POOL_CAP = 1 << 20
    try:
        for i in range(40):  # distinct size classes, each dropped at once
            wt.zeros((1 << 16) + i * 8192).numpy()
        wt.zeros(1)
        # an alloc over the cap trims the pool down to half of it
        assert dev.memory_stats()["pooled_bytes"] <= (1 << 20) + (1 << 19)
    finally:
        dev.POOL_CAP = old_cap
    wt.empty_cache()
    assert dev.memory_stats()["pooled_bytes"] == 0
    assert dev.memory_stats()["in_use_bytes"] == dev.memory_stats()["allocated_bytes"]


# ----------------------------------------------------------------- concurrency
def _worker(seed, iters, errors_out):
    rng = np.random.default_rng(seed)
    try:
        for _ in range(iters):
            dt = DTYPES[int(rng.integers(len(DTYPES)))]
            shape = (int(rng.integers(0, 40)), int(rng.integers(1, 40)))
            a = rand_np(rng, shape, dt)
            b = rand_np(rng, shape[1:], dt)
            x, y = wt.tensor(a, dtype=dt), wt.tensor(b, dtype=dt)
            m = x > y if dt is not wt.bool else x ^ y
            want_m = a > b if dt is not wt.bool else a ^ b
            np.testing.assert_array_equal(m.numpy(), want_m)
            np.testing.assert_array_equal(x[m].numpy(), a[want_m])
            np.testing.assert_array_equal(m.nonzero()[:0].numpy().shape, (0, 2))
            sel = x.masked_select(m)
            assert sel.count.item() == want_m.sum()
            np.testing.assert_array_equal(wt.where(m, x, y).numpy(), np.where(want_m, a, b))
            np.testing.assert_array_equal(m.sum(1).numpy(), want_m.sum(1).astype(np.int32))
            x.masked_fill_(m, 1)
            np.testing.assert_array_equal(x.numpy(), np.where(want_m, np.ones_like(a), a))
    except BaseException as e:  # reported by the main thread
        errors_out.append(e)


def test_threads_share_the_device():
    errs = []
    threads = [threading.Thread(target=_worker, args=(s, 25, errs)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a worker thread hung"
    if errs:
        raise errs[0]


def test_threads_with_small_limits():
    """Several threads through the multi-window, multi-launch paths at once."""
    errs = []
    with override_limits(max_binding=1 << 16, max_groups=7):
        threads = [threading.Thread(target=_worker, args=(100 + s, 6, errs)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
            assert not t.is_alive(), "a worker thread hung"
    if errs:
        raise errs[0]


def test_asyncio_many_awaits_in_flight(rng):
    arrays = [rand_np(rng, (int(rng.integers(0, 5000)),), wt.float32) for _ in range(60)]

    async def one(a):
        x = wt.tensor(a)
        sel = await x.masked_select_async(x > 0)
        got = await sel.numpy_async()
        nz = await (x > 1).nonzero_async()
        return got, await nz.numpy_async()

    async def main():
        return await asyncio.gather(*(one(a) for a in arrays))

    dev = get_device()
    reads0 = dev.sync_count
    results = asyncio.run(main())
    for a, (got, nz) in zip(arrays, results):
        np.testing.assert_array_equal(got, a[a > 0])
        np.testing.assert_array_equal(nz, np.argwhere(a > 1).astype(np.int32))
    assert dev.sync_count - reads0 == 4 * len(arrays)


def test_asyncio_and_threads_together(rng):
    arrays = [rand_np(rng, (int(rng.integers(1, 3000)),), wt.int32) for _ in range(30)]
    errs = []
    threads = [threading.Thread(target=_worker, args=(200 + s, 10, errs)) for s in range(3)]
    for t in threads:
        t.start()

    async def main():
        async def one(a):
            x = wt.tensor(a)
            return await (await x.masked_select_async(x != 0)).numpy_async()
        return await asyncio.gather(*(one(a) for a in arrays))

    results = asyncio.run(main())
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    for a, got in zip(arrays, results):
        np.testing.assert_array_equal(got, a[a != 0])
    if errs:
        raise errs[0]


# ----------------------------------------------------------------- limits
@pytest.fixture
def over_limit():
    dev = get_device()
    n = dev.max_buffer // 4 + 8  # float32 elements one tensor cannot hold
    one, mask = wt.ones(1), wt.ones(1, dtype=wt.bool)
    dev.flush()
    return dev, n, one, mask


@pytest.mark.parametrize("op", ["empty", "zeros", "add", "where", "masked_select", "clone"])
def test_beyond_buffer_limit_fails_early(over_limit, op):
    dev, n, one, mask = over_limit
    big = one.expand(n)  # a view: no memory
    calls = {"empty": lambda: wt.empty(n), "zeros": lambda: wt.zeros(n),
             "add": lambda: big + 1, "where": lambda: wt.where(mask, big, 0.0),
             "masked_select": lambda: big.masked_select(mask), "clone": lambda: big.clone()}
    with no_gpu_work(), pytest.raises(MemoryError, match=f"max-buffer-size of {dev.max_buffer} bytes"):
        calls[op]()
    np.testing.assert_array_equal((one + 1).numpy(), [2.0])


def test_grid_limit_error():
    with override_limits(max_groups=3):
        with pytest.raises(ValueError, match=r"exceed this adapter's limit of 3\*\*2"):
            get_device().grid(10)


# ----------------------------------------------------------------- faults
@pytest.fixture
def broken_shader(monkeypatch):
    real = shaders.source

    def source(name):
        if name == "reliability_broken":
            return ("// reliability_broken.wgsl: deliberately broken (a float into a u32).\n"
                    "@compute @workgroup_size(64) fn main() { let x: u32 = {{V}}; }\n")
        return real(name)

    monkeypatch.setattr(shaders, "source", source)
    return "reliability_broken"


def test_broken_shader_raises_and_next_call_works(broken_shader):
    dev = get_device()
    x = wt.arange(10)
    for _ in range(2):  # the same clear error each time, not a cached broken pipeline
        with pytest.raises((wgpu.GPUError, errors.GPUError), match="reliability_broken") as ei:
            dev.kernel(broken_shader, {"V": 1.5}, ["rw"], 16)
        assert "expected to be `u32`" in str(ei.value) or "u32" in str(ei.value.__cause__)
    np.testing.assert_array_equal((x + 1).numpy(), np.arange(1, 11))


def test_broken_shader_is_a_shader_error(broken_shader):
    with pytest.raises(errors.ShaderError, match=r"reliability_broken\.wgsl \(params \{'V': 1\.5\}\)"):
        get_device().kernel(broken_shader, {"V": 1.5}, ["rw"], 16)


def test_bad_binding_raises_at_dispatch_and_records_nothing():
    require_subgroups("compiling the subgroup probe")
    dev = get_device()
    x = wt.arange(10)
    k = dev.kernel("subgroup_probe", {"WG": 64}, ["rw"], 16)
    b = dev.alloc(16)
    try:
        before = dev.dispatches
        with pytest.raises(wgpu.GPUError, match="overflow buffer size"):
            dev.dispatch(k, b"\0" * 16, [(b, 0, 4096)], 1)
        assert dev.dispatches == before
    finally:
        dev.release(b)
    np.testing.assert_array_equal((x * 2).numpy(), np.arange(10) * 2)


def _run_child(code, timeout=90):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=timeout, env=env, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


_REJECTED_BATCH = """
    import numpy as np, wgpu_tensor as wt
    from wgpu_tensor.runtime import get_device, override_limits
    dev = get_device()
    x = wt.arange(10)
    x.numpy()   # x is written before the bad batch
    k = dev.kernel("subgroup_probe", {"WG": 64}, ["rw"], 16)
    b = dev.alloc(16)
    with override_limits(max_groups=10 ** 6):   # skip the 2-D split: wgpu rejects 70000
        dev.dispatch(k, b"\\0" * 16, [(b, 0, 16)], 70000)
    try:
        dev.flush()
        print("NO ERROR")
    except Exception as e:
        print("ERROR", type(e).__module__, type(e).__name__, str(e).replace("\\n", " ")[:300])
    for i in range(2):
        try:
            print("NEXT", (x + 1).numpy().tolist())
        except Exception as e:
            print("NEXT ERROR", type(e).__name__, str(e).replace("\\n", " ")[:200])
"""


def test_rejected_batch_raises_not_aborts():
    require_subgroups("compiling the subgroup probe")
    rc, out, err = _run_child(_REJECTED_BATCH)
    assert rc == 0, err[-2000:]
    assert "ERROR" in out.splitlines()[0] and "65535" in out.splitlines()[0], out


def test_rejected_batch_is_dropped_and_next_call_works():
    require_subgroups("compiling the subgroup probe")
    rc, out, err = _run_child(_REJECTED_BATCH)
    lines = out.splitlines()
    assert rc == 0, err[-2000:]
    assert lines[0].startswith("ERROR wgpu_tensor.runtime.errors GPUError wgpu rejected a batch"), lines
    assert lines[1:] == ["NEXT [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"] * 2, lines


_DEVICE_LOST = """
    import wgpu_tensor as wt
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    x = wt.arange(10)
    x.numpy()
    dev.device.destroy()
    for i in range(3):
        try:
            print("RESULT", (x + 1).numpy().tolist())
        except Exception as e:
            print("ERROR", type(e).__name__, str(e).replace("\\n", " ")[:200])
"""


def test_device_lost_raises_not_hangs():
    rc, out, err = _run_child(_DEVICE_LOST)
    assert rc == 0, err[-2000:]
    lines = out.splitlines()
    assert len(lines) == 3 and all(ln.startswith("ERROR") for ln in lines), lines
    assert "lost" in lines[0], lines


def test_device_lost_fails_the_same_clear_way_every_time():
    rc, out, err = _run_child(_DEVICE_LOST)
    lines = out.splitlines()
    assert rc == 0, err[-2000:]
    assert all(ln.startswith("ERROR DeviceLostError the WebGPU device was lost") for ln in lines), lines


def test_soak_smoke():
    """scripts/soak.py for a few seconds: every op (the warm-up runs each once, the
    memory-limit op included, under a low limit and a small pipeline bound that
    forces evictions), 0 errors, the limit hit at least once. RSS is not judged here
    (a first third of one second is no warm baseline: --rss-growth-mib is set out of
    reach); the full 60 s run judges it."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "soak.py")
    p = subprocess.run([sys.executable, script, "--seconds", "3", "--threads", "2",
                        "--memory-limit-mib", "64", "--pipelines", "64", "--rss-growth-mib", "100000"],
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    assert "errors: 0" in p.stdout
    ops = p.stdout.split("ops checked against numpy\n")[1].split("\n")[0]
    for name in ("math", "reduce_dim", "scan_topk", "shape", "linalg", "adv_index", "counted",
                 "predicates", "interop", "memory_limit", "memory_refused"):
        assert f" {name} " in ops or ops.startswith(f"{name} ") or f" {name}," in ops, (name, ops)
    evicted = int(p.stdout.split("pipelines cached ")[-1].split("evicted ")[1].split(";")[0])
    assert evicted > 0, p.stdout[-2000:]

"""Process RSS while compute pipelines are created and dropped, with raw wgpu-py (no
wgpu_tensor), or through wgpu_tensor's bounded pipeline cache: whose memory is it
when a bounded pipeline cache evicts constantly?

    python scripts/pipeline_rss.py --dispatch       # 1000 distinct pipelines, newest 128 kept
    python scripts/pipeline_rss.py --n 3000 --every 250 --dispatch
    python scripts/pipeline_rss.py --dispatch --same     # one shader text for all
    python scripts/pipeline_rss.py --dispatch --body 300 # bigger shaders (more compiled code)
    python scripts/pipeline_rss.py --runtime --keep 64 --threads 3 [--no-trim]

Raw mode: each step makes a distinct shader (a constant differs), its bind group
layout, pipeline layout, compute pipeline, a 256-byte storage buffer and a bind
group; with --dispatch it also records one dispatch, submits it and reads the buffer
back (without a submit or wait wgpu-native never frees dropped objects). The newest
--keep are held (an LRU cache of that bound); older ones are dropped (every Python
reference gone, the buffer destroyed). --runtime: distinct elementwise kernels
launched and read back through wgpu_tensor with its pipeline cache bounded to
--keep, from --threads threads, printing the cache sizes too (--no-trim: without the
runtime's heap trim every 64 evictions). RSS is printed every --every steps, then
the growth per dropped pipeline from the first print past --keep to the end.
"""
import argparse
import collections
import gc
import os
import tempfile
import time

import wgpu

SHADER = """
@group(0) @binding(0) var<storage, read_write> buf: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < arrayLength(&buf)) {
        var v = buf[gid.x];
        for (var i = 0u; i < 4u; i = i + 1u) { v = v * 1664525u + CONST; }
BODY        buf[gid.x] = v;
    }
}
"""


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="pipelines to create")
    ap.add_argument("--keep", type=int, default=128, help="newest pipelines held live (the cache bound)")
    ap.add_argument("--every", type=int, default=100, help="print RSS every this many pipelines")
    ap.add_argument("--dispatch", action="store_true", help="dispatch each pipeline once")
    ap.add_argument("--body", type=int, default=0,
                    help="add this many dependent statements to the shader (more compiled code)")
    ap.add_argument("--same", action="store_true", help="one shader text for all (a cache hit in the driver?)")
    ap.add_argument("--runtime", action="store_true",
                    help="the same through wgpu_tensor instead: distinct elementwise kernels launched and "
                         "read back, the pipeline cache bounded to --keep (its eviction path)")
    ap.add_argument("--threads", type=int, default=1, help="--runtime: launch from this many threads")
    ap.add_argument("--no-trim", action="store_true", help="--runtime: never trim the heap on eviction")
    a = ap.parse_args()
    if a.runtime:
        return runtime(a)
    if not os.environ.get("XDG_RUNTIME_DIR"):
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp()
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    dev = adapter.request_device_sync()
    print(f"adapter: {adapter.info.get('device', '')} ({adapter.info.get('backend_type', '')}); "
          f"n={a.n} keep={a.keep} dispatch={a.dispatch} same={a.same} body={a.body}")
    live = collections.deque()
    base = None
    t0 = time.time()
    for i in range(1, a.n + 1):
        body = "".join(f"        v = (v ^ (v >> {k % 13 + 3}u)) * {2 * k + 1}u + buf[(gid.x + {k}u) % 64u];\n"
                       for k in range(a.body))
        code = SHADER.replace("BODY", body).replace("CONST", "12345u" if a.same else f"{i}u")
        module = dev.create_shader_module(code=code)
        bgl = dev.create_bind_group_layout(entries=[{
            "binding": 0, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": "storage"}}])
        pl = dev.create_pipeline_layout(bind_group_layouts=[bgl])
        pipe = dev.create_compute_pipeline(layout=pl, compute={"module": module, "entry_point": "main"})
        buf = dev.create_buffer(size=256, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)
        bg = dev.create_bind_group(layout=bgl, entries=[{"binding": 0, "resource": {"buffer": buf}}])
        if a.dispatch:
            enc = dev.create_command_encoder()
            cp = enc.begin_compute_pass()
            cp.set_pipeline(pipe)
            cp.set_bind_group(0, bg)
            cp.dispatch_workgroups(1)
            cp.end()
            dev.queue.submit([enc.finish()])
            dev.queue.read_buffer(buf, 0, 16)  # (waits for the work: the device is polled)
            del enc, cp
        live.append((module, bgl, pl, pipe, buf, bg))
        del module, bgl, pl, pipe, buf, bg
        while len(live) > a.keep:
            buf = live.popleft()[4]
            buf.destroy()
            del buf
        if i % a.every == 0:
            gc.collect()
            r = rss_mib()
            if base is None and i > a.keep:
                base = (i, r)
            print(f"{i:6d} pipelines created, {max(i - a.keep, 0):6d} dropped: RSS {r:7.1f} MiB "
                  f"({time.time() - t0:.1f} s)", flush=True)
    live.clear()
    gc.collect()
    end = rss_mib()
    print(f"all dropped: RSS {end:.1f} MiB")
    if base is not None and a.n > base[0]:
        per = (end - base[1]) * 1024 / (a.n - base[0])
        print(f"growth from {base[0]} to {a.n} created (all past the bound dropped): "
              f"{end - base[1]:.1f} MiB, {per:.1f} KiB per dropped pipeline")


def runtime(a):
    """--runtime: wgpu_tensor's cache evicts; count what stays live as well as RSS."""
    import sys
    import numpy as np
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import wgpu_tensor as wt
    from wgpu_tensor.ops import elementwise as E
    from wgpu_tensor import dtypes as D
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    dev.set_cache_limits(pipelines=a.keep)
    v = wt.tensor(np.arange(256, dtype=np.float32))._v  # (the runtime's View under a Tensor)
    if a.no_trim:
        from wgpu_tensor.runtime import device as device_mod
        device_mod.TRIM_EVERY = 1 << 62
    print(f"wgpu_tensor on {dev.info()['name']}: n={a.n} pipeline bound={a.keep} threads={a.threads} "
          f"trim={not a.no_trim}")
    import threading
    base = None
    step = iter(range(1, a.n + 1))
    lock = threading.Lock()

    def worker():
        nonlocal base
        while True:
            with lock:
                i = next(step, None)
            if i is None:
                return
            out = E.launch(f"a * {i}.0 + 1.0", D.float32, [v], ["f32"])
            got = dev.read(out._buf, 0, 16).view(np.float32)
            assert got[1] == i + 1, (i, got)
            del out
            if i % a.every == 0:
                r = rss_mib()
                if base is None and i > a.keep:
                    base = (i, r)
                s = dev.memory_stats()
                print(f"{i:6d} kernels, {s['evicted_pipelines']:6d} evicted, {dev.trims} trims, cached: "
                      f"{s['pipelines']} pipelines, {len(dev.op_cache)} op_cache, {s['bind_groups']} bind groups: "
                      f"RSS {r:7.1f} MiB", flush=True)
    ts = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    gc.collect()
    end = rss_mib()
    if base is not None and a.n > base[0]:
        print(f"growth from {base[0]} to {a.n} kernels (all past the bound evicted): {end - base[1]:.1f} MiB, "
              f"{(end - base[1]) * 1024 / (a.n - base[0]):.1f} KiB per evicted pipeline")


if __name__ == "__main__":
    main()

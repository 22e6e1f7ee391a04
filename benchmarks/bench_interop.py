"""Benchmark: a caller's kernel over the elements masked_select kept, three ways, in one process.

    python benchmarks/bench_interop.py [--log2n 22] [--frac 0.1] [--repeat 7]

For n = 2**log2n float32 elements in the caller's buffer (wt.from_buffer) and a mask
keeping about ``frac`` of them, each case runs masked_select and then the kernel of
examples/wgpu_interop.py (it squares the selected values), ending in a wait for the GPU:

  indirect    wt.indirect_args(sel.count) and dispatch_workgroups_indirect: no read
  read count  sel.count.item() (a GPU-to-CPU read), then a dispatch of ceil(k / 64)
  full grid   a dispatch over all n elements; invocations past the count return

beside the copy kernel (shaders/copy_vec4.wgsl over the n elements) and numpy's
``a[a > t] ** 2``. Times are the best of --repeat interleaved rounds (wall clock);
each case's squares are checked against numpy. Prints the times and ratios.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import wgpu

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from bench_reduce import best_of  # noqa: E402
from bench_select import copy_kernel  # noqa: E402

WG = 64


def _example():
    spec = importlib.util.spec_from_file_location("wgpu_interop_example", ROOT / "examples" / "wgpu_interop.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--log2n", type=int, default=22)
    ap.add_argument("--frac", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    dev = get_device()
    device = wt.get_device()
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']})")
    n = 2 ** args.log2n
    U = wgpu.BufferUsage
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    t = np.float32(1 - args.frac)
    src = device.create_buffer(size=-(-a.nbytes // 16) * 16, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    device.queue.write_buffer(src, 0, a)
    x = wt.from_buffer(src, (n,), wt.float32)
    expect = a[a > t] ** 2
    k = expect.size

    pipeline = device.create_compute_pipeline(
        layout="auto", compute={"module": device.create_shader_module(code=_example().square_kernel(WG)),
                                "entry_point": "main"})
    out = device.create_buffer(size=max(16, n * 4), usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    worked = device.create_buffer(size=16, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    sel = wt.empty(n)
    dst = wt.empty(n)

    def run(how):
        res = x.masked_select(x > float(t), out=sel)
        if how == "indirect":
            ind = wt.indirect_args(res.count, WG)
        elif how == "read count":
            groups = -(-res.count.item() // WG)
        else:
            groups = -(-n // WG)
        bind = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
            {"binding": 0, "resource": {"buffer": res.buffer, "offset": 0, "size": max(4, res.nbytes)}},
            {"binding": 1, "resource": {"buffer": res.count.buffer, "offset": res.count.buffer_offset, "size": 4}},
            {"binding": 2, "resource": {"buffer": out, "offset": 0, "size": out.size}},
            {"binding": 3, "resource": {"buffer": worked, "offset": 0, "size": 4}}])
        enc = device.create_command_encoder()
        p = enc.begin_compute_pass()
        p.set_pipeline(pipeline)
        p.set_bind_group(0, bind)
        if how == "indirect":
            p.dispatch_workgroups_indirect(ind.buffer, ind.buffer_offset)
        elif groups:
            p.dispatch_workgroups(min(groups, dev.max_groups), -(-groups // dev.max_groups), 1)
        p.end()
        device.queue.submit([enc.finish()])

    cases = {how: (lambda how=how: run(how), None) for how in ("indirect", "read count", "full grid")}
    cases["copy kernel"] = (lambda: copy_kernel(dev, x, dst, n), None)
    cases["numpy"] = (lambda: a[a > t] ** 2, lambda: None)
    for how in ("indirect", "read count", "full grid"):
        run(how)
        got = np.frombuffer(device.queue.read_buffer(out, 0, 4 * max(k, 1)), np.float32)[:k]
        assert np.array_equal(got, expect), how
    syncs = wt.sync_count()
    best = best_of(cases, args.repeat, dev.synchronize)
    print(f"n = {n}, selected k = {k} ({k / n:.1%}); {wt.sync_count() - syncs} counted reads in the timed runs "
          f"(the read-count case: one per run)")
    for name, s in best.items():
        print(f"  {name:12s} {s * 1e3:9.3f} ms   {s / best['copy kernel']:7.2f} x copy   "
              f"{s / best['numpy']:7.2f} x numpy")
    return best


if __name__ == "__main__":
    main()

"""wgpu interop: mask your own GPU buffer, then let the count drive your own kernel.

A wgpu-py program owns a device and a buffer of values. wgpu_tensor adopts the device
(wt.use_device), wraps the buffer without a copy (wt.from_buffer), selects the values
above a threshold (masked_select: a fixed-size result whose .count stays on the GPU)
and writes the arguments of an indirect dispatch from that count (wt.indirect_args).
The program's own compute shader then runs over exactly the selected values (it
squares them into a buffer of its own): no GPU-to-CPU read happens between the
upload and the program's own read of its results. Run: python examples/wgpu_interop.py
"""
import numpy as np
import wgpu

import wgpu_tensor as wt
import wgpu_tensor.runtime as runtime  # the runtime's Device: counters() of commands and reads

WG = 64  # invocations per workgroup of the program's own kernel


def square_kernel(wg):
    """The program's own kernel (user code: its WGSL lives here, not in wgpu_tensor). It
    squares the selected values into OUT and counts the invocations that did work."""
    return f"""
@group(0) @binding(0) var<storage, read> SEL: array<f32>;
@group(0) @binding(1) var<storage, read> COUNT: array<i32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<storage, read_write> WORKED: atomic<u32>;

@compute @workgroup_size({wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {{
    let i = (wid.x + wid.y * nwg.x) * {wg}u + lid;   // 2-D grids past 65,535 workgroups
    if (i >= u32(COUNT[0])) {{
        return;
    }}
    OUT[i] = SEL[i] * SEL[i];
    atomicAdd(&WORKED, 1u);
}}
"""


def square_selected(device, sel, wg=WG):
    """Run the program's kernel over exactly the ``sel.count`` valid elements of ``sel``
    (a fixed-size selection), dispatched indirectly: no count is read on the CPU.
    Returns the program's buffers (squares, -1 past the count; invocations that
    worked) and the dispatch arguments."""
    U = wgpu.BufferUsage
    n = sel.shape[0]
    out = device.create_buffer(size=max(4, n * 4), usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    device.queue.write_buffer(out, 0, np.full(max(1, n), -1, np.float32))   # -1: never written
    worked = device.create_buffer(size=4, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    device.queue.write_buffer(worked, 0, np.zeros(1, np.uint32))
    args = wt.indirect_args(sel.count, wg)                  # (ceil(count / wg), 1, 1) on the GPU

    # The program's own pipeline, bound to wgpu_tensor's buffers. Taking .buffer submits
    # wgpu_tensor's recorded work, so the submission below runs after it.
    pipeline = device.create_compute_pipeline(
        layout="auto", compute={"module": device.create_shader_module(code=square_kernel(wg)),
                                "entry_point": "main"})
    bind = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": sel.buffer, "offset": sel.buffer_offset,
                                    "size": max(4, sel.nbytes)}},
        {"binding": 1, "resource": {"buffer": sel.count.buffer, "offset": sel.count.buffer_offset, "size": 4}},
        {"binding": 2, "resource": {"buffer": out, "offset": 0, "size": out.size}},
        {"binding": 3, "resource": {"buffer": worked, "offset": 0, "size": 4}},
    ])
    encoder = device.create_command_encoder()
    cpass = encoder.begin_compute_pass()
    cpass.set_pipeline(pipeline)
    cpass.set_bind_group(0, bind)
    cpass.dispatch_workgroups_indirect(args.buffer, args.buffer_offset)
    cpass.end()
    device.queue.submit([encoder.finish()])
    return out, worked, args


def show(label, value):
    print(f"{label:44s} {value}")


def main(n=100_003, threshold=1.0):
    # The program's device, adopted by wgpu_tensor before anything else runs.
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    features = [f for f in ("subgroup",) if f in adapter.features]  # wgpu_tensor's faster scans
    device = adapter.request_device_sync(required_features=features)
    wt.use_device(device)
    assert wt.get_device() is device

    # The program's own buffer of values.
    U = wgpu.BufferUsage
    values = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    size = -(-values.nbytes // 16) * 16   # wgpu_tensor's kernels read 16-byte vectors
    src = device.create_buffer(size=size, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    device.queue.write_buffer(src, 0, values)

    wt.set_sync_debug_mode("error")  # any implicit read in wgpu_tensor would raise
    syncs, reads = wt.sync_count(), runtime.get_device().counters()["read"]
    x = wt.from_buffer(src, (n,), wt.float32)          # no copy
    sel = x.masked_select(x > threshold)                # [n], sel.count on the GPU
    out, worked, args = square_selected(device, sel)
    syncs = wt.sync_count() - syncs
    reads = runtime.get_device().counters()["read"] - reads
    wt.set_sync_debug_mode("default")

    # The program reads its own results (its read, not wgpu_tensor's).
    squares = np.frombuffer(device.queue.read_buffer(out), np.float32)[:n]
    did_work = int(np.frombuffer(device.queue.read_buffer(worked), np.uint32)[0])

    kept = values[values > threshold]
    k = kept.size
    show("elements in the program's buffer", n)
    show("selected (sel.count, read at the end)", sel.count.item())
    show("selected (numpy)", k)
    show("indirect dispatch args (read at the end)", args.tolist())
    show("invocations that squared a value", did_work)
    show("squares match numpy", bool(np.array_equal(squares[:k], kept * kept)))
    show("untouched past the count", bool(np.all(squares[k:] == -1)))
    show("host syncs by wgpu_tensor (sync_count)", syncs)
    show("GPU-to-CPU reads by wgpu_tensor (counters)", reads)
    assert sel.count.item() == k == did_work
    assert args.tolist() == [-(-k // WG), 1, 1]
    assert np.array_equal(squares[:k], kept * kept) and np.all(squares[k:] == -1)
    assert syncs == 0 and reads == 0


if __name__ == "__main__":
    main()

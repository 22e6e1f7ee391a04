"""wgpu interop (ops/interop.py): a caller's buffer as a tensor (wt.from_buffer), a
tensor's buffer in the caller's own commands (t.buffer), the shared device
(wt.get_device / wt.use_device) and indirect arguments from a count (wt.indirect_args).
The caller's side is plain wgpu-py: queue.write_buffer / read_buffer and its own
compute pipeline. numpy is the oracle."""
import gc
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import wgpu

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, no_gpu_work, rand_np

ROOT = Path(__file__).resolve().parent.parent
U = wgpu.BufferUsage
RW = U.STORAGE | U.COPY_SRC | U.COPY_DST


def gpu():
    return wt.get_device()


def user_buffer(nbytes, usage=RW):
    """The caller's buffer for ``nbytes``, as from_buffer asks: to a multiple of 16 bytes."""
    return gpu().create_buffer(size=max(16, -(-nbytes // 16) * 16), usage=usage)


def user_write(buf, offset, a):
    """The caller's upload of ``a``'s bytes at ``offset`` (padded to whole words)."""
    raw = np.ascontiguousarray(a).view(np.uint8).reshape(-1)
    if raw.size:
        pad = np.zeros(-(-raw.size // 4) * 4, np.uint8)
        pad[:raw.size] = raw
        gpu().queue.write_buffer(buf, offset, pad)


def user_read(buf):
    """The caller's own read of the whole buffer (a mapped staging copy), as bytes."""
    return np.frombuffer(gpu().queue.read_buffer(buf), np.uint8)


def ref_args(count, wg, max_x=65535):
    """The dispatch arguments indirect_args documents, computed in Python."""
    groups = -(-max(count, 0) // wg)
    if groups <= max_x:
        return [groups, 1, 1]
    y = -(-groups // max_x)
    x = -(-groups // y)
    return [x, min(y, max_x), 1]


# ---------------------------------------------------------------- from_buffer: round trips
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", [0, 1, 3, 5, 255, 256, 257, 1025])
@pytest.mark.parametrize("offset", [0, 12, 256])
def test_user_writes_we_read(rng, dtype, n, offset):
    a = rand_np(rng, (n,), dtype)
    buf = user_buffer(offset + a.nbytes + 8)
    user_write(buf, offset, a)
    t = wt.from_buffer(buf, (n,), dtype, offset)
    assert t.shape == (n,) and t.dtype is dtype and t.buffer is buf and t.buffer_offset == offset
    np.testing.assert_array_equal(t.numpy(), a)
    # an op reading it (and a view of it) gives numpy's result
    if dtype is wt.bool:
        np.testing.assert_array_equal((~t).numpy(), ~a)
    else:
        np.testing.assert_array_equal((t * 3).numpy(), a * dtype.np.type(3))
        np.testing.assert_array_equal(t[1::2].numpy(), a[1::2])
    m = a != a[:1] if n else a.astype(bool)
    sel = t.masked_select(wt.tensor(m))
    np.testing.assert_array_equal(sel.numpy(), a[m])


def test_user_writes_again_we_see_it(rng):
    """The caller's later queue.write_buffer runs before wgpu_tensor's later work."""
    buf = user_buffer(64 * 4)
    t = wt.from_buffer(buf, (8, 8), wt.float32)
    for _ in range(3):
        a = rand_np(rng, (8, 8), wt.float32)
        user_write(buf, 0, a)
        np.testing.assert_array_equal(t.sum(dim=1).numpy(), a.sum(axis=1))


@pytest.mark.parametrize("dtype", [wt.int32, wt.uint32, wt.float32, wt.float16, wt.bool], ids=lambda d: d.name)
@pytest.mark.parametrize("n", [1, 5, 63, 257, 1025])
def test_we_compute_into_it_user_reads(rng, dtype, n):
    """In-place ops write the caller's buffer; the caller's own read sees them, and the
    bytes around the tensor are left alone (a 1-/2-byte dtype owns its last word whole)."""
    offset = 16
    a = rand_np(rng, (n,), dtype)
    b = rand_np(rng, (n,), dtype)
    nb = -(-a.nbytes // 4) * 4
    buf = user_buffer(offset + nb + 16)
    guard = np.full(buf.size, 0xAB, np.uint8)
    gpu().queue.write_buffer(buf, 0, guard)
    user_write(buf, offset, a)
    t = wt.from_buffer(buf, (n,), dtype, offset)
    m = rand_np(rng, (n,), wt.bool)
    t.copy_(wt.tensor(b))                    # elementwise write into the buffer
    t.masked_fill_(wt.tensor(m), True if dtype is wt.bool else 2)
    exp = np.where(m, True if dtype is wt.bool else 2, b).astype(dtype.np)
    raw = user_read(t.buffer)
    np.testing.assert_array_equal(raw[offset:offset + a.nbytes].view(dtype.np), exp)
    assert (raw[:offset] == 0xAB).all() and (raw[offset + nb:] == 0xAB).all()


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 4099])
def test_masked_select_into_user_buffer(rng, n):
    """A fixed-size selection written into the caller's buffer (out=), its count read
    through count.buffer by the caller."""
    a = rand_np(rng, (n,), wt.float32)
    m = a > 0
    buf = user_buffer(n * 4)
    out = wt.from_buffer(buf, (n,), wt.float32)
    res = wt.masked_select(wt.tensor(a), wt.tensor(m), out=out)
    assert res is out
    k = int(user_read(res.count.buffer)[res.count.buffer_offset:][:4].view(np.int32)[0])
    assert k == m.sum()
    np.testing.assert_array_equal(user_read(buf)[:k * 4].view(np.float32), a[m])


def test_in_place_ops_on_user_buffer(rng):
    """In-place ops, assignments and exact results on the caller's buffer."""
    a = rand_np(rng, (7, 5), wt.float32)
    staging = user_buffer(a.nbytes)
    user_write(staging, 0, a)
    buf = user_buffer(a.nbytes)
    t = wt.from_buffer(buf, (7, 5), wt.float32)
    t.copy_(wt.from_buffer(staging, (7, 5), wt.float32))
    t.mul_(2)
    t += 1
    t[t > 1] = 0.5
    t[:, 1] = -3
    e = a * 2 + 1
    e[e > 1] = 0.5
    e[:, 1] = -3
    np.testing.assert_array_equal(t.numpy(), e)
    np.testing.assert_array_equal(t[t < 0].numpy(), e[e < 0])     # exact result: a copy out of it
    np.testing.assert_array_equal(user_read(buf)[:a.nbytes].view(np.float32).reshape(7, 5), e)


def test_aliasing_views_of_one_buffer(rng):
    """Two tensors over one buffer share its Buffer, so an overlapping assignment is seen."""
    a = rand_np(rng, (10,), wt.int32)
    buf = user_buffer(40)
    user_write(buf, 0, a)
    x = wt.from_buffer(buf, (10,), wt.int32)
    y = wt.from_buffer(buf, (9,), wt.int32, 4)
    assert x._v._buf is y._v._buf
    y[:] = x[:9]                     # y starts one element later: an overlapping move
    e = a.copy()
    e[1:] = a[:9]
    np.testing.assert_array_equal(x.numpy(), e)


def test_shapes_offsets_and_nbytes():
    buf = user_buffer(4 * 24)
    t = wt.from_buffer(buf, (2, 3, 4), wt.float32)
    assert t.stride() == (12, 4, 1) and t.nbytes == 96
    v = t[1, 2:]
    assert v.shape == (1, 4) and v.storage_offset() == 20 and v.buffer_offset == 80 and v.nbytes == 16
    assert wt.from_buffer(buf, [5, 4], "float32", offset=8).storage_offset() == 2
    h = wt.from_buffer(buf, 5, wt.float16, 4)
    assert h.shape == (5,) and h.storage_offset() == 2 and h.buffer_offset == 4 and h.nbytes == 10
    z = wt.zeros(3, 5)
    assert z[2].buffer_offset == 40 and z[2].storage_offset() == 10


# ---------------------------------------------------------------- from_buffer: bad input
def _bad(exc, match, *args, **kwargs):
    with no_gpu_work():
        with pytest.raises(exc, match=match):
            wt.from_buffer(*args, **kwargs)


@pytest.mark.parametrize("usage,missing", [
    (U.COPY_SRC | U.COPY_DST, "STORAGE"),
    (U.STORAGE | U.COPY_DST, "COPY_SRC"),
    (U.STORAGE | U.COPY_SRC | U.INDIRECT, "COPY_DST"),
    (U.COPY_DST | U.VERTEX, "STORAGE and COPY_SRC"),
    (U.VERTEX, "STORAGE and COPY_SRC and COPY_DST"),
])
def test_usage_errors(usage, missing):
    buf = user_buffer(16, usage)
    _bad(ValueError, f"lacks usage {missing} ", buf, (4,), wt.float32)


def test_not_a_buffer():
    _bad(TypeError, "expected a wgpu.GPUBuffer", np.zeros(4, np.float32), (4,), wt.float32)
    _bad(TypeError, "expected a wgpu.GPUBuffer", wt.zeros(4), (4,), wt.float32)


def test_size_and_offset_errors():
    buf = user_buffer(48)
    assert wt.from_buffer(buf, (12,), wt.float32).shape == (12,)
    _bad(ValueError, "reach byte 64 .* but it has 48 bytes", buf, (13,), wt.float32)
    assert wt.from_buffer(buf, (11,), wt.float32, 4).storage_offset() == 1
    _bad(ValueError, "reach byte 64", buf, (12,), wt.float32, 4)
    _bad(ValueError, "reach byte 64", buf, (2, 3), wt.float32, 28)
    _bad(ValueError, "multiple of 4", buf, (2,), wt.float32, 2)
    _bad(ValueError, "multiple of 4", buf, (2,), wt.bool, 1)
    _bad(ValueError, "multiple of 4", buf, (2,), wt.float32, -4)
    _bad(TypeError, "offset must be an int", buf, (2,), wt.float32, 4.0)
    _bad(ValueError, "negative dimension", buf, (-1, 2), wt.float32)
    _bad(TypeError, "shape entries must be ints", buf, (2.5,), wt.float32)
    # the data's end is rounded up to 16 bytes: 5 bools at byte 44 need 64
    _bad(ValueError, "reach byte 64", buf, (5,), wt.bool, 44)
    assert wt.from_buffer(buf, (4,), wt.bool, 44).shape == (4,)
    assert wt.from_buffer(buf, (0,), wt.float32, 48).numpy().shape == (0,)
    _bad(ValueError, "reach byte 52", buf, (0,), wt.float32, 52)
    # a buffer of an exact size that is not a multiple of 16
    odd = gpu().create_buffer(size=40, usage=RW)
    assert wt.from_buffer(odd, (8,), wt.float32).shape == (8,)
    _bad(ValueError, "36 bytes at offset 0 need the buffer to reach byte 48 .* it has 40 bytes", odd, (9,),
         wt.float32)


@pytest.mark.parametrize("dtype", ["int64", "float64", "long", "double", np.int64, np.float64,
                                   np.dtype("int64")])
def test_64bit_dtypes_refused(dtype):
    """The bytes are read as they are: a 64-bit dtype is refused, not narrowed."""
    _bad(TypeError, "64-bit", user_buffer(64), (2,), dtype)


def test_other_bad_dtypes():
    _bad(TypeError, "unsupported dtype", user_buffer(64), (2,), "complex64")
    _bad(TypeError, "unsupported dtype", user_buffer(64), (2,), np.int8)


def test_mapped_buffer_refused():
    buf = gpu().create_buffer(size=16, usage=RW, mapped_at_creation=True)
    _bad(ValueError, "unmap it first", buf, (4,), wt.float32)
    buf.unmap()
    assert wt.from_buffer(buf, (4,), wt.float32).numpy().tolist() == [0, 0, 0, 0]


def test_buffer_of_another_device_refused():
    other = get_device().adapter.request_device_sync()
    buf = other.create_buffer(size=16, usage=RW)
    _bad(ValueError, "another wgpu device", buf, (4,), wt.float32)


# ---------------------------------------------------------------- from_buffer: freeing
def test_freeing_never_pools_the_users_buffer(rng):
    dev = get_device()
    a = rand_np(rng, (64,), wt.float32)
    buf = user_buffer(a.nbytes)
    user_write(buf, 0, a)
    before = dev.memory_stats()
    t = wt.from_buffer(buf, (64,), wt.float32)
    parts = [t[1:], t.view(8, 8), t.reshape(4, 16)[2]]
    assert (t * 1).numpy().tolist() == a.tolist()
    del t, parts
    gc.collect()
    assert dev.memory_stats()["pooled_bytes"] == before["pooled_bytes"]
    assert all(b.gpu is not buf for lst in dev._pool.values() for b in lst)
    # allocations of its size class never hand it out, and it still holds its data
    got = [wt.empty(64) for _ in range(4)]
    assert all(g.buffer is not buf for g in got)
    np.testing.assert_array_equal(user_read(buf).view(np.float32), a)


# ---------------------------------------------------------------- t.buffer submits recorded work
def test_buffer_submits_recorded_work(rng):
    """The caller's own read of .buffer (its own submission) sees the results of work
    wgpu_tensor had only recorded."""
    a = rand_np(rng, (1000,), wt.float32)
    x = wt.tensor(a)
    y = x * 2 + 1                                    # recorded, not submitted
    raw = user_read(y.buffer)[y.buffer_offset:y.buffer_offset + y.nbytes]
    np.testing.assert_array_equal(raw.view(np.float32), a * 2 + 1)
    m = x > 0.5                                      # a lazy mask: written when .buffer is taken
    raw = user_read(m.buffer)[:m.nbytes]
    np.testing.assert_array_equal(raw.view(np.bool_), a > 0.5)
    sel = x.masked_select(m)
    c = sel.count
    assert int(user_read(c.buffer)[c.buffer_offset:c.buffer_offset + 4].view(np.int32)[0]) == (a > 0.5).sum()


def test_buffer_access_reads_nothing():
    x = wt.arange(10)
    x.buffer
    with no_gpu_work():
        assert x.buffer.size >= 40 and x[3:].buffer_offset == 12 and x[3:].storage_offset() == 3


# ---------------------------------------------------------------- indirect_args
WGS = [1, 3, 64, 256]


def counts_for(wg):
    return sorted({0, 1, wg - 1, wg, wg + 1, 2 * wg + 1, 1000, 65535 * wg, 65535 * wg + 1, 10 ** 9})


@pytest.mark.parametrize("wg", WGS)
def test_indirect_args_values(wg):
    counts = [c for c in counts_for(wg) if c < 2 ** 31]
    wt.set_sync_debug_mode("error")
    try:
        dev = get_device()
        reads = dev.counters()["read"]
        res = [wt.indirect_args(wt.tensor(c, dtype=wt.int32), wg) for c in counts]
        assert dev.counters()["read"] == reads                     # no read: the count stays on the GPU
    finally:
        wt.set_sync_debug_mode("default")
    for c, r in zip(counts, res):
        assert r.dtype is wt.uint32 and r.shape == (3,)
        assert r.tolist() == ref_args(c, wg), (c, wg)


@pytest.mark.parametrize("max_groups", [1, 7, 100])
def test_indirect_args_2d_grid(max_groups):
    """Past the per-dimension limit the grid is 2-D (x * y >= groups, both within it),
    and y clamps only beyond limit ** 2 workgroups."""
    counts = [0, 1, max_groups - 1, max_groups, max_groups + 1, max_groups ** 2, max_groups ** 2 + 1,
              5 * max_groups ** 2 + 3, 12345]
    with override_limits(max_groups=max_groups):
        res = [wt.indirect_args(wt.tensor(c, dtype=wt.int32), 1).tolist() for c in counts]
    for c, r in zip(counts, res):
        assert r == ref_args(c, 1, max_groups), (c, r)
        x, y, _ = r
        assert x <= max_groups and y <= max_groups
        if c <= max_groups ** 2:
            assert x * y >= c and x * y - c < y


def test_indirect_args_count_kinds():
    """A result's .count, the counted result itself, a uint32 count, a count inside a
    bigger tensor (a window at an offset), a negative int32 count (0)."""
    x = wt.arange(1000)
    sel = x.masked_select(x % 7 == 0)                               # 143 selected
    assert wt.indirect_args(sel.count, 64).tolist() == [3, 1, 1]
    assert wt.indirect_args(sel, 10).tolist() == [15, 1, 1]
    assert wt.indirect_args(wt.tensor(2 ** 32 - 1, dtype=wt.uint32), 1).tolist() == ref_args(2 ** 32 - 1, 1)
    assert wt.indirect_args(wt.tensor(-5, dtype=wt.int32), 4).tolist() == [0, 1, 1]
    big = wt.tensor(np.arange(300, dtype=np.int32) * 3)
    assert wt.indirect_args(big[271], 8).tolist() == ref_args(813, 8)
    assert wt.indirect_args(big[271:272], 8).tolist() == ref_args(813, 8)


@pytest.mark.parametrize("count", [0, 1, 5, 100_000])
def test_indirect_args_draw(count):
    c = wt.tensor(count, dtype=wt.int32)
    r = wt.indirect_args(c, 64, draw=True)
    assert r.shape == (7,) and r.tolist() == ref_args(count, 64) + [count, 1, 0, 0]
    r = wt.indirect_args(c, 64, draw=True, vertices_per_instance=6)
    assert r.tolist() == ref_args(count, 64) + [6, count, 0, 0]
    assert get_device().is_indirect(r._v._buf)


def test_indirect_args_out():
    """out=: reused (an earlier result), or the caller's own INDIRECT buffer at an offset."""
    c = wt.tensor(130, dtype=wt.int32)
    first = wt.indirect_args(c, 64)
    again = wt.indirect_args(wt.tensor(7, dtype=wt.int32), 2, out=first)
    assert again is first and first.tolist() == [4, 1, 1]
    buf = user_buffer(64, U.INDIRECT | U.STORAGE | U.COPY_SRC | U.COPY_DST)
    gpu().queue.write_buffer(buf, 0, np.full(16, 0xEE, np.uint32))
    out = wt.from_buffer(buf, (7,), wt.uint32, 12)
    assert wt.indirect_args(c, 64, draw=True, out=out) is out
    words = user_read(out.buffer).view(np.uint32)      # .buffer submits the recorded work
    assert words[3:10].tolist() == [3, 1, 1, 130, 1, 0, 0]
    assert (words[:3] == 0xEE).all() and (words[10:] == 0xEE).all()


def test_indirect_args_bad_input():
    c = wt.tensor(3, dtype=wt.int32)
    plain = wt.from_buffer(user_buffer(16), (3,), wt.uint32)
    cases = [
        (TypeError, "count must be a wgpu_tensor.Tensor", (3, 64), {}),
        (TypeError, "int32 or uint32", (wt.tensor(3.0), 64), {}),
        (ValueError, "one value", (wt.tensor([1, 2], dtype=wt.int32), 64), {}),
        (TypeError, "workgroup_size must be an int", (c, 64.0), {}),
        (TypeError, "workgroup_size must be an int", (c, True), {}),
        (ValueError, "workgroup_size must be in", (c, 0), {}),
        (ValueError, "pass draw=True", (c, 64), {"vertices_per_instance": 6}),
        (ValueError, "vertices_per_instance must be in", (c, 64), {"draw": True, "vertices_per_instance": 0}),
        (ValueError, "shape \\(7,\\)", (c, 64), {"draw": True, "out": wt.empty(3, dtype=wt.uint32)}),
        (ValueError, "shape \\(3,\\)", (c, 64), {"out": wt.empty(3, dtype=wt.float32)}),
        (ValueError, "lacks usage INDIRECT", (c, 64), {"out": plain}),
        (ValueError, "lacks usage INDIRECT", (c, 64), {"out": wt.empty(3, dtype=wt.uint32)}),
    ]
    for exc, match, args, kw in cases:
        with no_gpu_work():
            with pytest.raises(exc, match=match):
                wt.indirect_args(*args, **kw)


def _example():
    """examples/wgpu_interop.py as a module: its square_selected is the caller's code."""
    spec = importlib.util.spec_from_file_location("wgpu_interop_example", ROOT / "examples" / "wgpu_interop.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("count,wg", [(0, 64), (1, 64), (63, 64), (64, 64), (65, 64), (70_001, 1)])
def test_users_indirect_dispatch_runs_exactly_count(count, wg):
    """The example's own kernel, dispatched indirectly from indirect_args, touches
    exactly the ``count`` selected elements; 70,001 workgroups of 1 take the 2-D grid."""
    n = count + 2 * wg + 3
    x = wt.arange(n, dtype=wt.float32) - 5
    sel = x.masked_select(wt.arange(n) < count)            # the first ``count`` kept, never read here
    out, worked, args = _example().square_selected(gpu(), sel, wg)
    assert (args.tolist()[1] > 1) == (count > 65535 and wg == 1)
    got = user_read(out).view(np.float32)[:n]
    exp = np.full(n, -1, np.float32)
    exp[:count] = (np.arange(count, dtype=np.float32) - 5) ** 2
    np.testing.assert_array_equal(got, exp)
    assert int(user_read(worked).view(np.uint32)[0]) == count


# The caller's render pipeline: a point per vertex (or, instanced, per instance) at
# pixel (i % 64, i / 64) of a 64 x 64 target.
_POINTS = """
@vertex
fn vs(@builtin(vertex_index) v: u32, @builtin(instance_index) inst: u32) -> @builtin(position) vec4<f32> {
    let i = select(v, inst, INSTANCED);
    let p = (vec2<f32>(f32(i % 64u), f32(i / 64u)) + 0.5) / 32.0 - 1.0;
    return vec4<f32>(p.x, -p.y, 0.0, 1.0);
}
@fragment
fn fs() -> @location(0) vec4<f32> {
    return vec4<f32>(1.0, 1.0, 1.0, 1.0);
}
"""


@pytest.mark.parametrize("instanced", [False, True])
@pytest.mark.parametrize("count", [0, 1, 5, 63, 64, 65, 1000])
def test_users_indirect_draw_draws_exactly_count(count, instanced):
    """draw_indirect from indirect_args(draw=True) draws one point per selected element
    (as vertices, or as instances of one vertex), read back from the render target."""
    d = gpu()
    n = count + 7
    x = wt.arange(n)
    sel = x.masked_select(x < count)
    args = wt.indirect_args(sel.count, 64, draw=True, vertices_per_instance=1 if instanced else None)
    code = _POINTS.replace("INSTANCED", "true" if instanced else "false")
    module = d.create_shader_module(code=code)
    pipe = d.create_render_pipeline(
        layout="auto", vertex={"module": module, "entry_point": "vs", "buffers": []},
        primitive={"topology": wgpu.PrimitiveTopology.point_list},
        fragment={"module": module, "entry_point": "fs", "targets": [{"format": "rgba8unorm"}]})
    tex = d.create_texture(size=(64, 64, 1), format="rgba8unorm",
                           usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    enc = d.create_command_encoder()
    rp = enc.begin_render_pass(color_attachments=[{"view": tex.create_view(), "load_op": "clear",
                                                   "store_op": "store", "clear_value": (0, 0, 0, 0)}])
    rp.set_pipeline(pipe)
    rp.draw_indirect(args.buffer, args.buffer_offset + 12)
    rp.end()
    d.queue.submit([enc.finish()])
    px = np.frombuffer(d.queue.read_texture({"texture": tex}, {"bytes_per_row": 256}, (64, 64, 1)), np.uint8)
    lit = px.reshape(64 * 64, 4)[:, 3] == 255
    exp = np.zeros(64 * 64, bool)
    exp[:count] = True
    np.testing.assert_array_equal(lit, exp)


# ---------------------------------------------------------------- get_device / use_device (fresh processes)
_FRESH = r"""
import sys, numpy as np, wgpu
import wgpu_tensor as wt
from wgpu_tensor.runtime import current_device
adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
mine = adapter.request_device_sync()
buf = mine.create_buffer(size=64, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC
                         | wgpu.BufferUsage.COPY_DST)
if sys.argv[1] == "adopt":
    try:
        wt.from_buffer(buf, (4,), wt.float32)
    except RuntimeError as e:
        print("before any device:", e)
    assert current_device() is None
    try:
        wt.use_device("gpu")
    except TypeError as e:
        print("not a device:", e)
    wt.use_device(mine)
    print("adopted:", wt.get_device() is mine)
    wt.use_device(mine)                      # the same device again: accepted
    mine.queue.write_buffer(buf, 0, np.arange(16, dtype=np.float32))
    x = wt.from_buffer(buf, (16,), wt.float32)
    sel = x.masked_select(x % 3 == 0)
    print("selected:", sel.numpy().tolist(), wt.indirect_args(sel.count, 2).tolist())
    print("tensors on it:", wt.zeros(3).buffer._device is mine)
    try:
        wt.use_device(adapter.request_device_sync())
    except RuntimeError as e:
        print("another after adoption:", e)
else:
    wt.zeros(3).numpy()                      # first use: wgpu_tensor opens its own device
    try:
        wt.use_device(mine)
    except RuntimeError as e:
        print("after first use:", e)
    wt.use_device(wt.get_device())
    print("own device accepted:", wt.get_device() is not mine)
    try:
        wt.from_buffer(buf, (4,), wt.float32)
    except ValueError as e:
        print("foreign buffer:", e)
"""


def _fresh(mode):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", _FRESH, mode], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in p.stdout.splitlines() if ":" in ln}


def test_use_device_before_first_use():
    out = _fresh("adopt")
    assert "call wt.use_device(the buffer's device) first" in out["before any device"]
    assert "expected a wgpu.GPUDevice, got str" in out["not a device"]
    assert out["adopted"] == "True"
    assert out["selected"] == "[0.0, 3.0, 6.0, 9.0, 12.0, 15.0] [3, 1, 1]"
    assert out["tensors on it"] == "True"
    assert "already runs on another wgpu device" in out["another after adoption"]


def test_use_device_after_first_use():
    out = _fresh("late")
    assert "already runs on another wgpu device" in out["after first use"]
    assert out["own device accepted"] == "True"
    assert "belongs to another wgpu device" in out["foreign buffer"]


def test_get_device_is_the_runtimes():
    d = wt.get_device()
    assert isinstance(d, wgpu.GPUDevice) and d is get_device().device
    wt.use_device(d)                           # the device in use: a no-op
    with pytest.raises(TypeError, match="expected a wgpu.GPUDevice"):
        wt.use_device(get_device())            # the runtime's wrapper is not a GPUDevice


def test_buffer_writes_the_lazy_masks_that_read_it(rng):
    """Taking x.buffer lets the caller write into x: a lazy mask over x made before
    must keep x's values as they were, so it is written first."""
    a = rand_np(rng, (1000,), wt.float32)
    x = wt.tensor(a)
    m = x > 0.5                                      # lazy: reads x's buffer later
    buf, off = x.buffer, x.buffer_offset
    wt.get_device().queue.write_buffer(buf, off, np.full(1000, 9.0, np.float32))
    np.testing.assert_array_equal(m.numpy(), a > 0.5)
    np.testing.assert_array_equal(x.numpy(), np.full(1000, 9.0, np.float32))

"""wgpu interop: a caller's wgpu buffer as a tensor, a tensor's buffer for a caller's
shaders, and the arguments of a caller's indirect dispatch or draw from a count.

from_buffer wraps a buffer of the runtime's device without a copy (Device.wrap_buffer
checks it: usages, size, offset); the tensor never returns it to the pool. buffer_of
hands out a view's buffer after submitting the recorded work, so that the caller's
own submissions see its results. indirect_args runs one invocation of
shaders/indirect_args.wgsl: the count never leaves the GPU.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes as D
from ..runtime import current_device
from ..runtime.uniforms import INDIRECT
from ..view import Storage, View, as_shape, contiguous_strides
from .launch import window

DISPATCH_WORDS = 3  # x, y, z of dispatch_workgroups_indirect
DRAW_WORDS = 4      # vertex_count, instance_count, first_vertex, first_instance of draw_indirect


def from_buffer(buffer, shape, dtype, offset=0):
    """A tensor of ``shape`` and ``dtype`` over the caller's ``buffer`` from byte
    ``offset``, without a copy. Checks, before any GPU work: the dtype (one of
    wgpu_tensor's own: a 64-bit dtype is a TypeError, the bytes are read as they
    are), the shape, and (Device.wrap_buffer) the buffer's device, usages, size
    and offset."""
    if _is_64bit(dtype):
        raise TypeError(f"from_buffer: dtype {dtype!r} would be 64-bit, and the buffer's bytes are read "
                        "as they are; use wt.int32, wt.uint32, wt.float32, wt.float16 or wt.bool")
    dt = D.to_dtype(dtype)
    shape = as_shape((shape,))
    if any(s < 0 for s in shape):
        raise ValueError(f"from_buffer: negative dimension in shape {shape}")
    try:
        offset = operator.index(offset)
    except TypeError:
        raise TypeError(f"from_buffer: offset must be an int (bytes), got {type(offset).__name__}") from None
    dev = current_device()
    if dev is None:
        raise RuntimeError("from_buffer: wgpu_tensor has no device yet, so the buffer cannot be one of "
                           "its device's: call wt.use_device(the buffer's device) first, or create the "
                           "buffer on wt.get_device()")
    nbytes = math.prod(shape) * dt.itemsize
    buf = dev.wrap_buffer(buffer, offset, nbytes)
    return View(Storage(buf, dev), shape, contiguous_strides(shape), offset // dt.itemsize, dt)


def _is_64bit(dtype):
    """Whether ``dtype`` names a 64-bit numpy type (which to_dtype would narrow)."""
    if isinstance(dtype, D.DType) or any(dtype is t for t in (bool, int, float)):  # np.dtype("int64") == int
        return False
    try:
        return np.dtype(dtype) in (np.int64, np.uint64, np.float64)
    except TypeError:
        return False


def buffer_of(v):
    """(wgpu buffer, byte offset) of view ``v``, after submitting all recorded work."""
    dev = v.device
    buf = v._buf  # (a lazy result is written now)
    dev.before_outside_write(buf)  # the caller may write into it: lazy readers of it are written first
    dev.flush()
    return buf.gpu, v._offset * v.dtype.itemsize


def _count_view(count):
    if not isinstance(count, View):
        raise TypeError(f"indirect_args: count must be a wgpu_tensor.Tensor (a result's .count, or the "
                        f"counted result itself), got {type(count).__name__}")
    if count.count is not None:
        count = count.count
    if count.dtype not in (D.int32, D.uint32):
        raise TypeError(f"indirect_args: count must be an int32 or uint32 tensor, got {count.dtype.name}")
    if count.numel() != 1:
        raise ValueError(f"indirect_args: count must hold one value (a 0-d tensor), got shape {count.shape}")
    return count


def _positive(name, v):
    if v.__class__ is bool or not isinstance(v, int):
        raise TypeError(f"indirect_args: {name} must be an int, got {type(v).__name__}")
    if not 1 <= v <= 0xFFFFFFFF:
        raise ValueError(f"indirect_args: {name} must be in [1, 2**32), got {v}")
    return v


def indirect_args(count, workgroup_size, draw=False, vertices_per_instance=None, out=None):
    """uint32 [3] (or [7] with ``draw``) arguments of an indirect dispatch (and draw)
    over ``count`` elements, written on the GPU; see shaders/indirect_args.wgsl."""
    c = _count_view(count)
    wg = _positive("workgroup_size", workgroup_size)
    per = 0
    if vertices_per_instance is not None:
        if not draw:
            raise ValueError("indirect_args: vertices_per_instance is a draw argument; pass draw=True")
        per = _positive("vertices_per_instance", vertices_per_instance)
    n = DISPATCH_WORDS + (DRAW_WORDS if draw else 0)
    dev = c.device
    if out is None:
        out = View(Storage(dev.alloc(n * 4, indirect=True), dev), (n,), (1,), 0, D.uint32)
    else:
        if not isinstance(out, View):
            raise TypeError(f"indirect_args: out must be a wgpu_tensor.Tensor, got {type(out).__name__}")
        if out.dtype not in (D.uint32, D.int32) or out.shape != (n,) or not out.is_contiguous():
            raise ValueError(f"indirect_args: out must be a contiguous uint32 tensor of shape ({n},), got "
                             f"{out.dtype.name} of shape {out.shape}")
        if out.device is not dev:
            raise ValueError("indirect_args: out and count live on two different devices")
        if not dev.is_indirect(out._buf):
            raise ValueError("indirect_args: out's buffer lacks usage INDIRECT (a dispatch or draw cannot "
                             "read its arguments from it); create it with wgpu.BufferUsage.INDIRECT | "
                             "STORAGE | COPY_SRC | COPY_DST, or leave out=None")
    cs, csz = window(dev, c._buf, 4, c._offset, c._offset)
    os_, osz = window(dev, out._buf, 4, out._offset, out._offset + n - 1)
    k = dev.kernel("indirect_args", {"SIGNED": c.dtype is D.int32, "DRAW": bool(draw)}, ["r", "rw"],
                   INDIRECT.size)
    p = INDIRECT.pack(c._offset - cs // 4, out._offset - os_ // 4, wg, max(1, dev.max_groups), per)
    dev.dispatch(k, p, [(c._buf, cs, csz), (out._buf, os_, osz)], 1)
    return out

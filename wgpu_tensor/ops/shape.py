"""Shape ops that copy: cat, flip, roll, repeat_interleave.

The views (transpose, permute, narrow, diagonal, unflatten) are pure metadata
(wgpu_tensor.view); the copies here are moves of raw element bits by the one
strided-move kernel of wgpu_tensor.ops.index (shaders/index_move.wgsl), which binds
big views as several windows and splits big grids over launches:

    cat      each input written into its slice of the output (a cast first when
             its dtype differs from the promoted result dtype)
    flip     per flipped dim, a gather through a reversed index (arange, on the GPU)
    roll     per rolled dim, two slice moves
    repeat_interleave (int repeats)  an expanded view copied by the elementwise kernel

Every check runs before any GPU work; nothing is read back.
"""
from __future__ import annotations

import operator

from .. import dtypes as D
from ..view import View, contiguous_strides, device_of, norm_dim
from . import elementwise as E
from . import index as I


def _check_view(x, what, name="input"):
    if not isinstance(x, View):
        raise TypeError(f"{what}(): {name} must be a wgpu_tensor.Tensor, got {type(x).__name__}")


def _int(v, what, name):
    if isinstance(v, bool) or not hasattr(v, "__index__") or isinstance(v, View):
        raise TypeError(f"{what}(): {name} must be an int, got {type(v).__name__}")
    return operator.index(v)


# ---------------------------------------------------------------- cat
def cat_shape(tensors, dim, what="cat"):
    """(result shape, result dtype, normalised dim, the inputs that take part) of
    torch.cat; PyTorch's errors. A 1-d empty tensor is skipped (legacy PyTorch rule)
    but still takes part in the dtype promotion."""
    if not tensors:
        raise ValueError(f"{what}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        _check_view(t, what, f"tensors[{i}]")
    dim = _int(dim, what, "dim")
    device_of(tensors)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = D.promote(dtype, t.dtype)
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    parts = [t for t in tensors if t.shape != (0,)]
    if not parts:
        return (0,), dtype, 0, []
    ref = parts[0]
    d = norm_dim(dim, ref.ndim)
    total = 0
    for i, t in enumerate(tensors):
        if t.shape == (0,):
            continue
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list.")
        total += t.shape[d]
    return ref.shape[:d] + (total,) + ref.shape[d + 1:], dtype, d, parts


def cat(tensors, dim=0):
    """torch.cat: the tensors joined along ``dim``, promoted to one dtype."""
    shape, dtype, d, parts = cat_shape(list(tensors), dim)
    dev = device_of(list(tensors))
    out = View.empty(shape, dtype, dev)
    if out.numel() == 0:
        return out
    s = 0
    for t in parts:
        n = t.shape[d]
        if n and t.numel():
            I.assign_(out.narrow(d, s, n), t)  # casts t first when its dtype differs
        s += n
    return out


# ---------------------------------------------------------------- flip
def flip_dims(x, dims, what="flip"):
    """The normalised, distinct dims of a flip (PyTorch's errors)."""
    if isinstance(dims, (int,)) or hasattr(dims, "__index__"):
        dims = (dims,)
    dims = tuple(_int(d, what, "dims") for d in dims)
    nd = tuple(norm_dim(d, x.ndim) for d in dims)
    if len(set(nd)) != len(nd):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return nd


def _reverse_along(x, d):
    """A new contiguous copy of x with dim d reversed: a gather through the index
    n-1, ..., 0 (made on the GPU). The gathered side of one move spans its whole
    reversed dim, so a dim of big slabs is reversed in pieces of at most about half a
    storage binding each (a piece of one slab is a plain move)."""
    n = x.shape[d]
    dev = x.device
    out = View.empty(x.shape, x.dtype, dev)
    if out.numel() == 0:
        return out
    isz = x.dtype.itemsize
    slab = abs(x._strides[d]) * isz
    p = n if slab == 0 else max(1, min(n, dev.max_binding // 2 // slab))
    rev = E.arange(p - 1, -1, p, D.int32, device=dev) if p > 1 else None
    for s in range(0, n, p):
        k = min(p, n - s)
        src, dst = x.narrow(d, s, k), out.narrow(d, n - s - k, k)
        if k == 1:
            I.assign_(dst, src)
            continue
        src_st = list(src._strides)
        src_st[d] = 0
        idx_st = [0] * x.ndim
        idx_st[d] = 1
        I._plan(dev, src.shape, isz, dst, dst._strides, src, src_st, idx=rev.narrow(0, p - k, k),
                idx_st=idx_st, side="src", dim_stride=src._strides[d], dim_size=k, fresh=(k == n)).run(dev)
    return out


def flip(x, dims):
    """torch.flip: a copy of x with the order of ``dims`` reversed."""
    _check_view(x, "flip")
    nd = flip_dims(x, dims)
    nd = [d for d in nd if x.shape[d] > 1]
    if not nd:
        return E.copy(x)
    out = x
    for d in nd:
        out = _reverse_along(out, d)
    return out


# ---------------------------------------------------------------- roll
def roll_args(x, shifts, dims, what="roll"):
    """[(dim, shift)] of torch.roll (dims=None: over the flattened tensor, dim None)."""
    if not isinstance(shifts, (tuple, list)):
        shifts = (shifts,)
    shifts = tuple(_int(s, what, "shifts") for s in shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"{what}(): shifts and dimensions must align. shifts: {len(shifts)}, dims: 0")
        return [(None, shifts[0])]
    if not isinstance(dims, (tuple, list)):
        dims = (dims,)
    dims = tuple(_int(d, what, "dims") for d in dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"{what}(): shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims: {len(dims)}")
    if not dims:
        raise RuntimeError(f"{what}(): `shifts` required")
    return [(norm_dim(d, x.ndim), s) for d, s in zip(dims, shifts)]


def _roll_along(x, d, s):
    n = x.shape[d]
    out = View.empty(x.shape, x.dtype, x.device)
    if out.numel() == 0:
        return out
    s %= n
    if s == 0:
        return E.copy(x)
    I.assign_(out.narrow(d, s, n - s), x.narrow(d, 0, n - s))
    I.assign_(out.narrow(d, 0, s), x.narrow(d, n - s, s))
    return out


def roll(x, shifts, dims=None):
    """torch.roll: a copy of x with elements shifted by ``shifts`` along ``dims``
    (wrapping around); dims=None rolls the flattened tensor and restores the shape."""
    _check_view(x, "roll")
    pairs = roll_args(x, shifts, dims)
    if pairs[0][0] is None:
        flat = E.reshape(x, (x.numel(),))
        if x.numel() == 0:
            return E.reshape(flat, x.shape)
        return _roll_along(flat, 0, pairs[0][1]).reshaped(x.shape)
    out = x
    for d, s in pairs:
        out = _roll_along(out, d, s)
    return out if out is not x else E.copy(x)


# ---------------------------------------------------------------- repeat_interleave
def repeat_interleave(x, repeats, dim=None):
    """torch.repeat_interleave with an int ``repeats``: each element (dim=None: of the
    flattened x) or each slice along ``dim`` repeated ``repeats`` times in a row."""
    _check_view(x, "repeat_interleave")
    r = _int(repeats, "repeat_interleave", "repeats")
    if r < 0:
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    if dim is None:
        x = E.reshape(x, (x.numel(),))
        d = 0
    else:
        d = norm_dim(_int(dim, "repeat_interleave", "dim"), x.ndim)
        if x.ndim == 0:
            x = x.unsqueeze(0)
    big = x.unsqueeze(d + 1).expand(x.shape[:d + 1] + (r,) + x.shape[d + 1:])
    return E.copy(big).reshaped(x.shape[:d] + (x.shape[d] * r,) + x.shape[d + 1:])

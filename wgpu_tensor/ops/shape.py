"""Shape ops that copy: cat, flip, roll, repeat_interleave.

The views (transpose, permute, narrow, diagonal, unflatten) are pure metadata
(wgpu_tensor.view); the copies here are moves of raw element bits by the one
strided-move kernel of wgpu_tensor.ops.index (shaders/index_move.wgsl), which binds
big views as several windows and splits big grids over launches:

    cat      each input written into its slice of the output (a cast first when
             its dtype differs from the promoted result dtype)
    flip     per flipped dim, a gather through a reversed index (arange, on the GPU)
    roll     per rolled dim, two slice moves
    repeat_interleave  int repeats: an expanded view copied by the elementwise kernel;
             a tensor of repeats: a gather through a source index built on the GPU
             from two exclusive scans (select's scan_blocks) and a scatter-add

Every check runs before any GPU work; nothing is read back, except the output
size of repeat_interleave with a tensor of repeats and no output_size (as PyTorch).
"""
from __future__ import annotations

import operator

from .. import dtypes as D
from ..view import View, contiguous_strides, device_of, norm_dim
from ..runtime.uniforms import SELECT
from . import elementwise as E
from . import index as I
from . import reduce as R
from . import select as S


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
        raise RuntimeError(f"{what}(): expected a non-empty list of Tensors")
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
    if not x.is_contiguous() and I._byte_range(x)[1] - I._byte_range(x)[0] > x.device.max_binding // 2:
        # A strided view whose other dims spread over many bindings (a transposed view):
        # the gathered side of a move spans them all, so gather from a contiguous copy.
        out = E.copy(x)
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
    x, d = _ri_input(x, dim)
    big = x.unsqueeze(d + 1).expand(x.shape[:d + 1] + (r,) + x.shape[d + 1:])
    return E.copy(big).reshaped(x.shape[:d] + (x.shape[d] * r,) + x.shape[d + 1:])


def _ri_input(x, dim):
    """x (flattened for dim=None, 1-d for a 0-d x) and the normalised dim."""
    if dim is None:
        return E.reshape(x, (x.numel(),)), 0
    d = norm_dim(_int(dim, "repeat_interleave", "dim"), x.ndim)
    return (x.unsqueeze(0) if x.ndim == 0 else x), d


def check_repeats(x, repeats, dim):
    """PyTorch's static checks of a tensor of repeats; returns (x as repeated, dim,
    the repeats as a 1-d View of x.shape[dim] entries)."""
    _check_view(x, "repeat_interleave")
    if repeats.dtype is not D.int32 and repeats.dtype is not D.uint32:
        raise TypeError(f"repeat_interleave: repeats must be an int32 or uint32 tensor, got {repeats.dtype.name}")
    if repeats.ndim > 1:
        raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
    device_of([x, repeats])
    x, d = _ri_input(x, dim)
    n = x.shape[d]
    rep = repeats.reshaped((1,)) if repeats.ndim == 0 else repeats
    if rep.shape[0] == 1 and n != 1:
        rep = rep.expand((n,))
    if rep.shape[0] != n:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                           f"{rep.shape[0]} and input.size({d}) = {n}")
    dev = x.device
    if (n + 2) * 4 > dev.max_binding:
        raise ValueError(f"repeat_interleave with a tensor of repeats supports at most "
                         f"{dev.max_binding // 4 - 2} slices ({n} given)")
    return x, d, rep


def _exclusive_scan(t):
    """(offsets, total): the exclusive prefix sums of u32 View ``t`` (1-d) and their
    total (a 0-d uint32 View), by select's scan_blocks (one workgroup walking tiles)."""
    dev = t.device
    n = t.shape[0]
    if t.dtype is not D.uint32 or not t.is_contiguous() or t._offset:
        t = E.cast(t, D.uint32)
    off = View.empty((n,), D.uint32, dev)
    total = View.empty((), D.uint32, dev)
    k = dev.kernel("scan_blocks", S._flags(dev), ["r", "rw", "rw"], SELECT.size)
    size = max(4, n * 4)
    dev.dispatch(k, S._params(nblocks=n), [(t._buf, 0, size), (off._buf, 0, size), (total._buf, 0, 4)], 1)
    return off, total


def source_index(rep, n_out):
    """uint32 [n_out]: for output position j, the slice i whose run [O[i], O[i] + r[i])
    holds j (O the exclusive scan of the repeats): the number of runs starting at or
    before j, less one. Runs past n_out are clamped to n_out, so the index never leaves
    [0, len(rep)) whatever the repeats; with a wrong output_size the tail is unspecified."""
    dev = rep.device
    offsets, _ = _exclusive_scan(rep)
    starts = E.where(E.binary("lt", offsets, n_out), offsets, n_out)
    marks = E.fill((n_out + 1,), 0, D.uint32, device=dev)
    I.index_add_(marks, starts, 1, check=False)      # in range: clamped above
    before, _ = _exclusive_scan(marks)                 # before[j + 1] = runs starting at <= j
    return E.binary("sub", before.narrow(0, 1, n_out), 1)


def read_output_size(rep):
    """sum(repeats), read from the GPU (one implicit 8-byte read, as PyTorch's own sync
    here), checking that no repeat is negative."""
    dev = rep.device
    if rep.shape[0] == 0:
        return 0
    _, total = _exclusive_scan(rep)
    lo = R.amin(E.cast(rep, D.int32)) if rep.dtype is D.int32 else E.fill((), 0, D.int32, device=dev)
    both = cat([E.cast(total, D.int32).reshaped((1,)), lo.reshaped((1,))])
    t, mn = (int(v) for v in dev.read(both._buf, both._offset * 4, 8, explicit=False).view("<u4"))
    if mn >= 2 ** 31:
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    return t


def repeat_interleave_tensor(x, rep, d, n_out):
    """x's slices along d, slice i repeated rep[i] times: a gather through source_index."""
    dev = x.device
    if (n_out + 2) * 4 > dev.max_binding:
        raise ValueError(f"repeat_interleave with a tensor of repeats supports outputs of at most "
                         f"{dev.max_binding // 4 - 2} slices along dim ({n_out} asked)")
    shape = x.shape[:d] + (n_out,) + x.shape[d + 1:]
    out = View.empty(shape, x.dtype, dev)
    if out.numel() == 0:
        return out
    idx = source_index(rep, n_out)
    src_st = list(x._strides)
    src_st[d] = 0
    idx_st = [0] * len(shape)
    idx_st[d] = 1
    I._plan(dev, shape, x.dtype.itemsize, out, contiguous_strides(shape), x, src_st, idx=idx, idx_st=idx_st,
            side="src", dim_stride=x._strides[d], dim_size=x.shape[d], fresh=True).run(dev)
    return out


def repeat_interleave_grad(g, rep, d, n_in):
    """The gradient of repeat_interleave_tensor: each output slice added back into the
    slice it came from."""
    dev = g.device
    shape = g.shape[:d] + (n_in,) + g.shape[d + 1:]
    z = E.fill(shape, 0, g.dtype, device=dev)
    if g.numel() == 0:
        return z
    idx = source_index(rep, g.shape[d])
    view = [1] * g.ndim
    view[d] = g.shape[d]
    idx = idx.reshaped(tuple(view)).expand(g.shape)
    return I.scatter_add_(z, d, idx, g, check=False)

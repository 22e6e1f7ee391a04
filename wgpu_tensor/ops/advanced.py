"""Mixed advanced indexing: x[:, colmask], x[m, :2], x[idx, 1], x[idx1, idx2], x[..., idx].

PyTorch follows numpy: the basic entries (slices, None) make a view ``b``; the advanced
entries (integer index tensors, bool masks as their nonzero coordinates, and the
integers beside them) broadcast to one shape B; each result element reads the element
of ``b`` whose advanced coordinates are the indices. The advanced dims of the result go
where the first advanced entry stood when those entries are adjacent, else first.

On the GPU: the element offset of each index combination in ``b``'s storage,
O = sum(index_d * stride_d), is one elementwise pass per advanced entry; the read (or
write) is index_move's gather (scatter) from a flat view of ``b``'s storage whose
leading "dim" is that offset (stride 1) and whose other dims are ``b``'s basic dims.
Each index is range-checked against its own dim first (one small read per index, as
x[idx] does); a bool mask is turned into coordinates with one read of its count, as
x[mask] does.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as D
from ..view import View, broadcast_shapes
from . import creation as C
from . import elementwise as E
from . import index as I
from . import select as S


def is_advanced(key):
    """Whether a tuple index holds an advanced entry (an index or mask tensor, a list,
    an array) beside others."""
    return isinstance(key, tuple) and any(isinstance(k, (View, list, np.ndarray)) for k in key)


def prepare(x, key):
    """The key with lists and arrays as index Views and bool masks as their nonzero
    coordinates (one explicit read of the count per mask): what the forward and the
    gradient both use. Too many indices raise before anything is uploaded."""
    used = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        is_mask = (isinstance(k, View) and k.dtype is D.bool_) or \
            (isinstance(k, (list, np.ndarray)) and np.asarray(k).dtype == np.bool_)
        used += np.ndim(k) if is_mask and not isinstance(k, View) else (k.ndim if is_mask else 1)
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    out = []
    for k in key:
        if isinstance(k, (list, np.ndarray)):
            arr = np.asarray(k)
            if arr.size == 0:
                arr = arr.astype(np.int32)
            if arr.dtype.kind not in "biu":
                raise IndexError(f"tensors used as indices must be integer or bool, got {arr.dtype}")
            k = C.tensor(arr)
        if isinstance(k, View) and k.dtype is D.bool_:
            res = S.nonzero(k)
            coords = S.exact(res, S.read_count(res.count))
            out += [coords.basic_index((slice(None), d)) for d in range(k.ndim)] if k.ndim else \
                [C.zeros((coords.shape[0],), D.int32)]
            continue
        if isinstance(k, View) and k.dtype not in (D.int32, D.uint32):
            raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors (got {k.dtype.name})")
        out.append(k)
    return tuple(out)


def _plan(x, key):
    """(flat view, offsets O [B] int32, permutation of the result or None, result shape)
    for a prepared key (masks already coordinates)."""
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - used) + key[i + 1:]
    basic, adv, pos = [], [], 0
    for k in key:
        if k is None or isinstance(k, slice):
            basic.append(k)
            pos += 1
            continue
        if isinstance(k, bool) or not isinstance(k, (int, np.integer, View)):
            raise IndexError(f"unsupported index entry {k!r} of type {type(k).__name__}")
        basic.append(slice(None))
        adv.append((pos, k))
        pos += 1
    b = x.basic_index(tuple(basic))
    dims = [d for d, _ in adv]
    shapes = [k.shape if isinstance(k, View) else () for _, k in adv]
    B = broadcast_shapes(*shapes)
    for d, k in adv:  # every index in range of its own dim (negatives wrap)
        size = b.shape[d]
        if isinstance(k, View):
            I._check_range(k, size, d, allow_negative=True)
        elif not -size <= int(k) < size:
            raise IndexError(f"index {int(k)} is out of bounds for dimension {d} with size {size}")
    offsets = None
    for d, k in adv:
        size, stride = b.shape[d], b._strides[d]
        if isinstance(k, View):
            ct = k.dtype.wgsl
            term = E.launch(f"(i32(a) + select(0, b, i32(a) < 0)) * c", D.int32,
                            [k, E.Scalar(size), E.Scalar(stride)], [ct, "i32", "i32"], shape=B)
        else:
            term = E.fill(B, (int(k) % size) * stride, D.int32, device=x.device)
        offsets = term if offsets is None else E.binary("add", offsets, term)
    rest = [d for d in range(b.ndim) if d not in dims]
    span = max(1, b._buf.size // b.dtype.itemsize - b._offset)
    flat = View(b._st, (span,) + tuple(b.shape[d] for d in rest), (1,) + tuple(b._strides[d] for d in rest),
                b._offset, b.dtype)
    nb, nr = len(B), len(rest)
    perm = None
    if dims == list(range(dims[0], dims[0] + len(dims))) and dims[0] > 0:
        p0 = dims[0]  # adjacent advanced entries: their dims go where the first stood
        perm = list(range(nb, nb + p0)) + list(range(nb)) + list(range(nb + p0, nb + nr))
    shape = tuple(B) + tuple(b.shape[d] for d in rest)
    if perm is not None:
        shape = tuple(shape[p] for p in perm)
    return flat, offsets, perm, shape


def get(x, key):
    """x[key] for a prepared key with advanced entries: a new tensor."""
    flat, offsets, perm, shape = _plan(x, key)
    if math.prod(shape) == 0:
        return View.empty(shape, x.dtype, x.device)
    out = I.index_get(flat, offsets, check=False)
    return out.permute(perm) if perm is not None else out


def put_(x, key, value, accumulate=False):
    """x[key] = value (a scalar or a tensor broadcast to the indexing result) in place;
    accumulate=True adds (the gradient of get)."""
    flat, offsets, perm, shape = _plan(x, key)
    if math.prod(shape) == 0:
        return x
    if isinstance(value, View):
        value = value.expand(shape) if value.shape != shape else value
        if perm is not None:
            inv = [0] * len(perm)
            for i, p in enumerate(perm):
                inv[p] = i
            value = value.permute(inv)
    I.index_put_(flat, offsets, value, accumulate=accumulate, check=False)
    return x

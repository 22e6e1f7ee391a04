"""Launch helpers shared by the ops: broadcasting, view geometry, binding windows.

A view is (buffer, element offset, shape, strides). A shader binds a *window*
of a buffer (at most one storage binding, its start aligned to the adapter's
offset alignment) and addresses elements relative to the window start.
"""
from __future__ import annotations

from ..view import broadcast_shapes, broadcast_strides, contiguous_strides  # noqa: F401 (re-exported)

MAX_DIMS = 8


def coalesce(shape, strides_list):
    """Drop size-1 dims and merge neighbours that are contiguous in every operand.
    Returns (shape, [strides...]) with the same element order."""
    dims = [(s, [st[d] for st in strides_list]) for d, s in enumerate(shape) if s != 1]
    if not dims:
        return (), [() for _ in strides_list]
    merged = [dims[0]]
    for s, sts in dims[1:]:
        ps, psts = merged[-1]
        if all(p == q * s for p, q in zip(psts, sts)):
            merged[-1] = (ps * s, sts)
        else:
            merged.append((s, sts))
    shp = tuple(m[0] for m in merged)
    return shp, [tuple(m[1][i] for m in merged) for i in range(len(strides_list))]


def unravel(g, shape):
    idx = []
    for s in reversed(shape):
        idx.append(g % s)
        g //= s
    return list(reversed(idx))


def span(offset, shape, strides, s, e):
    """Conservative [lo, hi] element offsets that global indices [s, e) of a view
    can touch (strides are non-negative)."""
    if not shape:
        return offset, offset
    i0, i1 = unravel(s, shape), unravel(e - 1, shape)
    k = 0
    while k < len(shape) and i0[k] == i1[k]:
        k += 1
    if k == len(shape):
        o = offset + sum(i * st for i, st in zip(i0, strides))
        return o, o
    fixed = offset + sum(i0[d] * strides[d] for d in range(k))
    lo = fixed + i0[k] * strides[k]
    hi = fixed + i1[k] * strides[k] + sum((shape[d] - 1) * strides[d] for d in range(k + 1, len(shape)))
    return lo, hi


def window(dev, buf, itemsize, lo, hi):
    """Byte window (offset, size) of ``buf`` covering elements [lo, hi]."""
    a = dev.storage_align
    start = (lo * itemsize) // a * a
    end = min(buf.size, -(-((hi + 1) * itemsize) // 4) * 4)
    return start, max(end - start, 4)


def chunk_granule(dev):
    """Launches start at multiples of this many elements, so that an output
    window starts at an aligned byte offset for every itemsize."""
    return max(4, dev.storage_align)


def chunk_elems(dev, itemsize):
    """Elements per launch so one window of ``itemsize`` elements fits a storage binding."""
    g = chunk_granule(dev)
    return max(g, dev.max_binding // max(itemsize, 4) // g * g)

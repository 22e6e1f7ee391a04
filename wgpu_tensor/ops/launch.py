"""Launch helpers shared by the ops: broadcasting, view geometry, binding windows.

A view is (buffer, element offset, shape, strides). A shader binds a *window*
of a buffer (at most one storage binding, its start aligned to the adapter's
offset alignment) and addresses elements relative to the window start.
"""
from __future__ import annotations

from functools import lru_cache

MAX_DIMS = 8


def broadcast_shapes(*shapes):
    nd = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(nd):
        size = 1
        for s in shapes:
            d = s[len(s) - nd + i] if len(s) - nd + i >= 0 else 1
            if d == 1:
                continue
            if size != 1 and d != size:
                raise ValueError(
                    "shapes " + " and ".join(str(tuple(s)) for s in shapes)
                    + " do not broadcast (dimension "
                    f"{i - nd}: {size} vs {d})")
            size = d
        out.append(size)
    return tuple(out)


def broadcast_strides(shape, strides, out_shape):
    """Strides of a view with ``shape``/``strides`` broadcast to ``out_shape``."""
    pad = len(out_shape) - len(shape)
    res = [0] * pad
    for d, (s, st) in enumerate(zip(shape, strides)):
        res.append(0 if (s == 1 and out_shape[pad + d] != 1) else st)
    return tuple(res)


def contiguous_strides(shape):
    """Row-major strides (elements) of ``shape``; cached: every new tensor asks."""
    try:
        return _contiguous_strides(shape)
    except TypeError:  # a list
        return _contiguous_strides(tuple(shape))


@lru_cache(maxsize=4096)
def _contiguous_strides(shape):
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= int(s)
    return tuple(reversed(st))


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

"""Scans along a dim: cumsum, cumprod, cummax, cummin (shaders/scan_rows.wgsl).

The input is laid out as contiguous rows [rows, n] along ``dim`` (a strided or
transposed view, or a dim that is not the last, is copied once into that layout,
converted to the dtype the scan runs in) and scanned row by row in tiles of
TILE = WG * R elements, R per invocation (4 to R_MAX, from the row length):

  n <= TILE: one pass, one workgroup per row (an in-workgroup scan of the runs);
  longer:    a TOTALS pass writes each invocation's run total ([rows, tiles * WG],
             1/R of the data); those are scanned by the same function (recursively:
             a row of 2**24 needs two levels on lavapipe, three with R = 64); a last pass walks each run once
             from the inclusive total of the row's earlier runs (reduce-then-scan:
             the input is read twice, the output written once, no barriers; no
             look-back, so nothing spins).

cummax/cummin carry (value, index) pairs; the later element wins a tie (PyTorch's
``>=``) and NaN beats every number (so it propagates, its index the last NaN's).
Sums start from -0.0 so that a row of -0.0 sums to -0.0. float16 is scanned in
float32 and rounded once at the end; bool/int32 cumsum and cumprod give int32
(PyTorch: int64), wrapping on overflow.

Rows are dispatched in groups whose data fit one storage binding; a single row of
more than one binding (max_binding / 4 elements) raises ValueError before any GPU
work. Tiles past the adapter's workgroup limit per dimension go through a 2-D grid.

Count-awareness (counted 1-D inputs, see SPEC "Counted results"): cumsum, cumprod,
cummax and cummin take ``count`` (a 0-d int32 View or None), passed to ``_scan``; the place to honour it is _scan_level's row
length (the kernels would read P.n from a count buffer); today a non-None count
raises NotImplementedError.
"""
from __future__ import annotations

import operator
from collections import namedtuple

from .. import dtypes as D
from ..runtime.uniforms import SCAN
from ..view import View, contiguous_strides, norm_dim
from . import elementwise as E
from .launch import window
from .reduce_dim import moved_values

CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])

WG = 64          # invocations per workgroup (one tile)
R_MAX = None     # most elements per invocation (a power of two >= 4); None: R_CPU on CPU
R_CPU = 1024     # adapters (lavapipe: runs of 4 KB per invocation stream at the copy's
R_GPU = 64       # speed, 256-byte runs do not: 2.2x -> 1.7x the copy for 2**24), R_GPU else

_NEG0 = "bitcast<f32>(0x80000000u)"
# (identity, COMBINE or BETTER) of each op per WGSL type.
_OPS = {
    "sum": {"f32": (_NEG0, "a + b"), "i32": ("0i", "a + b"), "u32": ("0u", "a + b")},
    "prod": {"f32": ("1.0", "a * b"), "i32": ("1i", "a * b"), "u32": ("1u", "a * b")},
    "max": {"f32": ("bitcast<f32>(0xff800000u)", "is_nan(b) || (!is_nan(a) && b >= a)"),
            "i32": ("bitcast<i32>(0x80000000u)", "b >= a"), "u32": ("0u", "b >= a")},
    "min": {"f32": ("bitcast<f32>(0x7f800000u)", "is_nan(b) || (!is_nan(a) && b <= a)"),
            "i32": ("bitcast<i32>(0x7fffffffu)", "b <= a"), "u32": ("0xffffffffu", "b <= a")},
}


def _r_for(dev, n):
    """Elements per invocation for rows of n: the least power of two >= n / WG, from 4
    up to R_MAX (by adapter type when None)."""
    top = R_MAX or (R_CPU if _is_cpu(dev) else R_GPU)
    r = 4
    while r < top and r * WG < n:
        r *= 2
    return r


def _is_cpu(dev):
    return dev.is_lavapipe or "cpu" in str(dev.adapter.info.get("adapter_type", "")).lower()


def _row_chunks(dev, rows, n):
    """Groups [r0, r1) of whole rows whose 32-bit elements fit one storage binding
    (from an aligned window start). ValueError when one row does not."""
    room = dev.max_binding - dev.storage_align
    if n * 4 > room:
        raise ValueError(f"a scan along a dimension of {n} elements needs {n * 4} bytes in one "
                         f"storage binding, over this adapter's {dev.max_binding}: scan a shorter "
                         "dimension (or reshape the row into pieces)")
    per = max(1, room // (n * 4))
    return [(r0, min(rows, r0 + per)) for r0 in range(0, rows, per)]


def _kernel(dev, op, ct, r, *, indexed, idx_in, has_pre, totals, vec4, rev):
    ident, expr = _OPS[op][ct]
    params = {"WG": WG, "R": r, "T": ct, "IDENT": ident,
              "COMBINE": "a" if indexed else expr, "BETTER": expr if indexed else "true",
              "INDEXED": indexed, "IDX_IN": idx_in, "HAS_PRE": has_pre, "TOTALS": totals,
              "VEC4": vec4, "REV": rev}
    access = ["r", "r" if idx_in else None, "rw", "rw" if indexed else None,
              "r" if has_pre else None, "r" if has_pre and indexed else None]
    return dev.kernel("scan_rows", params, access, SCAN.size)


def _scan_level(dev, x, xi, rows, n, op, rev, indexed):
    """Inclusive scan of the contiguous rows [rows, n] of ``x`` (32-bit dtype);
    ``xi``: the indices travelling with x (indexed ops above the first level), or
    None (the columns). Returns (y, yi) as new contiguous [rows * n] Views."""
    ct = x.dtype.wgsl
    r = _r_for(dev, n)
    tpr = -(-n // (WG * r))
    y = View.empty((rows * n,), x.dtype, dev)
    yi = View.empty((rows * n,), D.int32, dev) if indexed else None
    vec4 = not rev and n % 4 == 0 and x._offset % 4 == 0
    flags = dict(indexed=indexed, idx_in=xi is not None, vec4=vec4, rev=rev)
    runs = tpr * WG
    if tpr == 1:  # one tile per row: one pass
        k = _kernel(dev, op, ct, r, has_pre=False, totals=False, **flags)
        _dispatch(dev, k, rows, n, tpr, [(x, n), (xi, n), (y, n), (yi, n), (None, runs)])
        return y, yi
    # Run totals [rows, tpr * WG], their inclusive scan, then every run from its prefix.
    tot = View.empty((rows * runs,), x.dtype, dev)
    toti = View.empty((rows * runs,), D.int32, dev) if indexed else None
    k = _kernel(dev, op, ct, r, has_pre=False, totals=True, **flags)
    _dispatch(dev, k, rows, n, tpr, [(x, n), (xi, n), (tot, runs), (toti, runs), (None, runs)])
    pv, pi = _scan_level(dev, tot, toti, rows, runs, op, False, indexed)
    k = _kernel(dev, op, ct, r, has_pre=True, totals=False, **flags)
    _dispatch(dev, k, rows, n, tpr, [(x, n), (xi, n), (y, n), (yi, n), (pv, runs), (pi, runs)])
    return y, yi


def _dispatch(dev, k, rows, n, tpr, arrays):
    """Launch ``k`` over every tile, in groups of whole rows that fit one binding.
    ``arrays``: (View or None, its row length) for X, XI, Y, YI, PV[, PI]; each is bound
    as the window of the group's rows."""
    per_launch = dev.max_groups ** 2
    arrays = list(arrays) + [(None, 0)] * (6 - len(arrays))
    for r0, r1 in _row_chunks(dev, rows, n):
        wins, offs = [], []
        for t, length in arrays:
            if t is None:
                wins.append(None)
                offs.append(0)
                continue
            lo = t._offset + r0 * length
            st, sz = window(dev, t._buf, 4, lo, t._offset + r1 * length - 1)
            wins.append((t._buf, st, sz))
            offs.append(lo - st // 4)
        g_end = r1 * tpr
        for g0 in range(r0 * tpr, g_end, per_launch):
            cnt = min(per_launch, g_end - g0)
            p = SCAN.pack(n, tpr, g0, cnt, r0, offs[0], offs[2], offs[1], offs[3], offs[4])
            dev.dispatch(k, p, wins, cnt)


# ---------------------------------------------------------------- layout
def _perm(shape, d):
    return shape[:d] + shape[d + 1:] + (shape[d],)


def _to_rows(x, d, dtype):
    """x with dim d moved last, as a contiguous View of ``dtype`` (no copy when x
    already is one)."""
    if d != x.ndim - 1:
        st = x._strides
        x = x.derive(_perm(x.shape, d), st[:d] + st[d + 1:] + (st[d],), x._offset)
    if x.dtype is not dtype:
        return E.cast(x, dtype)
    if not x.is_contiguous():
        return E.copy(x)
    return x


def _from_rows(y, shape, d, dtype):
    """The scanned rows (contiguous, dim d last) back in ``shape`` as a new
    contiguous View of ``dtype``."""
    nd = len(shape)
    if d == nd - 1:
        y = y.reshaped(shape)
        return y if y.dtype is dtype else E.cast(y, dtype)
    cs = contiguous_strides(_perm(shape, d))
    strides = cs[:d] + (cs[-1],) + cs[d:-1]
    v = y.derive(shape, strides, y._offset)
    return E.copy(v) if v.dtype is dtype else E.cast(v, dtype)


def _check(x, dim, what):
    if not isinstance(x, View):
        raise TypeError(f"{what}: expected a wgpu_tensor.Tensor, got {type(x).__name__}")
    try:
        dim = operator.index(dim)
    except TypeError:
        raise TypeError(f"{what}: dim must be an int, got {type(dim).__name__}") from None
    return norm_dim(dim, x.ndim)


def _scan(x, d, op, work_dtype, out_dtype, *, rev=False, indexed=False, count=None):
    """The scan of x along dim d in ``work_dtype`` (32-bit), results in ``out_dtype``
    (and int32 indices when ``indexed``). Checks are done by the callers."""
    if count is not None:
        raise NotImplementedError("scans of counted (fixed-size) tensors are not count-aware yet")
    dev = x.device
    shape = x.shape
    if x.ndim == 0:
        res = _scan(E.reshape(x, (1,)), 0, op, work_dtype, out_dtype, rev=rev, indexed=indexed)
        return tuple(E.reshape(t, ()) for t in res) if indexed else E.reshape(res, ())
    n = shape[d]
    total = x.numel()
    if total == 0:
        v = View.empty(shape, out_dtype, dev)
        return (v, View.empty(shape, D.int32, dev)) if indexed else v
    _row_chunks(dev, total // n, n)  # ValueError for a row over one binding, before GPU work
    dev.check_size(total * 4, f"a scan over shape {shape}")
    rows = _to_rows(x, d, work_dtype)
    y, yi = _scan_level(dev, rows, None, total // n, n, op, rev, indexed)
    vals = _from_rows(y, shape, d, out_dtype)
    if indexed:
        return vals, _from_rows(yi, shape, d, D.int32)
    return vals


def _acc_dtypes(x, dtype, what):
    """(work dtype, result dtype) of cumsum/cumprod: bool/int32 -> int32, uint32 ->
    uint32, float16 -> float16 (accumulated in float32), float32; ``dtype=``
    converts the input first (as PyTorch)."""
    if dtype is not None:
        dt = D.to_dtype(dtype)
    elif x.dtype is D.bool_:
        dt = D.int32
    else:
        dt = x.dtype
    if dt is D.bool_:
        raise TypeError(f"{what}: dtype=bool is not supported (PyTorch has no boolean {what})")
    work = D.float32 if dt.kind == "f" else dt
    return work, dt


def cumsum(x, dim, *, dtype=None, count=None):
    """Cumulative sum along dim (see the module doc for dtypes)."""
    d = _check(x, dim, "cumsum")
    work, out = _acc_dtypes(x, dtype, "cumsum")
    return _scan(x, d, "sum", work, out, count=count)


def reverse_cumsum(x, dim):
    """out[i] = sum of x[j] for j >= i along dim (the gradient of cumsum)."""
    d = _check(x, dim, "reverse_cumsum")
    work, out = _acc_dtypes(x, None, "cumsum")
    return _scan(x, d, "sum", work, out, rev=True)


def cumprod(x, dim, *, dtype=None, count=None):
    """Cumulative product along dim (see the module doc for dtypes)."""
    d = _check(x, dim, "cumprod")
    work, out = _acc_dtypes(x, dtype, "cumprod")
    return _scan(x, d, "prod", work, out, count=count)


def _cumext(x, dim, op, what, result, count):
    d = _check(x, dim, what)
    work = D.float32 if x.dtype.kind == "f" else D.uint32 if x.dtype is D.bool_ else x.dtype
    vals, idx = _scan(x, d, op, work, x.dtype, indexed=True, count=count)
    if x.dtype is D.float16 and vals.numel():
        vals = moved_values(x, d, idx, vals)  # (NaN payloads: the values are x's own bits)
    return result(vals, idx)


def cummax(x, dim, *, count=None):
    """(values, indices): running maximum along dim and where it was (the later
    element on ties, NaN propagates)."""
    return _cumext(x, dim, "max", "cummax", CummaxResult, count)


def cummin(x, dim, *, count=None):
    """(values, indices): running minimum along dim (ties to the later, NaN propagates)."""
    return _cumext(x, dim, "min", "cummin", CumminResult, count)

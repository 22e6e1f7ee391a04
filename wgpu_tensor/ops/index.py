"""Integer-index ops and in-place assignment.

    gather, scatter / scatter_, index_select   torch's ops along one dim
    scatter_add / scatter_add_                 the same, adding duplicates (gather's gradient)
    index_get (x[idx]), index_put_ (x[idx] = v) integer-tensor indexing of dim 0
    index_add_ (x[idx] += v, duplicates add)   index_put_(accumulate=True) (x[idx]'s gradient)
    assign_ (x[key] = v), copy_                 writing into a basic-indexing view

All of them are one kernel, shaders/index_move.wgsl: it moves raw element bits (1, 2
or 4 bytes) from a source view (or a scalar) to a destination view over an iteration
shape, an index value replacing one coordinate of the source (gather, index_select,
x[idx]) or of the destination (scatter, x[idx] = v). Dtype conversion is not its job:
a value of another dtype is cast first (elementwise.cast).

Index ranges are checked on the GPU before anything is written: a min/max reduction
over the index tensor (shaders/index_minmax.wgsl) and an 8-byte read, one implicit
sync per validated index tensor. assign_ and copy_ read nothing.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as D
from ..runtime.uniforms import MINMAX, MOVE
from ..view import View, norm_dim
from . import creation as C
from . import elementwise as E
from .elementwise import _bits
from .launch import (MAX_DIMS, broadcast_shapes, broadcast_strides, chunk_elems, chunk_granule, coalesce,
                     contiguous_strides, span, window)

WG = 64            # index_move: invocations per workgroup, 4 elements each
WG_MINMAX = 256    # index_minmax: invocations per workgroup,
PER_MINMAX = 16    # index values per invocation

_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation.")


# ---------------------------------------------------------------- checks (no GPU work)
def _check_tensor(x, what, name="input"):
    if not isinstance(x, View):
        raise TypeError(f"{what}(): {name} must be a wgpu_tensor.Tensor, got {type(x).__name__}")


def _check_index(x, index, what):
    """An int32/uint32 index tensor on x's device (IndexError otherwise, as PyTorch)."""
    if not isinstance(index, View):
        raise TypeError(f"{what}(): index must be a wgpu_tensor.Tensor, got {type(index).__name__}")
    if index.dtype is not D.int32 and index.dtype is not D.uint32:
        if what == "index":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors "
                             f"(got {index.dtype.name})")
        raise IndexError(f"{what}(): Expected dtype int32 or uint32 for index, got {index.dtype.name}")
    if index.device is not x.device:
        raise ValueError(f"{what}(): input and index live on two different devices")


def _check_writable(t):
    if any(st == 0 and s > 1 for s, st in zip(t.shape, t._strides)):
        raise RuntimeError(_OVERLAP)


def _nonempty(t):
    """Shape and strides of t, a 0-d tensor counting as 1-d of size 1 (as PyTorch's gather)."""
    return (t.shape, t._strides) if t.ndim else ((1,), (1,))


def _scalar_bits(value, dtype):
    """The element bits of Python scalar ``value`` converted to ``dtype`` (as numpy does:
    floats truncate toward zero into ints; an int out of range raises OverflowError)."""
    D.scalar_dtype(value)  # TypeError for anything but a bool/int/float
    if dtype is D.bool_:
        return 1 if value else 0
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            a = np.array(float(value), dtype.np)
        return int(a.view(np.uint16 if dtype.itemsize == 2 else np.uint32))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise OverflowError(f"cannot convert {value} to {dtype.name}")
        value = int(value)
    return _bits(int(value), dtype.wgsl)


def _as_value(value, x):
    """A value for x: a Tensor, or a Python scalar; lists and numpy arrays become tensors."""
    if isinstance(value, View):
        if value.device is not x.device:
            raise ValueError("the value and the target live on two different devices")
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return C.tensor(value)
    return value


def _fit_value(value, shape):
    """value without the leading size-1 dims past len(shape) (numpy and PyTorch drop them
    in assignments: a[0] = ones(1, 3) for a row of 3)."""
    k = 0
    while value.ndim - k > len(shape) and value.shape[k] == 1:
        k += 1
    return value.derive(value.shape[k:], value._strides[k:], value._offset) if k else value


def _check_value_shape(vshape, shape, what):
    try:
        ok = broadcast_shapes(vshape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{what}: shape mismatch: value tensor of shape {list(vshape)} cannot be "
                           f"broadcast to indexing result of shape {list(shape)}")


def _byte_range(t, shape=None, strides=None):
    shape = t.shape if shape is None else shape
    strides = t._strides if strides is None else strides
    n = math.prod(shape)
    if n == 0:
        return 0, 0
    lo, hi = span(t._offset, shape, strides, 0, n)
    return lo * t.dtype.itemsize, (hi + 1) * t.dtype.itemsize


def _overlaps(a, b, a_shape=None, a_strides=None):
    """Whether the bytes ``a`` (or its view with a_shape/a_strides) reads may be written
    through ``b``. Bytes of one word that belong to different elements never conflict:
    narrow stores keep the other bytes of their word."""
    if a._buf is not b._buf:
        return False
    alo, ahi = _byte_range(a, a_shape, a_strides)
    blo, bhi = _byte_range(b)
    return alo < bhi and blo < ahi


# ---------------------------------------------------------------- the launch plan
def _windows(dev, buf, isz, lo, hi):
    """Binding windows of ``buf`` covering elements [lo, hi] (one, or several of one
    binding each): (bindings, byte start of the first, u32 words per window)."""
    a = dev.storage_align
    base = lo * isz // a * a
    end = min(buf.size, -(-((hi + 1) * isz) // 4) * 4)
    if end - base <= dev.max_binding:
        return [(buf, base, max(4, end - base))], base, 0
    win = dev.max_binding // a * a
    return [(buf, p, min(win, buf.size - p)) for p in range(base, end, win)], base, win // 4


class _Plan:
    __slots__ = ("launches",)

    def __init__(self, launches):
        self.launches = launches

    def run(self, dev):
        with dev.lock:
            for kernel, params, bindings, groups in self.launches:
                dev.dispatch(kernel, params, bindings, groups)


def _plan(dev, shape, isz, dst, dst_st, src=None, src_st=None, scal=0, idx=None, idx_st=None,
          side=None, dim_stride=0, dim_size=0, fresh=False, acc=None):
    """The launches that move ``src`` (a view with strides src_st over ``shape``, or the
    scalar bits ``scal``) into ``dst`` (strides dst_st). With ``idx`` (strides idx_st),
    each element's index value times ``dim_stride`` is added to the ``side`` ("src" or
    "dst") offset. ``fresh``: dst is a new contiguous tensor (whole-word stores). ``acc``
    ("f32", "f16", "int", "bool" or None): add into dst (or for bool) instead of replacing.
    Pure Python: raises before any GPU work."""
    n = math.prod(shape)
    zeros = (0,) * len(shape)
    shp, (sd, ss, si) = coalesce(shape, [tuple(dst_st), tuple(src_st or zeros), tuple(idx_st or zeros)])
    if len(shp) > MAX_DIMS:
        raise ValueError(f"index ops support at most {MAX_DIMS} dimensions that cannot be merged, "
                         f"got shape {tuple(shape)}")
    nd = len(shp)
    dims = [v for k in range(MAX_DIMS) for v in ((shp[k], sd[k], ss[k], si[k]) if k < nd else (1, 0, 0, 0))]
    g = chunk_granule(dev)
    # A launch's non-indexed views fit one binding each and its workgroups one dispatch grid;
    # the indexed view may be bound as several windows.
    chunk = min(chunk_elems(dev, 4), max(g, dev.max_groups ** 2 * WG * 4 // g * g))
    launches = []
    s = 0
    while s < n:
        e = min(n, s + chunk)
        fits = True
        sides = []
        for name, t, st in (("dst", dst, sd), ("src", src, ss)):
            if t is None:
                sides.append(([], 0, 0, 0))
                continue
            lo, hi = span(t._offset, shp, st, s, e)
            if side == name:
                hi += (dim_size - 1) * dim_stride
            wins, base, per = _windows(dev, t._buf, isz, lo, hi)
            if side != name and len(wins) > 1:
                fits = False
            sides.append((wins, (t._offset - base // isz) & 0xFFFFFFFF, per, base))
        iwin, ioff = None, 0
        if idx is not None:
            lo, hi = span(idx._offset, shp, si, s, e)
            st_, size_ = window(dev, idx._buf, 4, lo, hi)
            if size_ > dev.max_binding:
                fits = False
            iwin, ioff = (idx._buf, st_, size_), (idx._offset - st_ // 4) & 0xFFFFFFFF
        if not fits:
            if chunk <= g:
                raise ValueError("a strided view spreads too thinly over its buffer to fit one storage "
                                 f"binding ({dev.max_binding} bytes); copy a smaller part first")
            chunk = max(g, chunk // 2 // g * g)
            continue
        (dwins, doff, dper, dbase), (swins, soff, sper, _) = sides
        kd, ks = len(dwins), len(swins)
        if kd + ks + 1 > dev.max_storage_bindings:
            raise MemoryError(f"the indexed tensor needs {max(kd, ks)} storage bindings of "
                              f"{dev.max_binding} bytes, over this adapter's limit of "
                              f"{dev.max_storage_bindings} per shader stage")
        cas = not fresh and (isz < 4 or acc is not None)
        params = {"WG": WG, "ISZ": isz, "KS": ks, "KD": kd, "ONE_DIM": nd <= 1, "HAS_IDX": idx is not None,
                  "IDX_SIGNED": idx is not None and idx.dtype is D.int32,
                  "IDX_SRC": side == "src", "IDX_DST": side == "dst",
                  "SRC_TENSOR": src is not None, "OUT_WORDS": fresh, "CAS": cas,
                  "REPLACE": cas and acc is None, "ACC_F32": acc == "f32", "ACC_F16": acc == "f16",
                  "ACC_INT": acc == "int", "ACC_BOOL": acc == "bool"}
        access = ["r" if idx is not None else None] + ["r"] * ks + ["rw"] * kd
        kernel = dev.kernel("index_move", params, access, MOVE.size)
        out_off = (dst._offset + s - dbase // isz) & 0xFFFFFFFF
        p = MOVE.pack(e - s, s, nd, dim_size, doff, soff, ioff, dim_stride, *dims,
                        dper, sper, scal, out_off)
        launches.append((kernel, p, [iwin] + swins + dwins, math.ceil((e - s) / (WG * 4))))
        s = e
    return _Plan(launches)


# ---------------------------------------------------------------- index validation (one read)
def _check_range(idx, size, dim, allow_negative):
    """IndexError unless every value of ``idx`` is in [0, size) (or [-size, size) with
    ``allow_negative``). A GPU min/max reduction and one implicit 8-byte read."""
    n = idx.numel()
    if n == 0:
        return
    dev = idx.device
    t = E.contiguous(idx)
    signed = idx.dtype is D.int32
    res = View.empty((4,), D.uint32, dev)
    k = dev.kernel("index_minmax", {"WG": WG_MINMAX, "PER": PER_MINMAX, "SIGNED": signed}, ["r", "rw"],
                   MINMAX.size)
    g = chunk_granule(dev)
    chunk = min(chunk_elems(dev, 4), max(g, dev.max_groups ** 2 * WG_MINMAX * PER_MINMAX // g * g))
    with dev.lock:
        dev.clear(res._buf, 0, 16)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            st, sz = window(dev, t._buf, 4, t._offset + s, t._offset + e - 1)
            dev.dispatch(k, MINMAX.pack(e - s, t._offset + s - st // 4),
                         [(t._buf, st, sz), (res._buf, 0, 16)], math.ceil((e - s) / (WG_MINMAX * PER_MINMAX)))
        hi_key, lo_key = (int(v) for v in dev.read(res._buf, 0, 8, explicit=False).view(np.uint32))
    lo_key ^= 0xFFFFFFFF
    if signed:
        hi_v, lo_v = hi_key - (1 << 31), lo_key - (1 << 31)  # key(v) = v + 2^31
    else:
        hi_v, lo_v = hi_key, lo_key
    if hi_v >= size:
        raise IndexError(f"index {hi_v} is out of bounds for dimension {dim} with size {size}")
    if lo_v < (-size if allow_negative else 0):
        raise IndexError(f"index {lo_v} is out of bounds for dimension {dim} with size {size}")


# ---------------------------------------------------------------- gather / scatter / index_select
def counted_index(x, dim, index):
    """For an index with a count (a fixed-size nonzero result, or derived from one):
    (the index with its rows past the count set to 0 on the GPU, so they are never
    range-checked nor read from elsewhere, whether the range check can be skipped).
    The check is skipped when the index's ``bounds`` (known from nonzero's shape) fit
    the indexed dim: then no value can be out of range and nothing is read back."""
    if index.count is None:
        return index, True
    size = x.shape[dim] if x.ndim else 1
    safe = index.bounds is not None and max(index.bounds) <= size
    return E.valid_rows(index, index.count), not safe


def gather(x, dim, index, *, check=True):
    """torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] (dim 0); out has index's shape.
    An index with a count gives a result with that count (see counted_index).
    check=False skips the range check (and its read) for indices known in range."""
    _check_tensor(x, "gather")
    _check_index(x, index, "gather")
    d = norm_dim(dim, x.ndim)
    count = index.count
    if count is not None and d == 0:
        index, check = counted_index(x, d, index)
    xs, xst = _nonempty(x)
    ish, ist = _nonempty(index)
    if len(ish) != len(xs):
        raise RuntimeError("gather(): Index tensor must have the same number of dimensions as input tensor")
    for k in range(len(xs)):
        if k != d and ish[k] > xs[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(index.shape)} to "
                               f"be smaller than self {list(x.shape)} apart from dimension {d}")
    dev = x.device
    out = View.empty(index.shape, x.dtype, dev)
    out.count = count
    if out.numel() == 0 or (count is not None and x.numel() == 0):
        return out
    ist = _nonempty(index)[1]
    src_st = list(xst)
    src_st[d] = 0
    plan = _plan(dev, ish, x.dtype.itemsize, out, contiguous_strides(ish), x, src_st, idx=index, idx_st=ist,
                 side="src", dim_stride=xst[d], dim_size=xs[d], fresh=True)
    if check:
        _check_range(index, xs[d], d, allow_negative=False)
    plan.run(dev)
    return out


def _scatter_args(x, dim, index, src, value, what):
    """Static checks of scatter; returns (dim, value: Tensor or element bits)."""
    _check_tensor(x, what)
    _check_index(x, index, what)
    if src is not None and value is not None:
        raise TypeError(f"{what}(): give either src or value, not both")
    if src is None and value is None:
        raise TypeError(f"{what}(): expected src (a tensor or a scalar) or value=")
    v = _as_value(src if src is not None else value, x)
    d = norm_dim(dim, x.ndim)
    xs, _ = _nonempty(x)
    ish, _ = _nonempty(index)
    if len(ish) != len(xs):
        raise RuntimeError(f"{what}(): Index tensor must have the same number of dimensions as self tensor")
    if isinstance(v, View):
        if v.dtype is not x.dtype:
            raise TypeError(f"{what}(): Expected self.dtype to be equal to src.dtype "
                            f"(got {x.dtype.name} and {v.dtype.name})")
        vs, _ = _nonempty(v)
        if len(vs) != len(xs):
            raise RuntimeError(f"{what}(): Index tensor must have the same number of dimensions as src tensor")
    for k in range(len(xs)):
        if (k != d and ish[k] > xs[k]) or (isinstance(v, View) and ish[k] > vs[k]):
            raise RuntimeError(f"Expected index {list(index.shape)} to be smaller than self {list(x.shape)} "
                               f"apart from dimension {d}"
                               + (f" and to be smaller size than src {list(v.shape)}" if isinstance(v, View)
                                  else ""))
    if not isinstance(v, View):
        v = _scalar_bits(v, x.dtype)
    return d, v


_ACC = {"float32": "f32", "float16": "f16", "int32": "int", "uint32": "int", "bool": "bool"}


def _scatter_into(x, d, index, v, accumulate=False, check=True):
    dev = x.device
    if index.numel() == 0:
        return x
    xs, xst = _nonempty(x)
    ish, ist = _nonempty(index)
    if isinstance(v, View) and _overlaps(v, x):
        v = E.copy(v)
    if _overlaps(index, x):
        index = E.copy(index)
        ist = _nonempty(index)[1]
    dst_st = list(xst)
    dst_st[d] = 0
    if isinstance(v, View):
        src, src_st, scal = v, _nonempty(v)[1], 0
    else:
        src, src_st, scal = None, None, v
    plan = _plan(dev, ish, x.dtype.itemsize, x, dst_st, src, src_st, scal, idx=index, idx_st=ist,
                 side="dst", dim_stride=xst[d], dim_size=xs[d],
                 acc=_ACC[x.dtype.name] if accumulate else None)
    if check:
        _check_range(index, xs[d], d, allow_negative=False)
    plan.run(dev)
    return x


def scatter_(x, dim, index, src=None, *, value=None):
    """torch.Tensor.scatter_: x[index[i][j]][j] = src[i][j] (dim 0), in place; returns x.
    src is a tensor of x's dtype or a scalar. Duplicate targets: one of the writes wins."""
    d, v = _scatter_args(x, dim, index, src, value, "scatter_")
    _check_writable(x)
    return _scatter_into(x, d, index, v)


def scatter(x, dim, index, src=None, *, value=None):
    """torch.scatter: a copy of x with scatter_ applied."""
    d, v = _scatter_args(x, dim, index, src, value, "scatter")
    return _scatter_into(E.copy(x), d, index, v)


def scatter_add_(x, dim, index, src, *, check=True):
    """torch.Tensor.scatter_add_: x[index[i][j]][j] += src[i][j] (dim 0), in place; every
    duplicate adds (in no fixed order: float sums may differ in the last bits). bool ORs.
    check=False skips the range check (and its read) for indices already checked."""
    d, v = _scatter_args(x, dim, index, src, None, "scatter_add_")
    _check_writable(x)
    return _scatter_into(x, d, index, v, accumulate=True, check=check)


def scatter_add(x, dim, index, src):
    """torch.scatter_add: a copy of x with scatter_add_ applied."""
    d, v = _scatter_args(x, dim, index, src, None, "scatter_add")
    return _scatter_into(E.copy(x), d, index, v, accumulate=True)


def index_select(x, dim, index):
    """torch.index_select: the slices of x at ``index`` (1-D or 0-d, no negatives) along dim."""
    _check_tensor(x, "index_select")
    _check_index(x, index, "index_select")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = norm_dim(dim, x.ndim)
    xs, xst = _nonempty(x)
    k = index.numel()
    if x.ndim:
        shape = x.shape[:d] + (k,) + x.shape[d + 1:]
    else:
        shape = (k,) if index.ndim else ()
    dev = x.device
    out = View.empty(shape, x.dtype, dev)
    check = True
    if d == 0 and index.count is not None and x.ndim:
        out.count = index.count
        index, check = counted_index(x, 0, index)
        if x.numel() == 0:
            return out
    elif d != 0 and x.count is not None:
        out.count = x.count  # the counted leading dim is kept
    if out.numel() == 0:
        return out
    it = xs[:d] + (k,) + xs[d + 1:]
    src_st = list(xst)
    src_st[d] = 0
    idx_st = [0] * len(it)
    idx_st[d] = index._strides[0] if index.ndim else 0
    plan = _plan(dev, it, x.dtype.itemsize, out, contiguous_strides(it), x, src_st, idx=index, idx_st=idx_st,
                 side="src", dim_stride=xst[d], dim_size=xs[d], fresh=True)
    if check:
        _check_range(index, xs[d], d, allow_negative=False)
    plan.run(dev)
    return out


# ---------------------------------------------------------------- x[idx], x[idx] = v
def _index_geometry(x, idx):
    if x.ndim == 0:
        raise IndexError("too many indices for tensor of dimension 0")
    _check_index(x, idx, "index")
    shape = idx.shape + x.shape[1:]
    idx_st = idx._strides + (0,) * (x.ndim - 1)
    x_st = (0,) * idx.ndim + x._strides[1:]
    return shape, idx_st, x_st


def index_get(x, idx, *, check=True):
    """x[idx] for an integer tensor idx: shape idx.shape + x.shape[1:]; negatives wrap.
    An index with a count gives a result with that count (see counted_index).
    check=False skips the range check (and its read) for indices known in range."""
    _check_tensor(x, "index")
    shape, idx_st, x_st = _index_geometry(x, idx)
    dev = x.device
    out = View.empty(shape, x.dtype, dev)
    if idx.count is not None and idx.ndim:
        out.count = idx.count
        idx, check = counted_index(x, 0, idx)
        idx_st = idx._strides + (0,) * (x.ndim - 1)
        if x.numel() == 0:
            return out
    if out.numel() == 0:
        return out
    plan = _plan(dev, shape, x.dtype.itemsize, out, contiguous_strides(shape), x, x_st, idx=idx, idx_st=idx_st,
                 side="src", dim_stride=x._strides[0], dim_size=x.shape[0], fresh=True)
    if check:
        _check_range(idx, x.shape[0], 0, allow_negative=True)
    plan.run(dev)
    return out


def index_put_(x, idx, value, accumulate=False, *, check=True):
    """x[idx] = value in place: value a scalar or a tensor broadcastable to
    idx.shape + x.shape[1:], cast to x's dtype; negatives wrap; duplicates: one write wins.
    accumulate=True adds instead (every duplicate adds; bool ORs), as torch's index_put_."""
    _check_tensor(x, "index_put_")
    shape, idx_st, x_st = _index_geometry(x, idx)
    _check_writable(x)
    value = _as_value(value, x)
    if isinstance(value, View):
        value = _fit_value(value, shape)
        _check_value_shape(value.shape, shape, "index_put_")
    else:
        scal = _scalar_bits(value, x.dtype)
    if math.prod(shape) == 0:
        return x
    dev = x.device
    src = src_st = None
    if isinstance(value, View):
        src = value if value.dtype is x.dtype else E.cast(value, x.dtype)
        if _overlaps(src, x):
            src = E.copy(src)
        src_st, scal = broadcast_strides(src.shape, src._strides, shape), 0
    if _overlaps(idx, x):
        idx = E.copy(idx)
        idx_st = idx._strides + (0,) * (x.ndim - 1)
    plan = _plan(dev, shape, x.dtype.itemsize, x, x_st, src, src_st, scal, idx=idx, idx_st=idx_st,
                 side="dst", dim_stride=x._strides[0], dim_size=x.shape[0],
                 acc=_ACC[x.dtype.name] if accumulate else None)
    if check:
        _check_range(idx, x.shape[0], 0, allow_negative=True)
    plan.run(dev)
    return x


def index_add_(x, idx, value, *, check=True):
    """x[idx] += value with every duplicate index adding (torch's
    index_put_(..., accumulate=True); the gradient of x[idx])."""
    return index_put_(x, idx, value, accumulate=True, check=check)


# ---------------------------------------------------------------- x[key] = v, copy_
def assign_(view, value):
    """Write ``value`` (a scalar, or a tensor broadcastable to view.shape, cast to its dtype)
    into exactly the elements of ``view``, in place; returns view. No read."""
    _check_tensor(view, "assign_", "target")
    _check_writable(view)
    value = _as_value(value, view)
    if isinstance(value, View):
        value = _fit_value(value, view.shape)
        try:
            ok = broadcast_shapes(value.shape, view.shape) == view.shape
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"the value of shape {list(value.shape)} cannot be broadcast to the "
                               f"target of shape {list(view.shape)}")
        scal = 0
    else:
        scal = _scalar_bits(value, view.dtype)
    if view.numel() == 0:
        return view
    dev = view.device
    src = src_st = None
    if isinstance(value, View):
        src = value if value.dtype is view.dtype else E.cast(value, view.dtype)
        if _overlaps(src, view):
            src = E.copy(src)
        src_st = broadcast_strides(src.shape, src._strides, view.shape)
    _plan(dev, view.shape, view.dtype.itemsize, view, view._strides, src, src_st, scal).run(dev)
    return view


def copy_(dst, src):
    """torch.Tensor.copy_: src (broadcastable to dst, any dtype) into dst in place; returns dst."""
    if not isinstance(src, View):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    return assign_(dst, src)

"""Elementwise ops: rows of a table filling one WGSL template (shaders/elementwise.wgsl).

Each op is (name, WGSL expression over a, b, c, result-dtype rule); ``launch``
does the broadcasting, view geometry and splitting into storage-binding-sized
launches. Validation (dtypes, shapes, scalars) happens before any GPU work.
"""
from __future__ import annotations

import math
import re
import struct
from functools import lru_cache

import numpy as np

from .. import dtypes as D
from ..runtime import get_device
from ..runtime.uniforms import ELEMENTWISE, FILL
from ..view import Storage, View, device_of
from .launch import (MAX_DIMS, broadcast_shapes, broadcast_strides, chunk_elems, chunk_granule, coalesce,
                     contiguous_strides, span, window)

WG = 64
_SLOTS = "ABC"
_SCAL = "xyzw"


class Scalar:
    """A Python scalar operand, encoded into the params block as bits of ``ct``."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


_RANGE = {"i32": (-(2 ** 31), 2 ** 31), "u32": (0, 2 ** 32)}


def _bits(value, wgsl_type):
    wide = wgsl_type.startswith("wide_")
    wgsl_type = wgsl_type.replace("wide_", "")
    if wgsl_type == "f32":
        return struct.unpack("<I", struct.pack("<f", float(value)))[0]
    if wgsl_type == "bool":
        return 1 if value else 0
    v = int(value)
    lo, hi = _RANGE[wgsl_type]
    if not lo <= v < hi:
        if wide:
            raise OverflowError(f"Python int {v} does not fit int32 or uint32")
        raise OverflowError(f"Python int {v} does not fit {'int32' if wgsl_type == 'i32' else 'uint32'} "
                            f"(range [{lo}, {hi - 1}])")
    return v & 0xFFFFFFFF


def _decode(slot_field, wgsl_type):
    f = f"P.scal.{slot_field}"
    return {"f32": f"bitcast<f32>({f})", "i32": f"bitcast<i32>({f})", "u32": f,
            "bool": f"({f} != 0u)"}[wgsl_type.replace("wide_", "")]


_PACK = ELEMENTWISE.pack
_UNIT = (1, 0, 0, 0, 0, 0, 0, 0)
_ZERO = (0,) * MAX_DIMS


def _kernel(dev, expr, out_dtype, operands, cts, rt, all_contig):
    """The elementwise pipeline for one op signature, cached on the device by a
    flat key (no params dict, no sorting) so a hit costs one dict lookup."""
    sig = ("elementwise", expr, out_dtype, rt, all_contig,
           tuple([(o.dtype if isinstance(o, View) else None, ct) for o, ct in zip(operands, cts)]))
    k = dev.op_cache.get(sig)
    if k is not None:
        dev.touch(k)
        return k
    params = {"WG": WG, "EXPR": expr, "RT": rt, "ALL_CONTIG": all_contig,
              "MATH": _MATH.search(expr) is not None,
              "OUT_W32": out_dtype.itemsize == 4, "OUT_BOOL": out_dtype is D.bool_,
              "OUT_F16": out_dtype.itemsize == 2 and rt == "f32",
              "OUT_H16": out_dtype.itemsize == 2 and rt == "u32",
              "BITS": "u32" if rt == "u32" else "bitcast<u32>"}
    params.update(slot_params(operands, cts))
    access = ["rw"] + ["r" if params.get(f"HAS_{slot}") else None for slot in _SLOTS]
    return dev.kernel("elementwise", params, access, ELEMENTWISE.size, alias=sig)


def scalar_bits(operands, cts):
    """The uniform words (P.scal.x..w) of the scalar operands in slots a..d."""
    scal = [0, 0, 0, 0]
    for i, op in enumerate(operands):
        if not isinstance(op, View):
            scal[i] = _bits(op.value, cts[i])
    return scal


def slot_params(operands, cts, own=None):
    """Template parameters of operand slots a, b, c (tensors or scalars) and d (a
    scalar): CT_x (the WGSL type it is computed in), VAL_x (a tensor's load from
    word array A/B/C at element ea/eb/ec, or the scalar decoded from P.scal.x..w)
    and HAS_x (a tensor: its binding exists). ``own`` = (slot index, WGSL value):
    that tensor is a value the kernel loaded itself (no binding). The
    elementwise, selection and reduction kernels all take their operands this way
    (one shared generator, see Pred)."""
    params = {}
    for i, slot in enumerate(_SLOTS + "D"):
        if i < len(operands):
            op, ct = operands[i], cts[i]
            tensor = isinstance(op, View)
            if tensor and slot == "D":
                raise ValueError("operand d is a scalar")
            val = _load(op.dtype, slot) if tensor else _decode(_SCAL[i], ct)
            if tensor and op.dtype.kind == "f" and ct in _SAT:
                val = saturate(val, ct)  # a float tensor read as an int
        else:
            ct, tensor, val = "u32", False, "0u"
        if own is not None and own[0] == i:
            val, tensor = own[1], False
        params[f"CT_{slot}"] = ct
        params[f"VAL_{slot}"] = val
        if slot != "D":
            params[f"HAS_{slot}"] = tensor
    return params


_MATH = re.compile(r"\bm_\w+\(")


def _launch_limit(dev):
    """Most elements one launch may cover (every operand itemsize is <= 4 bytes,
    so one storage binding holds chunk_elems(dev, 4) of any of them)."""
    g = chunk_granule(dev)
    return min(chunk_elems(dev, 4), max(g, dev.max_groups ** 2 * WG * 4 // g * g))


def _flat(dev, expr, out_dtype, out_offset, out_size, operands, cts, rt, shape, scal):
    """(kernel, params, windows, workgroups) of the one flat dispatch that runs
    EXPR into a result at element ``out_offset`` of a buffer of ``out_size``
    bytes, when every tensor operand is a contiguous view of ``shape`` and the
    op fits one launch with room to spare (a window is at most n * 4 +
    storage_align + 3 bytes); None otherwise. ``windows`` holds (byte offset,
    byte size) per binding (output first), None for an absent one."""
    n = math.prod(shape)
    align = dev.storage_align
    if n * 4 + 2 * align > dev.max_binding or -(-n // (WG * 4)) > dev.max_groups ** 2:
        return None
    cs = contiguous_strides(shape)
    for v in operands:
        if isinstance(v, View) and (v.shape != shape or v._strides != cs):
            return None
    osz = out_dtype.itemsize
    o = out_offset
    ob = o * osz // align * align
    wins = [(ob, max(min(out_size, -(-((o + n) * osz) // 4) * 4) - ob, 4)), None, None, None]
    offs = [0, 0, 0, 0]
    ss = [_ZERO, _ZERO, _ZERO]
    unit = _UNIT if n > 1 else _ZERO
    for i, op in enumerate(operands):
        if isinstance(op, View):
            isz = op.dtype.itemsize
            o = op._offset
            ws = o * isz // align * align
            wins[1 + i] = (ws, max(min(op._buf.size, -(-((o + n) * isz) // 4) * 4) - ws, 4))
            offs[i] = o - ws // isz
            ss[i] = unit
    kernel = _kernel(dev, expr, out_dtype, operands, cts, rt, True)
    p = _PACK(n, 0, 1 if n > 1 else 0, out_offset - ob // osz, n, 1, 1, 1, 1, 1, 1, 1,
              *offs, *ss[0], *ss[1], *ss[2], *scal)
    return kernel, p, wins, -(-n // (WG * 4))


def launch(expr, out_dtype, operands, cts, shape=None, result_type=None, device=None, out=None,
           extra=None):
    """Run EXPR over the broadcast of ``operands`` (Views or Scalars; a fourth one
    is a Scalar, d), each converted to the WGSL type in ``cts``; returns a new
    contiguous View, or writes into ``out`` (contiguous, of the broadcast shape
    and ``out_dtype``).
    ``extra``: (value, WGSL type) of a fourth scalar, d in EXPR."""
    views = [o for o in operands if isinstance(o, View)]
    if views:
        dev = views[0].device
        if len(views) > 1:
            dev = device_of(views)
    else:
        dev = device or get_device()
    if shape is None:
        shape = views[0].shape if views else ()
        for v in views:
            if v.shape != shape:
                shape = broadcast_shapes(*[v.shape for v in views])
                break
    # Bad scalars raise before anything is allocated or recorded.
    if extra is not None:
        operands, cts = [*operands, Scalar(extra[0])], [*cts, extra[1]]
    scal = scalar_bits(operands, cts)
    count = None
    for v in views:
        if v.count is not None:
            count = result_count(views, shape)
            break
    if out is None:
        out = View.empty(shape, out_dtype, dev)
    elif (out.shape != tuple(shape) or out.dtype is not out_dtype or not out.is_contiguous()
          or out._offset % (4 // min(out_dtype.itemsize, 4))):
        raise ValueError(f"cannot write a {out_dtype.name} result of shape {tuple(shape)} into a "
                         f"{out.dtype.name} tensor of shape {out.shape}")
    if count is not None:
        out.count = count
    n = out.numel()
    if n == 0:
        return out
    rt = result_type or out_dtype.wgsl

    # Fast path (most small ops): every tensor operand is a contiguous view of the
    # output's shape and the whole op fits one launch with room to spare: one
    # flat dispatch, no broadcasting or span geometry. The general path below
    # would do the same.
    flat = _flat(dev, expr, out_dtype, out._offset, out._buf.size, operands, cts, rt, shape, scal)
    if flat is not None:
        kernel, p, wins, groups = flat
        dev.dispatch(kernel, p, [w and (o._buf, w[0], w[1]) for o, w in zip([out, *operands], wins)],
                     groups)
        return out

    vstrides = [broadcast_strides(v.shape, v._strides, shape) for v in views]
    shp, strides = coalesce(shape, vstrides)
    if len(shp) > MAX_DIMS:
        raise ValueError(f"tensors of more than {MAX_DIMS} (non-mergeable) dimensions are not supported")
    all_contig = len(shp) <= 1 and all(st == (1,) or st == () for st in strides)
    kernel = _kernel(dev, expr, out_dtype, operands, cts, rt, all_contig)

    shape8 = list(shp) + [1] * (MAX_DIMS - len(shp))
    chunk = _launch_limit(dev)
    s = 0
    while s < n:
        e = min(n, s + chunk)
        ob, osize = window(dev, out._buf, out_dtype.itemsize, out._offset + s, out._offset + e - 1)
        out_off = out._offset + s - ob // out_dtype.itemsize
        bindings = [(out._buf, ob, osize), None, None, None]
        offs = [0, 0, 0, 0]
        ss = [[0] * MAX_DIMS for _ in range(3)]
        fits = True
        vi = 0
        for slot_i, op in enumerate(operands):
            if not isinstance(op, View):
                continue
            st = strides[vi]
            vi += 1
            lo, hi = span(op._offset, shp, st, s, e)
            wstart, wsize = window(dev, op._buf, op.dtype.itemsize, lo, hi)
            if wsize > dev.max_binding:
                fits = False
                break
            bindings[1 + slot_i] = (op._buf, wstart, wsize)
            offs[slot_i] = (op._offset - wstart // op.dtype.itemsize) & 0xFFFFFFFF
            ss[slot_i][:len(st)] = st
        if not fits:
            if chunk <= chunk_granule(dev):
                raise ValueError(
                    "a strided view spreads too thinly over its buffer to fit one storage binding "
                    f"({dev.max_binding} bytes); copy a smaller part first")
            chunk = max(chunk_granule(dev), chunk // 2 // chunk_granule(dev) * chunk_granule(dev))
            continue
        p = _PACK(e - s, s, len(shp), out_off, *shape8, *offs, *ss[0], *ss[1], *ss[2], *scal)
        dev.dispatch(kernel, p, bindings, math.ceil((e - s) / (WG * 4)))
        s = e
    return out


_ZERO_OF = {"bool": "false", "i32": "0", "u32": "0u", "f32": "0.0"}


def valid_rows(x, count, fill=None):
    """``x`` with the rows of its leading dim at or past ``count`` (a 0-d int32 View)
    replaced by ``fill`` (a WGSL literal; zero of x's type by default): one pass, no read."""
    inner = math.prod(x.shape[1:])
    ct = x.dtype.wgsl
    fill = _ZERO_OF[ct] if fill is None else fill
    out = launch(f"select({fill}, a, gi < u32(max(b, 0)) * c)", x.dtype, [x, count, Scalar(inner)],
                 [ct, "i32", "u32"], shape=x.shape)
    out.count = None
    return out


def result_count(views, shape):
    """The count of an elementwise result over ``views`` (some counted): their count,
    or the smaller of two different ones (computed on the GPU). A counted operand
    whose leading dim would not be the result's leading dim raises: its count would
    silently stop meaning anything."""
    counts = []
    for v in views:
        if v.count is None:
            continue
        if v.ndim != len(shape) or not shape:
            raise ValueError(f"a counted tensor of shape {v.shape} broadcast to {tuple(shape)}: its "
                             "counted (leading) dim would not stay leading; call .uncounted() first "
                             "to use all its rows")
        if not any(c is v.count for c in counts):
            counts.append(v.count)
    return min_count(counts)


def min_count(counts):
    """The smallest of 0-d int32 counts (distinct ones compared on the GPU)."""
    count = counts[0]
    for c in counts[1:]:
        if c is not count:
            count = launch("min(a, b)", D.int32, [count, c], ["i32", "i32"])
    return count


def merged_count(x, k=None):
    """The count of counted ``x`` with its dims 0..k-1 merged into one (all of them by
    default: the row-major flatten), whose valid rows stay first: count * their sizes."""
    inner = math.prod(x.shape[1:k])
    return x.count if inner == 1 else binary("mul", x.count, inner)


@lru_cache(maxsize=None)
def _load(dtype, slot):
    # dtype.load is written over word array W and element index e.
    expr = dtype.load
    idx = f"e{slot.lower()}"
    out = []
    i = 0
    while i < len(expr):
        if expr.startswith("W[", i):
            out.append(f"{slot}[")
            i += 2
        elif expr[i] == "e" and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_")) \
                and (i + 1 == len(expr) or not (expr[i + 1].isalnum() or expr[i + 1] == "_")):
            out.append(idx)
            i += 1
        else:
            out.append(expr[i])
            i += 1
    return "".join(out)


# ---------------------------------------------------------------- the op table
# Binary ops: name -> (rule, expression). Rules: "cmp" (result bool, computed in
# the promoted type), "arith" (promoted; bool with bool gives int32), "div"
# (float: promoted if float else float32), "logic" (any dtypes, nonzero is true,
# result bool), "minmax" (promoted, bool stays bool), "bitwise" (bool or
# integer operands; bool with bool stays bool, a logical op), "shift" (integer
# operands). An expression may be a dict by the WGSL type it is computed in
# (f32, i32, u32, bool); the m_ helpers live in shaders/elementwise_math.wgsl.
# Float comparisons are ordered in SPIR-V, so NaN makes all of them false;
# `ne` is written as !(a == b) so that NaN != x is true, as IEEE says.
BINARY = {
    "gt": ("cmp", "a > b"), "ge": ("cmp", "a >= b"), "lt": ("cmp", "a < b"),
    "le": ("cmp", "a <= b"), "eq": ("cmp", "a == b"), "ne": ("cmp", "!(a == b)"),
    "add": ("arith", "a + b"), "sub": ("arith", "a - b"), "mul": ("arith", "a * b"),
    "div": ("div", "a / b"),
    "logical_and": ("logic", "&&"), "logical_or": ("logic", "||"),
    "logical_xor": ("logic", "!="),
    # elementwise math
    "pow": ("arith", {"f32": "m_pow(a, b)", "i32": "m_pow_i32(a, b)", "u32": "m_pow_u32(a, b)"}),
    "remainder": ("arith", {"f32": "m_rem_f32(a, b)", "i32": "m_rem_i32(a, b)", "u32": "m_rem_u32(a, b)"}),
    "fmod": ("arith", {"f32": "m_fmod(a, b)", "i32": "m_fmod_i32(a, b)", "u32": "m_fmod_u32(a, b)"}),
    "floor_divide": ("arith", {"f32": "m_floordiv_f32(a, b)", "i32": "m_floordiv_i32(a, b)",
                               "u32": "m_floordiv_u32(a, b)"}),
    "maximum": ("minmax", {"f32": "m_max(a, b)", "i32": "max(a, b)", "u32": "max(a, b)", "bool": "a || b"}),
    "minimum": ("minmax", {"f32": "m_min(a, b)", "i32": "min(a, b)", "u32": "min(a, b)", "bool": "a && b"}),
    "bitwise_and": ("bitwise", {"i32": "a & b", "u32": "a & b", "bool": "a && b"}),
    "bitwise_or": ("bitwise", {"i32": "a | b", "u32": "a | b", "bool": "a || b"}),
    "bitwise_xor": ("bitwise", {"i32": "a ^ b", "u32": "a ^ b", "bool": "a != b"}),
    "bitwise_left_shift": ("shift", {"i32": "m_shl_i32(a, b)", "u32": "m_shl_u32(a, b)"}),
    "bitwise_right_shift": ("shift", {"i32": "m_shr_i32(a, b)", "u32": "m_shr_u32(a, b)"}),
}

# A value as a bool, nonzero (NaN too) being true, by the WGSL type it loads as.
_NONZERO = {"f32": "!({v} == 0.0)", "i32": "({v} != 0)", "u32": "({v} != 0u)", "bool": "{v}"}


def _ct(dt):
    # Comparisons of bools compare their 0/1 values.
    return "u32" if dt is D.bool_ else dt.wgsl


def _int_kind(v, dt, is_tensor):
    """The 32-bit type ("i" or "u") an int operand's values need; None if either or neither."""
    if is_tensor:
        return dt.kind if dt is D.int32 or dt is D.uint32 else None
    if dt is D.int32:  # a Python int
        return "u" if int(v) >= 2 ** 31 else "i" if int(v) < 0 else None
    return None


# ---------------------------------------------------------------- lazy masks
# A compare, logical op or isnan/isinf/isfinite whose operands are tensors of the
# result's own shape (or Python scalars) is not run: its result is a lazy bool
# tensor (view.Storage with ``lazy`` = a Pred) holding the predicate as an
# expression over its leaves. Fused consumers (masked_select, nonzero,
# masked_fill, where, the reductions of a mask) evaluate it in their own kernels
# from the leaves, so the mask is never written; anything else asks for the
# buffer (View._buf) and the predicate is written then by one elementwise launch.
# The device materialises a Pred before any write into a leaf's buffer
# (Device.add_reader), so it always sees the leaves as they were when it was made.
PRED_TENSORS = 3   # tensor leaves at most: operand slots a, b, c of the kernels
PRED_LEAVES = 4    # leaves at most: a fourth one is a scalar in slot d
_PRED_DTYPES = (D.bool_, D.int32, D.uint32, D.float16, D.float32)
_SLOT_RE = re.compile(r"\b[abc]\b")
_BOOL_RULES = ("cmp", "logic", "bitwise")

# masks made lazy and masks written from a Pred: for tests and benchmarks
lazy_made = 0
lazy_written = 0
lazy_fused = 0  # elementwise launches (masked_fill, where) that evaluated a lazy mask


class Pred:
    """An unwritten bool result: ``expr``, a WGSL expression over leaf placeholders
    {0}, {1}, ... ; ``leaves`` (Views of the result's shape, or Scalars) and the
    WGSL type each is computed in (``cts``); the result's ``shape``. Its leaves
    cannot change before it is written: the device writes it before any write
    into their buffers (Device.add_reader sees every write route, out= results
    and uploads included, where storage versions see only in-place ops)."""

    __slots__ = ("expr", "leaves", "cts", "shape")

    def __init__(self, expr, leaves, cts, shape):
        self.expr, self.leaves, self.cts, self.shape = expr, leaves, cts, shape

    def tensors(self):
        return [v for v in self.leaves if isinstance(v, View)]

    def form(self):
        return _form(self.expr, self.leaves, self.cts)

    def write(self, st):
        """Materialise into lazy storage ``st`` (Storage.materialise, under the device lock)."""
        global lazy_written
        n = math.prod(self.shape)
        dev = st.dev
        st.buf = dev.alloc(n)
        try:
            expr, ops, cts = self.form()
            launch(expr, D.bool_, ops, cts, shape=self.shape,
                   out=View(st, self.shape, contiguous_strides(self.shape), 0, D.bool_))
        except BaseException:
            dev.release(st.buf)
            st.buf = None
            raise
        st.lazy = None
        lazy_written += 1


def pred_of(v):
    """The Pred of ``v`` when v is a whole, unwritten lazy mask; else None."""
    p = v._st.lazy
    if p is None or v._offset or v.shape != p.shape or v._strides != contiguous_strides(v.shape) \
            or v.count is not None or v._st.buf is not None:
        return None
    return p


def _pred_operand(v, shape):
    """(expression, leaves, types, WGSL type) of operand ``v`` of a lazy op of
    result ``shape``: a whole lazy mask inlines its predicate; a tensor of that
    shape is a leaf; None when v cannot take part (broadcast, counted, ...)."""
    p = pred_of(v)
    if p is not None:
        return p.expr, p.leaves, p.cts, "bool"
    if v.shape != shape or v.count is not None or v.dtype not in _PRED_DTYPES or not _one_window(v):
        return None
    ct = "bool" if v.dtype is D.bool_ else v.dtype.wgsl
    return "{0}", [v], [ct], ct


def _form(expr, leaves, cts):
    """(expression over slots a..d, operands, their WGSL types) of an expression over
    leaf placeholders: tensors first (slots a, b, c), then the scalars. The
    expression and the operands' dtypes and types are a kernel's cache key; scalar
    values travel in its uniforms."""
    order = sorted(range(len(leaves)), key=lambda i: not isinstance(leaves[i], View))
    names = [""] * len(order)
    for slot, i in enumerate(order):
        names[i] = "abcd"[slot]
    return expr.format(*names), [leaves[i] for i in order], [cts[i] for i in order]


def _merge(expr, parts):
    """``expr`` (over a, b, c) with operand i replaced by ``parts[i]`` = (expression
    over its own leaf placeholders, leaves, types): (expression over the merged
    leaves, leaves, types), a leaf repeated across parts kept once; None past the
    leaf bounds."""
    leaves, cts, subs = [], [], []
    for e, pl, pc in parts:
        idx = []
        for leaf, ct in zip(pl, pc):
            j = next((k for k, o in enumerate(leaves) if isinstance(leaf, View) and isinstance(o, View)
                      and o._st is leaf._st and o._offset == leaf._offset and o._strides == leaf._strides
                      and o.shape == leaf.shape and o.dtype is leaf.dtype and cts[k] == ct), None)
            if j is None:
                j = len(leaves)
                leaves.append(leaf)
                cts.append(ct)
            idx.append("{%d}" % j)
        subs.append("(" + e.format(*idx) + ")")
    tensors = [v for v in leaves if isinstance(v, View)]
    if not tensors or len(tensors) > PRED_TENSORS or len(leaves) > PRED_LEAVES:
        return None
    for v in tensors:
        v._buf  # a leaf that is a part of a lazy mask is written now
    return _SLOT_RE.sub(lambda m: subs["abc".index(m.group())], expr), leaves, cts


def _one_window(v):
    """A leaf the write of its mask can always read: contiguous (launch splits it
    as needed), or strided within one storage binding. Anything else runs at once,
    so that its errors (a view too thin for a binding) come from the op itself,
    never from a later write that materialises the mask."""
    if len(v.shape) > MAX_DIMS:
        return False
    if v.is_contiguous():
        return True
    if any(st < 0 for st in v._strides):
        return False
    hi = v._offset + sum((s - 1) * st for s, st in zip(v.shape, v._strides))
    return (hi - v._offset + 1) * v.dtype.itemsize + 2 * v.device.storage_align <= v.device.max_binding


def _lazy(expr, parts, shape):
    """A lazy bool View of ``expr`` (over a, or a and b) with operand ``parts`` from
    _pred_operand; None past the leaf bounds."""
    merged = _merge(expr, parts)
    if merged is None:
        return None
    p = Pred(*merged, shape)
    tensors = p.tensors()
    dev = tensors[0].device
    st = Storage(None, dev, p)
    with dev.lock:
        for v in tensors:
            dev.add_reader(v._buf, st)
    global lazy_made
    lazy_made += 1
    return View(st, shape, contiguous_strides(shape), 0, D.bool_)


def fused_launch(expr, out_dtype, operands, cts, shape):
    """launch() of EXPR (over a, b, c) with each whole lazy mask among ``operands``
    evaluated inside the kernel from its leaves (its mask is not read, nor
    written); None when no operand is one or the leaves do not fit."""
    if not LAZY or not any(isinstance(o, View) and pred_of(o) is not None for o in operands):
        return None
    with operands[0].device.lock:
        return _fused_launch(expr, out_dtype, operands, cts, shape)


def _fused_launch(expr, out_dtype, operands, cts, shape):
    # under the device lock: no other thread writes a leaf (and so writes the mask)
    # between reading the predicate and recording the launch
    parts = []
    for op, ct in zip(operands, cts):
        p = pred_of(op) if isinstance(op, View) else None
        parts.append((p.expr, p.leaves, p.cts) if p is not None else ("{0}", [op], [ct]))
    merged = _merge(expr, parts)
    if merged is None:
        return None
    global lazy_fused
    lazy_fused += 1
    expr, ops, cts = _form(*merged)
    return launch(expr, out_dtype, ops, cts, shape=shape)


def _lazy_binary(expr, x, y, cts, shape):
    parts = []
    for v, ct in zip((x, y), cts):
        if isinstance(v, View):
            part = _pred_operand(v, shape)
            if part is None:
                return None
            if part[3] != ct:
                part = (f"{ct}({part[0]})",) + part[1:]
        else:
            part = ("{0}", [Scalar(v)], [ct], ct)
        parts.append(part[:3])
    return _lazy(expr, parts, shape)


def _lazy_unary(expr, x):
    part = _pred_operand(x, x.shape)
    return None if part is None else _lazy(expr, [part[:3]], x.shape)


def _lazy_ok(views):
    """Lazy results are made for non-empty tensors of one device that need no gradient
    of their own (bool results never do)."""
    dev = views[0].device
    return all(v.device is dev for v in views) and views[0].numel() > 0 and LAZY


LAZY = True  # False: every mask is written at once (benchmarks compare)


def binary(name, x, y):
    xt, yt = isinstance(x, View), isinstance(y, View)
    if xt and yt:
        if x.shape != y.shape:
            broadcast_shapes(x.shape, y.shape)
        expr, out, cts, _ = _binary_plan(name, x.dtype, y.dtype, True, True, None, None)
        if out is D.bool_ and x.shape == y.shape:
            lz = _try_lazy(name, expr, x, y, cts)
            if lz is not None:
                return lz
        return launch(expr, out, [x, y], cts)
    if not xt and not yt:
        raise TypeError(f"{name} needs at least one tensor")
    dx = x.dtype if xt else D.scalar_dtype(x)
    dy = y.dtype if yt else D.scalar_dtype(y)
    kx, ky = _int_kind(x, dx, xt), _int_kind(y, dy, yt)
    expr, out, cts, f16 = _binary_plan(name, dx, dy, xt, yt, kx, ky)
    if f16:
        # numpy and PyTorch round a Python float to the tensor's float16 first
        # (so a float16 tensor holding 0.1 == 0.1); the kernel computes in f32.
        x, y = (v if isinstance(v, View) else _round_f16(v) for v in (x, y))
    if out is D.bool_:
        lz = _try_lazy(name, expr, x, y, cts)
        if lz is not None:
            return lz
    return launch(expr, out, [x if xt else Scalar(x), y if yt else Scalar(y)], cts)


def _try_lazy(name, expr, x, y, cts):
    """The lazy result of bool op ``name`` (checked, computed in ``cts``), or None."""
    if BINARY[name][0] not in _BOOL_RULES or "wide" in cts[0] or not LAZY:
        return None
    views = [v for v in (x, y) if isinstance(v, View)]
    if not _lazy_ok(views):
        return None
    for v, ct in zip((x, y), cts):
        if not isinstance(v, View):
            _bits(v, ct)  # OverflowError before any GPU work, as launch would
    return _lazy_binary(expr, x, y, cts, views[0].shape)


class _Plan:
    """A binary op recorded once for one operand signature: its kernel,
    parameter block, binding windows and result layout. Replaying it costs an
    allocation and a dispatch. It holds no buffer."""

    __slots__ = ("dev", "kernel", "params", "wins", "grid", "shape", "strides", "dtype", "nbytes", "size")


class _NoPlan:
    """The cached answer "this signature takes the general path" (no kernel)."""
    kernel = None


_NO_PLAN = _NoPlan()


_NUMBERS = (int, float)


def fast_binary(name, a, b):
    """``a <name> b`` replayed from a cached plan when both operands are contiguous
    tensors of one shape (or one is a Python int/float), nothing needs a
    gradient and the op fits one flat dispatch; None otherwise (the caller then
    takes the general path, which also raises every error). The plan key is the
    whole operand signature (dtypes, shapes, strides, offsets, scalar value), so
    a hit needs no checks beyond the device. The caller (the Tensor) takes the
    general path itself when an operand requires a gradient."""
    ta, tb = a.__class__ is View, b.__class__ is View
    if LAZY and BINARY[name][0] in _BOOL_RULES:
        lz = _fast_lazy(name, a, b, ta, tb)
        if lz is not None:
            return lz
    if ta and tb:
        key = (name, a.dtype, a.shape, a._strides, a._offset, b.dtype, b.shape, b._strides, b._offset)
    elif ta and b.__class__ in _NUMBERS:  # (-0.0 == 0.0: the key holds the sign too)
        key = (name, a.dtype, a.shape, a._strides, a._offset, b.__class__, b, b != 0 or str(b))
    elif tb and a.__class__ in _NUMBERS:
        key = (name, a.__class__, a, a != 0 or str(a), b.dtype, b.shape, b._strides, b._offset)
    else:
        return None
    dev = a.device if ta else b.device
    plans = dev.plans  # (least recently used first; bounded: Device.remember_plan)
    plan = plans.get(key)
    if plan is None:
        plan = _make_plan(name, a, b, ta, tb)
        dev.remember_plan(key, plan or _NO_PLAN)
        if plan is False:
            return None
    elif plan is _NO_PLAN:
        return None
    else:
        try:
            plans.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread
            pass
    if tb and ta and b.device is not dev:
        return None
    count = a.count if ta else None
    if tb and b.count is not None:
        if count is not None and count is not b.count:
            return None  # two counts: the general path takes the smaller on the GPU
        count = b.count
    out = View.fresh(dev.dispatch_fresh(plan, a._buf if ta else None, b._buf if tb else None),
                     plan.shape, plan.strides, plan.dtype, dev)
    out.count = count
    return out


def _fast_lazy(name, a, b, ta, tb):
    """fast_binary's lazy mask: None whenever binary() would do anything else."""
    if ta and tb:
        if a.shape != b.shape or a.device is not b.device:
            return None
    elif not ((ta and b.__class__ in _NUMBERS) or (tb and a.__class__ in _NUMBERS)):
        return None
    dx = a.dtype if ta else D.scalar_dtype(a)
    dy = b.dtype if tb else D.scalar_dtype(b)
    try:
        expr, out, cts, f16 = _binary_plan(name, dx, dy, ta, tb, _int_kind(a, dx, ta), _int_kind(b, dy, tb))
        if out is not D.bool_:
            return None
        if f16:
            a, b = (v if isinstance(v, View) else _round_f16(v) for v in (a, b))
        return _try_lazy(name, expr, a, b, cts)
    except (TypeError, OverflowError, RuntimeError, ValueError):
        return None


def _make_plan(name, a, b, ta, tb):
    """The _Plan of ``a <name> b``, or False when the op does not qualify (the
    general path then runs it, or raises its error)."""
    dev = (a if ta else b).device
    if ta and tb and (b.device is not dev or a.shape != b.shape):
        return False
    shape = (a if ta else b).shape
    dx = a.dtype if ta else D.scalar_dtype(a)
    dy = b.dtype if tb else D.scalar_dtype(b)
    try:
        expr, out_dtype, cts, f16 = _binary_plan(name, dx, dy, ta, tb, _int_kind(a, dx, ta),
                                                 _int_kind(b, dy, tb))
    except (TypeError, OverflowError, RuntimeError):
        return False
    if f16:
        a, b = (v if isinstance(v, View) else _round_f16(v) for v in (a, b))
    operands = [a if ta else Scalar(a), b if tb else Scalar(b)]
    try:
        scal = scalar_bits(operands, cts)
    except (OverflowError, ValueError):
        return False
    n = math.prod(shape)
    if n == 0:
        return False
    # A fresh result starts at element 0 of a buffer of at least its bytes
    # rounded up to 4, so its window is the same for every replay.
    rt = out_dtype.wgsl
    flat = _flat(dev, expr, out_dtype, 0, 1 << 62, operands, cts, rt, shape, scal)
    if flat is None:
        return False
    plan = _Plan()
    plan.dev = dev
    plan.kernel, plan.params, plan.wins, groups = flat
    plan.grid = dev.grid(groups)
    plan.shape, plan.strides, plan.dtype = shape, contiguous_strides(shape), out_dtype
    plan.nbytes = n * out_dtype.itemsize
    plan.size = dev.size_class(plan.nbytes)  # (MemoryError past the adapter's buffer size)
    return plan


@lru_cache(maxsize=None)
def _binary_plan(name, dx, dy, xt, yt, kx, ky):
    """(expression, result dtype, operand WGSL types, round scalars to float16?)
    of a binary op; depends only on the dtypes (and, for a Python int, on the
    int kind its value needs), so it is cached. Raises TypeError (not cached)."""
    rule, expr = BINARY[name]
    if xt and yt:
        pd = D.promote(dx, dy)
        kx, ky = _int_kind(None, dx, True), _int_kind(None, dy, True)
    else:
        pd = D.promote_scalar(dx, dy) if xt else D.promote_scalar(dy, dx)
    if rule == "logic":
        # PyTorch: any dtypes, nonzero (NaN included) is true, the result is bool.
        cx, cy = ("bool" if d is D.bool_ else d.wgsl for d in (dx, dy))
        return (f"{_NONZERO[cx].format(v='a')} {expr} {_NONZERO[cy].format(v='b')}", D.bool_,
                (cx, cy), False)
    if rule == "cmp":
        out, ct = D.bool_, _ct(pd)
        if {kx, ky} == {"i", "u"}:
            # int32 against uint32 values: no 32-bit type holds both ranges, so
            # compare exactly through a 33-bit (sign, bits) key (cmp_wide in the shader).
            cts = ("wide_i32" if kx == "i" else "wide_u32", "wide_i32" if ky == "i" else "wide_u32")
            return _WIDE[name], out, cts, False
        if pd is D.int32 and "u" in (kx, ky):
            ct = "u32"  # a bool tensor against an int past int32's range
    elif rule in ("bitwise", "shift"):
        if dx.kind == "f" or dy.kind == "f" or (rule == "shift" and pd is D.bool_):
            what = "integer tensors (int32, uint32)" if rule == "shift" else \
                "bool tensors or integer tensors (int32, uint32)"
            raise TypeError(f"{name} needs {what}, got {dx.name} and {dy.name}"
                            + (" (compare first, e.g. x > 0)" if rule == "bitwise" else ""))
        out = pd
        ct = "bool" if pd is D.bool_ else pd.wgsl
    elif rule == "minmax":
        out = pd
        ct = "bool" if pd is D.bool_ else pd.wgsl
    elif rule == "arith":
        out = D.int32 if pd is D.bool_ else pd
        ct = out.wgsl
        if name == "pow" and not yt and ky == "i" and out.kind in "iu":
            raise RuntimeError("Integers to negative integer powers are not allowed.")
    else:  # div
        out = pd if pd.kind == "f" else D.float32
        ct = "f32"
    if isinstance(expr, dict):
        expr = expr[ct]
    return expr, out, (ct, ct), pd is D.float16


_WIDE = {"gt": "cmp_wide(a, b) > 0", "ge": "cmp_wide(a, b) >= 0", "lt": "cmp_wide(a, b) < 0",
         "le": "cmp_wide(a, b) <= 0", "eq": "cmp_wide(a, b) == 0", "ne": "cmp_wide(a, b) != 0"}


def _round_f16(v):
    with np.errstate(over="ignore"):
        return float(np.float16(v))


def neg(x):
    if x.dtype is D.bool_:
        raise TypeError("negation of a bool tensor is not supported; use ~ or logical_not")
    return launch("(0u - a)" if x.dtype is D.uint32 else "-a", x.dtype, [x], [x.dtype.wgsl])


def abs_(x):
    if x.dtype is D.bool_:
        raise TypeError("abs of a bool tensor is not supported")
    return launch("abs(a)", x.dtype, [x], [x.dtype.wgsl])


def reciprocal(x):
    """1 / x in x's float dtype; bool and integer tensors give float32."""
    out = x.dtype if x.dtype.kind == "f" else D.float32
    return launch("1.0 / a", out, [x], ["f32"])


def logical_not(x):
    """not x as bool: for a non-bool tensor, x == 0 (NaN counts as true), as PyTorch."""
    ct = "bool" if x.dtype is D.bool_ else x.dtype.wgsl
    return _bool_unary("!" + _NONZERO[ct].format(v="a"), x, ct)


def _bool_unary(expr, x, ct):
    """A bool-valued unary op: a lazy mask when it may be, else run now."""
    if LAZY and _lazy_ok([x]):
        lz = _lazy_unary(expr, x)
        if lz is not None:
            return lz
    return launch(expr, D.bool_, [x], [ct])


# ---------------------------------------------------------------- elementwise math
# Unary ops: name -> (rule, expression by WGSL type). Rules: "float" (integer and
# bool inputs give float32, float16 is computed in f32 and rounded once), "same"
# (keeps the dtype; a WGSL type missing from the dict is a TypeError), "pred"
# (result bool). The m_ helpers live in shaders/elementwise_math.wgsl.
UNARY = {
    "exp": ("float", "m_exp(a)"), "log": ("float", "m_log(a)"), "log1p": ("float", "m_log1p(a)"),
    "expm1": ("float", "m_expm1(a)"), "sqrt": ("float", "m_sqrt(a)"), "rsqrt": ("float", "1.0 / m_sqrt(a)"),
    "sin": ("float", "m_sin(a)"), "cos": ("float", "m_cos(a)"), "tanh": ("float", "m_tanh(a)"),
    "sigmoid": ("float", "m_sigmoid(a)"), "silu": ("float", "a / (1.0 + m_exp(-a))"),
    "gelu": ("float", "m_gelu(a)"), "gelu_tanh": ("float", "m_gelu_tanh(a)"),
    "relu": ("same", {"f32": "m_relu(a)", "i32": "max(a, 0)", "u32": "a"}),
    "floor": ("same", {"f32": "floor(a)", "i32": "a", "u32": "a"}),
    "ceil": ("same", {"f32": "ceil(a)", "i32": "a", "u32": "a"}),
    "round": ("same", {"f32": "round(a)", "i32": "a", "u32": "a"}),  # WGSL round: half to even
    "trunc": ("same", {"f32": "trunc(a)", "i32": "a", "u32": "a"}),
    "sign": ("same", {"f32": "m_sign(a)", "i32": "select(0, 1, a > 0) - select(0, 1, a < 0)",
                      "u32": "select(0u, 1u, a > 0u)", "bool": "a"}),
    "square": ("same", {"f32": "a * a", "i32": "a * a", "u32": "a * a"}),
    "bitwise_not": ("same", {"i32": "~a", "u32": "~a", "bool": "!a"}),
    # (bit tests written out, so that every kernel a predicate is fused into has them)
    "isnan": ("pred", {"f32": "(bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u", "i32": "false",
                       "u32": "false", "bool": "false"}),
    "isinf": ("pred", {"f32": "(bitcast<u32>(a) & 0x7fffffffu) == 0x7f800000u", "i32": "false",
                       "u32": "false", "bool": "false"}),
    "isfinite": ("pred", {"f32": "(bitcast<u32>(a) & 0x7f800000u) != 0x7f800000u", "i32": "true",
                          "u32": "true", "bool": "true"}),
}


def unary(name, x):
    """The elementwise op ``name`` of UNARY on a View."""
    rule, expr = UNARY[name]
    ct = "bool" if x.dtype is D.bool_ else x.dtype.wgsl
    if rule == "float":
        return launch(expr, x.dtype if x.dtype.kind == "f" else D.float32, [x], ["f32"])
    if name == "square" and x.dtype is D.bool_:
        return launch("a * a", D.int32, [x], ["i32"])  # torch: bool ** 2 is an integer
    if ct not in expr:
        kind = "a bool or integer" if name == "bitwise_not" else "a numeric (non-bool)"
        raise TypeError(f"{name} needs {kind} tensor, got {x.dtype.name}"
                        + (" (for a float tensor, use logical_not)" if name == "bitwise_not" else ""))
    if rule == "pred" or x.dtype is D.bool_:
        return _bool_unary(expr[ct], x, ct)
    return launch(expr[ct], x.dtype, [x], [ct])


def grad_expr(expr, dtype, operands):
    """A gradient computed by one elementwise expression over float operands
    (Views or Python numbers, each loaded as f32): a = the incoming gradient,
    b, c as the rule passes them. Result ``dtype``, the broadcast shape."""
    return launch(expr, dtype, [o if isinstance(o, View) else Scalar(o) for o in operands],
                  ["f32"] * len(operands))


def _check_scalar(v, ct, what):
    """A Python scalar operand checked before any GPU work (type, range)."""
    if not isinstance(v, (bool, int, float, np.number)):
        raise TypeError(f"{what}: unsupported scalar {v!r} of type {type(v).__name__}")
    _bits(v, ct)


def result_type(*args):
    """PyTorch's result type of tensors and Python scalars: the tensors promote
    with each other; a scalar raises the category only (int -> float)."""
    tensors = [a.dtype for a in args if isinstance(a, View)]
    rd = tensors[0]
    for d in tensors[1:]:
        rd = D.promote(rd, d)
    for a in args:
        if not isinstance(a, View) and a is not None:
            rd = D.promote_scalar(rd, D.scalar_dtype(a))
    return rd


def clamp(x, lo=None, hi=None):
    """min(max(x, lo), hi) elementwise; NaN in x or a bound gives NaN; lo > hi gives hi."""
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    bounds = [b for b in (lo, hi) if b is not None]
    rd = result_type(x, *bounds)
    if x.dtype is D.bool_ or rd is D.bool_:
        raise TypeError("clamp is not supported for bool tensors")
    shapes = [b.shape for b in bounds if isinstance(b, View)]
    if shapes:
        broadcast_shapes(x.shape, *shapes)
    ct = rd.wgsl
    for b in bounds:
        if not isinstance(b, View):
            _check_scalar(b, ct, "clamp")
    mx, mn = ("m_max", "m_min") if ct == "f32" else ("max", "min")
    if lo is not None and hi is not None:
        expr, ops = f"{mn}({mx}(a, b), c)", [x, lo, hi]
    elif lo is not None:
        expr, ops = f"{mx}(a, b)", [x, lo]
    else:
        expr, ops = f"{mn}(a, b)", [x, hi]
    if rd is D.float16:
        ops = [o if isinstance(o, View) else _round_f16(o) for o in ops]
    return launch(expr, rd, [o if isinstance(o, View) else Scalar(o) for o in ops], [ct] * len(ops))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (defaults: 0 and the
    dtype's largest and lowest finite values); integer and bool tensors are copied."""
    for v in (nan, posinf, neginf):
        if v is not None and not isinstance(v, (int, float, np.number)):
            raise TypeError(f"nan_to_num: unsupported scalar {v!r} of type {type(v).__name__}")
    if x.dtype.kind != "f":
        return copy(x)
    big = float(np.finfo(x.dtype.np).max)
    vals = [float(nan), big if posinf is None else float(posinf), -big if neginf is None else float(neginf)]
    if x.dtype is D.float16:
        vals = [_round_f16(v) for v in vals]
    return launch("m_nan_to_num(a, b, c, d)", x.dtype,
                  [x, Scalar(vals[0]), Scalar(vals[1])], ["f32"] * 3, extra=(vals[2], "f32"))


def lerp(start, end, weight):
    """start + weight * (end - start), as PyTorch computes it (from the nearer end)."""
    for name, v in (("start", start), ("end", end), ("weight", weight)):
        if isinstance(v, View) and v.dtype.kind != "f":
            raise TypeError(f"lerp: {name} must be a float tensor, got {v.dtype.name}")
    if not isinstance(end, View):
        raise TypeError("lerp: end must be a tensor")
    if not isinstance(weight, View):
        _check_scalar(weight, "f32", "lerp weight")
    rd = D.promote(start.dtype, end.dtype)
    if isinstance(weight, View):
        rd = D.promote(rd, weight.dtype)
        broadcast_shapes(start.shape, end.shape, weight.shape)
    else:
        broadcast_shapes(start.shape, end.shape)
        weight = Scalar(_round_f16(weight) if rd is D.float16 else float(weight))
    return launch("m_lerp(a, b, c)", rd, [start, end, weight], ["f32"] * 3)


def addcmul(x, t1, t2, value=1):
    """x + value * t1 * t2 (PyTorch's order), promoted over the three tensors."""
    for v in (x, t1, t2):
        if not isinstance(v, View):
            raise TypeError(f"addcmul needs tensors, got {type(v).__name__}")
    rd = D.promote(D.promote(x.dtype, t1.dtype), t2.dtype)
    if rd is D.bool_:
        raise TypeError("addcmul is not supported for bool tensors")
    if isinstance(value, float) and rd.kind != "f":
        raise TypeError(f"addcmul: a float value needs a float tensor, got {rd.name}")
    _check_scalar(value, rd.wgsl, "addcmul value")
    broadcast_shapes(x.shape, t1.shape, t2.shape)
    ct = rd.wgsl
    v = _round_f16(value) if rd is D.float16 else value
    return launch("a + d * b * c", rd, [x, t1, t2], [ct] * 3, extra=(v, ct))


# Float -> int conversions saturate: WGSL specifies it for i32(f) / u32(f), but not
# every translation does it (OpenGL's does not), so it is written out: the value is
# clamped to the largest float below the type's bound, and NaN gives the lower bound
# (as Vulkan does). (lower bound, largest f32 under the upper bound) per int type.
_SAT = {"i32": ("-2147483648.0", "2147483520.0"), "u32": ("0.0", "4294967040.0")}


def saturate(f, int_wgsl):
    """WGSL converting f32 expression ``f`` to ``int_wgsl`` (i32 or u32), truncated
    toward zero and clamped to the int range, NaN to the lower bound, on any backend."""
    lo, hi = _SAT[int_wgsl]
    return f"{int_wgsl}(select({lo}, min({f}, {hi}), {f} >= {lo}))"


def cast_expr(src, dtype):
    if dtype is D.bool_:
        return {"f": "!(a == 0.0)", "i": "a != 0", "u": "a != 0u", "b": "a"}[src.kind]
    if src.kind == "f" and dtype.kind in "iu":
        return saturate("a", dtype.wgsl)
    return "a"


def cast(x, dtype):
    """Copy of ``x`` as ``dtype`` (float -> int truncates toward zero and saturates;
    x -> bool is x != 0)."""
    if dtype is x.dtype:
        return copy(x)
    return launch(cast_expr(x.dtype, dtype), dtype, [x], [x.dtype.wgsl])


def widen(x, shape=None):
    """``x`` (broadcast to ``shape``) as 32-bit words holding its elements exactly,
    for kernels that move one element per invocation: bool -> int32 0/1, float16 ->
    uint32 holding its 16 bits (never through f32, so NaN payloads survive), a
    4-byte dtype as it is (copied)."""
    if x.dtype is D.float16:
        return launch("a", D.uint32, [x.as_dtype(D.float16_bits)], ["u32"], shape=shape)
    return launch(cast_expr(x.dtype, x.dtype.bits32), x.dtype.bits32, [x], [x.dtype.wgsl], shape=shape)


def narrow(w, dtype, out=None):
    """The inverse of ``widen``: words ``w`` (of ``dtype.bits32``) back as ``dtype``,
    into ``out`` when given."""
    if dtype is not D.float16:
        return launch(cast_expr(w.dtype, dtype), dtype, [w], [w.dtype.wgsl], out=out)
    if out is not None:
        launch("a", D.float16_bits, [w], ["u32"], out=out.as_dtype(D.float16_bits))
        return out
    return launch("a", D.float16_bits, [w], ["u32"]).as_dtype(D.float16)


def where(cond, x, y):
    if not isinstance(cond, View) or cond.dtype is not D.bool_:
        raise TypeError("where: condition must be a bool tensor, got "
                        + (cond.dtype.name if isinstance(cond, View) else type(cond).__name__))
    xt, yt = isinstance(x, View), isinstance(y, View)
    if xt and yt:
        pd = D.promote(x.dtype, y.dtype)
    elif xt:
        pd = D.promote_scalar(x.dtype, D.scalar_dtype(y))
    elif yt:
        pd = D.promote_scalar(y.dtype, D.scalar_dtype(x))
    else:
        pd = D.promote(D.scalar_dtype(x), D.scalar_dtype(y))
    broadcast_shapes(cond.shape, *[t.shape for t in (x, y) if isinstance(t, View)])
    ops = [cond, x if xt else Scalar(x), y if yt else Scalar(y)]
    cts = ["bool", pd.wgsl, pd.wgsl]
    shape = broadcast_shapes(*[o.shape for o in ops if isinstance(o, View)])
    return select_launch("select(c, b, a)", pd, ops, cts, shape)


def _f16_bits_operands(operands, cts):
    """``operands`` of a float16 select with their float16 values as raw 16-bit words
    (cts "u32"): float16 tensors read through float16_bits, Python scalars rounded
    to float16 on the host (as a float16 op's f32 result would be). None when one
    value operand is a tensor of another dtype (it must be converted: computed)."""
    ops, out_cts = [], []
    for o, ct in zip(operands, cts):
        if ct != "f32":
            ops.append(o)
            out_cts.append(ct)
        elif isinstance(o, View):
            if o.dtype is not D.float16:
                return None
            ops.append(o.as_dtype(D.float16_bits))
            out_cts.append("u32")
        else:
            ops.append(Scalar(_fill_word(o.value, D.float16) & 0xFFFF))
            out_cts.append("u32")
    return ops, out_cts


def select_launch(expr, out_dtype, operands, cts, shape):
    """launch() of a selection EXPR (where, masked_fill, tril/triu): it only moves its
    value operands (cts ``out_dtype.wgsl``; the others are conditions), so a float16
    result moves raw 16-bit words (every NaN payload kept, on every adapter) rather
    than a round trip through f32. Lazy masks among the operands are fused."""
    if out_dtype is D.float16:
        moved = _f16_bits_operands(operands, cts)
        if moved is not None:
            out = select_launch(expr, D.float16_bits, *moved, shape)
            return out.as_dtype(D.float16)
    out = fused_launch(expr, out_dtype, operands, cts, shape)
    return out if out is not None else launch(expr, out_dtype, operands, cts, shape=shape)


def fill(shape, value, dtype, device=None):
    """A new tensor of ``shape`` holding ``value``, as fast as the device moves memory:
    bits of zero by one clear_buffer; others by shaders/fill.wgsl (16 bytes an
    invocation) up to _FILL_BLOCK bytes, and past that by copies of one filled
    _FILL_BLOCK into every block of the result (on lavapipe a copy is a memcpy,
    about 7x faster than a kernel's stores). Nothing on the host beyond 32 bits."""
    word = _fill_word(value, dtype)  # (OverflowError etc. before any GPU work)
    out = View.empty(tuple(shape), dtype, device or get_device())
    nbytes = -(-out.numel() * dtype.itemsize // 4) * 4  # (a buffer is a multiple of 4)
    dev, buf = out.device, out._buf
    if word == 0:
        dev.clear(buf, 0, nbytes)
    elif nbytes <= _FILL_BLOCK:
        _fill_kernel(dev, buf, nbytes, word)
    else:  # (a buffer cannot be copied into itself: the block is a buffer of its own)
        block = dev.alloc(_FILL_BLOCK)
        try:
            _fill_kernel(dev, block, _FILL_BLOCK, word)
            for off in range(0, nbytes, _FILL_BLOCK):
                dev.copy(block, 0, buf, off, min(_FILL_BLOCK, nbytes - off))
        finally:
            dev.release(block)  # (work recorded later runs later: it may be reused at once)
    return out


def _fill_kernel(dev, buf, nbytes, word):
    """shaders/fill.wgsl over the 16-byte words of ``buf``'s first ``nbytes`` (rounded up
    to 16: a buffer of up to _FILL_BLOCK bytes is a power of two of at least 16), in
    windows of at most one storage binding."""
    align = max(dev.storage_align, 16)
    step = max(min(dev.max_binding, dev.max_groups ** 2 * _FILL_WG * 16) // align * align, align)
    k = dev.kernel("fill", {"WG": _FILL_WG}, ["rw"], FILL.size)
    end = -(-nbytes // 16) * 16
    for off in range(0, end, step):
        n = min(step, end - off) // 16
        dev.dispatch(k, FILL.pack(n, word), [(buf, off, 16 * n)], -(-n // _FILL_WG))


_FILL_WG = 256
_FILL_BLOCK = 1 << 20


def _fill_word(value, dtype):
    """32 bits holding ``value`` as ``dtype`` once (4-byte dtypes), twice (float16) or four
    times (bool); the value converts as in an elementwise op (float16: through f32)."""
    if dtype is D.bool_:
        return 0x01010101 if _bits(value, "bool") else 0
    bits = _bits(value, dtype.wgsl)
    if dtype is D.float16:
        with np.errstate(over="ignore"):
            h = int(np.array(bits, np.uint32).view(np.float32).astype(np.float16).view(np.uint16))
        return h * 0x10001
    return bits


def copy(x):
    """A new contiguous copy of ``x`` (clone); float16 is moved as raw bits."""
    if x.dtype is D.float16:
        return launch("a", D.float16_bits, [x.as_dtype(D.float16_bits)], ["u32"]).as_dtype(D.float16)
    return launch("a", x.dtype, [x], [x.dtype.wgsl])


def contiguous(x):
    return x if x.is_contiguous() else copy(x)


def reshape(x, shape):
    """``x`` under ``shape`` (one -1 inferred): a view when x is contiguous, else a copy."""
    shape = x.infer_shape(tuple(shape))
    return contiguous(x).reshaped(shape)


def arange(start, step, n, dtype, device=None):
    ct = dtype.wgsl
    return launch(f"a + {ct}(gi) * b", dtype, [Scalar(start), Scalar(step)], [ct, ct],
                  shape=(n,), device=device)


def random(kind, shape, seed, dtype=D.float32, low=0, high=1, device=None):
    if kind == "randint":
        return launch("b + i32(rand_bits(gi, a, 0u) % c)", D.int32,
                      [Scalar(seed), Scalar(low), Scalar(high - low)], ["u32", "i32", "u32"],
                      shape=tuple(shape), device=device)
    fn = {"rand": "uniform01", "randn": "normal01"}[kind]
    return launch(f"{fn}(gi, a)", dtype, [Scalar(seed)], ["u32"], shape=tuple(shape),
                  device=device, result_type="f32")

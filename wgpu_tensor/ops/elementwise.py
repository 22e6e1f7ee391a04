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
from ..runtime.uniforms import ELEMENTWISE
from ..view import View, device_of
from .launch import (MAX_DIMS, broadcast_shapes, broadcast_strides, chunk_elems, chunk_granule, coalesce,
                     contiguous_strides, span, window)

WG = 64
_SLOTS = "ABC"
_SCAL = "xyz"


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
    return _decode_field(f"P.scal.{slot_field}", wgsl_type)


def _decode_field(f, wgsl_type):
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
        return k
    params = {"WG": WG, "EXPR": expr, "RT": rt, "ALL_CONTIG": all_contig,
              "MATH": _MATH.search(expr) is not None,
              "OUT_W32": out_dtype.itemsize == 4, "OUT_BOOL": out_dtype is D.bool_,
              "OUT_F16": out_dtype.itemsize == 2 and rt == "f32",
              "OUT_H16": out_dtype.itemsize == 2 and rt == "u32",
              "BITS": "u32" if rt == "u32" else "bitcast<u32>"}
    access = ["rw", None, None, None]
    for slot, op, ct in zip(_SLOTS, operands, cts):
        params[f"CT_{slot}"] = ct
        params[f"HAS_{slot}"] = isinstance(op, View)
        if isinstance(op, View):
            params[f"VAL_{slot}"] = _load(op.dtype, slot)
            if op.dtype.kind == "f" and ct in _SAT:
                params[f"VAL_{slot}"] = saturate(params[f"VAL_{slot}"], ct)
            access[1 + _SLOTS.index(slot)] = "r"
        else:
            params[f"VAL_{slot}"] = _decode(_SCAL[_SLOTS.index(slot)], ct)
    for slot in _SLOTS[len(operands):]:
        params.update({f"CT_{slot}": "u32", f"VAL_{slot}": "0u", f"HAS_{slot}": False})
    k = dev.op_cache[sig] = dev.kernel("elementwise", params, access, ELEMENTWISE.size)
    return k


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
    """Run EXPR over the broadcast of ``operands`` (Views or Scalars), each
    converted to the WGSL type in ``cts``; returns a new contiguous View, or
    writes into ``out`` (contiguous, of the broadcast shape and ``out_dtype``).
    ``extra``: (value, WGSL type) of a fourth scalar, P.scal.w in EXPR."""
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
    scal = [0, 0, 0, 0]
    for i, op, ct in zip(range(3), operands, cts):
        if not isinstance(op, View):
            scal[i] = _bits(op.value, ct)
    if extra is not None:
        scal[3] = _bits(*extra)

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
_LOGIC = {"logical_and": "&&", "logical_or": "||", "logical_xor": "!="}
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


def binary(name, x, y):
    xt, yt = isinstance(x, View), isinstance(y, View)
    if xt and yt:
        if x.shape != y.shape:
            broadcast_shapes(x.shape, y.shape)
        expr, out, cts, _ = _binary_plan(name, x.dtype, y.dtype, True, True, None, None)
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
    return launch(expr, out, [x if xt else Scalar(x), y if yt else Scalar(y)], cts)


class _Plan:
    """A binary op recorded once for one operand signature: its kernel,
    parameter block, binding windows and result layout. Replaying it costs an
    allocation and a dispatch."""

    __slots__ = ("dev", "kernel", "params", "wins", "grid", "shape", "strides", "dtype", "nbytes",
                 "fuse", "a_off")


_PLANS = {}
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
    if ta and tb:
        key = (name, a.dtype, a.shape, a._strides, a._offset, b.dtype, b.shape, b._strides, b._offset)
    elif ta and b.__class__ in _NUMBERS:  # (-0.0 == 0.0: the key holds the sign too)
        key = (name, a.dtype, a.shape, a._strides, a._offset, b.__class__, b, b != 0 or str(b))
    elif tb and a.__class__ in _NUMBERS:
        key = (name, a.__class__, a, a != 0 or str(a), b.dtype, b.shape, b._strides, b._offset)
    else:
        return None
    plan = _PLANS.get(key)
    if plan is None:
        plan = _make_plan(name, a, b, ta, tb)
        if len(_PLANS) > 4096:
            _PLANS.clear()
        _PLANS[key] = plan
    if plan is False:
        return None
    dev = plan.dev
    if (ta and a.device is not dev) or (tb and b.device is not dev):
        return None
    count = a.count if ta else None
    if tb and b.count is not None:
        if count is not None and count is not b.count:
            return None  # two counts: the general path takes the smaller on the GPU
        count = b.count
    out = View.fresh(plan.shape, plan.strides, plan.dtype, dev, plan.nbytes)
    out.count = count
    if plan.fuse is None:
        dev.dispatch_plan(plan, out._buf, a._buf if ta else None, b._buf if tb else None)
    else:  # a compare that masked_select may compute itself (ops/select.py)
        dev.dispatch_plan(plan, out._buf, a._buf, None, hold=(plan, a._buf, out._buf))
    return out


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
    scal = [0, 0, 0, 0]
    try:
        for i, op, ct in zip(range(2), operands, cts):
            if not isinstance(op, View):
                scal[i] = _bits(op.value, ct)
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
    # A 32-bit tensor compared with a scalar: masked_select(a, a OP s) can compute
    # the mask itself (select.py, shaders/select_pred.wgsl) instead of reading it.
    plan.fuse = None
    if (BINARY[name][0] == "cmp" and ta and not tb and a.dtype.itemsize == 4
            and not cts[0].startswith("wide")):
        plan.a_off = a._offset
        plan.fuse = {"PRED": expr, "XVAL": f"{cts[0]}({_WORD_AS[a.dtype.wgsl]})",
                     "SVAL": _decode_field("P.scal", cts[1]), "scal": scal[1]}
    return plan


_WORD_AS = {"f32": "bitcast<f32>(v)", "i32": "bitcast<i32>(v)", "u32": "v"}


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
    return launch("!" + _NONZERO[ct].format(v="a"), D.bool_, [x], [ct])


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
    "isnan": ("pred", {"f32": "is_nan(a)", "i32": "false", "u32": "false", "bool": "false"}),
    "isinf": ("pred", {"f32": "m_is_inf(a)", "i32": "false", "u32": "false", "bool": "false"}),
    "isfinite": ("pred", {"f32": "m_is_finite(a)", "i32": "true", "u32": "true", "bool": "true"}),
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
    return launch(expr[ct], D.bool_ if rule == "pred" else x.dtype, [x], [ct])


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
    return launch("m_nan_to_num(a, b, c, bitcast<f32>(P.scal.w))", x.dtype,
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
    dec = _decode_field("P.scal.w", ct)
    return launch(f"a + {dec} * b * c", rd, [x, t1, t2], [ct] * 3, extra=(v, ct))


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
    return launch("select(c, b, a)", pd, ops, ["bool", pd.wgsl, pd.wgsl])


def fill(shape, value, dtype, device=None):
    return launch("a", dtype, [Scalar(value)], [dtype.wgsl], shape=tuple(shape), device=device)


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

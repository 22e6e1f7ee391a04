"""Reductions: rows of a table filling one WGSL template (shaders/reduce.wgsl).

Each op is (accumulator rule, MAP of an element, COMBINE, identity, FINAL); ``_reduce``
checks the arguments, splits the input view into kept dims (one output element per
"row") and reduced dims, and records one or two passes over the strided view, with no
copy and no CPU read:

  - T invocations fold one item (a chunk of a row), then a tree in workgroup memory;
    short rows get T = 1 (one invocation per output element), long rows T = 64.
  - A row longer than T * PER_LANE elements, or too few rows to fill the GPU, is split
    into chunks whose partial results (in the accumulator type) a second pass folds.
    Float sums are thus a sequential sum of at most PER_LANE elements per invocation,
    then trees: pairwise enough that 2**25 uniform floats sum to ~1e-7 of float64.
  - Each launch binds a window of the input and of the output that fits one storage
    binding and a grid that fits the adapter (rows far apart are cut at row ends,
    then chunked smaller); bool and float16 outputs are packed whole words.
  - sum/count_nonzero/any/all of a lazy mask over one tensor (x > t, (x > a) & (x < b))
    read that tensor and evaluate the predicate in MAP (fuse_pred): no mask is written.
    On a CPU adapter these exact reductions of a contiguous tensor give each
    invocation one contiguous run (T = 1, CPU_RUN: vec4 loads, 16 elements per loop
    iteration, no workgroup memory); any / all end a run once it is decided.
"""
from __future__ import annotations

import math
import operator
import re
import struct

from .. import dtypes as D
from ..runtime.uniforms import REDUCE
from ..view import View, norm_dim
from . import elementwise as E
from .launch import MAX_DIMS, span, window

WG = 256
T_MAX = 64            # invocations per item, at most (so a workgroup holds >= 4 items)
PER_LANE = 64         # elements one invocation folds sequentially, at most
PER_LANE_MIN = 16     # ... at least, when rows are split only to make more work
TARGET_LANES = 1 << 16  # split rows until about this many invocations work
# (T_MAX, PER_LANE, TARGET_LANES, PER_LANE_MIN) of the exact (integer) reductions of a fused
# predicate on a CPU adapter: lavapipe folds one invocation's run far faster than
# it runs a 64-lane tree (2^22 float32 compared and counted: 2.6x faster), and
# integer counts lose nothing to long sequential folds.
CPU_EXACT = (4, 1024, 1 << 12, PER_LANE_MIN)
# ... and of a contiguous source (t_max = 1 means this): one invocation per item
# (T = 1), each folding one contiguous run of up to RUN elements, 16 per loop
# iteration (vec4 loads for 32-bit values; 4,096 float32 = 16 KB and 256 iterations,
# far below llvmpipe's 65,535), into one partial word; the partials (one word per
# 4,096 elements) are folded by a second pass of the same kind, one invocation per
# output (CPU_RUN_PARTIALS). Runs of at least RUN_MIN elements (4 KB: shorter runs
# per lane read slower), as many as RUN_LANES where the input is long enough, so
# that it spreads over several workgroups (lavapipe runs one workgroup per thread).
RUN, RUN_MIN, RUN_LANES = 4096, 1024, 1 << 11
CPU_RUN = (1, RUN, RUN_LANES, RUN_MIN)
CPU_RUN_PARTIALS = (1, RUN, 1, RUN_MIN)

_ACC_DTYPE = {"f32": D.float32, "i32": D.int32, "u32": D.uint32}  # dtype of partials
_NAN = "bitcast<f32>(0x7fc00000u)"
_ACC_LOAD = {"f32": "bitcast<f32>(X[e])", "i32": "bitcast<i32>(X[e])", "u32": "X[e]"}
_BITS = {"f32": "bitcast<u32>", "i32": "bitcast<u32>", "u32": "u32"}
_NONZERO = {"f32": "!(v == 0.0)", "i32": "v != 0", "u32": "v != 0u", "bool": "v"}
_LOWEST = {"f32": "bitcast<f32>(0xff800000u)", "i32": "bitcast<i32>(0x80000000u)", "u32": "0u"}
_HIGHEST = {"f32": "bitcast<f32>(0x7f800000u)", "i32": "2147483647", "u32": "0xffffffffu"}


def _acc_of(dtype):
    """Accumulator type of a value dtype (bools count as u32)."""
    return "u32" if dtype is D.bool_ else dtype.wgsl


# The op table: name -> (ACC, MAP, COMBINE, IDENT, FINAL) as functions of (value type
# of the input, accumulator/value type of the output dtype). MAP is over v, COMBINE over
# a and b, FINAL over a; the first pass maps input elements, a second pass folds partials.
def _conv(vt, at):
    """An element v of value type vt as accumulator type at (float -> int saturates)."""
    if vt == at:
        return "v"
    return E.saturate("v", at) if vt == "f32" and at in ("i32", "u32") else f"{at}(v)"


def _row_sum(vt, at):
    conv = _conv(vt, at)
    return at, conv, "a + b", f"{at}(0)", "a"


def _row_mean(vt, at):
    return "f32", "f32(v)", "a + b", "0.0", f"select(a / denom(), {_NAN}, denom() == 0.0)"


def _row_count(vt, at):
    return "u32", f"select(0u, 1u, {_NONZERO[vt]})", "a + b", "0u", "i32(a)"


def _row_any(vt, at):
    return "u32", f"select(0u, 1u, {_NONZERO[vt]})", "max(a, b)", "0u", "a != 0u"


def _row_all(vt, at):
    return "u32", f"select(0u, 1u, {_NONZERO[vt]})", "min(a, b)", "1u", "a != 0u"


def _row_extreme(fn, ident):
    def row(vt, at):
        acc = "u32" if vt == "bool" else vt
        comb = f"{fn}_nan(a, b)" if acc == "f32" else f"{fn}(a, b)"
        return acc, f"{acc}(v)" if vt == "bool" else "v", comb, ident[acc], \
            "a != 0u" if vt == "bool" else "a"
    return row


OPS = {
    "sum": _row_sum,
    "mean": _row_mean,
    "count_nonzero": _row_count,
    "any": _row_any,
    "all": _row_all,
    "amax": _row_extreme("max", _LOWEST),
    "amin": _row_extreme("min", _HIGHEST),
}


# ---------------------------------------------------------------- rows of the reductions with dim
# (prod, nansum, the counts the gradients and nanmean need, vector norms; used by
# ops/reduce_dim.py). The counts are float32 results (FINAL converts the u32 count).
def _row_prod(vt, at):
    conv = _conv(vt, at)
    return at, conv, "a * b", f"{at}(1)", "a"


def _row_prod_nonzero(vt, at):  # the product of the nonzero elements (prod's gradient)
    return "f32", "select(f32(v), 1.0, f32(v) == 0.0)", "a * b", "1.0", "a"


def _row_count_zero(vt, at):
    return "u32", f"select(1u, 0u, {_NONZERO[vt]})", "a + b", "0u", "f32(a)"


def _row_nansum(vt, at):
    return "f32", "select(v, 0.0, is_nan(v))", "a + b", "0.0", "a"


def _row_count_not_nan(vt, at):
    return "u32", "select(1u, 0u, is_nan(v))", "a + b", "0u", "f32(a)"


def f32_literal(p):
    """An exact WGSL f32 literal of float ``p`` (its float32 bits)."""
    return f"bitcast<f32>({int.from_bytes(struct.pack('<f', p), 'little')}u)"


def norm_row(p):
    """The op name of the vector p-norm reduction of float inputs, its table row added
    on first use (a general p is a literal of the kernel: one kernel per p)."""
    name = f"norm:{p!r}"
    if name in OPS:
        return name
    ab = "abs(f32(v))"
    if p == 2:
        row = ("f32", "f32(v) * f32(v)", "a + b", "0.0", "sqrt(a)")
    elif p == 1:
        row = ("f32", ab, "a + b", "0.0", "a")
    elif p == math.inf:
        row = ("f32", ab, "max_nan(a, b)", "0.0", "a")
    elif p == -math.inf:
        row = ("f32", ab, "min_nan(a, b)", _HIGHEST["f32"], "a")
    elif p == 0:  # the number of nonzero elements (NaN is nonzero)
        row = ("f32", "select(1.0, 0.0, f32(v) == 0.0)", "a + b", "0.0", "a")
    else:
        # pow(0, p) and pow(inf, p) spelled out: lavapipe's pow(0, negative) is not inf.
        inf, lo, hi = _HIGHEST["f32"], ("0.0", _HIGHEST["f32"])[p < 0], (_HIGHEST["f32"], "0.0")[p < 0]
        mp = f"select(select(pow({ab}, {f32_literal(p)}), {lo}, {ab} == 0.0), {hi}, {ab} == {inf})"
        fin = f"select(select(pow(a, {f32_literal(1.0 / p)}), {lo}, a == 0.0), {hi}, a == {inf})"
        row = ("f32", mp, "a + b", "0.0", fin)
    OPS[name] = lambda vt, at: row
    return name


OPS.update({
    "prod": _row_prod,
    "prod_nonzero": _row_prod_nonzero,
    "count_zero": _row_count_zero,
    "nansum": _row_nansum,
    "count_not_nan": _row_count_not_nan,
})

_TORCH_NAME = {D.bool_: "Bool", D.int32: "Int", D.uint32: "UInt32", D.float16: "Half",
               D.float32: "Float"}


# ---------------------------------------------------------------- public functions
def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    """Sum over ``dim``: bool/int32 -> int32 (wraps), uint32 -> uint32, floats keep their
    dtype (accumulated in f32). ``dtype=`` casts each element first."""
    _check_tensor(x, "sum")
    out = (D.int32 if x.dtype is D.bool_ else x.dtype) if dtype is None else D.to_dtype(dtype)
    if out is D.bool_:  # summing in bool is a logical or, as PyTorch does
        return _reduce("any", x, dim, keepdim, D.bool_, "sum")
    return _reduce("sum", x, dim, keepdim, out, "sum", cast_to=None if dtype is None else out)


def mean(x, dim=None, keepdim=False, dtype=None):
    """Mean over ``dim`` of a float tensor (or with a float ``dtype=``); nan when empty."""
    _check_tensor(x, "mean")
    if dtype is None:
        if x.dtype.kind != "f":
            raise TypeError("mean(): could not infer output dtype. Input dtype must be either a "
                            f"floating point or complex dtype. Got: {_TORCH_NAME[x.dtype]}")
        out = x.dtype
    else:
        out = D.to_dtype(dtype)
        if out.kind != "f":
            raise TypeError("mean(): could not infer output dtype. Optional dtype must be either a "
                            f"floating point or complex dtype. Got: {_TORCH_NAME[out]}")
    return _reduce("mean", x, dim, keepdim, out, "mean", cast_to=None if dtype is None else out)


def any(x, dim=None, keepdim=False):  # noqa: A001
    """True where any element is nonzero (NaN is nonzero); False over nothing."""
    return _reduce("any", x, dim, keepdim, D.bool_, "any")


def all(x, dim=None, keepdim=False):  # noqa: A001
    """True where every element is nonzero; True over nothing."""
    return _reduce("all", x, dim, keepdim, D.bool_, "all")


def count_nonzero(x, dim=None):
    """Number of nonzero elements over ``dim``, as int32 (PyTorch: int64)."""
    return _reduce("count_nonzero", x, dim, False, D.int32, "count_nonzero")


def amax(x, dim=None, keepdim=False):
    """Largest element over ``dim`` (NaN if any is NaN); an empty reduction raises."""
    return _reduce("amax", x, dim, keepdim, None, "amax")


def amin(x, dim=None, keepdim=False):
    """Smallest element over ``dim`` (NaN if any is NaN); an empty reduction raises."""
    return _reduce("amin", x, dim, keepdim, None, "amin")


# ---------------------------------------------------------------- checks and geometry
def _check_tensor(x, what):
    if not isinstance(x, View):
        raise TypeError(f"{what}(): expected a wgpu_tensor.Tensor, got {type(x).__name__}")


def reduced_dims(dim, ndim):
    """Sorted reduced dims of a tensor of ``ndim`` dims (None or () = all of them)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        dims = list(dim)
        if not dims:  # PyTorch reduces over every dim for an empty list
            return tuple(range(ndim))
    else:
        dims = [dim]
    seen = set()
    for d in dims:
        try:
            if isinstance(d, bool):
                raise TypeError
            d = operator.index(d)
        except TypeError:
            raise TypeError(f"dim must be an int or a tuple of ints, got {d!r}") from None
        n = norm_dim(d, ndim)
        if n in seen:
            raise RuntimeError(f"dim {n} appears multiple times in the list of dims")
        seen.add(n)
    return tuple(sorted(seen)) if ndim else ()


def _merge(dims):
    """Merge neighbouring (size, stride) dims that are contiguous in memory."""
    out = []
    for s, st in dims:
        if s == 1:
            continue
        if out and out[-1][1] == st * s:
            out[-1] = (out[-1][0] * s, st)
        else:
            out.append((s, st))
    return out


def _reduce(op, x, dim, keepdim, out_dtype, name, cast_to=None):
    _check_tensor(x, name)
    # under the device lock: a lazy mask read as its predicate (fuse_pred) cannot have
    # its tensors written by another thread before the reduction is recorded
    with x.device.lock:
        return _reduce_locked(op, x, dim, keepdim, out_dtype, name, cast_to)


def _reduce_locked(op, x, dim, keepdim, out_dtype, name, cast_to):
    if not isinstance(keepdim, (bool, int)):
        raise TypeError(f"{name}(): keepdim must be a bool, got {type(keepdim).__name__}")
    dims = reduced_dims(dim, x.ndim)
    if out_dtype is None:
        out_dtype = x.dtype
    counted = x.count is not None and 0 in dims
    if counted and x.shape[0] > 1 and [d for d in dims if d and x.shape[d] > 1 and x._strides[d] >= x._strides[0]]:
        x = E.copy(x)  # the kernel needs the counted dim outermost among the reduced (a copy keeps the count)
    if op in ("amax", "amin"):
        if (dim is None or (isinstance(dim, (tuple, list)) and not dim)) and x.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        for d in dims:
            if x.shape[d] == 0:
                raise RuntimeError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    if keepdim:
        shape = tuple(1 if d in dims else s for d, s in enumerate(x.shape))
    else:
        shape = tuple(s for d, s in enumerate(x.shape) if d not in dims)
    # A lazy mask of one tensor is reduced from that tensor, its predicate evaluated
    # in MAP: the mask is never written (see fuse_pred).
    fuse = fuse_pred(x, op, cast_to)
    src = x if fuse is None else fuse[0]
    kept = _merge([(x.shape[d], src._strides[d]) for d in range(x.ndim) if d not in dims])
    # Reduction order is free: reduced dims sorted by stride merge more often
    # (a transposed contiguous view reduced whole becomes one contiguous run).
    red = _merge(sorted(((x.shape[d], src._strides[d]) for d in dims), key=lambda t: -t[1]))
    if len(kept) > MAX_DIMS or len(red) > MAX_DIMS:
        raise ValueError(f"{name}(): tensors of more than {MAX_DIMS} (non-mergeable) kept or reduced "
                         "dimensions are not supported")
    M = math.prod(s for s, _ in kept)
    N = math.prod(s for s, _ in red) if x.numel() else 0
    if N >= 2 ** 32 or M >= 2 ** 32:
        raise ValueError(f"{name}(): reductions of 2**32 or more elements per output, or outputs, "
                         "are not supported")
    dev = x.device
    out = View.empty(shape, out_dtype, dev)
    if x.count is not None and not counted:
        out.count = x.count  # the counted dim is kept, and stays leading
    if M == 0:
        return out
    out_vt = _acc_of(out_dtype)
    acc, mp, comb, ident, final = OPS[op](x.dtype.wgsl, out_vt)
    if cast_to is D.float16 and x.dtype is not D.float16:
        mp = f"round_f16({mp})" if mp != "v" else "round_f16(v)"
    pred = {"FUSED": fuse is not None}
    if fuse is not None:
        global fused
        fused += 1
        mp = _V.sub("pred(0u, v)", mp)
        pred.update(fuse[1])
    geo = _Geometry(src, kept, red, M, N)
    if fuse is not None:
        geo.scal = fuse[2]
        if dev.is_cpu:
            geo.lanes = CPU_RUN if len(red) == 1 and red[0][1] == 1 else CPU_EXACT
    if counted:
        # Only the first count rows of dim 0 take part: with dim 0 outermost among the
        # reduced dims, they are the first count * (N / shape[0]) reduced elements of a row.
        geo.cnt, geo.cnt_inner, geo.limit = x.count, N // x.shape[0] if x.shape[0] else 0, True
    # any / all of u32 0/1 values: max / min reach 1u / 0u and stay (a run can stop there)
    sat = {"max(a, b)": "1u", "min(a, b)": "0u"}.get(comb) if op in ("any", "all") else None
    tpl = {"WG": WG, "ACC": acc, "IDENT": ident, "COMBINE": comb, "STOP": sat is not None, "SAT": sat or "0u"}
    first = dict(tpl, VT=src.dtype.wgsl, LOAD=src.dtype.load.replace("W[", "X["), MAP=mp, **pred)
    again = dict(tpl, VT=acc, LOAD=_ACC_LOAD[acc], MAP="v", FUSED=False)
    denom = float(N)
    _pass(dev, geo, first, again, final, out, out_dtype, denom)
    return out


# reductions that evaluated a lazy mask's predicate instead of reading the mask
fused = 0
_V = re.compile(r"\bv\b")
_FUSED_OPS = ("sum", "count_nonzero", "any", "all")


def fuse_pred(x, op, cast_to):
    """(the tensor, template parameters, scalar bits) when ``x`` is a whole lazy mask
    over one tensor (and scalars) reduced by sum/count_nonzero/any/all: the
    reduction reads that tensor in x's place and MAP evaluates the predicate
    (pred.wgsl; the one generator of elementwise.slot_params, the tensor's value
    being MAP's v). Else None."""
    p = E.pred_of(x)
    if p is None or op not in _FUSED_OPS or cast_to is not None:
        return None
    expr, ops, cts = p.form()
    if len(p.tensors()) != 1:
        return None
    t = ops[0]
    params = E.slot_params(ops, cts, own=(0, "v"))
    params.update(PRED=expr, PV=t.dtype.wgsl, LEAF_A=0, LEAF_B=0, LEAF_C=0)
    return t, params, E.scalar_bits(ops, cts)


class _Geometry:
    """A reduction source: buffer, element offset and dtype, rows (kept dims) by
    reduced elements (reduced dims), as lists of (size, stride)."""

    def __init__(self, t, kept, red, M, N, buf=None, offset=None, dtype=None):
        self.buf = t._buf if t is not None else buf
        self.offset = t._offset if t is not None else offset
        self.dtype = t.dtype if t is not None else dtype
        self.kept, self.red, self.M, self.N = kept, red, M, N
        # A counted source (see _reduce): the count View, reduced elements per counted
        # row, and whether this pass limits the rows (the first) or only divides by them.
        self.cnt, self.cnt_inner, self.limit = None, 0, False
        self.scal = (0, 0, 0, 0)  # a fused predicate's scalars
        self.lanes = (T_MAX, PER_LANE, TARGET_LANES, PER_LANE_MIN)


def _choose(geo):
    """(T, splits, chunk) for a source: invocations per item, items per row, elements per item."""
    M, N = geo.M, geo.N
    t_max, per_lane, target, per_lane_min = geo.lanes
    columns = (geo.red and geo.red[-1][1] != 1 and geo.kept and geo.kept[-1][1] == 1 and M >= 64)
    if N <= 16 or columns or t_max == 1:
        T = 1  # one invocation per output: neighbours read neighbouring columns
    else:
        T = min(t_max, 1 << ((N // 8).bit_length() - 1))
    need = -(-N // (T * per_lane))
    want = min(-(-target // (M * T)), -(-N // (T * per_lane_min)))
    splits = max(1, need, want)
    chunk = -(-N // splits) if N else 1
    splits = -(-N // chunk) if N else 1
    return T, splits, chunk


def _pass(dev, geo, first, again, final, out, out_dtype, denom):
    """Record the passes reducing ``geo`` into ``out``: one if rows are not split, else
    a pass into partials and a recursive pass over them."""
    T, splits, chunk = _choose(geo)
    while True:
        try:
            if splits == 1:
                plan = _plan(dev, geo, T, 1, chunk, out._buf, out._offset, out_dtype.itemsize, geo.M,
                             4 // min(out_dtype.itemsize, 4))
            else:
                part = View.empty((geo.M * splits,), _ACC_DTYPE[first["ACC"]], dev)
                plan = _plan(dev, geo, T, splits, chunk, part._buf, 0, 4, geo.M * splits, 1)
            break
        except _NoFit:
            if chunk == 1:
                if out_dtype.itemsize == 4:  # one element per launch always fits
                    raise
                # Output elements far apart in memory (a thin view, 1 element per row):
                # 4 bools / 2 halves of a word do not fit one window. Write 32-bit
                # results and narrow them with one elementwise cast.
                wide = out_dtype.wide32
                tmp = View.empty(out.shape, wide, dev)
                _pass(dev, geo, first, again, final, tmp, wide, denom)
                E.launch(E.cast_expr(wide, out_dtype), out_dtype, [tmp], [wide.wgsl], out=out)
                return
            chunk = -(-chunk // 2)
            splits = -(-geo.N // chunk)
    if splits == 1:
        _record(dev, geo, dict(first, T=T), final, out_dtype, plan, 1, chunk, denom)
        return
    acc = first["ACC"]
    _record(dev, geo, dict(first, T=T), "a", _ACC_DTYPE[acc], plan, splits, chunk, denom)
    nxt = _Geometry(None, [(geo.M, splits)] if geo.M > 1 else [], [(splits, 1)], geo.M, splits,
                    buf=part._buf, offset=0, dtype=_ACC_DTYPE[acc])
    nxt.cnt, nxt.cnt_inner = geo.cnt, geo.cnt_inner  # a mean's final pass divides by the count
    nxt.lanes = CPU_RUN_PARTIALS if geo.lanes[0] == 1 else geo.lanes
    _pass(dev, nxt, again, again, final, out, out_dtype, denom)


class _NoFit(Exception):
    pass


def _plan(dev, geo, T, splits, chunk, out_buf, out_offset, out_itemsize, n_items, quantum):
    """Launches over items [0, n_items): each (item0, count, x window, x offset, out window,
    out offset), so that both windows fit one storage binding and the grid fits. Launches
    start at multiples of ``quantum`` items (4 / 2 for packed bool / float16 outputs)."""
    ipw = WG // T
    per = max(quantum, min(dev.max_groups ** 2 * ipw, (dev.max_binding - dev.storage_align) // 4)
              // quantum * quantum)
    shape = [s for s, _ in geo.kept] + [s for s, _ in geo.red]
    strides = [st for _, st in geo.kept] + [st for _, st in geo.red]
    N, isz = geo.N, geo.dtype.itemsize

    def x_window(i, cnt):
        last = i + cnt - 1
        s_lin = (i // splits) * N + (i % splits) * chunk
        e_lin = (last // splits) * N + min(N, (last % splits) * chunk + chunk)
        lo, hi = span(geo.offset, shape, strides, s_lin, e_lin)
        return window(dev, geo.buf, isz, lo, hi)

    launches = []
    i = 0
    guess = per  # a thin view needs small launches: start from twice the last one
    while i < n_items:
        cnt = min(guess, n_items - i)
        if N == 0:
            xwin, xoff = (geo.buf, 0, 16), 0
        else:
            start, size = x_window(i, cnt)
            while size > dev.max_binding:
                # Rows far apart in memory (columns) fit only one at a time: cut at the
                # row's end first, then halve.
                row_end = (i // splits + 1) * splits - i
                if row_end < cnt and row_end % quantum == 0:
                    cnt = row_end
                elif cnt > quantum:
                    cnt = max(quantum, cnt // 2 // quantum * quantum)
                else:
                    raise _NoFit
                start, size = x_window(i, cnt)
            xwin, xoff = (geo.buf, start, size), (geo.offset - start // isz) & 0xFFFFFFFF
        ob, osize = window(dev, out_buf, out_itemsize, out_offset + i, out_offset + i + cnt - 1)
        launches.append((i, cnt, xwin, xoff, (out_buf, ob, osize), out_offset + i - ob // out_itemsize))
        i += cnt
        guess = min(per, 2 * cnt)
    return launches


def _load4(dtype):
    """WGSL array of elements e .. e + 3 of X (e a multiple of 4): one word of bools
    (a vec4<bool>: an array of bool crashes some drivers), two of halves, four of
    32-bit values."""
    if dtype is D.bool_:
        return "vec4<bool>(" + ", ".join(f"(X[e >> 2u] & 0x{0xff << (8 * k):x}u) != 0u"
                                              for k in range(4)) + ")"
    if dtype is D.float16:
        return "array<f32, 4>(" + ", ".join(f"unpack2x16float(X[(e >> 1u) + {k // 2}u]).{'xy'[k % 2]}"
                                             for k in range(4)) + ")"
    conv = {"f32": "bitcast<f32>", "i32": "bitcast<i32>", "u32": ""}[dtype.wgsl]
    return f"array<{dtype.wgsl}, 4>(" + ", ".join(f"{conv}(X4[e >> 2u].{c})" for c in "xyzw") + ")"


def _record(dev, geo, tpl, final, out_dtype, plan, splits, chunk, denom):
    rt = out_dtype.wgsl
    T = tpl["T"]
    # (T = 1 reads contiguous rows 4 at a time only in the runs of CPU_RUN, of 16
    # elements or more, as T > 1 does: a vec4 binding needs 16 bytes; other short rows
    # and columns read one element at a time)
    contig = len(geo.red) == 1 and geo.red[0][1] == 1 and (T > 1 or (geo.lanes[0] == 1 and geo.N >= 16))
    direct = T == 1 and out_dtype.itemsize == 4
    params = dict(tpl, RT=rt, FINAL=final, LOAD4=_load4(geo.dtype),
                  SPLIT=splits > 1, KEPT_ND=len(geo.kept) > 1, RED_CONTIG=contig,
                  RED_1D=not contig and len(geo.red) <= 1, RED_ND=not contig and len(geo.red) > 1,
                  DIRECT=direct, OUT_W32=out_dtype.itemsize == 4, OUT_BOOL=out_dtype is D.bool_,
                  OUT_F16=out_dtype is D.float16, BITS=_BITS.get(rt, "u32"))
    vec4 = contig and geo.dtype.itemsize == 4
    params["VEC4"] = vec4
    params["RUN"] = contig and T == 1
    params["COUNTED"] = geo.cnt is not None
    access = ["r", "rw", "r" if vec4 else None]
    cwin, coff = None, 0
    if geo.cnt is not None:
        params["LIMIT"] = geo.limit
        c = geo.cnt
        start, size = window(dev, c._buf, 4, c._offset, c._offset)
        cwin, coff = (c._buf, start, size), c._offset - start // 4
        access.append("r")
    kernel = dev.kernel("reduce", params, access, REDUCE.size)
    pad = [(1, 0)] * MAX_DIMS
    kept, red = (geo.kept + pad)[:MAX_DIMS], (geo.red + pad)[:MAX_DIMS]
    dims = [s for s, _ in kept] + [st for _, st in kept] + [s for s, _ in red] + [st for _, st in red]
    ipw = WG // T
    for item0, cnt, xwin, xoff, owin, ooff in plan:
        p = REDUCE.pack(cnt, item0, splits, chunk, geo.N, xoff, ooff, len(geo.kept), len(geo.red), denom,
                        geo.cnt_inner, coff, *dims, *geo.scal)
        bindings = [xwin, owin, xwin if vec4 else None] + ([cwin] if cwin else [])
        dev.dispatch(kernel, p, bindings, -(-cnt // ipw))

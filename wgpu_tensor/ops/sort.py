"""Sorting, kthvalue and isin: a bitonic sort of order-preserving u32 keys on the GPU.

sort(x, dim) maps every element to a u32 key whose unsigned order is the values'
order (elementwise template): bool 0/1, int32 with its sign bit flipped, float bits
with the sign bit set (negative: all bits inverted); a descending sort uses their
complements. The keys are laid out as rows along ``dim`` (sort_transpose.wgsl moves
them when ``dim`` is not last) and each row is sorted together with its original
column (the index) by a bitonic network over P = next power of two slots; slots
past n are virtual +infinity padding, never stored:

  sort_tile  init: one workgroup sorts a tile of TILE slots (every step of distance
             < TILE); merge: finishes a stage of a longer row the same way
  sort_step  the steps of distance >= TILE, up to GROUP_LOG of them per dispatch

An invocation keeps 2**(GROUP_LOG+1) slots in registers and runs several steps per
memory round trip (see sort_common.wgsl: on lavapipe every memory access is a loop
over the SIMD lanes and an `if` never skips its body, so the kernels are
straight-line code with vec4 accesses).

Pairs compare (key order, index), so the sort is stable. Float keys are exact bit
maps of the values (decoded bit for bit: -0.0 and NaN payloads survive); their order
treats -0.0 as 0.0 and every NaN as one value above +inf, as PyTorch does.

kthvalue = sort, then column k-1. isin sorts the test set's canonical keys once and
binary-searches each element's key in them (isin_search.wgsl): O(n log m).
"""
from __future__ import annotations

import math
import operator
from collections import namedtuple

from .. import dtypes as D
from ..runtime.uniforms import SEARCH, SORT, TRANSPOSE
from ..view import View, norm_dim
from . import creation as C
from . import elementwise as E
from . import index as I
from .launch import chunk_elems, chunk_granule, window

SortResult = namedtuple("sort", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])

GROUP_LOG = 4      # each invocation holds 2**(GROUP_LOG+1) slots in registers (3 or 4)
TILE = 4096        # sort_tile: slots per workgroup (8 bytes each in workgroup memory: 32 KiB),
                   # fewer where the adapter has less workgroup memory
STEP_WG = 64       # sort_step: invocations (groups) per workgroup
SEARCH_WG = 64     # isin_search: invocations per workgroup (4 elements each)
MOVE_WG = 64       # sort_transpose: invocations (words) per workgroup


class KOutOfRangeError(RuntimeError, IndexError):
    """kthvalue's k out of range: a RuntimeError as in PyTorch, and an IndexError."""


# ---------------------------------------------------------------- keys
# The order-preserving key of an element, over the elementwise template's operand
# `a` (converted to the "ct" type). Float keys are a bijection of the f32 bits.
# A float key is written over the f32 bits {b} of the value: bitcast<u32>(a), or for
# float16 (read as its raw bits, never through f32, so NaN payloads survive) the
# bits of the same value as an f32.
_F_KEY = "select({b} | 0x80000000u, ~{b}, {b} >= 0x80000000u)"
_F16_BITS = "m_f16_bits_to_f32(a)"
_KEY = {
    "b": ("bool", "select(0u, 1u, a)"),
    "i": ("i32", "(bitcast<u32>(a) ^ 0x80000000u)"),
    "u": ("u32", "a"),
    "f": ("f32", _F_KEY),
}
# The same order with every NaN as 0xffffffff and -0.0 as +0.0 (isin compares keys).
_CANON_F = ("select(select(" + _F_KEY + ", 0x80000000u, ({b} << 1u) == 0u), "
            "0xffffffffu, ({b} << 1u) > 0xff000000u)")
# Key (u32 `a`, already un-inverted) back to a value of the dtype.
_DECODE = {
    "b": "({u} != 0u)",
    "i": "bitcast<i32>({u} ^ 0x80000000u)",
    "u": "{u}",
    "f": "bitcast<f32>(select(~{u}, {u} ^ 0x80000000u, {u} >= 0x80000000u))",
}


def _keys(x, descending, canonical=False):
    """A new contiguous uint32 tensor of x's shape holding its keys."""
    ct, expr = _KEY[x.dtype.kind]
    if x.dtype.kind == "f":
        b = "bitcast<u32>(a)"
        if x.dtype is D.float16:
            x, ct, b = x.as_dtype(D.float16_bits), "u32", _F16_BITS
        expr = (_CANON_F if canonical else _F_KEY).format(b=b)
    if descending:
        expr = f"(~{expr})"
    return E.launch(expr, D.uint32, [x], [ct])


def _decode(keys, dtype, descending):
    u = "(~a)" if descending else "a"
    if dtype is D.float16:  # back to the raw float16 bits, not through f32
        bits = "m_f32_bits_to_f16(select(~{u}, {u} ^ 0x80000000u, {u} >= 0x80000000u))".format(u=u)
        return E.launch(bits, D.float16_bits, [keys], ["u32"]).as_dtype(D.float16)
    expr = _DECODE[dtype.kind].format(u=u)
    return E.launch(expr, dtype, [keys], ["u32"],
                    result_type="f32" if dtype.kind == "f" else None)


# ---------------------------------------------------------------- the network
def _p_log(n):
    return max(1, (n - 1).bit_length())


def _sort_params(n=0, p_log=0, rows=0, base=0, count=0, k_off=0, w_off=0, w_row=0, blo=0,
                 bhi=0, dlog=0, bot=0, real=1, per_row=1):
    return SORT.pack(n, p_log, rows, base, count, k_off, w_off, w_row, blo, bhi, dlog, bot, real, per_row)


def _real_groups(n, sh, s, groups):
    """How many of a row's register groups (pass with group bits sh..sh+s-1, slot bit
    0 paired) hold an element: their lowest slots ascend, so a prefix."""
    def lowest(q):
        q2 = q << 1
        return ((q2 >> sh) << (sh + s)) | (q2 & ((1 << sh) - 1))
    lo, hi = 0, groups
    while lo < hi:
        mid = (lo + hi) // 2
        if lowest(mid) < n:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _row_groups(dev, rows, n):
    """Groups [r0, r1) of whole rows whose working pairs (8 bytes an element, rows
    padded to an even length) fit one storage binding, each bound from an aligned
    offset. ValueError (before any GPU work) when a row does not fit."""
    a = dev.storage_align
    row = (n + (n & 1)) * 8
    groups, r0 = [], 0
    while r0 < rows:
        skip = r0 * row - r0 * row // a * a
        per = (dev.max_binding - skip) // row
        if per < 1:
            raise ValueError(
                f"sorting a row of {n} elements needs {row} bytes of (key, index) pairs, over "
                f"this adapter's storage binding of {dev.max_binding} bytes: sort along a "
                "shorter dimension")
        groups.append((r0, min(rows, r0 + per)))
        r0 += per
    return groups


def _dispatch_split(dev, kernel, make_params, bindings, count, per_group):
    """Dispatch ``count`` work items (tiles or groups) in launches of at most
    max_groups**2 workgroups; ``make_params(base)`` packs each launch's params."""
    per_launch = dev.max_groups ** 2 * per_group
    for base in range(0, count, per_launch):
        items = min(per_launch, count - base)
        dev.dispatch(kernel, make_params(base), bindings, math.ceil(items / per_group))


def _tile(dev):
    """Slots per sort_tile workgroup: TILE, or the largest power of two whose pairs
    (8 bytes a slot) fit the adapter's workgroup memory."""
    limit = int(dev.device.limits.get("max-compute-workgroup-storage-size", 16384))
    tile = min(TILE, 1 << ((limit // 8).bit_length() - 1))
    if tile < 4 << GROUP_LOG:
        raise RuntimeError(f"this adapter's workgroup memory ({limit} bytes) is too small to sort")
    return tile


def _sort_rows(dev, keys, groups, n, flt, descending):
    """Sort each row of ``keys`` (contiguous uint32 [rows, n]); returns the sorted
    (key, original column) pairs as a uint32 tensor [rows, n + n % 2, 2]."""
    rows = keys.numel() // n
    n2 = n + (n & 1)
    work = View.empty((rows, n2, 2), D.uint32, dev)
    p_log = _p_log(n)
    tile = _tile(dev)
    tile_log = tile.bit_length() - 1
    s = GROUP_LOG
    common = {"S": s, "G": 2 << s, "R": 1 << s, "LEVEL4": s == 4, "TILE": tile, "FLOAT": flt,
              "FLIP": "0xffffffff" if (descending and flt) else "0"}
    tiled = dict(common, WG=tile >> (s + 1), TILE_LOG=tile_log, TILE_PAIRS=tile // 2)
    k_init = dev.kernel("sort_tile", tiled, ["r", "rw"], SORT.size, entry="init")
    k_merge = dev.kernel("sort_tile", tiled, ["r", "rw"], SORT.size, entry="merge")
    k_step = dev.kernel("sort_step", dict(common, WG=STEP_WG), ["rw"], SORT.size)
    with dev.lock:
        for r0, r1 in groups:
            g = r1 - r0
            kst, ksz = window(dev, keys._buf, 4, keys._offset + r0 * n, keys._offset + r1 * n - 1)
            wst, wsz = window(dev, work._buf, 16, r0 * n2 // 2, r1 * n2 // 2 - 1)
            k_off = keys._offset + r0 * n - kst // 4
            w_off = r0 * n2 // 2 - wst // 16
            wbind = (work._buf, wst, wsz)
            if p_log >= tile_log:  # whole tiles per row, the ones past n skipped
                per_row, real = 1 << (p_log - tile_log), -(-n // tile)
                tiles = g * real
            else:  # rows share tiles
                per_row = real = 1
                tiles = -(-(g << p_log) // tile)

            def tile_pass(kernel, b):
                _dispatch_split(dev, kernel, lambda base: _sort_params(
                    n, p_log, g, base, tiles, k_off, w_off, n2 // 2, blo=b, bhi=b, real=real,
                    per_row=per_row), [(keys._buf, kst, ksz), wbind], tiles, 1)

            tile_pass(k_init, min(p_log, tile_log))
            for b in range(tile_log + 1, p_log + 1):
                h = b - 1
                while h >= tile_log:
                    bot = max(tile_log, h - s + 1)
                    rg = _real_groups(n, h + 1 - s, s, 1 << (p_log - s - 1))
                    _dispatch_split(dev, k_step, lambda base, h=h, bot=bot, rg=rg: _sort_params(
                        n, p_log, g, base, g * rg, k_off, w_off, n2 // 2, blo=b, dlog=h, bot=bot,
                        real=rg), [wbind], g * rg, STEP_WG)
                    h -= s
                tile_pass(k_merge, b)
    return work


def _plan(dev, x_shape, d):
    """(A, n, B): x as A blocks of n x B, sorted along n; and the row groups. Raises
    before any GPU work."""
    n = x_shape[d]
    a, b = math.prod(x_shape[:d]), math.prod(x_shape[d + 1:])
    groups = _row_groups(dev, a * b, n)
    dev.check_size(a * b * (n + (n & 1)) * 8, f"sorting {a * b} rows of {n} elements")
    if b > 1:
        _boxes(dev, (a, b, n), (n * b, 1, b), (b * n, n, 1))
        _boxes(dev, (a, b, n), (2 * b * (n + (n & 1)), 2 * (n + (n & 1)), 2), (n * b, 1, b))
    return (a, n, b), groups


# ---------------------------------------------------------------- layouts
def _boxes(dev, dims, in_st, out_st):
    """Boxes (s0, s1, i0, i1, j0, j1) covering dims (ns, ni, nj) whose input and
    output spans (word strides in_st, out_st) each fit one storage binding."""
    ns, ni, nj = dims
    m = (dev.max_binding - dev.storage_align) // 4

    def ext(st, ks, ki, kj):
        return (ks - 1) * st[0] + (ki - 1) * st[1] + (kj - 1) * st[2] + 1

    slab = max(ext(in_st, 1, ni, nj), ext(out_st, 1, ni, nj))
    if slab <= m:
        per = min((m - ext(st, 1, ni, nj)) // st[0] + 1 if st[0] else ns for st in (in_st, out_st))
        return [(s0, min(ns, s0 + per), 0, ni, 0, nj) for s0 in range(0, ns, per)]
    best, bj = (0, 0), nj
    while bj >= 1:  # the largest box (bi x bj words) over halving bj
        room = [m - 1 - (bj - 1) * st[2] for st in (in_st, out_st)]
        if min(room) >= 0:
            bi = min(ni, *(r // st[1] + 1 if st[1] else ni for r, st in zip(room, (in_st, out_st))))
            if bi * bj > best[0] * best[1]:
                best = (bi, bj)
        bj //= 2
    bi, bj = best
    if bi < 1 or bj < 1:
        raise ValueError(f"a tensor of {ns} x {ni} x {nj} elements is too spread out to move "
                         f"through this adapter's storage binding of {dev.max_binding} bytes")
    return [(s, s + 1, i0, min(ni, i0 + bi), j0, min(nj, j0 + bj))
            for s in range(ns) for i0 in range(0, ni, bi) for j0 in range(0, nj, bj)]


def _move(dev, src, src_off, in_st, dst, dst_off, out_st, dims):
    """dst[dst_off + o(s, i, j)] = src[src_off + in(s, i, j)] for 32-bit words, box by
    box (sort_transpose.wgsl)."""
    k = dev.kernel("sort_transpose", {"WG": MOVE_WG}, ["rw", "r"], TRANSPOSE.size)
    with dev.lock:
        for s0, s1, i0, i1, j0, j1 in _boxes(dev, dims, in_st, out_st):
            ks, ki, kj = s1 - s0, i1 - i0, j1 - j0
            lo_in = src_off + s0 * in_st[0] + i0 * in_st[1] + j0 * in_st[2]
            lo_out = dst_off + s0 * out_st[0] + i0 * out_st[1] + j0 * out_st[2]
            hi_in = lo_in + (ks - 1) * in_st[0] + (ki - 1) * in_st[1] + (kj - 1) * in_st[2]
            hi_out = lo_out + (ks - 1) * out_st[0] + (ki - 1) * out_st[1] + (kj - 1) * out_st[2]
            ist, isz = window(dev, src._buf, 4, lo_in, hi_in)
            ost, osz = window(dev, dst._buf, 4, lo_out, hi_out)
            total = ks * ki * kj
            _dispatch_split(dev, k, lambda base: TRANSPOSE.pack(
                ks, ki, kj, base, lo_in - ist // 4, *in_st, lo_out - ost // 4, *out_st),
                [(dst._buf, ost, osz), (src._buf, ist, isz)], total, MOVE_WG)


def _row_keys(x, d, abn, descending):
    """x's keys as contiguous uint32 rows [A * B, n] (dim d last)."""
    a, n, b = abn
    kx = _keys(x, descending)
    if x.count is not None and d == 0:
        # A counted input sorts its valid rows only: the others get the largest key,
        # so (the sort being stable) they stay after every valid element.
        kx = E.valid_rows(kx, x.count, "0xffffffffu")
    if b == 1:
        return kx
    rows = View.empty((a * b, n), D.uint32, x.device)
    _move(x.device, kx, kx._offset, (n * b, 1, b), rows, 0, (b * n, n, 1), (a, b, n))
    return rows


def _from_rows(work, shape, abn, which, dtype):
    """Keys (which=0) or indices (1) of the sorted pairs in x's layout, as a new
    contiguous uint32/int32 tensor of ``shape``."""
    a, n, b = abn
    n2 = n + (n & 1)
    out = View.empty(shape, dtype, work.device)
    _move(work.device, work, which, (2 * b * n2, 2 * n2, 2), out, 0, (n * b, 1, b), (a, b, n))
    return out


def _pairs_view(work, rows, n, which, dtype):
    """[rows, n] view of the keys (which=0) or indices (1) of the sorted pairs."""
    return View(work._st, (rows, n), (2 * (n + (n & 1)), 2), which, dtype)


# ---------------------------------------------------------------- public ops
def _check_tensor(x, what):
    if not isinstance(x, View):
        raise TypeError(f"{what}: expected a wgpu_tensor.Tensor, got {type(x).__name__}")


def _empty_index(dev):
    idx = View.empty((), D.int32, dev)
    dev.clear(idx._buf, 0, 4)
    return idx


def sort(x, dim=-1, descending=False):
    """(values, indices) of x sorted along dim; NaN is the largest value. Stable."""
    _check_tensor(x, "sort")
    d = norm_dim(operator.index(dim), x.ndim)
    descending = bool(descending)
    dev = x.device
    if x.ndim == 0:
        return SortResult(E.copy(x), _empty_index(dev))
    if x.numel() == 0:
        return SortResult(View.empty(x.shape, x.dtype, dev), View.empty(x.shape, D.int32, dev))
    if x.count is not None and d == 0 and descending and x.dtype.kind == "f":
        # Float keys cannot rank padding after every value in descending order (NaN,
        # which comes first, takes the key space): sort the valid rows ascending and
        # reverse them. Equal values then come in reverse order (not stable).
        up = sort(x, d, False)
        rev = E.launch("select(i32(gi / b), a - 1 - i32(gi / b), i32(gi / b) < a)", D.int32,
                       [x.count, E.Scalar(math.prod(x.shape[1:]))], ["i32", "u32"], shape=x.shape)
        values, indices = I.gather(up.values, 0, rev, check=False), I.gather(up.indices, 0, rev, check=False)
        values.count = indices.count = x.count
        return SortResult(values, indices)
    abn, groups = _plan(dev, x.shape, d)
    a, n, b = abn
    work = _sort_rows(dev, _row_keys(x, d, abn, descending), groups, n, x.dtype.kind == "f",
                      descending)
    if b == 1:
        keys = _pairs_view(work, a, n, 0, D.uint32)
        values = E.reshape(_decode(keys, x.dtype, descending), x.shape)
        indices = E.reshape(E.copy(_pairs_view(work, a, n, 1, D.int32)), x.shape)
    else:
        values = _decode(_from_rows(work, x.shape, abn, 0, D.uint32), x.dtype, descending)
        indices = _from_rows(work, x.shape, abn, 1, D.int32)
    values.count = indices.count = x.count  # the leading dim keeps its valid length
    return SortResult(values, indices)


def kthvalue(x, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest (1-based) element along dim (NaN largest)."""
    _check_tensor(x, "kthvalue")
    d = norm_dim(operator.index(dim), x.ndim)
    k = operator.index(k)
    size = x.shape[d] if x.ndim else 1
    if x.ndim and size == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {d} to have non-zero size.")
    if not 1 <= k <= size:
        raise KOutOfRangeError(f"kthvalue(): selected number k out of range for dimension {d}")
    dev = x.device
    if x.ndim == 0:
        return KthvalueResult(E.copy(x), _empty_index(dev))
    out_shape = x.shape[:d] + ((1,) if keepdim else ()) + x.shape[d + 1:]
    if x.numel() == 0:
        return KthvalueResult(View.empty(out_shape, x.dtype, dev),
                              View.empty(out_shape, D.int32, dev))
    abn, groups = _plan(dev, x.shape, d)
    a, n, b = abn
    work = _sort_rows(dev, _row_keys(x, d, abn, False), groups, n, x.dtype.kind == "f", False)
    # Column k-1 of the sorted rows (rows are in the order of x's other dims), copied
    # one row group at a time: a column spans every row, so it fits one storage
    # binding only group by group.
    rows = a * b
    kcol = View.empty((rows,), D.uint32, dev)
    indices = View.empty((rows,), D.int32, dev)
    keys, idx = _pairs_view(work, rows, n, 0, D.uint32), _pairs_view(work, rows, n, 1, D.int32)
    for r0, r1 in groups:
        E.launch("a", D.uint32, [keys.basic_index((slice(r0, r1), k - 1))], ["u32"],
                 out=kcol.basic_index(slice(r0, r1)))
        E.launch("a", D.int32, [idx.basic_index((slice(r0, r1), k - 1))], ["i32"],
                 out=indices.basic_index(slice(r0, r1)))
    values, indices = E.reshape(_decode(kcol, x.dtype, False), out_shape), E.reshape(indices, out_shape)
    if x.count is not None and d != 0:
        values.count = indices.count = x.count  # the counted leading dim is kept
    return KthvalueResult(values, indices)


# ---------------------------------------------------------------- isin
def _scalar_tensor(v, dev, dtype=None):
    """A Python scalar as a 1-element tensor: bool, int32 (uint32 when it only fits
    there), float32, or ``dtype`` when given."""
    sd = D.scalar_dtype(v)
    if dtype is None:
        dtype = sd
        if sd is D.int32 and int(v) >= 2 ** 31:
            dtype = D.uint32
    if sd.kind in "iu" or sd is D.bool_:
        if sd is not D.bool_ and not -(2 ** 31) <= int(v) < 2 ** 32:
            raise OverflowError(f"isin: Python int {v} does not fit int32 or uint32")
    if dtype is D.float16:
        v = E._round_f16(v)
    return C.tensor([v], dtype=dtype)


def _common(a_dt, b_dt, a_scalar, b_scalar):
    """The dtype isin compares in, and whether it is the int32/uint32 mix
    (compared on raw bits, values with the top bit set never found)."""
    if {a_dt, b_dt} == {D.int32, D.uint32}:
        return None, True
    if a_scalar:
        return D.promote_scalar(b_dt, a_dt), False
    if b_scalar:
        return D.promote_scalar(a_dt, b_dt), False
    return D.promote(a_dt, b_dt), False


def isin(elements, test_elements, *, invert=False):
    """Bool tensor of elements' shape: whether each element is in test_elements
    (torch.isin). Either may be a Python scalar; test_elements may be a list."""
    et, tt = isinstance(elements, View), isinstance(test_elements, View)
    if isinstance(test_elements, (list, tuple)):
        test_elements, tt = C.tensor(list(test_elements)) if len(test_elements) else \
            C.tensor([], dtype=elements.dtype if et else D.float32), True
    if not et and not tt:
        raise TypeError("isin: at least one of elements and test_elements must be a Tensor")
    for v, is_t, what in ((elements, et, "elements"), (test_elements, tt, "test_elements")):
        if not is_t:
            try:
                D.scalar_dtype(v)
            except TypeError:
                raise TypeError(f"isin: {what} must be a Tensor or a scalar, got "
                                f"{type(v).__name__}") from None
    if et and tt and elements.device is not test_elements.device:
        raise ValueError("isin: elements and test_elements live on two different devices")
    a_dt = elements.dtype if et else D.scalar_dtype(elements)
    b_dt = test_elements.dtype if tt else D.scalar_dtype(test_elements)
    if not et and a_dt is D.int32 and int(elements) >= 2 ** 31:
        a_dt = D.uint32
    if not tt and b_dt is D.int32 and int(test_elements) >= 2 ** 31:
        b_dt = D.uint32
    cd, mixed = _common(a_dt, b_dt, not et, not tt)
    dev = (elements if et else test_elements).device
    # Scalars become 1-element tensors (range checks raise here, before GPU work).
    x = elements if et else _scalar_tensor(elements, dev, None if mixed else cd)
    t = test_elements if tt else _scalar_tensor(test_elements, dev, None if mixed else cd)
    m = t.numel()
    groups = _row_groups(dev, 1, m) if m else []
    out_shape = elements.shape if et else ()
    n = x.numel()
    if n == 0 or m == 0:  # nothing is in an empty set
        return E.fill(out_shape, bool(invert), D.bool_, device=dev)
    out = View.empty(out_shape, D.bool_, dev)
    if not mixed:
        if x.dtype is not cd:
            x = E.cast(x, cd)
        if t.dtype is not cd:
            t = E.cast(t, cd)
    flt = not mixed and cd.kind == "f"
    if mixed:  # raw bits: no int32 value with the top bit set equals any uint32 value
        q = E.launch("bitcast<u32>(a)", D.uint32, [x], [x.dtype.wgsl])
        tk = E.launch("bitcast<u32>(a)", D.uint32, [E.reshape(t, (-1,))], [t.dtype.wgsl])
        miss = "k >= 0x80000000u"
    else:
        q = _keys(x, False, canonical=True)
        tk = _keys(E.reshape(t, (-1,)), False, canonical=True)
        miss = "k == 0xffffffffu" if flt else "false"
    sorted_pairs = _sort_rows(dev, tk, groups, m, False, False)
    k = dev.kernel("isin_search", {"WG": SEARCH_WG, "INVERT": bool(invert), "MISS": miss},
                   ["rw", "r", "r"], SEARCH.size)
    g = chunk_granule(dev)
    chunk = min(chunk_elems(dev, 4), dev.max_groups ** 2 * SEARCH_WG * 4 // g * g)
    tb = (sorted_pairs._buf, 0, m * 8)
    with dev.lock:
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            qst, qsz = window(dev, q._buf, 4, s, e - 1)
            ost, osz = window(dev, out._buf, 1, s, e - 1)
            p = SEARCH.pack(e - s, s - qst // 4, s - ost, m)
            dev.dispatch(k, p, [(out._buf, ost, osz), (q._buf, qst, qsz), tb],
                         math.ceil((e - s) / (SEARCH_WG * 4)))
    return out

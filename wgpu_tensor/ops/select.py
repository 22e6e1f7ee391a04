"""Masked selection and nonzero: a GPU scan-and-scatter.

masked_select runs one of two algorithms (select_path; WGPU_TENSOR_SELECT=
onepass|threepass overrides):

one pass (the default): a single-pass scan with decoupled look-back and
  fallback (Smith, Levien, Owens, SPAA 2025): a tile counts its mask, publishes
  its count, sums its predecessors' published counts (counting a predecessor
  itself when it has published nothing yet: safe without forward-progress
  guarantees), publishes its inclusive prefix and writes its elements. The input
  and mask are read once (the subgroup kernel reads a lane's run a second time
  to write it, from the CPU's cache). select_onepass_sg.wgsl (a subgroup per
  16384-element tile, each lane a contiguous run, no barriers; dense tiles store
  the selected words packed into aligned vec4s) on CPU adapters such as lavapipe;
  select_onepass.wgsl (a workgroup per 4096-element block) on GPUs and adapters
  without subgroups.
three passes (masked_scatter always; masked_select over 2**30 elements; nonzero on
  adapters that take the workgroup one-pass kernel):
  count_blocks      per-block counts of true mask bytes (4 per u32 word)
  scan_blocks       exclusive scan of the block counts -> block offsets, and the
                    total into the result's ``.count`` (a 0-d int32 tensor)
  scatter_selected  each block ranks its elements again (subgroup scans, or one
                    vec4 workgroup scan) and writes x's words, or the element's
                    coordinates (nonzero)
masked_select writes the selected elements packed first; positions past .count
are unspecified by the API: the three passes and the workgroup one-pass kernel
write the rejected elements there from the end backwards, branch-free; the
subgroup one-pass kernel leaves them untouched.
A lazy mask (ops/elementwise.py's Pred: x > t, (x > a) & (x < b), ...) is not
read: the one-pass kernels, and count_blocks and scatter_selected on the three
passes, evaluate its predicate from its tensors (_Fused, shaders/select_pred.wgsl;
_fusable, _fusable_passes), so it is never written.
Bool and float16 inputs (1- and 2-byte elements) are selected widened to 32
bits (float16 as its raw bits, so NaN payloads survive) and narrowed back. Inputs bigger than one storage
binding run as several segments; an output bigger than one binding is bound as
several windows. No CPU read anywhere.
"""
from __future__ import annotations

import math
import os

from .. import dtypes as D
from ..runtime.uniforms import SELECT
from ..view import View
from .launch import MAX_DIMS, broadcast_shapes, chunk_elems, window
from . import creation as C
from . import elementwise as E
from . import index as I
from .elementwise import _bits

BLOCK = 4096      # elements per block (1024 mask words)
WG = 256          # workgroup-memory path: one workgroup of BLOCK / 16 threads per block
WG_SG = 64        # subgroup path: one subgroup per block, subgroups stride over blocks
ONEPASS_MAX = 2 ** 30 - 1   # the one-pass states hold 30-bit counts
TILE_SG = 16384   # one-pass subgroup path: elements per tile (a power of two, halved until it divides the segment)
SPARSE = 8        # one-pass subgroup path: a tile under 1/SPARSE selected writes only those (0: never, 1: always)
SPINS = 4         # one-pass look-back: polls of a predecessor's state before the fallback
PACKED = True     # one-pass subgroup path: dense tiles store whole aligned vec4s (False: words; tests)

# Which masked_select algorithm runs: "onepass" (decoupled look-back with
# fallback, reads the input once) or "threepass" (count, scan, scatter). None:
# the adapter's default (see select_path). WGPU_TENSOR_SELECT overrides it.
PATH = os.environ.get("WGPU_TENSOR_SELECT") or None

# selections (masked_select, nonzero, masked_scatter, x[mask] = tensor and its mask
# count) that evaluated a lazy mask's predicate in their own kernels instead of
# reading a mask (see _fusable, _fusable_passes): for tests and benchmarks.
fused = 0


# One-pass kernel: "subgroup" (select_onepass_sg.wgsl: a subgroup per tile, no
# barriers; best on CPU adapters such as lavapipe, where a workgroup's subgroups
# run one after another and barriers are costly) or "workgroup"
# (select_onepass.wgsl: a workgroup per block, its scan through subgroups when
# the adapter has them; the GPU layout). None: by adapter type.
ONEPASS_KERNEL = None


def onepass_kernel(dev):
    if not dev.use_subgroups:
        return "workgroup"
    if ONEPASS_KERNEL is not None:
        return ONEPASS_KERNEL
    return "subgroup" if dev.is_cpu else "workgroup"


def select_path(dev, n):
    """The masked_select algorithm for ``n`` elements on ``dev``."""
    p = PATH
    if p not in (None, "onepass", "threepass"):
        raise ValueError(f"WGPU_TENSOR_SELECT must be 'onepass' or 'threepass', got {p!r}")
    if p is None:
        p = "onepass"
    return "threepass" if n > ONEPASS_MAX else p


def _flags(dev, wg=WG, **extra):
    p = {"WG": wg, "BLOCK_WORDS": BLOCK // 4, "SUBGROUPS": dev.use_subgroups}
    p.update(extra)
    return p


def _block_kernel(dev, name, access, **extra):
    """The count or scatter kernel of the adapter's path, and a function giving
    the workgroups to launch for a number of blocks."""
    if dev.use_subgroups:
        k = dev.kernel(name + "_sg", _flags(dev, WG_SG, **extra), access, SELECT.size)
        per_group = max(1, WG_SG // max(dev.subgroup_size, 1))
        return k, lambda nb: min(math.ceil(nb / per_group), dev.max_groups ** 2)
    return dev.kernel(name, _flags(dev, **extra), access, SELECT.size), lambda nb: nb


_ZERO4 = (0, 0, 0, 0)


def _params(n=0, blk0=0, g0=0, x_off=0, m_off=0, nblocks=0, ndim=0, out_off=0, out_win=0, fill=0,
            shape=(), n_all=0, off=_ZERO4, scal=_ZERO4):
    shape8 = list(shape) + [1] * (MAX_DIMS - len(shape))
    return SELECT.pack(n, blk0, g0, x_off, m_off, nblocks, ndim, out_off, out_win, fill, n_all, *shape8,
                       *off, *scal)


def _check_mask(x, mask, what):
    if not isinstance(x, View):
        raise TypeError(f"{what}: input must be a wgpu_tensor.Tensor, got {type(x).__name__}")
    if not isinstance(mask, View):
        raise TypeError(f"{what}: mask must be a wgpu_tensor.Tensor, got {type(mask).__name__}")
    if mask.dtype is not D.bool_:
        raise TypeError(f"{what}: expected BoolTensor for mask, got {mask.dtype.name} "
                        "(build it with a comparison, e.g. x > 0, or .bool())")
    if mask.device is not x.device:
        raise ValueError(f"{what}: input and mask live on two different devices")
    return broadcast_shapes(x.shape, mask.shape)


def _flat_word_view(t, shape):
    """``t`` broadcast to ``shape`` as a contiguous tensor whose start is 16-byte
    aligned (vec4 loads), copying only when it is not already so."""
    if t.shape == tuple(shape) and t.is_contiguous() and (t._offset * t.dtype.itemsize) % 16 == 0:
        return t
    return E.copy(t.expand(shape))


def _segment_elems(dev):
    """Elements per segment: as many whole blocks as fit one binding of 32-bit x words."""
    per = dev.max_binding // 4 // BLOCK * BLOCK
    if per < BLOCK:
        raise ValueError(f"the adapter's storage binding ({dev.max_binding} bytes) is smaller "
                         f"than one selection block ({BLOCK * 4} bytes)")
    return per


def _vec4_window(dev, t, itemsize, lo, hi):
    """Binding window of elements [lo, hi] of ``t``'s buffer, read as vec4 words:
    (binding, offset in 32-bit words from the window start to element lo)."""
    start, size = window(dev, t._buf, itemsize, lo, hi)
    return (t._buf, start, min(t._buf.size - start, -(-size // 16) * 16)), (lo * itemsize - start) // 4


def _out_windows(dev, t_buf, byte_start, nbytes):
    """Windows of at most one binding each covering [byte_start, byte_start+nbytes):
    returns (bindings, element offset in the first window, elements per window)."""
    a = dev.storage_align
    base = byte_start // a * a
    off = (byte_start - base) // 4
    total = byte_start + nbytes - base
    if total <= dev.max_binding:
        return [(t_buf, base, max(4, -(-total // 4) * 4))], off, 0
    win = dev.max_binding // a * a
    bindings = []
    pos = base
    while pos < byte_start + nbytes:
        size = min(win, t_buf.size - pos)
        bindings.append((t_buf, pos, size))
        pos += win
    if len(bindings) + 3 > dev.max_storage_bindings:
        raise MemoryError(f"the output needs {len(bindings)} storage bindings of {win} bytes, over this "
                          f"adapter's limit of {dev.max_storage_bindings} per shader stage")
    return bindings, off, win // 4


def _vec4_outs(outs, out_win):
    """The output windows ``outs`` bound as vec4 arrays (select_onepass_sg's packed
    stores): every binding a multiple of 16 bytes at a 16-byte aligned offset
    (the one window rounded up inside its buffer) and windows of a multiple of 4
    words, so an aligned vec4 never straddles two. None where the buffer does not
    allow it (the kernel then stores words)."""
    if out_win % 4:
        return None
    res = []
    for buf, start, size in outs:
        size16 = -(-size // 16) * 16
        if start % 16 or start + size16 > buf.size:
            return None
        res.append((buf, start, size16))
    return res


def _record(dev, x, m, shape, mode, out_buf, out_byte_start, out_nbytes, count):
    """Record count/scan/scatter. mode: 'values' (x's 32-bit words packed into the
    output), 'indices' (coordinates of each selected element in ``shape``) or
    'take' (masked_scatter: the selected elements of x, a contiguous 32-bit
    tensor, are overwritten in place by the packed source in ``out_buf``)."""
    n = m.numel()
    if select_path(dev, n) == "onepass" and (
            mode == "values" or mode == "indices" and onepass_kernel(dev) == "subgroup"):
        return _record_onepass(dev, x, m, shape, mode, out_buf, out_byte_start, out_nbytes, count)
    outs, out_off, out_win = _out_windows(dev, out_buf, out_byte_start, out_nbytes)
    K = len(outs)
    values, take = mode == "values", mode == "take"
    # A lazy mask: both passes evaluate its predicate (x's words read by the scatter
    # pass stand in for x's own leaf). Not when a kernel writes one of its tensors:
    # the output, or x in place (take).
    fuse = _fusable_passes(dev, m, shape, (x._buf,) if take else (out_buf,),
                           1 + (mode != "indices") + K, x if values else None)
    offsets, msegs = _count_scan(dev, m, count, fuse and fuse[0])
    access = ["r", "r", "r" if values else "rw" if take else None] + ["r" if take else "rw"] * K
    tpl = dict(VALUES=values, TAKE=take, K=K, ONE_WINDOW=K == 1, OUTV=False, FUSED=fuse is not None)
    if fuse is not None:
        access[0] = None
        access += ["r"] * len(fuse[1].tensors)
        tpl.update(fuse[1].params(4 + K))
    k_scatter, scatter_groups = _block_kernel(dev, "scatter_selected", access, **tpl)
    ndim = len(shape) if mode == "indices" else 0
    owin = (offsets._buf, 0, offsets._buf.size)
    for s, e, mwin, m_off in msegs:
        lwins, off, scal = fuse[1].windows(dev, s, e) if fuse is not None else ([], _ZERO4, _ZERO4)
        xwin, x_off = None, 0
        if values:
            xwin, x_off = _vec4_window(dev, x, 4, x._offset + s, x._offset + e - 1)
        elif take:
            start, size = window(dev, x._buf, 4, x._offset + s, x._offset + e - 1)
            xwin, x_off = (x._buf, start, size), x._offset + s - start // 4
        p = _params(n=e - s, blk0=s // BLOCK, g0=s, x_off=x_off, m_off=m_off, ndim=ndim,
                    out_off=out_off, out_win=out_win, shape=shape if mode == "indices" else (), n_all=n,
                    off=off, scal=scal)
        dev.dispatch(k_scatter, p, [mwin, owin, xwin] + outs + lwins,
                     scatter_groups(math.ceil((e - s) / BLOCK)))


def _count_scan(dev, m, count, fuse=None):
    """Record count_blocks over each segment of the (non-empty) mask and scan_blocks
    into block offsets, the total into ``count``. Returns the offsets tensor and the
    segments as (start, end, mask window, mask word offset). ``fuse`` (a _Fused of
    ``m``, a lazy mask): count_blocks evaluates its predicate; the mask is not read
    (its window None)."""
    n = m.numel()
    if fuse is not None:
        global fused
        fused += 1
    nblocks = math.ceil(n / BLOCK)
    seg = _segment_elems(dev)
    counts = View.empty((nblocks,), D.uint32, dev)
    offsets = View.empty((nblocks,), D.uint32, dev)
    if fuse is None:
        k_count, count_groups = _block_kernel(dev, "count_blocks", ["r", "rw"], FUSED=False)
    else:
        k_count, count_groups = _block_kernel(dev, "count_blocks", [None, "rw"] + ["r"] * len(fuse.tensors),
                                              FUSED=True, VALUES=False, **fuse.params(3))
    k_scan = dev.kernel("scan_blocks", _flags(dev), ["r", "rw", "rw"], SELECT.size)
    cwin = (counts._buf, 0, counts._buf.size)
    msegs = []
    for s in range(0, n, seg):
        e = min(n, s + seg)
        if fuse is None:
            mwin, m_off = _vec4_window(dev, m, 1, m._offset + s, m._offset + e - 1)
            lwins, off, scal = [], _ZERO4, _ZERO4
        else:
            mwin, m_off = None, 0
            lwins, off, scal = fuse.windows(dev, s, e)
        dev.dispatch(k_count, _params(n=e - s, blk0=s // BLOCK, m_off=m_off, off=off, scal=scal),
                     [mwin, cwin] + lwins, count_groups(math.ceil((e - s) / BLOCK)))
        msegs.append((s, e, mwin, m_off))
    dev.dispatch(k_scan, _params(nblocks=nblocks), [cwin, (offsets._buf, 0, offsets._buf.size),
                                                    (count._buf, 0, 4)], 1)
    return offsets, msegs


def _record_onepass(dev, x, m, shape, mode, out_buf, out_byte_start, out_nbytes, count, fuse=None):
    """Record the one-pass selection. mode 'values': x's 32-bit words whose mask
    byte is set, packed into the output; 'indices' (nonzero; subgroup kernel
    only): their coordinates in ``shape``. The total into ``count``. Workgroup
    path (select_onepass.wgsl): a workgroup per BLOCK; subgroup path
    (select_onepass_sg.wgsl): a subgroup per TILE_SG. ``fuse`` (a _Fused, with
    ``m`` None): the kernel evaluates a lazy mask's predicate from its tensors
    instead of reading a mask."""
    n = math.prod(shape)
    if fuse is not None:
        global fused
        fused += 1
    sg = onepass_kernel(dev) == "subgroup"
    values = mode == "values"
    seg = _segment_elems(dev)
    tile = TILE_SG if sg else BLOCK
    while seg % tile:
        tile //= 2
    ntiles = math.ceil(n / tile)
    flags = View.empty((ntiles + 1,), D.uint32, dev)
    dev.clear(flags._buf, 0, (ntiles + 1) * 4)
    outs, out_off, out_win = _out_windows(dev, out_buf, out_byte_start, out_nbytes)
    K = len(outs)
    # Packed stores in dense tiles (subgroup kernel): x's words, or nonzero's 1-D indices
    # (nonzero of more dims writes each selected element's coordinates: sparse path only).
    packed = sg and (values or len(shape) == 1)
    outv = _vec4_outs(outs, out_win) if packed and PACKED else None
    outs = outv or outs
    sparse_lim = tile + 1 if not packed or SPARSE == 1 else 0 if not SPARSE else tile // SPARSE

    access = [None if fuse else "r", "rw", "r" if values else None] + ["rw"] * K + ["rw"]
    tpl = dict(VALUES=values, TAKE=False, K=K, ONE_WINDOW=K == 1, SPINS=SPINS, FUSED=fuse is not None,
               OUTV=outv is not None)
    if fuse is not None:
        access += ["r"] * len(fuse.tensors)
        tpl.update(fuse.params(5 + K))
    if sg:
        tpl.update(FUSED_X=fuse is not None and values, PACKED=packed)

    def kern(full):
        if sg:
            return dev.kernel("select_onepass_sg",
                              _flags(dev, WG_SG, TILE=tile, FULL=full, SPARSE_LIM=sparse_lim, **tpl),
                              access, SELECT.size)
        return dev.kernel("select_onepass", _flags(dev, WG, **tpl), access, SELECT.size)

    # Sized by the probed subgroup size; the kernel is exact with any runtime size.
    per_group = max(1, WG_SG // max(dev.subgroup_size, 1)) if sg else 1
    fwin = (flags._buf, 0, flags._buf.size)
    for s0 in range(0, n, seg):
        e0 = min(n, s0 + seg)
        # Subgroup path: the whole tiles, then a partial last tile as its own
        # dispatch (its predecessors are then complete: one poll each).
        cut = s0 + (e0 - s0) // tile * tile if sg else e0
        for s, e in ((s0, cut), (cut, e0)):
            if e <= s:
                continue
            mwin, m_off, lwins, off, scal = None, 0, [], _ZERO4, _ZERO4
            if fuse is None:
                mwin, m_off = _vec4_window(dev, m, 1, m._offset + s, m._offset + e - 1)
            else:
                lwins, off, scal = fuse.windows(dev, s, e)
            xwin, x_off = _vec4_window(dev, x, 4, x._offset + s, x._offset + e - 1) if values else (None, 0)
            p = _params(n=e - s, blk0=s // tile, g0=s, x_off=x_off, m_off=m_off, nblocks=ntiles,
                        ndim=0 if values else len(shape), out_off=out_off, out_win=out_win,
                        shape=() if values else shape, n_all=n, off=off, scal=scal)
            dev.dispatch(kern(not sg or (e - s) % tile == 0), p,
                         [mwin, fwin, xwin] + outs + [(count._buf, 0, 4)] + lwins,
                         math.ceil(math.ceil((e - s) / tile) / per_group))


_WORD_AS = {"f32": "bitcast<f32>(v)", "i32": "bitcast<i32>(v)", "u32": "v"}


class _Fused:
    """A lazy mask's predicate as the one-pass kernels evaluate it: template
    parameters (from elementwise.slot_params, the generator every kernel shares;
    the expression's shape, never its scalars, is in the kernel's key), the
    tensors it reads and, per segment, their windows and the uniforms."""

    def __init__(self, pred, x):
        expr, ops, cts = pred.form()
        own, self.tensors, self.scal = None, [], E.scalar_bits(ops, cts)
        for i, op in enumerate(ops):
            if not isinstance(op, View):
                continue
            if (x is not None and op._st is x._st and op._offset == x._offset and op.dtype is x.dtype
                    and op._strides == x._strides):
                own = (i, _WORD_AS[x.dtype.wgsl])  # x itself: the word the kernel loaded
            else:
                self.tensors.append(("ABC"[i], op))
        self.slot_params = E.slot_params(ops, cts, own)
        self.expr = expr

    def params(self, first_binding):
        p = dict(self.slot_params, PRED=self.expr, PV="u32", LEAF_A=0, LEAF_B=0, LEAF_C=0)
        for j, (slot, _) in enumerate(self.tensors):
            p[f"LEAF_{slot}"] = first_binding + j
        return p

    def windows(self, dev, s, e):
        """(bindings, element offsets by slot, scalar bits) for segment [s, e)."""
        wins, off = [], [0, 0, 0, 0]
        for slot, t in self.tensors:
            isz = t.dtype.itemsize
            start, size = window(dev, t._buf, isz, t._offset + s, t._offset + e - 1)
            wins.append((t._buf, start, size))
            off["ABC".index(slot)] = t._offset + s - start // isz
        return wins, off, self.scal


def _fusable(dev, mask, shape, x, out, out_byte_start, out_nbytes):
    """The _Fused of ``mask`` when the one-pass kernel can evaluate it in place of
    reading it: a whole lazy mask of the selection's shape whose tensors are
    contiguous (element i of the selection is element i of each), that the
    output (a View) does not alias, within the adapter's storage bindings. Else
    None (the mask is then written when the caller reads it). Call under dev.lock."""
    p = E.pred_of(mask)
    n = math.prod(shape)
    if p is None or mask.shape != tuple(shape) or select_path(dev, n) != "onepass":
        return None
    tensors = p.tensors()
    for t in tensors:
        if not t.is_contiguous() or t._st is out._st:
            return None
    # flags, x, the output windows, count and the predicate's tensors
    if 3 + len(_out_windows(dev, out._buf, out_byte_start, out_nbytes)[0]) + len(tensors) \
            > dev.max_storage_bindings:
        return None
    return _Fused(p, x)


def _fusable_passes(dev, m, shape, written, nbind, x=None):
    """(count pass's _Fused, scatter pass's _Fused) when the three passes can evaluate
    ``m``'s predicate in place of reading it: a whole lazy mask of the selection's
    shape whose tensors are contiguous, none of them in a buffer of ``written``
    (bound read-write by the scatter pass), within the adapter's storage bindings
    (``nbind``: the scatter pass's own). ``x``: the scatter pass's vec4 input
    (VALUES), whose loaded words stand in for x's own leaf. Else None (the mask is
    then written when the caller reads it). Call under dev.lock."""
    p = E.pred_of(m)
    if p is None or m.shape != tuple(shape):
        return None
    tensors = p.tensors()
    for t in tensors:
        if not t.is_contiguous() or any(t._st.buf is b for b in written):
            return None
    if nbind + len(tensors) > dev.max_storage_bindings:
        return None
    return _Fused(p, None), _Fused(p, x)


def _fill_bits(dtype, fill_value):
    """Bits of fill_value in the 32-bit words a selection of ``dtype`` runs in."""
    if fill_value is None:
        return None
    if dtype is D.float16:
        return I._scalar_bits(fill_value, dtype)
    D.scalar_dtype(fill_value)  # TypeError for non-scalars
    return _bits(fill_value, dtype.bits32.wgsl)


def masked_select(x, mask, *, out=None, fill_value=None):
    """[N] result (N = elements of the broadcast shape), selected elements first in
    row-major order, ``.count`` = how many (0-d int32 on the GPU). No CPU read."""
    shape = _check_mask(x, mask, "masked_select")
    dev = x.device
    n = math.prod(shape)
    if out is not None:
        if not isinstance(out, View):
            raise TypeError(f"masked_select: out must be a Tensor, got {type(out).__name__}")
        if out.dtype is not x.dtype:
            raise TypeError(f"masked_select: out has dtype {out.dtype.name}, expected {x.dtype.name}")
        if out.shape != (n,):
            raise ValueError(f"masked_select: out has shape {out.shape}, expected ({n},)")
        if not out.is_contiguous() or out.device is not dev:
            raise ValueError("masked_select: out must be a contiguous tensor on the input's device")
    if x.count is not None or mask.count is not None:
        # Counted operands: only their valid rows can be selected (a mask that is false
        # past the count, one pass); the result counts only those.
        count = E.result_count([x, mask], shape)
        mask = E.valid_rows(mask.expand(shape), count)
        x = x.derive(x.shape, x._strides, x._offset)
    # 1- and 2-byte elements (bool, float16) cannot be stored one per invocation
    # without word races: they are selected widened to 32 bits (exactly: bool ->
    # int32, float16 -> uint32 holding its bits), then narrowed.
    sel_dtype = x.dtype.bits32
    fill = _fill_bits(x.dtype, fill_value)
    dev.check_size(n * 4, f"masked_select over shape {shape}")
    count = View.empty((), D.int32, dev)
    res = out if out is not None else View.empty((n,), x.dtype, dev)
    if n == 0:
        dev.clear(count._buf, 0, 4)
        res.count = count
        return res
    with dev.lock:
        if sel_dtype is x.dtype:
            xx, dst = _flat_word_view(x, shape), res
        else:
            xx, dst = E.widen(x, shape), View.empty((n,), sel_dtype, dev)
        fuse = _fusable(dev, mask, shape, xx, dst, dst._offset * 4, n * 4)
        if fuse is not None:
            _record_onepass(dev, xx, None, shape, "values", dst._buf, dst._offset * 4, n * 4, count, fuse)
        else:
            m = _flat_word_view(mask, shape)
            _record(dev, xx, m, shape, "values", dst._buf, dst._offset * 4, n * 4, count)
        if fill is not None:
            _fill_tail(dev, dst, count, fill)
        if dst is not res:
            E.narrow(dst, x.dtype, out=res)
    res.count = count
    return res


def _fill_tail(dev, res, count, fill):
    k = dev.kernel("fill_tail", _flags(dev), ["r", "rw"], SELECT.size)
    n = res.numel()
    chunk = chunk_elems(dev, 4)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        st, sz = window(dev, res._buf, 4, res._offset + s, res._offset + e - 1)
        dev.dispatch(k, _params(n=e - s, g0=s, out_off=res._offset + s - st // 4, fill=fill),
                     [(count._buf, 0, 4), (res._buf, st, sz)], math.ceil((e - s) / WG))


def exact(res, k):
    """The first k elements of a fixed-size result as their own [k] tensor."""
    if k == res.shape[0]:
        return res.derive(res.shape, res._strides, res._offset)
    rest = math.prod(res.shape[1:])
    out = View.empty((k,) + res.shape[1:], res.dtype, res.device)
    nbytes = k * rest * res.dtype.itemsize
    res.device.copy(res._buf, res._offset * res.dtype.itemsize, out._buf, 0, -(-nbytes // 4) * 4)
    return out


def nonzero(x):
    """[N, ndim] int32 coordinates of the nonzero elements, packed first; ``.count``."""
    dev = x.device
    shape = x.shape
    n = x.numel()
    nd = len(shape)
    if nd > MAX_DIMS:
        raise ValueError(f"nonzero supports at most {MAX_DIMS} dimensions")
    dev.check_size(n * max(nd, 1) * 4, f"nonzero over shape {shape}")
    m = x if x.dtype is D.bool_ else E.binary("ne", x, 0)
    if x.count is not None and nd:
        m = E.valid_rows(m, x.count)  # a counted input: only its valid rows are nonzero
    count = View.empty((), D.int32, dev)
    res = View.empty((n, nd), D.int32, dev)
    if n == 0 or nd == 0:
        if n == 0:
            dev.clear(count._buf, 0, 4)
        else:  # 0-d: one element, no coordinates
            m1 = _flat_word_view(E.reshape(m, (1,)), (1,))
            tmp = View.empty((1,), D.uint32, dev)
            with dev.lock:
                _record(dev, None, m1, (1,), "indices", tmp._buf, 0, 4, count)
        res.count = count
        return res
    with dev.lock:
        fuse = _fusable(dev, m, shape, None, res, 0, n * nd * 4) if onepass_kernel(dev) == "subgroup" else None
        if fuse is not None:
            _record_onepass(dev, None, None, shape, "indices", res._buf, 0, n * nd * 4, count, fuse)
        else:
            _record(dev, None, _flat_word_view(m, shape), shape, "indices", res._buf, 0, n * nd * 4, count)
    res.count = count
    res.bounds = tuple(shape)
    return res


async def nonzero_async(x, *, as_tuple=False):
    res = nonzero(x)
    k = await read_count_async(res.count)
    out = exact(res, k)
    if as_tuple:
        if x.ndim == 0:
            return (C.zeros((k,), D.int32),)
        return tuple(out.basic_index((slice(None), d)) for d in range(out.shape[1]))
    return out


def read_count(count, explicit=True):
    """The value of a 0-d int32 count on the GPU (one 4-byte read)."""
    return int(count.device.read(count._buf, count._offset * 4, 4, explicit=explicit).view("<i4")[0])


async def read_count_async(count):
    """read_count without blocking the event loop."""
    return int((await count.device.read_async(count._buf, count._offset * 4, 4)).view("<i4")[0])


# ---------------------------------------------------------------- writing through a mask
def store(x, res):
    """Write ``res`` (a fresh contiguous tensor of x's shape and dtype) into x's elements."""
    nbytes = res.numel() * x.dtype.itemsize
    if nbytes == 0:
        return
    if x.is_contiguous() and (x._offset * x.dtype.itemsize) % 4 == 0 and nbytes % 4 == 0:
        x.device.copy(res._buf, res._offset * x.dtype.itemsize, x._buf, x._offset * x.dtype.itemsize, nbytes)
    else:
        I.assign_(x, res)


def _fill_value(x, value, what):
    """A masked_fill value as an operand of x's dtype: a Scalar, or a 0-d tensor."""
    if isinstance(value, View):
        if value.ndim != 0:
            raise ValueError(f"{what} only supports a 0-dimensional value tensor, but got tensor with "
                             f"{value.ndim} dimension(s)")
        if value.device is not x.device:
            raise ValueError(f"{what}: value lives on another device")
        return value if value.dtype is x.dtype else E.cast(value, x.dtype)
    D.scalar_dtype(value)  # TypeError for non-scalars
    if x.dtype is D.float16:
        value = E._round_f16(value)
    elif x.dtype.kind in "iu":
        value = int(value)
    _bits(value, x.dtype.wgsl)  # OverflowError before any GPU work
    return E.Scalar(value)


def _masked_fill(x, mask, value, shape, what):
    v = _fill_value(x, value, what)
    ops, cts = [x, v, mask], [x.dtype.wgsl, x.dtype.wgsl, "bool"]
    return E.select_launch("select(a, b, c)", x.dtype, ops, cts, shape)


def masked_fill(x, mask, value):
    """x with ``value`` (cast to x's dtype) where mask is true; mask and x broadcast."""
    shape = _check_mask(x, mask, "masked_fill")
    return _masked_fill(x, mask, value, shape, "masked_fill")


def _check_inplace(x, mask, what):
    shape = _check_mask(x, mask, what)
    if shape != x.shape:
        raise ValueError(f"{what}: mask of shape {mask.shape} does not broadcast to the target's "
                         f"shape {x.shape} (an in-place op cannot grow its target)")
    return shape


def masked_fill_(x, mask, value):
    shape = _check_inplace(x, mask, "masked_fill_")
    store(x, _masked_fill(x, mask, value, shape, "masked_fill_"))
    return x


def _check_source(x, source, what):
    if not isinstance(source, View):
        raise TypeError(f"{what}: source must be a Tensor, got {type(source).__name__}")
    if source.dtype is not x.dtype:
        raise TypeError(f"{what}: expected self and source to have same dtypes but got "
                        f"{x.dtype.name} and {source.dtype.name}")
    if source.device is not x.device:
        raise ValueError(f"{what}: input and source live on two different devices")


def _mask_count(m):
    """Number of true elements of a contiguous, word-aligned mask (0-d int32, on the GPU)."""
    dev = m.device
    count = View.empty((), D.int32, dev)
    n = m.numel()
    if n == 0:
        dev.clear(count._buf, 0, 4)
        return count
    with dev.lock:
        fuse = _fusable_passes(dev, m, m.shape, (), 1)
        _count_scan(dev, m, count, fuse and fuse[0])
    return count


def _masked_scatter(x, mask, source, shape, what, *, checked=False, explicit=False):
    """A new contiguous tensor of ``shape``: x where mask is false, the source's
    elements in order where it is true. Checks the source is long enough first
    (reading the count back only when it has fewer elements than ``shape``)."""
    _check_source(x, source, what)
    dev = x.device
    n = math.prod(shape)
    m = _flat_word_view(mask, shape)
    if source.count is not None and n:
        source, checked = _counted_source(x, m, source, shape), True
    if not checked and source.numel() < n:
        k = read_count(_mask_count(m), explicit)
        if k > source.numel():
            raise ValueError(f"{what}: expected source to have at least as many elements as ones in mask "
                             f"(mask has {k}, source has {source.numel()})")
    sel_dtype = x.dtype.bits32
    dev.check_size(n * 4, f"{what} over shape {shape}")
    if n == 0:
        return View.empty(shape, x.dtype, dev)
    work = E.widen(x, shape)  # a widened copy, 32-bit words
    src = E.reshape(source, (-1,))
    if sel_dtype is not x.dtype:
        src = E.widen(src)
    elif not src.is_contiguous() or src._st is work._st:
        src = E.copy(src)
    count = View.empty((), D.int32, dev)
    with dev.lock:
        _record(dev, work, m, shape, "take", src._buf, src._offset * 4, max(4, src.numel() * 4), count)
    if sel_dtype is x.dtype:
        return work
    return E.narrow(work, x.dtype)


def _counted_source(x, m, source, shape):
    """A counted source fills only the first count selected positions; the others keep
    x's values: its element j (j >= count) becomes the j-th selected element of x. No
    read: the source is extended to all n positions on the GPU."""
    n = math.prod(shape)
    x_sel = masked_select(x.derive(x.shape, x._strides, x._offset).expand(shape), m)
    src = E.reshape(source.derive(source.shape, source._strides, source._offset), (-1,))
    if src.numel() >= n:
        src = src.basic_index(slice(0, n))
    else:
        full = View.empty((n,), src.dtype, x.device)
        I.assign_(full.basic_index(slice(0, src.numel())), src)
        src = full
    x_sel.count = None
    return E.launch("select(b, a, gi < u32(max(c, 0)))", x.dtype, [src, x_sel, source.count],
                    [x.dtype.wgsl, x.dtype.wgsl, "i32"])


def masked_scatter(x, mask, source):
    """Copy of x (broadcast with mask) whose selected elements are source's first
    elements, in row-major order (torch.masked_scatter)."""
    shape = _check_mask(x, mask, "masked_scatter")
    return _masked_scatter(x, mask, source, shape, "masked_scatter")


def masked_scatter_(x, mask, source):
    shape = _check_inplace(x, mask, "masked_scatter_")
    store(x, _masked_scatter(x, mask, source, shape, "masked_scatter_"))
    return x


def index_mask_put_(x, mask, value):
    """x[mask] = value: a scalar or one-element tensor fills; a tensor broadcast to
    the indexing result's shape [k, *rest] is scattered (reads k back: one sync)."""
    full, rest = mask_over(x, mask)
    if not isinstance(value, View) or value.numel() == 1:
        if isinstance(value, View):
            value = E.reshape(value, ())
        return masked_fill_(x, full, value)
    if value.device is not x.device:
        raise ValueError("x[mask] = value: value lives on another device")
    shape = _check_inplace(x, full, "x[mask] = value")
    m = _flat_word_view(full, shape)
    inner = math.prod(rest)
    k = read_count(_mask_count(m)) // max(inner, 1)
    target = (k,) + rest
    try:
        ok = broadcast_shapes(value.shape, target) == target
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast "
                         f"to indexing result of shape {list(target)}")
    src = value.expand(target)
    src = E.cast(src, x.dtype) if value.dtype is not x.dtype else E.contiguous(src)
    store(x, _masked_scatter(x, m, src, shape, "x[mask] = value", checked=True))
    return x


def mask_over(x, mask):
    """A mask indexing x's leading dims, broadcast to x's shape (checked as PyTorch does)."""
    if mask.device is not x.device:
        raise ValueError("the mask and the indexed tensor live on two different devices")
    if mask.ndim > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim} (mask has {mask.ndim})")
    for i, (a, b) in enumerate(zip(mask.shape, x.shape)):
        if a != b:
            raise IndexError(f"The shape of the mask {list(mask.shape)} at index {i} does not match the "
                             f"shape of the indexed tensor {list(x.shape)} at index {i}")
    rest = x.shape[mask.ndim:]
    full = E.reshape(mask, mask.shape + (1,) * len(rest)).expand(x.shape) if rest else mask
    return full, rest

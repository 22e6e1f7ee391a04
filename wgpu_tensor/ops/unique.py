"""topk and unique, from the bitonic sort (ops/sort.py) and the selection's compaction
(ops/select.py). No new kernels: the steps are sorts, elementwise launches, scans
(ops/scan.py) and masked selections, all on the GPU.

topk(x, k, dim, largest, sorted): the sort along dim (descending when ``largest``;
NaN is the largest value, as in PyTorch), its first k columns. Ties keep their
index order (the sort is stable); PyTorch leaves the order of ties unspecified.
Long rows and small k select first (a block: the power of two >= 8 k, at least 512 and
at most the sort's tile of 4096, so that one launch sorts it; rows of >= 4 blocks and
>= 32768 elements):
each row is cut into blocks, each block sorted (one tile launch, not the whole row's
merge passes) and its first k kept, the rest of the row (under one block) sorted
alone; the candidates, laid out in index order, are sorted again and their first k
taken. Every element of the top k is among
its block's first k, and both sorts are stable under one key order: the same values
and indices, ties included, as the full sort.

unique(x) of the flattened x:
  1. sort: sorted values ``sv`` and the permutation ``perm``;
  2. the canonical keys of sv (every NaN one key, -0.0 the key of +0.0: so NaNs are
     one value and -0.0 == 0.0, as PyTorch >= 2.1 on CPU and numpy) in a buffer with
     a spare word at each end, so that "differs from its left (right) neighbour" is
     one elementwise launch over two shifted views: ``first`` and ``last`` flags of
     each run of equal keys;
  3. values = masked_select(sv, first): the first of each run, packed first; its
     ``.count`` (0-d int32 on the GPU) is the number of unique values;
  4. counts = masked_select(arange + 1, last) - masked_select(arange, first);
  5. inverse: the inclusive cumsum of ``first`` minus one, scattered through perm.
The fixed-size form stops there ([N] results, ``.count``, no read). The exact form
reads the count once (explicit, counted by sync_count) and cuts the results to it.

Count-awareness (counted 1-D inputs): ``topk``/``unique`` take ``count`` (a 0-d int32
View or None). For unique the place is step 1 (sort only the valid prefix, or give
the tail the +inf-most key and drop it in the flags: ``first`` and ``last`` need
``gi < count``); for topk, the sort's padding. Today a non-None count raises
NotImplementedError.
"""
from __future__ import annotations

import operator
from collections import namedtuple

from .. import dtypes as D
from ..view import View, norm_dim
from . import creation as C
from . import elementwise as E
from . import index as I
from . import scan as SC
from . import select as S
from . import sort as SO

TopkResult = namedtuple("topk", ["values", "indices"])
TOPK_MIN_BLOCK = 512  # topk by blocks: the smallest block (elements sorted by one tile launch)
TOPK_MIN_LENGTH = 32768  # ... and the shortest row (below, the full sort is as fast on lavapipe)


def _check_tensor(x, what):
    if not isinstance(x, View):
        raise TypeError(f"{what}: expected a wgpu_tensor.Tensor, got {type(x).__name__}")


# ---------------------------------------------------------------- topk
def topk(x, k, dim=-1, largest=True, sorted=True, *, count=None):
    """(values, indices) of the k largest (smallest) elements along dim, in order."""
    _check_tensor(x, "topk")
    if count is not None:
        raise NotImplementedError("topk of a counted (fixed-size) tensor is not count-aware yet")
    try:
        k = operator.index(k)
        dim = operator.index(dim)
    except TypeError:
        raise TypeError("topk: k and dim must be ints") from None
    d = norm_dim(dim, x.ndim)
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise SO.KOutOfRangeError(f"topk(): selected index k out of range (k={k}, dimension {d} "
                                  f"has {size} elements)")
    dev = x.device
    if x.ndim == 0:
        if k == 0:  # PyTorch: shape (0,)
            return TopkResult(View.empty((0,), x.dtype, dev), View.empty((0,), D.int32, dev))
        return TopkResult(E.copy(x), SO._empty_index(dev))
    shape = x.shape[:d] + (k,) + x.shape[d + 1:]
    if k == 0 or x.numel() == 0:
        return TopkResult(View.empty(shape, x.dtype, dev), View.empty(shape, D.int32, dev))
    block = max(TOPK_MIN_BLOCK, 1 << (8 * k - 1).bit_length())  # a power of two >= 8 k
    if x.count is None and block <= SO._tile(dev) and size >= max(4 * block, TOPK_MIN_LENGTH):
        return _topk_by_blocks(x, k, d, bool(largest), block)
    vals, idx = SO.sort(x, d, descending=bool(largest))  # a counted x: its valid rows first
    key = (slice(None),) * d + (slice(0, k),)
    if k == size:
        return TopkResult(vals, idx)
    vals, idx = E.copy(vals.basic_index(key)), E.copy(idx.basic_index(key))
    if x.count is not None:  # along the counted dim: min(k, count) valid; else the rows stay
        vals.count = idx.count = x.count if d else E.launch("clamp(a, 0, b)", D.int32, [x.count, E.Scalar(k)],
                                                              ["i32", "i32"])
    return TopkResult(vals, idx)


def _topk_by_blocks(x, k, d, largest, block):
    """topk along d of a long dim (see the module docstring): x's rows [R, n] (d moved
    last, copied contiguous), blocks of ``block`` sorted, their first k and the tail's
    sorted again."""
    dev = x.device
    n = x.shape[d]
    others = x.shape[:d] + x.shape[d + 1:]
    rows = x.numel() // n
    st = x._strides
    xr = E.copy(x.derive(others + (n,), st[:d] + st[d + 1:] + (st[d],), x._offset)).reshaped((rows, n))
    nb, tail = n // block, n % block
    tk = min(k, tail)
    m = nb * k + tk  # candidates per row
    cand_v = View.empty((rows, m), x.dtype, dev)
    cand_i = View.empty((rows, m), D.int32, dev)
    blocks = xr.derive((rows, nb, block), (n, block, 1), xr._offset)
    bv, bi = SO.sort(blocks, 2, descending=largest)
    first = (slice(None), slice(None), slice(0, k))
    I.assign_(cand_v.narrow(1, 0, nb * k), E.reshape(bv.basic_index(first), (rows, nb * k)))
    # Block b's index j is column b * block + j of the row.
    I.assign_(cand_i.narrow(1, 0, nb * k), E.launch(
        f"a + i32((gi / b) % c * {block}u)", D.int32,
        [E.reshape(bi.basic_index(first), (rows, nb * k)), E.Scalar(k), E.Scalar(nb)], ["i32", "u32", "u32"]))
    if tk:
        tv, ti = SO.sort(xr.narrow(1, nb * block, tail), 1, descending=largest)
        I.assign_(cand_v.narrow(1, nb * k, tk), tv.narrow(1, 0, tk))
        I.assign_(cand_i.narrow(1, nb * k, tk), E.launch("a + b", D.int32, [ti.narrow(1, 0, tk),
                                                          E.Scalar(nb * block)], ["i32", "i32"]))
    sv, si = SO.sort(cand_v, 1, descending=largest)
    vals = E.copy(sv.narrow(1, 0, k))
    idx = I.gather(cand_i, 1, E.copy(si.narrow(1, 0, k)), check=False)
    # [rows, k] back to x's dims, k at d.
    shape = x.shape[:d] + (k,) + x.shape[d + 1:]
    return TopkResult(*(_dim_back(v, others, d, shape) for v in (vals, idx)))


def _dim_back(v, others, d, shape):
    """``v`` [rows, k] (rows over ``others``) as a contiguous tensor of ``shape`` (k at d)."""
    v = v.reshaped(others + (shape[d],))
    if d == len(others):
        return v
    nd = len(shape)
    st = v._strides
    return E.copy(v.derive(shape, st[:d] + (st[nd - 1],) + st[d:nd - 1], v._offset))


# ---------------------------------------------------------------- unique
def _check_unique(x, dim, count):
    _check_tensor(x, "unique")
    if count is not None:
        raise NotImplementedError("unique of a counted (fixed-size) tensor is not count-aware yet")
    if dim is not None:
        d = norm_dim(operator.index(dim), x.ndim)
        if x.ndim > 1:
            raise NotImplementedError(f"unique(dim={d}) of a {x.ndim}-d tensor (unique slices) is "
                                      "not implemented; dim=None (or a 1-d tensor) is")


def unique_fixed(x, return_inverse=False, return_counts=False, dim=None, *, count=None):
    """(values, inverse or None, counts or None), fixed-size: values and counts [N]
    (N = x.numel()), the unique ones first, ``.count`` on the GPU; inverse int32 in
    x's shape. No read."""
    _check_unique(x, dim, count)
    dev = x.device
    n = x.numel()
    dev.check_size(n * 8 + 16, f"unique of {n} elements")
    if n:
        SO._row_groups(dev, 1, n)  # the sort's row must fit one binding: ValueError, no GPU work
    flat = E.reshape(x, (n,))
    counted = x.count is not None and x.ndim
    if counted:  # its valid rows come first in row-major order
        flat.count = E.merged_count(x)
    if n == 0:
        cnt = View.empty((), D.int32, dev)
        dev.clear(cnt._buf, 0, 4)
        values = View.empty((0,), x.dtype, dev)
        values.count = cnt
        counts = None
        if return_counts:
            counts = View.empty((0,), D.int32, dev)
            counts.count = cnt
        inverse = View.empty(x.shape, D.int32, dev) if return_inverse else None
        return values, inverse, counts
    sv, perm = SO.sort(flat, 0)
    keys = SO._keys(sv, False, canonical=True)
    pad = View.empty((n + 2,), D.uint32, dev)
    dev.copy(keys._buf, keys._offset * 4, pad._buf, 4, n * 4)
    mid, left = pad.basic_index(slice(1, n + 1)), pad.basic_index(slice(0, n))
    first = E.launch("(a != b) || (gi == 0u)", D.bool_, [mid, left], ["u32", "u32"])
    first.count = flat.count  # a counted input: only its valid (sorted first) elements take part
    values = S.masked_select(sv, first)
    counts = inverse = None
    if return_counts:
        right = pad.basic_index(slice(2, n + 2))
        last = E.launch("(a != b) || (gi + 1u >= u32(max(c, 0)))", D.bool_,
                        [mid, right, flat.count if counted else E.Scalar(n)], ["u32", "u32", "i32"])
        last.count = flat.count
        pos = C.arange(0, n + 1, 1, D.int32, dev)
        starts = S.masked_select(pos.basic_index(slice(0, n)), first)
        ends = S.masked_select(pos.basic_index(slice(1, n + 1)), last)
        counts = E.binary("sub", ends, starts)
        counts.count = values.count
    if return_inverse:
        group = E.binary("sub", SC.cumsum(first, 0), 1)
        inv = View.empty((n,), D.int32, dev)
        I.index_put_(inv, perm, group, check=False)  # perm is a permutation
        inverse = inv.reshaped(x.shape)
        inverse.count = x.count  # the valid elements' groups; the others are unspecified
    return values, inverse, counts


def _result(values, inverse, counts, return_inverse, return_counts):
    if not return_inverse and not return_counts:
        return values
    out = [values]
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(counts)
    return tuple(out)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None, *,
           fixed_size=False, count=None):
    """torch.unique of the flattened x (values sorted; ``sorted`` is accepted and the
    result is always sorted). Exact form: reads the number of unique values once
    (explicit, like x[mask]). ``fixed_size=True``: [N] results with ``.count``, no read."""
    values, inverse, counts = unique_fixed(x, return_inverse, return_counts, dim, count=count)
    if not fixed_size:
        k = S.read_count(values.count)
        values = S.exact(values, k)
        if counts is not None:
            counts = S.exact(counts, k)
    return _result(values, inverse, counts, return_inverse, return_counts)


def exact_results(res, k, return_inverse, return_counts):
    """A fixed-size unique result cut to its first k unique values (unique_async)."""
    if not return_inverse and not return_counts:
        return S.exact(res, k)
    res = list(res)
    res[0] = S.exact(res[0], k)
    if return_counts:
        res[-1] = S.exact(res[-1], k)
    return tuple(res)

"""Op declarations: each public op once, its checks and forward call into ops/ and its
gradient rule side by side (as JAX's lax.py and micrograd's engine.py keep them).

An op's forward takes Views (wgpu_tensor.view) and Python values and returns a View
(or a tuple of them); it raises before any GPU work on bad input. Its gradient rule,
``grad(g, out, want, *args, **kwargs)``, returns one gradient View (or None) per
positional argument; ``want[i]`` says whether argument i needs one. The tape sums a
gradient over broadcast dims and casts it to its input's dtype, so rules need not.
The Tensor (wgpu_tensor.tensor) unwraps its arguments, calls ``forward``, wraps the
result and, when an input requires grad and the result is floating point, records
the rule on the tape (wgpu_tensor.autograd). Tensor methods and ``wt.`` functions
are made from these declarations; nothing here knows the Tensor.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import dtypes as D
from .ops import creation as C
from .ops import elementwise as E
from .ops import index as I
from .ops import reduce as R
from .ops import scan as SC
from .ops import select as S
from .ops import sort as SO
from .ops import unique as U
from .view import View, as_shape, broadcast_shapes, norm_dim

OPS = {}


class Op:
    """A declared op: ``forward`` (checks, then the kernels), ``backward`` (the gradient
    rule, or None), the positional arguments whose contents the rule reads (an in-place
    change of one before backward() raises), whether it writes its first argument, and
    whether it is a Tensor method and a ``wt.`` function of its name."""

    __slots__ = ("name", "forward", "backward", "saves", "inplace", "method", "function", "doc")

    def __init__(self, name, forward, saves=(), inplace=False, method=True, function=True):
        self.name = name
        self.forward = forward
        self.backward = None
        self.saves = saves
        self.inplace = inplace
        self.method = method
        self.function = function
        self.doc = forward.__doc__

    def grad(self, rule):
        """Decorator: ``rule`` is this op's gradient."""
        self.backward = rule
        return rule

    def __repr__(self):
        return f"<op {self.name}>"


def op(name=None, *, saves=(), inplace=False, method=True, function=True):
    """Declare ``fn`` as the forward of op ``name`` (default: its own name)."""
    def deco(fn):
        o = Op(name or fn.__name__, fn, saves, inplace, method, function)
        OPS[o.name] = o
        return o
    return deco


# ---------------------------------------------------------------- helpers of the rules
def zeros(shape, dtype, dev):
    return E.fill(tuple(shape), 0, dtype, device=dev)


def pad_rows(g, shape):
    """``g`` as the first rows of a zero tensor of ``shape`` (the gradient of taking
    the first rows)."""
    z = zeros(shape, g.dtype, g.device)
    if g.shape[0]:
        I.assign_(z.basic_index(slice(0, g.shape[0])), g)
    return z


def _mul(a, b):
    return E.binary("mul", a, b)


# ---------------------------------------------------------------- elementwise
def _binary_op(name):
    def forward(x, y):
        return E.binary(name, x, y)
    forward.__name__ = name
    forward.__doc__ = f"Elementwise {name} with broadcasting (tensor or Python scalar operands)."
    return op(name, saves=(0, 1) if name in ("mul", "div") else ())(forward)


for _name in E.BINARY:
    _binary_op(_name)


@OPS["add"].grad
def _add_grad(g, out, want, x, y):
    return g, g


@OPS["sub"].grad
def _sub_grad(g, out, want, x, y):
    return g, (E.neg(g) if want[1] else None)


@OPS["mul"].grad
def _mul_grad(g, out, want, x, y):
    return _mul(g, y) if want[0] else None, _mul(g, x) if want[1] else None


@OPS["div"].grad
def _div_grad(g, out, want, x, y):
    gx = E.binary("div", g, y) if want[0] else None
    gy = E.neg(E.binary("div", _mul(g, x), _mul(y, y))) if want[1] else None
    return gx, gy


@op()
def neg(x):
    """-x."""
    return E.neg(x)


@neg.grad
def _neg_grad(g, out, want, x):
    return (E.neg(g),)


@op("abs", saves=(0,))
def abs_(x):
    """|x|."""
    return E.abs_(x)


@abs_.grad
def _abs_grad(g, out, want, x):
    sign = E.binary("sub", E.cast(E.binary("gt", x, 0), g.dtype), E.cast(E.binary("lt", x, 0), g.dtype))
    return (_mul(g, sign),)


@op("reciprocal")
def reciprocal(x):
    """1 / x, elementwise; integer and bool inputs give float32 (as torch.reciprocal)."""
    return E.reciprocal(x)


@reciprocal.grad
def _reciprocal_grad(g, out, want, x):
    return (E.neg(_mul(g, _mul(out, out))),)  # d(1/x) = -1/x^2 = -out^2


@op()
def logical_not(x):
    """~x for a bool tensor."""
    return E.logical_not(x)


@op("to", method=False, function=False)
def cast(x, dtype):
    """A copy of x as ``dtype`` (float -> int truncates toward zero; x -> bool is x != 0)."""
    return E.cast(x, D.to_dtype(dtype))


@cast.grad
def _cast_grad(g, out, want, x, dtype):
    return (g,)


@op(saves=(0,), method=False)
def where(condition, x, y):
    """x where condition is true, else y (tensors or scalars, broadcast)."""
    return E.where(condition, x, y)


@where.grad
def _where_grad(g, out, want, condition, x, y):
    return (None, E.where(condition, g, 0.0) if want[1] else None,
            E.where(condition, 0.0, g) if want[2] else None)


# ---------------------------------------------------------------- elementwise math (exp, log, pow, clamp, isnan, bitwise, ...)


# ---------------------------------------------------------------- views and copies
def _reshape_grad(g, out, want, x, *args):
    return (E.reshape(g, x.shape),)


def _view_op(name, fn, doc, method=True, function=True):
    fn.__doc__ = doc
    o = op(name, method=method, function=function)(fn)
    o.grad(_reshape_grad)
    return o


def _reshape(x, shape):
    return E.reshape(x, shape)


def _view(x, shape):
    shape = x.infer_shape(tuple(shape))
    if not x.is_contiguous():
        raise RuntimeError("view size is not compatible with input tensor's size and stride; "
                           "use .reshape(...) instead")
    return x.reshaped(shape)


def _flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return E.reshape(x, (1,))
    s, e = norm_dim(start_dim, x.ndim), norm_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return E.reshape(x, x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def _unsqueeze(x, dim):
    return x.unsqueeze(dim)


def _squeeze(x, dim=None):
    return x.squeeze(dim)


def _clone(x):
    return E.copy(x)


reshape = _view_op("reshape", _reshape, "x under a new shape (one -1 inferred): a view when x is contiguous, "
                                        "else a copy.", method=False)
view = _view_op("view", _view, "x under a new shape, sharing its storage (x must be contiguous).",
                method=False, function=False)
flatten = _view_op("flatten", _flatten, "Dims start_dim..end_dim merged into one.")
unsqueeze = _view_op("unsqueeze", _unsqueeze, "A view with a new dim of size 1 at ``dim``.")
squeeze = _view_op("squeeze", _squeeze, "A view without the dims of size 1 (or only ``dim``'s).")
clone = _view_op("clone", _clone, "A new contiguous copy.")


@op(method=False, function=False)
def expand(x, *sizes):
    """A view broadcast to ``sizes`` (-1 keeps a dim), without copying."""
    return x.expand(_as_sizes(sizes))


@expand.grad
def _expand_grad(g, out, want, x, *sizes):
    return (g,)  # the tape sums it back to x's shape


def _as_sizes(sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return tuple(operator.index(s) for s in sizes)


# ---------------------------------------------------------------- shape (cat, stack, split, transpose, permute, flip, roll, diagonal, ...)


# ---------------------------------------------------------------- indexing
def tensor_key(key):
    """A list or numpy array used as an index becomes an index View (ints: integer
    indexing, bools: a mask), as in PyTorch; other keys pass through."""
    if isinstance(key, np.ndarray) or (isinstance(key, list) and not any(
            isinstance(k, (slice, type(None), type(Ellipsis), View, list, tuple)) for k in key)):
        arr = np.asarray(key)
        if arr.dtype.kind not in "biu":
            raise IndexError(f"tensors used as indices must be integer or bool, got {arr.dtype}")
        return C.tensor(arr)
    return key


def _basic_key(key):
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, (View, list, np.ndarray)) for k in keys):
        raise NotImplementedError("advanced indexing (tensors or lists inside a tuple index) is "
                                  "not implemented yet")
    return key


@op(method=False, function=False)
def getitem(x, key):
    """Basic indexing (ints, slices, None, ...): a view."""
    return x.basic_index(_basic_key(key))


@getitem.grad
def _getitem_grad(g, out, want, x, key):
    z = zeros(x.shape, g.dtype, g.device)
    if g.numel():
        I.assign_(z.basic_index(key), g)
    return z, None


@op("index", saves=(1,), method=False, function=False)
def index_get(x, idx):
    """x[idx] for an integer tensor idx: shape idx.shape + x.shape[1:]; negatives wrap."""
    return I.index_get(x, idx)


@index_get.grad
def _index_get_grad(g, out, want, x, idx):
    z = zeros(x.shape, g.dtype, g.device)
    return I.index_add_(z, idx, g, check=False), None  # checked by the forward pass


@op(saves=(2,))
def gather(x, dim, index):
    """torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] (dim 0); out has index's shape."""
    return I.gather(x, dim, index)


@gather.grad
def _gather_grad(g, out, want, x, dim, index):
    z = zeros(x.shape, g.dtype, g.device)
    return I.scatter_add_(z, dim, index, g, check=False), None, None  # checked by the forward pass


@op()
def scatter(x, dim, index, src=None, *, value=None):
    """torch.scatter: a copy of x with x[index[i][j]][j] = src[i][j] (dim 0)."""
    return I.scatter(x, dim, index, src, value=value)


@op()
def scatter_add(x, dim, index, src):
    """torch.scatter_add: a copy of x with src added at index (duplicates add)."""
    return I.scatter_add(x, dim, index, src)


@op()
def index_select(x, dim, index):
    """torch.index_select: the slices of x at ``index`` along dim."""
    return I.index_select(x, dim, index)


# ---------------------------------------------------------------- masking
@op(saves=(1,))
def masked_select(x, mask, out=None, fill_value=None):
    """The elements of x where mask is true, packed first into a fixed-size [N] result
    (N = elements of the broadcast shape); ``.count`` is a 0-d int32 tensor on the GPU
    holding how many; nothing is read back. ``fill_value`` fills the rest."""
    return S.masked_select(x, mask, out=out, fill_value=fill_value)


@masked_select.grad
def _masked_select_grad(g, out, want, x, mask, *args, **kwargs):
    # The packed gradient goes back to the selected positions; g has N elements (the
    # fixed size), so no count is needed.
    shape = broadcast_shapes(x.shape, mask.shape)
    return S.masked_scatter(zeros(shape, g.dtype, g.device), mask, g), None


@op("narrow", method=False, function=False)
def narrow0(t, k):
    """The first k rows of ``t`` as their own tensor (masked_select_async, x[mask])."""
    return S.exact(t, k)


@narrow0.grad
def _narrow0_grad(g, out, want, t, k):
    return pad_rows(g, t.shape), None


@op(saves=(1,))
def masked_fill(x, mask, value):
    """x with ``value`` (cast to x's dtype) where mask is true; mask and x broadcast."""
    return S.masked_fill(x, mask, value)


@masked_fill.grad
def _masked_fill_grad(g, out, want, x, mask, value):
    gx = E.where(mask, 0.0, g) if want[0] else None
    gv = R.sum(E.where(mask, g, 0.0)) if want[2] else None
    return gx, None, gv


@op(saves=(1,))
def masked_scatter(x, mask, source):
    """A copy of x (broadcast with mask) whose selected elements are source's first
    elements, in row-major order."""
    return S.masked_scatter(x, mask, source)


@masked_scatter.grad
def _masked_scatter_grad(g, out, want, x, mask, source):
    gx = E.where(mask, 0.0, g) if want[0] else None
    gs = None
    if want[2]:
        # Source element j fed the j-th selected position: the packed gradient (zeros
        # past the count) is source's gradient, cut or padded to its size.
        packed = S.masked_select(g, mask.expand(out.shape), fill_value=0)
        m = source.numel()
        gs = packed.basic_index(slice(0, m)) if m <= packed.numel() else pad_rows(packed, (m,))
        gs = E.contiguous(E.reshape(gs, source.shape))
    return gx, None, gs


@op()
def nonzero(x, *, as_tuple=False):
    """[N, ndim] int32 coordinates of the nonzero elements, packed first; ``.count``."""
    if as_tuple:
        raise ValueError("nonzero(as_tuple=True) needs the exact count: use "
                         "await x.nonzero_async(as_tuple=True)")
    return S.nonzero(x)


@op(method=False)
def isin(elements, test_elements, *, invert=False):
    """Bool tensor of elements' shape: whether each element is in test_elements."""
    return SO.isin(elements, test_elements, invert=invert)


# ---------------------------------------------------------------- reductions
def _expand_back(g, x, dim, keepdim):
    dims = R.reduced_dims(dim, x.ndim)
    if not keepdim and x.ndim:
        g = E.reshape(g, tuple(1 if i in dims else s for i, s in enumerate(x.shape)))
    return g.expand(x.shape)


@op("sum")
def sum_(x, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim``: bool/int32 -> int32 (wraps), uint32 -> uint32, floats keep their dtype."""
    return R.sum(x, dim, keepdim, dtype=dtype)


@sum_.grad
def _sum_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    return (_expand_back(g, x, dim, keepdim),)


@op()
def mean(x, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim`` of a float tensor (or with a float ``dtype=``); nan when empty."""
    return R.mean(x, dim, keepdim, dtype=dtype)


@mean.grad
def _mean_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    count = math.prod(x.shape[d] for d in R.reduced_dims(dim, x.ndim))
    return (_mul(_expand_back(g, x, dim, keepdim), 1.0 / max(count, 1)),)


def _reduction(name, fn, doc):
    fn.__doc__ = doc
    return op(name)(fn)


any_ = _reduction("any", lambda x, dim=None, keepdim=False: R.any(x, dim, keepdim),
                  "True where any element is nonzero (NaN is nonzero); False over nothing.")
all_ = _reduction("all", lambda x, dim=None, keepdim=False: R.all(x, dim, keepdim),
                  "True where every element is nonzero; True over nothing.")
count_nonzero = _reduction("count_nonzero", lambda x, dim=None: R.count_nonzero(x, dim),
                           "Number of nonzero elements over ``dim``, as int32.")
amax = _reduction("amax", lambda x, dim=None, keepdim=False: R.amax(x, dim, keepdim),
                  "Largest element over ``dim`` (NaN if any is NaN).")
amin = _reduction("amin", lambda x, dim=None, keepdim=False: R.amin(x, dim, keepdim),
                  "Smallest element over ``dim`` (NaN if any is NaN).")


@op()
def sort(x, dim=-1, descending=False):
    """(values, indices) of x sorted along dim; NaN is the largest value. Stable."""
    return SO.sort(x, dim, descending)


@op()
def kthvalue(x, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest (1-based) element along dim (NaN largest)."""
    return SO.kthvalue(x, k, dim, keepdim)


# ---------------------------------------------------------------- reductions with dim (max, min, argmax, prod, var, std, logsumexp, norm, ...)


# ---------------------------------------------------------------- in place
def _inplace_op(name, fn, doc, method=True):
    fn.__doc__ = doc
    return op(name, inplace=True, method=method, function=False)(fn)


def _binary_(x, name, other):
    """x op= other written into x's own buffer, with PyTorch's shape and dtype checks first."""
    if isinstance(other, View):
        shape, rd = broadcast_shapes(x.shape, other.shape), D.promote(x.dtype, other.dtype)
    else:
        shape, rd = x.shape, D.promote_scalar(x.dtype, D.scalar_dtype(other))
    rd = D.float32 if name == "div" and rd.kind != "f" else D.int32 if rd is D.bool_ else rd
    if tuple(shape) != x.shape:
        raise RuntimeError(f"output with shape {list(x.shape)} doesn't match the broadcast shape "
                           f"{list(shape)}")
    if rd is not x.dtype and (rd.kind == "f" and x.dtype.kind != "f" or x.dtype is D.bool_):
        raise RuntimeError(f"result type {rd.name} can't be cast to the desired output type "
                           f"{x.dtype.name}")
    res = E.binary(name, x, other)
    if res.dtype is not x.dtype:
        res = E.cast(res, x.dtype)
    S.store(x, res)


def _setitem(x, key, value):
    key = tensor_key(key)
    if isinstance(key, View):
        if key.dtype is D.bool_:
            S.index_mask_put_(x, key, value)
        else:
            I.index_put_(x, key, value)
        return
    I.assign_(x.basic_index(_basic_key(key)), value)


binary_ = _inplace_op("binary_", _binary_, "x op= other, in place.", method=False)
fill_ = _inplace_op("fill_", lambda x, value: I.assign_(x, value), "Every element set to ``value``.")
copy_ = _inplace_op("copy_", lambda x, src: I.copy_(x, src), "src (broadcast, any dtype) copied into x.")
masked_fill_ = _inplace_op("masked_fill_", lambda x, mask, value: S.masked_fill_(x, mask, value),
                           "masked_fill in place.")
masked_scatter_ = _inplace_op("masked_scatter_", lambda x, mask, source: S.masked_scatter_(x, mask, source),
                              "masked_scatter in place.")
scatter_ = _inplace_op("scatter_", lambda x, dim, index, src=None, *, value=None:
                       I.scatter_(x, dim, index, src, value=value), "scatter in place.")
scatter_add_ = _inplace_op("scatter_add_", lambda x, dim, index, src: I.scatter_add_(x, dim, index, src),
                           "scatter_add in place.")
setitem = _inplace_op("x[...] = value", _setitem, "x[key] = value.", method=False)


# ---------------------------------------------------------------- scans, topk, unique
# Scans: ops/scan.py. topk and unique: ops/unique.py (sort, then the selection's
# compaction). cumsum/cumprod of bool/int32 give int32 (PyTorch: int64).
@op(saves=())
def cumsum(x, dim, *, dtype=None):
    """Cumulative sum along dim: bool/int32 -> int32 (PyTorch: int64; wraps), uint32 ->
    uint32, float16 accumulated in float32; ``dtype=`` converts the input first."""
    return SC.cumsum(x, dim, dtype=dtype)


@cumsum.grad
def _cumsum_grad(g, out, want, x, dim, **kwargs):
    return SC.reverse_cumsum(g, dim), None


@op(saves=(0,))
def cumprod(x, dim, *, dtype=None):
    """Cumulative product along dim (dtypes as cumsum)."""
    return SC.cumprod(x, dim, dtype=dtype)


@cumprod.grad
def _cumprod_grad(g, out, want, x, dim, **kwargs):
    # Exact with zeros: before a row's first zero, d/dx_i = revcumsum(g * out)_i / x_i;
    # at the first zero z, revcumsum(g * cumprod(x with x_z = 1))_z; after it, 0.
    if x.dtype.kind != "f" or g.dtype is not out.dtype:
        x = E.cast(x, g.dtype)
    zero = E.binary("eq", x, 0)
    nz = SC.cumsum(zero, dim)                       # zeros so far, int32
    before = E.binary("eq", nz, 0)
    first = E.binary("logical_and", zero, E.binary("eq", nz, 1))
    safe = E.where(before, x, 1.0)
    b = E.binary("div", SC.reverse_cumsum(_mul(g, out), dim), safe)
    a = SC.reverse_cumsum(_mul(g, SC.cumprod(E.where(first, 1.0, x), dim)), dim)
    return E.where(before, b, E.where(first, a, 0.0)), None


def _cumext_grad(fn):
    def rule(g, out, want, x, dim):
        if x.ndim == 0:
            return g, None
        idx = fn(x, dim).indices  # recomputed: the tape keeps the values only
        return I.scatter_add_(zeros(x.shape, g.dtype, g.device), dim, idx, g, check=False), None
    return rule


@op(saves=(0,))
def cummax(x, dim):
    """(values, indices) named tuple: running maximum along dim and its index (the later
    one on ties; NaN propagates); indices int32 (PyTorch: int64)."""
    return SC.cummax(x, dim)


@op(saves=(0,))
def cummin(x, dim):
    """(values, indices) named tuple: running minimum along dim (as cummax)."""
    return SC.cummin(x, dim)


cummax.grad(_cumext_grad(SC.cummax))
cummin.grad(_cumext_grad(SC.cummin))


@op(saves=(0,))
def topk(x, k, dim=-1, largest=True, sorted=True):
    """(values, indices) named tuple of the k largest (``largest=False``: smallest)
    elements along dim, in order (NaN is the largest); indices int32 (PyTorch: int64)."""
    return U.topk(x, k, dim, largest, sorted)


@topk.grad
def _topk_grad(g, out, want, x, k, dim=-1, largest=True, sorted=True):
    if x.ndim == 0:
        return (g if k else zeros((), g.dtype, g.device)), None
    idx = U.topk(x, k, dim, largest, sorted).indices  # recomputed (the sort is stable)
    d = norm_dim(dim, x.ndim)
    return I.scatter_add_(zeros(x.shape, g.dtype, g.device), d, idx, g, check=False), None


@op()
def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None, *, fixed_size=False):
    """Unique values of the flattened x, sorted (NaNs are one value, -0.0 == 0.0); with
    ``return_inverse`` (int32, x's shape) and ``return_counts`` (int32). Reads the number
    of unique values once (explicit, like x[mask]); ``fixed_size=True`` reads nothing:
    [N] results, unique values first, ``.count`` on the GPU."""
    return U.unique(x, sorted, return_inverse, return_counts, dim, fixed_size=fixed_size)



# ---------------------------------------------------------------- creation
def _creation(name, fn):
    return op(name, method=False)(fn)


tensor = _creation("tensor", C.tensor)
from_numpy = _creation("from_numpy", C.from_numpy)
empty = _creation("empty", lambda *shape, dtype=None, device=None, requires_grad=False:
                  C.empty(as_shape(shape), dtype, device))
full = _creation("full", lambda shape, fill_value, dtype=None, device=None, requires_grad=False:
                 C.full(as_shape((shape,) if isinstance(shape, int) else shape), fill_value, dtype, device))
zeros_ = _creation("zeros", lambda *shape, dtype=None, device=None, requires_grad=False:
                   C.zeros(as_shape(shape), dtype, device))
ones = _creation("ones", lambda *shape, dtype=None, device=None, requires_grad=False:
                 C.ones(as_shape(shape), dtype, device))
empty_like = _creation("empty_like", lambda t, dtype=None, device=None, requires_grad=False:
                       C.empty(t.shape, dtype or t.dtype, device))
zeros_like = _creation("zeros_like", lambda t, dtype=None, device=None, requires_grad=False:
                       C.zeros(t.shape, dtype or t.dtype, device))
ones_like = _creation("ones_like", lambda t, dtype=None, device=None, requires_grad=False:
                      C.ones(t.shape, dtype or t.dtype, device))
full_like = _creation("full_like", lambda t, fill_value, dtype=None, device=None, requires_grad=False:
                      C.full(t.shape, fill_value, dtype or t.dtype, device))
arange = _creation("arange", C.arange)
rand = _creation("rand", lambda *shape, seed=None, dtype=None, device=None, requires_grad=False:
                 C.rand(as_shape(shape), seed, dtype, device))
randn = _creation("randn", lambda *shape, seed=None, dtype=None, device=None, requires_grad=False:
                  C.randn(as_shape(shape), seed, dtype, device))


def _randint(low, high=None, size=None, seed=None, dtype=None, device=None):
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing its size argument")
    return C.randint(low, high, as_shape((size,) if isinstance(size, int) else size), seed, dtype, device)


randint = _creation("randint", _randint)
tril = _creation("tril", lambda x, diagonal=0: C.tri(x, diagonal, True))
triu = _creation("triu", lambda x, diagonal=0: C.tri(x, diagonal, False))


# ---------------------------------------------------------------- linear algebra and attention (matmul, softmax, scaled_dot_product_attention)

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
from .ops import linalg as L
from .ops import reduce as R
from .ops import select as S
from .ops import sort as SO
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


def _matmul_grad(g, out, want, a, b):
    batch, M, K, N, _ = L.matmul_shapes(a.shape, b.shape)
    a2, b2 = L.as_matrices(a, b)
    if g.dtype is not a.dtype:
        g = E.cast(g, a.dtype)
    g2 = E.reshape(g, batch + (M, N))
    ga = gb = None
    if want[0]:  # dA = g @ B^T, batch dims summed by the tape
        ga = L.matmul(g2, L.transpose_last(b2))
        if a.ndim == 1:
            ga = E.reshape(ga, batch + (K,))
    if want[1]:  # dB = A^T @ g
        gb = L.matmul(L.transpose_last(a2), g2)
        if b.ndim == 1:
            gb = E.reshape(gb, batch + (K,))
    return ga, gb


@op(saves=(0, 1))
def matmul(a, b):
    """torch.matmul: dot (1-D @ 1-D), matrix-vector, vector-matrix, matrix products and
    batches of them with broadcast batch dims; float32, float16 (accumulated in f32), int32."""
    return L.matmul(a, b)


@op(saves=(0, 1))
def mm(a, b):
    """torch.mm: the product of two matrices (no broadcasting)."""
    return L.mm(a, b)


@op(saves=(0, 1))
def bmm(a, b):
    """torch.bmm: products of two [B, n, m] and [B, m, p] batches (no broadcasting)."""
    return L.bmm(a, b)


matmul.grad(_matmul_grad)
mm.grad(_matmul_grad)
bmm.grad(_matmul_grad)


@op()
def softmax(x, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (the row max subtracted first); a row whose max is
    NaN, +inf or -inf (all -inf) gives NaN, as PyTorch; ``dtype=`` casts the input first."""
    return L.softmax(x, dim, dtype)


@softmax.grad
def _softmax_grad(g, out, want, x, dim=None, dtype=None):
    return (L.softmax_backward(g, out, dim),)


@op()
def log_softmax(x, dim=None, dtype=None):
    """x - max - log(sum(exp(x - max))) along ``dim``; NaN rows as softmax; ``dtype=``."""
    return L.softmax(x, dim, dtype, log=True)


@log_softmax.grad
def _log_softmax_grad(g, out, want, x, dim=None, dtype=None):
    return (L.softmax_backward(g, out, dim, log=True),)


def _sdpa_checks(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    for name, t in (("query", q), ("key", k), ("value", v)):
        if not isinstance(t, View):
            raise TypeError(f"scaled_dot_product_attention(): {name} must be a tensor, got "
                            f"{type(t).__name__}")
        if t.dtype.kind != "f":
            raise TypeError(f"scaled_dot_product_attention(): {name} must be float32 or float16, "
                            f"got {t.dtype.name}")
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention(): {name} must have at least 2 dims, "
                               f"got shape {t.shape}")
    if not (q.dtype is k.dtype is v.dtype):
        raise TypeError("scaled_dot_product_attention(): expected query, key and value to have the "
                        f"same dtype, got {q.dtype.name}, {k.dtype.name} and {v.dtype.name}")
    if dropout_p != 0.0:
        raise NotImplementedError(f"scaled_dot_product_attention(): dropout_p={dropout_p} is not "
                                  "supported (only 0.0): wgpu_tensor has no dropout")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention(): enable_gqa=True is not supported")
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention(): query's last dim {q.shape[-1]} must "
                           f"equal key's {k.shape[-1]} (shapes {q.shape} and {k.shape})")
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention(): key and value must have the same "
                           f"sequence length (shapes {k.shape} and {v.shape})")
    batch = broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    scores = batch + (q.shape[-2], k.shape[-2])
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError("scaled_dot_product_attention(): explicit attn_mask should not be "
                               "set when is_causal=True")
        if not isinstance(attn_mask, View):
            raise TypeError("scaled_dot_product_attention(): attn_mask must be a tensor, got "
                            f"{type(attn_mask).__name__}")
        if attn_mask.dtype is not D.bool_ and attn_mask.dtype is not q.dtype:
            raise TypeError("scaled_dot_product_attention(): attn_mask must be bool or the query's "
                            f"dtype {q.dtype.name}, got {attn_mask.dtype.name}")
        if broadcast_shapes(attn_mask.shape, scores) != scores:
            raise ValueError(f"scaled_dot_product_attention(): attn_mask of shape {attn_mask.shape} "
                             f"does not broadcast to the scores' shape {scores}")
    if scale is not None and not isinstance(scale, (int, float)):
        raise TypeError(f"scaled_dot_product_attention(): scale must be a float, got {type(scale).__name__}")
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


def _sdpa_probs(q, k, attn_mask, is_causal, scale):
    """softmax(q @ k^T * scale + mask) with PyTorch's _safe_softmax (rows of only -inf: 0)."""
    s = E.binary("mul", L.matmul(q, L.transpose_last(k)), scale)
    if is_causal:
        n_q, n_k = q.shape[-2], k.shape[-2]
        attn_mask = C.tri(C.ones((n_q, n_k), D.bool_, q.device), 0, True)
    if attn_mask is not None:
        if attn_mask.dtype is D.bool_:
            s = E.where(attn_mask, s, float("-inf"))
        else:
            s = E.binary("add", s, attn_mask)
    return L.softmax(s, -1, safe=True)


@op("scaled_dot_product_attention", saves=(0, 1, 2, 3), method=False, function=False)
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value (torch.nn.functional's): a bool mask keeps
    True, a float mask is added, both broadcast; is_causal keeps the lower triangle; rows with
    every key masked give 0 (PyTorch's _safe_softmax); dropout_p must be 0."""
    sc = _sdpa_checks(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    return L.matmul(_sdpa_probs(query, key, attn_mask, is_causal, sc), value)


@scaled_dot_product_attention.grad
def _sdpa_grad(g, out, want, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
               scale=None, enable_gqa=False):
    sc = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    p = _sdpa_probs(query, key, attn_mask, is_causal, sc)  # recomputed, not kept from the forward
    if g.dtype is not p.dtype:
        g = E.cast(g, p.dtype)
    gv = L.matmul(L.transpose_last(p), g) if want[2] else None
    gq = gk = gm = None
    if want[0] or want[1] or (len(want) > 3 and want[3]):
        ds = L.softmax_backward(L.matmul(g, L.transpose_last(value)), p, -1)
        if ds.dtype is not p.dtype:
            ds = E.cast(ds, p.dtype)
        dss = E.binary("mul", ds, sc)
        if want[0]:
            gq = L.matmul(dss, key)
        if want[1]:
            gk = L.matmul(L.transpose_last(dss), query)
        if len(want) > 3 and want[3] and attn_mask is not None and attn_mask.dtype.kind == "f":
            gm = ds
    grads = (gq, gk, gv, gm)[:len(want)]
    return grads + (None,) * (len(want) - len(grads))

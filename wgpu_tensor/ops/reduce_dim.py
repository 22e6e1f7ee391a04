"""Reductions with dim: max/min (values and indices), argmax/argmin, prod, var/std,
nansum/nanmean, logsumexp, vector norms, and the pieces of their gradients.

Every one is built from the reduce template (ops/reduce.py ``_reduce``: new rows of its
table where one fold suffices) and elementwise expressions (ops/elementwise.py
``launch``), so they inherit its strided views, binding windows, two passes and grid
limits, and do no host read. The arg-reductions are two folds and one elementwise
pass: the extreme (amax / amin, NaN-propagating), then the smallest index along the
dim whose element equals it (or is NaN when it is NaN): the first occurrence, as
PyTorch. Where a fold of a counted input must stop at the count, ``_reduce`` does it;
the index fold only ever sees indices of elements equal to a count-aware extreme.
"""
from __future__ import annotations

import math
from collections import namedtuple

from .. import dtypes as D
from ..view import View, norm_dim
from . import elementwise as E
from . import index as I
from . import reduce as R

MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])

_INF = "bitcast<f32>(0x7f800000u)"
_TORCH_NAME = {D.bool_: "Bool", D.int32: "Int", D.uint32: "UInt32", D.float16: "Half",
               D.float32: "Float"}


# ---------------------------------------------------------------- geometry helpers
def keep_shape(x, dims):
    return tuple(1 if d in dims else s for d, s in enumerate(x.shape))


def squeeze_dims(v, dims):
    """A keepdim result ``v`` without its reduced dims (a view of the contiguous result)."""
    return v.reshaped(tuple(s for d, s in enumerate(v.shape) if d not in dims))


def unsqueeze_dims(g, x, dims, keepdim):
    """A reduction's result (or gradient) ``g`` with its reduced dims back as size 1."""
    if keepdim or not x.ndim:
        return g
    for d in dims:
        g = g.unsqueeze(d)
    return g


def _check(x, name):
    if not isinstance(x, View):
        raise TypeError(f"{name}(): expected a wgpu_tensor.Tensor, got {type(x).__name__}")


def _check_float(x, name, what=None):
    _check(x, name)
    if x.dtype.kind != "f":
        raise TypeError(what or f"{name}(): expected a floating point tensor, got {x.dtype.name}")


def _one_dim(dim, name):
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{name}(): dim must be an int, got {type(dim).__name__}")
    return dim


# ---------------------------------------------------------------- max / min / argmax / argmin
def _index_along(shape, dim):
    """WGSL expression of an element's index along ``dim`` from gi, its row-major index
    in a result of ``shape`` (the elementwise template's global index)."""
    inner = math.prod(shape[dim + 1:])
    return f"i32((gi / {inner}u) % {shape[dim]}u)" if inner > 1 else f"i32(gi % {shape[dim]}u)"


def _match_expr(dtype, shape, dim):
    """int32 WGSL expression: the index along dim where element a equals the extreme b
    (both NaN counts as equal), else the dim's size (past every index)."""
    n, i = shape[dim], _index_along(shape, dim)
    if dtype.kind == "f":
        return f"select({n}, {i}, a == b || (is_nan(a) && is_nan(b)))", "f32"
    return f"select({n}, {i}, a == b)", ("u32" if dtype is D.bool_ else dtype.wgsl)


def first_index(x, ext, dim, name):
    """keepdim int32 index of the first element along ``dim`` equal to ``ext`` (the
    keepdim extreme along dim). x has at least one dim and dim is normalized.
    (Count-awareness: for a counted x the extreme ``ext`` comes from a count-aware
    ``_reduce``; the match below is where a bound ``index < count`` would go if an
    all-invalid row must give no index, and ``hit`` would carry x's count.)"""
    expr, ct = _match_expr(x.dtype, x.shape, dim)
    hit = E.launch(expr, D.int32, [x, ext], [ct, ct])
    return R._reduce("amin", hit, dim, True, D.int32, name)


def moved_values(x, d, idx, vals):
    """The values of a float16 max/min (cummax/cummin) as x's elements at ``idx``
    (keepdim indices along ``d``), gathered as raw bits: ``vals``, computed in f32,
    would turn every NaN payload into the canonical one. PyTorch's values are
    x[indices] too, so a NaN result is the payload of the NaN at its index."""
    out = I.gather(x, d, idx, check=False)
    out.count = vals.count
    return out


def max_dim(x, dim, keepdim, largest, name):
    """(values, indices) of the largest (smallest) element along one dim."""
    _check(x, name)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name}(): dim must be an int, got {type(dim).__name__}")
    d = norm_dim(dim, x.ndim)
    if not isinstance(keepdim, (bool, int)):
        raise TypeError(f"{name}(): keepdim must be a bool, got {type(keepdim).__name__}")
    res = MaxResult if largest else MinResult
    if x.ndim == 0:  # PyTorch: dim 0 / -1 of a 0-d tensor is the element itself
        v = E.copy(x) if x.dtype is D.float16 else R._reduce("amax" if largest else "amin", x, dim, False,
                                                            None, name)
        return res(v, E.fill((), 0, D.int32, device=x.device))
    vals = R._reduce("amax" if largest else "amin", x, d, True, None, name)
    if not vals.numel():
        idx = View.empty(vals.shape, D.int32, x.device)
    else:
        idx = first_index(x, vals, d, name)
        if x.dtype is D.float16:
            vals = moved_values(x, d, idx, vals)
    if keepdim:
        return res(vals, idx)
    return res(squeeze_dims(vals, (d,)), squeeze_dims(idx, (d,)))


def arg_extreme(x, dim, keepdim, largest, name):
    """argmax / argmin: int32 indices (PyTorch: int64); dim=None indexes the flattened
    tensor (keepdim=True then keeps every dim as size 1)."""
    _check(x, name)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        if not isinstance(keepdim, (bool, int)):
            raise TypeError(f"{name}(): keepdim must be a bool, got {type(keepdim).__name__}")
        flat = E.reshape(x, (-1,))
        if x.count is not None and x.ndim:  # the valid rows come first in row-major order
            flat.count = E.merged_count(x)
        idx = max_dim(flat, 0, False, largest, name).indices
        return idx.reshaped((1,) * x.ndim) if keepdim else idx
    return max_dim(x, dim, keepdim, largest, name).indices


def full_extreme(x, largest, name):
    """max() / min() of every element: a 0-d tensor (an empty input raises)."""
    return R._reduce("amax" if largest else "amin", x, None, False, None, name)


def spread_grad(g, out, x, dim, keepdim, name):
    """The gradient of amax / amin / max() / min(): g shared evenly by the elements equal
    to the result (NaN equal to NaN), as PyTorch does for ties."""
    dims = R.reduced_dims(dim, x.ndim)
    ok = unsqueeze_dims(out, x, dims, keepdim)
    gk = unsqueeze_dims(g, x, dims, keepdim)
    mask = E.launch("select(0.0, 1.0, a == b || (is_nan(a) && is_nan(b)))", D.float32, [x, ok],
                    ["f32", "f32"])
    cnt = R._reduce("sum", mask, dims, True, D.float32, name)
    return E.launch("a * b / c", g.dtype, [gk, mask, cnt], ["f32", "f32", "f32"])


def index_grad(g, x, ik, dim, keepdim):
    """The gradient of max(dim) / min(dim): g at the selected index along dim, 0 elsewhere
    (``ik``: the keepdim indices)."""
    if x.ndim == 0:
        return g
    d = norm_dim(dim, x.ndim)
    gk = unsqueeze_dims(g, x, (d,), keepdim)
    assert ik.shape == gk.shape
    return E.launch(f"select(0.0, a, b == {_index_along(x.shape, d)})", g.dtype, [gk, ik], ["f32", "i32"],
                    shape=x.shape)


def max_dim_indices(x, out, dim, keepdim, name):
    """The keepdim indices of max(dim) / min(dim) again, from x and the values ``out``."""
    if x.ndim == 0:
        return None
    d = norm_dim(dim, x.ndim)
    return first_index(x, unsqueeze_dims(out, x, (d,), keepdim), d, name)


# ---------------------------------------------------------------- prod
def prod(x, dim=None, keepdim=False, dtype=None):
    """Product over ``dim``: bool/int32 -> int32 (PyTorch: int64; wraps), uint32 -> uint32,
    floats keep their dtype (accumulated in f32); 1 over nothing."""
    _check(x, "prod")
    if dim is not None:
        _one_dim(dim, "prod")
    if dtype is not None:
        x = E.cast(x, D.to_dtype(dtype)) if D.to_dtype(dtype) is not x.dtype else x
    out = D.int32 if x.dtype is D.bool_ else x.dtype
    return R._reduce("prod", x, dim, keepdim, out, "prod")


def prod_grad(g, out, x, dim, keepdim):
    """d prod / d x_i = the product of the other elements: g * prod / x_i in a row without
    zeros; in a row with exactly one zero, the product of the nonzero elements at the
    zero and 0 elsewhere; 0 in a row with two or more zeros. Exact in every case (no
    division by zero)."""
    dims = R.reduced_dims(dim, x.ndim)
    gk = unsqueeze_dims(g, x, dims, keepdim)
    ok = unsqueeze_dims(out, x, dims, keepdim)
    pnz = R._reduce("prod_nonzero", x, dims, True, D.float32, "prod")
    zeros = R._reduce("count_zero", x, dims, True, D.float32, "prod")
    a = E.launch("a * b", D.float32, [gk, ok], ["f32", "f32"])
    b = E.launch("select(0.0, a * b, c == 1.0)", D.float32, [gk, pnz, zeros], ["f32", "f32", "f32"])
    return E.launch("select(b / a, c, a == 0.0)", g.dtype, [x, a, b], ["f32", "f32", "f32"])


# ---------------------------------------------------------------- var / std
def correction_of(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise ValueError(f"{name}(): cannot specify both unbiased and correction")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    if isinstance(correction, bool) or not isinstance(correction, (int, float)):
        raise TypeError(f"{name}(): correction must be a number, got {type(correction).__name__}")
    return correction


def _row_count(x, dims):
    return math.prod(x.shape[d] for d in dims) if x.ndim else 1


def _denominator(x, dims, c):
    """max(0, N - correction) as an elementwise operand: a Python float, or for a counted
    x reduced over its counted dim a 0-d View computed from the count on the GPU."""
    if x.count is not None and x.ndim and 0 in dims:
        inner = _row_count(x, dims) // x.shape[0] if x.shape[0] else 0
        return E.launch("max(0.0, f32(u32(max(a, 0)) * b) - c)", D.float32,
                        [x.count, E.Scalar(inner), E.Scalar(float(c))], ["i32", "u32", "f32"])
    return E.Scalar(float(max(0, _row_count(x, dims) - c)))


def var(x, dim=None, unbiased=None, keepdim=False, correction=None, *, take_sqrt=False, name="var"):
    """Variance (std with take_sqrt) over ``dim``: sum((x - mean)^2) / max(0, N - correction),
    two passes (the mean first) in f32; float tensors only."""
    _check_float(x, name, f"{name}(): std and var only support floating point dtypes, got {x.dtype.name}"
                 if isinstance(x, View) else None)
    c = correction_of(name, unbiased, correction)
    dims = R.reduced_dims(dim, x.ndim)
    mk = R.mean(x, dims, True, dtype=D.float32)
    sq = E.launch("(a - b) * (a - b)", D.float32, [x, mk], ["f32", "f32"])
    s = R._reduce("sum", sq, dims, keepdim, D.float32, name)
    expr = "sqrt(a / b)" if take_sqrt else "a / b"
    return E.launch(expr, x.dtype, [s, _denominator(x, dims, c)], ["f32", "f32"])


def var_grad(g, out, x, dim, keepdim, unbiased, correction, take_sqrt):
    """var: g * 2 (x - mean) / (N - correction); std: that / (2 std), 0 where std == 0
    (as PyTorch)."""
    c = correction_of("var", unbiased, correction)
    dims = R.reduced_dims(dim, x.ndim)
    mk = R.mean(x, dims, True, dtype=D.float32)
    denom = _denominator(x, dims, c)
    gk = unsqueeze_dims(g, x, dims, keepdim)
    if take_sqrt:
        ok = unsqueeze_dims(out, x, dims, keepdim)
        scale = E.launch("select(a / (b * c), 0.0, b == 0.0)", D.float32, [gk, ok, denom],
                         ["f32", "f32", "f32"])
    else:
        scale = E.launch("2.0 * a / b", D.float32, [gk, denom], ["f32", "f32"])
    grad = E.launch("(a - b) * c", g.dtype, [x, mk, scale], ["f32", "f32", "f32"])
    return E.valid_rows(grad, x.count) if x.count is not None and 0 in dims else grad


# ---------------------------------------------------------------- nansum / nanmean
def nansum(x, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` treating NaN as zero (integer and bool inputs: sum)."""
    _check(x, "nansum")
    if dtype is not None and D.to_dtype(dtype) is not x.dtype:
        x = E.cast(x, D.to_dtype(dtype))
    if x.dtype.kind != "f":
        return R.sum(x, dim, keepdim)
    return R._reduce("nansum", x, dim, keepdim, x.dtype, "nansum")


def nanmean(x, dim=None, keepdim=False, dtype=None):
    """Mean of the non-NaN elements over ``dim`` (NaN where there is none); float only."""
    _check(x, "nanmean")
    if dtype is not None and D.to_dtype(dtype) is not x.dtype:
        x = E.cast(x, D.to_dtype(dtype))
    if x.dtype.kind != "f":
        raise TypeError("nanmean(): expected input to have floating point dtype but got "
                        f"{_TORCH_NAME[x.dtype]}")
    s = R._reduce("nansum", x, dim, keepdim, D.float32, "nanmean")
    n = R._reduce("count_not_nan", x, dim, keepdim, D.float32, "nanmean")
    return E.launch("a / b", x.dtype, [s, n], ["f32", "f32"])


def nansum_grad(g, x, dim, keepdim):
    gk = unsqueeze_dims(g, x, R.reduced_dims(dim, x.ndim), keepdim)
    return E.launch("select(a, 0.0, is_nan(b))", g.dtype, [gk, x], ["f32", "f32"])


def nanmean_grad(g, x, dim, keepdim):
    dims = R.reduced_dims(dim, x.ndim)
    gk = unsqueeze_dims(g, x, dims, keepdim)
    n = R._reduce("count_not_nan", x, dims, True, D.float32, "nanmean")
    return E.launch("select(a / c, 0.0, is_nan(b))", g.dtype, [gk, x, n], ["f32", "f32", "f32"])


# ---------------------------------------------------------------- logsumexp
def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) over ``dim``, stable: the max (0 where it is +-inf) is taken out
    first, as PyTorch does. Integer and bool inputs give float32; -inf over nothing."""
    _check(x, "logsumexp")
    dims = R.reduced_dims(dim, x.ndim)
    out_dtype = x.dtype if x.dtype.kind == "f" else D.float32
    if x.ndim and any(x.shape[d] == 0 for d in dims):
        shape = keep_shape(x, dims) if keepdim else tuple(s for d, s in enumerate(x.shape) if d not in dims)
        return E.fill(shape, -math.inf, out_dtype, device=x.device)
    m = R._reduce("amax", x, dims, True, None, "logsumexp")
    shift = f"select(b, 0.0, abs(b) == {_INF})"
    e = E.launch(f"exp(a - {shift})", D.float32, [x, m], ["f32", "f32"])
    s = R._reduce("sum", e, dims, True, D.float32, "logsumexp")
    res = E.launch(f"log(a) + {shift}", out_dtype, [s, m], ["f32", "f32"])
    return res if keepdim else squeeze_dims(res, dims)


def logsumexp_grad(g, out, x, dim, keepdim):
    dims = R.reduced_dims(dim, x.ndim)
    gk = unsqueeze_dims(g, x, dims, keepdim)
    ok = unsqueeze_dims(out, x, dims, keepdim)
    return E.launch("a * exp(b - c)", g.dtype, [gk, x, ok], ["f32", "f32", "f32"])


# ---------------------------------------------------------------- norm
def norm_p(p):
    if p is None or p == "fro":
        return 2.0
    if isinstance(p, str):
        raise ValueError(f"norm(): p={p!r} is not supported (vector norms only: a number, inf, -inf "
                         "or 'fro')")
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"norm(): p must be a number, got {type(p).__name__}")
    if math.isnan(p):
        raise ValueError("norm(): p must not be NaN")
    return float(p)


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (every element when None) of a float tensor: p = 2
    ('fro'), 1, inf, -inf, 0 (nonzero count), or any other float (sum |x|^p)^(1/p)."""
    _check(x, "norm")
    p = norm_p(p)
    if dtype is not None and D.to_dtype(dtype) is not x.dtype:
        x = E.cast(x, D.to_dtype(dtype))
    if x.dtype.kind != "f":
        raise TypeError("norm(): expected a floating point tensor as input, got "
                        f"{_TORCH_NAME[x.dtype]}")
    dims = R.reduced_dims(dim, x.ndim)
    if math.isinf(p) and (x.numel() == 0 if not dims else any(x.shape[d] == 0 for d in dims)):
        raise RuntimeError(f"norm(): cannot compute the {'-' if p < 0 else ''}inf norm on an empty "
                           "tensor because the operation does not have an identity")
    return R._reduce(R.norm_row(p), x, dim, keepdim, x.dtype, "norm")


def norm_grad(g, out, x, p, dim, keepdim):
    """PyTorch's rules: p = 0 none (zeros); 1: sign(x) g; 2: x g / norm; +-inf: sign(x) g
    shared evenly by the elements whose |x| is the norm; other p:
    sign(x) |x|^(p-1) g / norm^(p-1), 0 where x == 0 or norm == 0."""
    p = norm_p(p)
    dims = R.reduced_dims(dim, x.ndim)
    gk = unsqueeze_dims(g, x, dims, keepdim)
    ok = unsqueeze_dims(out, x, dims, keepdim)
    if p == 0:
        return E.fill(x.shape, 0, g.dtype, device=x.device)
    if p == 1:
        return E.launch("sign(a) * b", g.dtype, [x, gk], ["f32", "f32"], shape=x.shape)
    if p == 2:
        return E.launch("a * select(b / c, 0.0, c == 0.0)", g.dtype, [x, gk, ok], ["f32"] * 3)
    if math.isinf(p):
        mask = E.launch("select(0.0, 1.0, abs(a) == b || (is_nan(a) && is_nan(b)))", D.float32, [x, ok],
                        ["f32", "f32"])
        cnt = R._reduce("sum", mask, dims, True, D.float32, "norm")
        share = E.launch("a * b / c", D.float32, [gk, mask, cnt], ["f32"] * 3)
        return E.launch("sign(a) * b", g.dtype, [x, share], ["f32", "f32"])
    q = R.f32_literal(p - 1.0)
    return E.launch(f"select(sign(a) * pow(abs(a), {q}), 0.0, a == 0.0) * select(b / pow(c, {q}), 0.0, "
                    "c == 0.0)", g.dtype, [x, gk, ok], ["f32"] * 3)

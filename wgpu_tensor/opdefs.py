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

import inspect
import math
import operator
import textwrap

import numpy as np

from . import dtypes as D
from .ops import advanced as AD
from .ops import creation as C
from .ops import elementwise as E
from .ops import index as I
from .ops import interop as IO
from .ops import linalg as L
from .ops import reduce as R
from .ops import reduce_dim as RD
from .ops import scan as SC
from .ops import select as S
from .ops import shape as SH
from .ops import sort as SO
from .ops import unique as U
from .dtypes import DType
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

    def around(self, wrapper):
        """Run ``wrapper(forward, *args, **kwargs)`` in place of the forward (the count
        rules wrap the kernels' forwards this way); name and docstring stay."""
        inner = self.forward

        def forward(*args, **kwargs):
            return wrapper(inner, *args, **kwargs)
        forward.__name__, forward.__doc__ = inner.__name__, inner.__doc__
        forward.__wrapped__ = inner  # its signature is the inner forward's
        self.forward = forward
        return wrapper

    def __repr__(self):
        return f"<op {self.name}>"


def op(name=None, *, saves=(), inplace=False, method=True, function=True):
    """Declare ``fn`` as the forward of op ``name`` (default: its own name)."""
    def deco(fn):
        o = Op(name or fn.__name__, fn, saves, inplace, method, function)
        OPS[o.name] = o
        return o
    return deco


def document(docs):
    """Give each op in ``{name: docstring}`` that docstring: what it does, its PyTorch
    differences, and an example (a doctest; tests/test_docs.py runs them all)."""
    for name, doc in docs.items():
        OPS[name].doc = textwrap.dedent(doc).strip()


# What a parameter of a conventional name takes (a lambda cannot carry annotations):
# ``typed`` annotates a lambda forward with these, so the public signature shows them.
_PARAM_TYPES = {"x": "View", "t": "View", "mask": "View", "source": "View", "src": "View", "index": "View",
                "value": "View | float", "fill_value": "float", "dim": "int | tuple[int, ...] | None",
                "keepdim": "bool", "shape": "int | tuple[int, ...]", "dtype": "DType | str | None",
                "device": "object", "requires_grad": "bool", "seed": "int | None", "diagonal": "int",
                "min": "View | float | None", "max": "View | float | None"}


def typed(fn):
    """``fn`` with its parameters of a conventional name annotated (see _PARAM_TYPES)."""
    params = inspect.signature(fn).parameters
    fn.__annotations__ = {**{n: _PARAM_TYPES[n] for n in params if n in _PARAM_TYPES}, "return": "View",
                          **fn.__annotations__}
    return fn


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
    def forward(x: View | float, y: View | float) -> View:
        return E.binary(name, x, y)
    forward.__name__ = name
    forward.__doc__ = f"Elementwise {name} with broadcasting (tensor or Python scalar operands)."
    return op(name, saves=(0, 1) if name in ("mul", "div") else ())(forward)


for _name in E.BINARY:
    _binary_op(_name)
document({
    "gt": """x > y elementwise (tensor or Python scalar, broadcast): a bool tensor; NaN compares false.

        >>> wt.tensor([1, 5]) > 2
        tensor([False,  True])
        >>> wt.gt(wt.tensor([1., 2.]), wt.tensor([2., 1.]))
        tensor([False,  True])""",
    "ge": """x >= y elementwise (broadcast): a bool tensor; NaN compares false.

        >>> wt.tensor([1, 2, 3]) >= 2
        tensor([False,  True,  True])""",
    "lt": """x < y elementwise (broadcast): a bool tensor; NaN compares false.

        >>> wt.lt(wt.tensor([1., 3.]), 2)
        tensor([ True, False])""",
    "le": """x <= y elementwise (broadcast): a bool tensor; NaN compares false.

        >>> wt.tensor([[1], [3]]) <= wt.tensor([1, 2])
        tensor([[ True,  True],
                [False, False]])""",
    "eq": """x == y elementwise (broadcast): a bool tensor; NaN equals nothing. (``==`` on
        tensors is this op, so a Tensor is hashed by identity, as in PyTorch.)

        >>> wt.tensor([1., float("nan")]) == wt.tensor([1., float("nan")])
        tensor([ True, False])""",
    "ne": """x != y elementwise (broadcast): a bool tensor; NaN != NaN is True (IEEE).

        >>> wt.tensor([1, 2]) != 2
        tensor([ True, False])""",
    "add": """x + y elementwise (broadcast); bool promotes to the other operand's dtype, an int
        tensor plus a Python float gives float32 (no 64-bit types: PyTorch's int64 is int32).

        >>> wt.tensor([1, 2]) + 1.5
        tensor([2.5000, 3.5000])
        >>> wt.add(wt.tensor([[1], [2]]), wt.tensor([10, 20]))
        tensor([[11, 21],
                [12, 22]])""",
    "sub": """x - y elementwise (broadcast); int32 arithmetic wraps (PyTorch's int64 does not).

        >>> wt.tensor([5., 1.]) - wt.tensor([1., 2.])
        tensor([ 4., -1.])
        >>> 10 - wt.tensor([1, 2])
        tensor([9, 8])""",
    "mul": """x * y elementwise (broadcast); a bool mask promotes to the other dtype (x * mask).

        >>> x = wt.tensor([1., 2., 3.])
        >>> x * (x > 1)
        tensor([0., 2., 3.])
        >>> wt.mul(x, 2)
        tensor([2., 4., 6.])""",
    "div": """x / y elementwise (broadcast), true division: int / int gives float32.

        >>> wt.tensor([1, 3]) / 2
        tensor([0.5000, 1.5000])""",
    "logical_and": """x and y elementwise (``&`` on bool tensors); nonzero counts as true.

        >>> a, b = wt.tensor([True, True, False]), wt.tensor([True, False, False])
        >>> a & b
        tensor([ True, False, False])
        >>> wt.logical_and(wt.tensor([1., 0.]), wt.tensor([2., 2.]))
        tensor([ True, False])""",
    "logical_or": """x or y elementwise (``|`` on bool tensors); nonzero counts as true.

        >>> wt.tensor([True, False, False]) | wt.tensor([False, False, True])
        tensor([ True, False,  True])""",
    "logical_xor": """x xor y elementwise (``^`` on bool tensors); nonzero counts as true.

        >>> wt.logical_xor(wt.tensor([True, True]), wt.tensor([True, False]))
        tensor([False,  True])""",
    "pow": """x ** y elementwise (broadcast; an int base with an int exponent stays int32).

        >>> wt.tensor([2, 3]) ** 2
        tensor([4, 9])
        >>> wt.tensor([4., 9.]).pow(0.5)
        tensor([2., 3.])""",
    "remainder": """x % y with the sign of y (Python's and torch.remainder's rule).

        >>> wt.tensor([-4, 5]) % 3
        tensor([2, 2])""",
    "fmod": """The C-style remainder of x / y, with the sign of x (torch.fmod).

        >>> wt.fmod(wt.tensor([-4, 5]), 3)
        tensor([-1,  2])""",
    "floor_divide": """x // y rounded toward -inf (torch.floor_divide, Python's ``//``).

        >>> wt.tensor([-7, 7]) // 2
        tensor([-4,  3])""",
    "maximum": """The larger of x and y elementwise (broadcast); NaN if either is NaN.

        >>> wt.maximum(wt.tensor([1., 5.]), wt.tensor([3., 2.]))
        tensor([3., 5.])""",
    "minimum": """The smaller of x and y elementwise (broadcast); NaN if either is NaN.

        >>> wt.tensor([1., 5.]).minimum(wt.tensor([3., 2.]))
        tensor([1., 2.])""",
    "bitwise_and": """x & y bitwise for integer tensors (logical for bool); floats are a TypeError.

        >>> wt.tensor([12, 10]) & 6
        tensor([4, 2])""",
    "bitwise_or": """x | y bitwise for integer tensors (logical for bool).

        >>> wt.bitwise_or(wt.tensor([12, 10]), 6)
        tensor([14, 14])""",
    "bitwise_xor": """x ^ y bitwise for integer tensors (logical for bool).

        >>> wt.tensor([12, 10]) ^ 6
        tensor([10, 12])""",
    "bitwise_left_shift": """x << y for integer tensors (torch.bitwise_left_shift).

        >>> wt.tensor([1, 3]) << 2
        tensor([ 4, 12])""",
    "bitwise_right_shift": """x >> y for integer tensors, arithmetic for int32 (the sign is kept).

        >>> wt.tensor([16, -16]) >> 2
        tensor([ 4, -4])""",
})


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
def neg(x: View) -> View:
    """-x.

    >>> -wt.tensor([1., -2.])
    tensor([-1.,  2.])
    >>> wt.neg(wt.tensor([3, 0]))
    tensor([-3,  0])
    """
    return E.neg(x)


@neg.grad
def _neg_grad(g, out, want, x):
    return (E.neg(g),)


@op("abs", saves=(0,))
def abs_(x: View) -> View:
    """|x|.

    >>> wt.tensor([-1.5, 2.]).abs()
    tensor([1.5000, 2.0000])
    >>> abs(wt.tensor([-3, 3]))
    tensor([3, 3])
    """
    return E.abs_(x)


@abs_.grad
def _abs_grad(g, out, want, x):
    sign = E.binary("sub", E.cast(E.binary("gt", x, 0), g.dtype), E.cast(E.binary("lt", x, 0), g.dtype))
    return (_mul(g, sign),)


@op("reciprocal")
def reciprocal(x: View) -> View:
    """1 / x, elementwise; integer and bool inputs give float32 (as torch.reciprocal).

    >>> wt.tensor([2, 4]).reciprocal()
    tensor([0.5000, 0.2500])
    """
    return E.reciprocal(x)


@reciprocal.grad
def _reciprocal_grad(g, out, want, x):
    return (E.neg(_mul(g, _mul(out, out))),)  # d(1/x) = -1/x^2 = -out^2


@op()
def logical_not(x: View) -> View:
    """~x for a bool tensor.

    >>> ~wt.tensor([True, False])
    tensor([False,  True])
    >>> wt.logical_not(wt.tensor([0., 2.]))
    tensor([ True, False])
    """
    return E.logical_not(x)


@op("to", method=False, function=False)
def cast(x, dtype):
    """A copy of x as ``dtype`` (float -> int truncates toward zero; x -> bool is x != 0)."""
    return E.cast(x, D.to_dtype(dtype))


@cast.grad
def _cast_grad(g, out, want, x, dtype):
    return (g,)


class _NoArg:
    def __repr__(self):
        return "<not given>"


_NO_ARG = _NoArg()


@op(saves=(0,), method=False)
def where(condition: View, x: View | float = _NO_ARG, y: View | float = _NO_ARG) -> View | tuple[View, ...]:
    """x where condition is true, else y (tensors or scalars, broadcast). With the
    condition alone: ``nonzero(condition, as_tuple=True)`` (one explicit read, as PyTorch).

    >>> x = wt.tensor([1., -2., 3.])
    >>> wt.where(x > 0, x, 0.)
    tensor([1., 0., 3.])
    >>> x.where(x < 0, -1.)
    tensor([-1., -2., -1.])
    >>> wt.where(x > 0)
    (tensor([0, 2]),)
    """
    if x is _NO_ARG and y is _NO_ARG:
        return OPS["nonzero"].forward(condition, as_tuple=True)
    if x is _NO_ARG or y is _NO_ARG:
        raise TypeError("where() takes the condition alone, or the condition, x and y")
    return E.where(condition, x, y)


@where.grad
def _where_grad(g, out, want, condition, x, y):
    return (None, E.where(condition, g, 0.0) if want[1] else None,
            E.where(condition, 0.0, g) if want[2] else None)


# ---------------------------------------------------------------- elementwise math (exp, log, pow, clamp, isnan, bitwise, ...)
def _unary_op(name, grad=None, doc=""):
    """Declare UNARY op ``name``; ``grad``: its gradient as one elementwise
    expression over a = g, b = x, c = the result (None: not differentiable)."""
    def forward(x: View) -> View:
        return E.unary(name, x)
    forward.__name__ = name
    forward.__doc__ = doc
    o = op(name, saves=(0,))(forward)
    if grad == "zero":
        o.grad(lambda g, out, want, x: (zeros(x.shape, g.dtype, g.device),))
    elif grad is not None:
        o.grad(lambda g, out, want, x: (E.grad_expr(grad, g.dtype, [g, x, out]),))
    return o


_F = " (integer and bool inputs give float32)"
exp = _unary_op("exp", "a * c", "e^x" + _F + ".")
log = _unary_op("log", "a / b", "Natural log; log(0) = -inf, log(x < 0) = nan" + _F + ".")
log1p = _unary_op("log1p", "a / (1.0 + b)", "log(1 + x), accurate near 0" + _F + ".")
expm1 = _unary_op("expm1", "a * (c + 1.0)", "e^x - 1, accurate near 0" + _F + ".")
sqrt = _unary_op("sqrt", "a / (2.0 * c)", "Square root; nan below 0" + _F + ".")
rsqrt = _unary_op("rsqrt", "-0.5 * a * c * c * c", "1 / sqrt(x)" + _F + ".")
sin = _unary_op("sin", "a * cos(b)", "Sine" + _F + ".")
cos = _unary_op("cos", "-a * sin(b)", "Cosine" + _F + ".")
tanh = _unary_op("tanh", "a * (1.0 - c * c)", "Hyperbolic tangent" + _F + ".")
sigmoid = _unary_op("sigmoid", "a * c * (1.0 - c)", "1 / (1 + e^-x)" + _F + ".")
silu = _unary_op("silu", "a * m_sigmoid(b) * (1.0 + b * (1.0 - m_sigmoid(b)))", "x * sigmoid(x)" + _F + ".")
relu = _unary_op("relu", "select(a, 0.0, c <= 0.0)", "max(x, 0); keeps the dtype (NaN stays NaN).")
floor = _unary_op("floor", "zero", "Largest integer <= x; integer tensors are copied.")
ceil = _unary_op("ceil", "zero", "Smallest integer >= x; integer tensors are copied.")
trunc = _unary_op("trunc", "zero", "x rounded toward zero; integer tensors are copied.")
sign = _unary_op("sign", "zero", "-1, 0 or 1 (PyTorch: sign(nan) = 0, sign(-0.0) = 0.0); keeps the dtype.")
square = _unary_op("square", "2.0 * b * a", "x * x; keeps the dtype (bool gives int32).")
bitwise_not = _unary_op("bitwise_not", None, "~x: bitwise for integer tensors, logical for bool.")
isnan = _unary_op("isnan", None, "Bool tensor: x is NaN.")
isinf = _unary_op("isinf", None, "Bool tensor: x is +inf or -inf.")
isfinite = _unary_op("isfinite", None, "Bool tensor: x is neither NaN nor infinite.")
_UNARY_EXAMPLES = {
    "exp": (">>> wt.tensor([0., 1.]).exp()", "tensor([1.0000, 2.7183])"),
    "log": (">>> wt.log(wt.tensor([1., 0.]))", "tensor([0., -inf])"),
    "log1p": (">>> wt.tensor([0., 1.7182817]).log1p()", "tensor([0., 1.])"),
    "expm1": (">>> wt.tensor([0., 1.]).expm1()", "tensor([0.0000, 1.7183])"),
    "sqrt": (">>> wt.sqrt(wt.tensor([4, 9]))", "tensor([2., 3.])"),
    "rsqrt": (">>> wt.tensor([4., 16.]).rsqrt()", "tensor([0.5000, 0.2500])"),
    "sin": (">>> wt.tensor([0., 1.]).sin()", "tensor([0.0000, 0.8415])"),
    "cos": (">>> wt.cos(wt.tensor([0., 1.]))", "tensor([1.0000, 0.5403])"),
    "tanh": (">>> wt.tensor([0., 1.]).tanh()", "tensor([0.0000, 0.7616])"),
    "sigmoid": (">>> wt.sigmoid(wt.tensor([0., 1.]))", "tensor([0.5000, 0.7311])"),
    "silu": (">>> wt.tensor([0., 1.]).silu()", "tensor([0.0000, 0.7311])"),
    "relu": (">>> wt.tensor([-1., 2.]).relu()", "tensor([0., 2.])"),
    "floor": (">>> wt.tensor([-1.5, 1.5]).floor()", "tensor([-2.,  1.])"),
    "ceil": (">>> wt.ceil(wt.tensor([-1.5, 1.5]))", "tensor([-1.,  2.])"),
    "trunc": (">>> wt.tensor([-1.5, 1.5]).trunc()", "tensor([-1.,  1.])"),
    "sign": (">>> wt.tensor([-2., 0., 3.]).sign()", "tensor([-1.,  0.,  1.])"),
    "square": (">>> wt.square(wt.tensor([2, -3]))", "tensor([4, 9])"),
    "bitwise_not": (">>> ~wt.tensor([0, 5])", "tensor([-1, -6])"),
    "isnan": (">>> wt.tensor([1., float('nan')]).isnan()", "tensor([False,  True])"),
    "isinf": (">>> wt.isinf(wt.tensor([1., float('-inf')]))", "tensor([False,  True])"),
    "isfinite": (">>> wt.tensor([1., float('inf'), float('nan')]).isfinite()",
                 "tensor([ True, False, False])"),
}
document({n: f"{OPS[n].doc}\n\n{ex}\n{out}" for n, (ex, out) in _UNARY_EXAMPLES.items()})


@op("round", saves=(0,))
def round_(x: View, *, decimals: int = 0) -> View:
    """x rounded to the nearest integer, halves to even (as torch.round); with
    ``decimals``, round(x * 10^d) / 10^d as PyTorch computes it. Integers are copied.

    >>> wt.tensor([0.5, 1.5, -2.7]).round()
    tensor([ 0.,  2., -3.])
    >>> wt.round(wt.tensor([1.234, 5.678]), decimals=1)
    tensor([1.2000, 5.7000])
    """
    decimals = operator.index(decimals)
    if decimals == 0 or x.dtype.kind != "f":
        if decimals and x.dtype.kind != "f":
            raise TypeError(f"round(decimals={decimals}) needs a float tensor, got {x.dtype.name}")
        return E.unary("round", x)
    scale = float(10.0 ** abs(decimals))
    return E.grad_expr("round(a / b) * b" if decimals < 0 else "round(a * b) / b", x.dtype, [x, scale])


@round_.grad
def _round_grad(g, out, want, x, **kwargs):
    return (zeros(x.shape, g.dtype, g.device),)


@op(saves=(0,))
def gelu(x: View, approximate: str = "none") -> View:
    """x * Phi(x) (``approximate='none'``, with erf) or its tanh form (``'tanh'``);
    integer and bool inputs give float32.

    >>> wt.gelu(wt.tensor([-1., 0., 1.]))
    tensor([-0.1587,  0.0000,  0.8413])
    >>> wt.tensor([1.]).gelu(approximate="tanh")
    tensor([0.8412])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return E.unary("gelu" if approximate == "none" else "gelu_tanh", x)


@gelu.grad
def _gelu_grad(g, out, want, x, approximate="none"):
    fn = "m_gelu_grad" if approximate == "none" else "m_gelu_tanh_grad"
    return (E.grad_expr(f"a * {fn}(b)", g.dtype, [g, x]),)


@OPS["pow"].grad
def _pow_grad(g, out, want, x, y):
    gx = E.grad_expr("select(a * c * m_pow(b, c - 1.0), 0.0, c == 0.0)", g.dtype, [g, x, y]) \
        if want[0] else None
    gy = E.grad_expr("select(a * m_pow(b, c) * m_log(b), 0.0, b == 0.0 && c >= 0.0)", g.dtype,
                     [g, x, y]) if want[1] else None
    return gx, gy


@OPS["remainder"].grad
def _remainder_grad(g, out, want, x, y):
    return g, (E.grad_expr("-a * m_floordiv_f32(b, c)", g.dtype, [g, x, y]) if want[1] else None)


@OPS["fmod"].grad
def _fmod_grad(g, out, want, x, y):
    return g, (E.grad_expr("-a * trunc(b / c)", g.dtype, [g, x, y]) if want[1] else None)


def _minmax_grad(big):
    # PyTorch: the gradient goes to the chosen operand, halved between equal ones.
    ex, ey = ("b < c", "b > c") if big else ("b > c", "b < c")

    def rule(g, out, want, x, y):
        return (E.grad_expr(f"select(select(a, 0.5 * a, b == c), 0.0, {ex})", g.dtype, [g, x, y])
                if want[0] else None,
                E.grad_expr(f"select(select(a, 0.5 * a, b == c), 0.0, {ey})", g.dtype, [g, x, y])
                if want[1] else None)
    return rule


OPS["maximum"].grad(_minmax_grad(True))
OPS["minimum"].grad(_minmax_grad(False))
for _name in ("pow", "remainder", "fmod", "maximum", "minimum"):
    OPS[_name].saves = (0, 1)


@op(saves=(0, 1, 2))
def clamp(x: View, min: View | float | None = None, max: View | float | None = None) -> View:
    """x limited to [min, max] (scalars or tensors, either optional); NaN propagates;
    the result dtype is PyTorch's result type of x and the bounds.

    >>> x = wt.tensor([-2., 0.5, 3.])
    >>> x.clamp(0., 1.)
    tensor([0.0000, 0.5000, 1.0000])
    >>> wt.clamp(x, min=wt.tensor([0., 1., 0.]))
    tensor([0., 1., 3.])
    """
    return E.clamp(x, min, max)


@clamp.grad
def _clamp_grad(g, out, want, x, min=None, max=None):
    lo, hi = min, max
    ge = E.binary("ge", x, lo) if lo is not None else None
    le = E.binary("le", x, hi) if hi is not None else None
    inside = ge if le is None else le if ge is None else E.binary("logical_and", ge, le)
    gx = E.where(inside, g, 0.0) if want[0] else None
    glo = ghi = None
    if len(want) > 1 and want[1]:
        m = E.binary("lt", x, lo)
        if hi is not None:
            m = E.binary("logical_and", m, E.binary("lt", lo, hi))
        glo = E.where(m, g, 0.0)
    if len(want) > 2 and want[2]:
        m = E.binary("gt", x, hi)
        if lo is not None:
            m = E.binary("logical_or", m, E.binary("lt", hi, lo))
        ghi = E.where(m, g, 0.0)
    return gx, glo, ghi


clip = op("clip", saves=(0, 1, 2))(typed(lambda x, min=None, max=None: E.clamp(x, min, max)))
clip.doc = OPS["clamp"].doc.replace("x limited", "clip: alias of clamp; x limited", 1)
clip.grad(_clamp_grad)


@op(saves=(0,))
def nan_to_num(x: View, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> View:
    """NaN, +inf and -inf replaced (defaults: 0, the dtype's largest and lowest finite).

    >>> x = wt.tensor([float("nan"), float("inf"), -1.])
    >>> x.nan_to_num(posinf=9.).tolist()
    [0.0, 9.0, -1.0]
    """
    return E.nan_to_num(x, nan, posinf, neginf)


@nan_to_num.grad
def _nan_to_num_grad(g, out, want, x, *args, **kwargs):
    return (E.grad_expr("a * select(0.0, 1.0, m_is_finite(b))", g.dtype, [g, x]),)


@op(saves=(0, 1, 2))
def lerp(start: View, end: View, weight: View | float) -> View:
    """start + weight * (end - start) (weight a tensor or a number), float tensors.

    >>> wt.lerp(wt.tensor([0., 10.]), wt.tensor([10., 20.]), 0.5)
    tensor([ 5., 15.])
    """
    return E.lerp(start, end, weight)


@lerp.grad
def _lerp_grad(g, out, want, start, end, weight):
    return (E.grad_expr("a * (1.0 - b)", g.dtype, [g, weight]) if want[0] else None,
            E.grad_expr("a * b", g.dtype, [g, weight]) if want[1] else None,
            E.grad_expr("a * (c - b)", g.dtype, [g, start, end]) if len(want) > 2 and want[2] else None)


@op(saves=(1, 2))
def addcmul(x: View, tensor1: View, tensor2: View, *, value: float = 1) -> View:
    """x + value * tensor1 * tensor2, broadcast.

    >>> x = wt.tensor([1., 1.])
    >>> x.addcmul(wt.tensor([2., 3.]), wt.tensor([4., 5.]), value=0.5)
    tensor([5.0000, 8.5000])
    """
    return E.addcmul(x, tensor1, tensor2, value)


@addcmul.grad
def _addcmul_grad(g, out, want, x, t1, t2, *, value=1):
    return (g,
            E.grad_expr("a * b * c", g.dtype, [g, t2, value]) if want[1] else None,
            E.grad_expr("a * b * c", g.dtype, [g, t1, value]) if want[2] else None)



# ---------------------------------------------------------------- counts through views
# A counted tensor's count (masked_select, nonzero) belongs to its leading dim. A view
# that keeps that dim leading keeps the count; one that merges it with the dims after
# it scales the count; one that would move it raises (its count would silently stop
# meaning anything): .uncounted() first makes all rows data.
def _moves_count(x, what):
    return ValueError(f"{what} would move the counted leading dim of a counted tensor of shape {x.shape}; "
                      "call .uncounted() first to treat all its rows as data")


def _reshape_count(x, out, what="reshape"):
    _bounds(x, out)
    if x.count is None:
        return out
    if out.ndim and out.shape[0] == x.shape[0]:
        out.count = x.count
        return out
    if out.ndim and x.ndim and x.shape[0]:
        for k in range(2, x.ndim + 1):  # the new leading dim = dims 0..k-1 merged
            if math.prod(x.shape[:k]) == out.shape[0]:
                out.count = E.merged_count(x, k)
                return out
    raise _moves_count(x, f"{what} to {out.shape}")


def _bounds(x, out, column=None):
    """A view of nonzero's coordinates keeps what is known of their range: a column's
    bound when it picks one column, else the largest."""
    if x.bounds is not None:
        out.bounds = (x.bounds[column],) if column is not None else (max(x.bounds),)
    return out


def _index_count(x, key, out):
    """The count (and bounds) of ``x[key]`` (basic indexing) for a counted x."""
    if x.bounds is not None:
        keys = key if isinstance(key, tuple) else (key,)
        col = keys[1] if (len(keys) == 2 and x.ndim == 2 and keys[0] == slice(None)
                          and isinstance(keys[1], int)) else None
        _bounds(x, out, None if col is None else col % x.shape[1])
    if x.count is None:
        return out
    keys = key if isinstance(key, tuple) else (key,)
    consumed = sum(1 for k in keys if k is not None and k is not Ellipsis)
    for k in keys:
        if k is None:
            raise _moves_count(x, "a new dim (None) before the leading dim")
        if k is not Ellipsis:
            break
        if x.ndim > consumed:  # the ellipsis covers the leading dim
            out.count = x.count
            return out
    else:
        out.count = x.count
        return out
    if isinstance(k, slice):
        start, stop = k.start or 0, k.stop
        if k.step not in (None, 1) or start < 0 or (stop is not None and stop < 0):
            raise ValueError("a counted tensor's leading dim takes slices with non-negative bounds and "
                             f"step 1 (got {k}): its valid rows are only known on the GPU; call "
                             ".uncounted() first to slice all its rows")
        if start == 0 and (stop is None or stop >= x.shape[0]):
            out.count = x.count
        else:
            out.count = E.launch("clamp(a - b, 0, c)", D.int32, [x.count, E.Scalar(start), E.Scalar(out.shape[0])],
                                 ["i32", "i32", "i32"])
        return out
    if operator.index(k) < 0:
        raise IndexError(f"index {k} of a counted tensor: negative indices count from the capacity "
                         f"({x.shape[0]}), not from the valid rows; call .uncounted() first")
    return out  # one row: data, no count (past the count its values are unspecified)


# ---------------------------------------------------------------- views and copies
def _reshape_grad(g, out, want, x, *args):
    return (E.reshape(g, x.shape),)


def _view_op(name, fn, doc, method=True, function=True):
    fn.__doc__ = doc
    o = op(name, method=method, function=function)(fn)
    o.grad(_reshape_grad)
    return o


def _reshape(x: View, shape: tuple[int, ...]) -> View:
    return _reshape_count(x, E.reshape(x, shape))


def _view(x: View, shape: tuple[int, ...]) -> View:
    shape = x.infer_shape(tuple(shape))
    if not x.is_contiguous():
        raise RuntimeError("view size is not compatible with input tensor's size and stride; "
                           "use .reshape(...) instead")
    return _reshape_count(x, x.reshaped(shape), "view")


def _flatten(x: View, start_dim: int = 0, end_dim: int = -1) -> View:
    if x.ndim == 0:
        return E.reshape(x, (1,))
    s, e = norm_dim(start_dim, x.ndim), norm_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return _reshape_count(x, E.reshape(x, x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]),
                          "flatten")


def _unsqueeze(x: View, dim: int) -> View:
    out = _bounds(x, x.unsqueeze(dim))
    if x.count is not None:
        if norm_dim(dim, x.ndim, 1) == 0:
            raise _moves_count(x, "unsqueeze(0)")
        out.count = x.count
    return out


def _squeeze(x: View, dim: int | tuple[int, ...] | None = None) -> View:
    out = _bounds(x, x.squeeze(dim))
    if x.count is not None and x.ndim:
        dims = range(x.ndim) if dim is None else [norm_dim(d, x.ndim) for d in
                                                  (dim if isinstance(dim, (tuple, list)) else (dim,))]
        if not (x.shape[0] == 1 and 0 in dims):  # the leading dim stays (a squeezed one is data)
            out.count = x.count
    return out


@op(method=True, function=False)
def uncounted(x: View) -> View:
    """The same data without its count: all rows of a fixed-size result count as data
    (the raw capacity-sized buffer, as the seed page's fixed-size semantics describe).

    >>> x = wt.tensor([5, 1, 7])
    >>> sel = x.masked_select(x > 2, fill_value=0)
    >>> sel
    tensor([5, 7], count=2 of 3)
    >>> sel.uncounted()
    tensor([5, 7, 0])
    """
    return x.derive(x.shape, x._strides, x._offset)


@uncounted.grad
def _uncounted_grad(g, out, want, x):
    return (g,)


def _clone(x: View) -> View:
    return E.copy(x)


reshape = _view_op("reshape", _reshape, "x under a new shape (one -1 inferred): a view when x is contiguous, "
                                        "else a copy.", method=False)
view = _view_op("view", _view, "x under a new shape, sharing its storage (x must be contiguous).",
                method=False, function=False)
flatten = _view_op("flatten", _flatten, "Dims start_dim..end_dim merged into one.")
unsqueeze = _view_op("unsqueeze", _unsqueeze, "A view with a new dim of size 1 at ``dim``.")
squeeze = _view_op("squeeze", _squeeze, "A view without the dims of size 1 (or only ``dim``'s).")
clone = _view_op("clone", _clone, "A new contiguous copy.")
document({
    "reshape": """x under a new shape (one -1 inferred): a view when x is contiguous, else a copy.

        >>> x = wt.arange(6)
        >>> x.reshape(2, 3)
        tensor([[0, 1, 2],
                [3, 4, 5]])
        >>> wt.reshape(x, (-1, 2)).shape
        (3, 2)""",
    "view": """x under a new shape, sharing its storage (x must be contiguous; one -1 inferred).

        >>> x = wt.arange(6)
        >>> v = x.view(3, 2)
        >>> v[0] = 9            # writes through to x
        >>> x
        tensor([9, 9, 2, 3, 4, 5])""",
    "flatten": """Dims start_dim..end_dim merged into one (a view when x is contiguous).

        >>> x = wt.zeros(2, 3, 4)
        >>> x.flatten().shape
        (24,)
        >>> wt.flatten(x, start_dim=1).shape
        (2, 12)""",
    "unsqueeze": """A view with a new dim of size 1 at ``dim``.

        >>> x = wt.tensor([1, 2])
        >>> x.unsqueeze(0)
        tensor([[1, 2]])
        >>> wt.unsqueeze(x, -1).shape
        (2, 1)""",
    "squeeze": """A view without the dims of size 1 (or only ``dim``'s, an int or a tuple).

        >>> x = wt.zeros(1, 2, 1)
        >>> x.squeeze().shape
        (2,)
        >>> wt.squeeze(x, 0).shape
        (2, 1)""",
    "clone": """A new contiguous copy (differentiable, as torch.clone).

        >>> x = wt.tensor([1, 2])
        >>> y = x.clone()
        >>> y[0] = 5
        >>> x, y
        (tensor([1, 2]), tensor([5, 2]))""",
})


@op(method=False, function=False)
def expand(x: View, *sizes: int) -> View:
    """A view broadcast to ``sizes`` (-1 keeps a dim), without copying.

    >>> x = wt.tensor([[1], [2]])
    >>> x.expand(2, 3)
    tensor([[1, 1, 1],
            [2, 2, 2]])
    >>> x.expand(-1, 2).shape
    (2, 2)
    """
    out = x.expand(_as_sizes(sizes))
    if x.count is not None:
        if out.ndim != x.ndim or out.shape[0] != x.shape[0]:
            raise _moves_count(x, f"expand to {out.shape}")
        out.count = x.count
    return out


@expand.grad
def _expand_grad(g, out, want, x, *sizes):
    return (g,)  # the tape sums it back to x's shape


def _as_sizes(sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return tuple(operator.index(s) for s in sizes)


# ---------------------------------------------------------------- shape (cat, stack, split, transpose, permute, flip, roll, diagonal, ...)
# Views (transpose, permute, movedim, t, unflatten, diagonal, the narrow behind
# narrow/split/chunk) share x's storage; cat, stack, flip, roll and repeat_interleave
# copy (wgpu_tensor.ops.shape). All are linear: each gradient is the adjoint move of g.
# cat and stack take their tensors as positional arguments, so that the tape sees each
# one (wt.cat(list) unpacks it: wgpu_tensor.tensor); split and chunk are several narrows.
def _dims_arg(dims, what):
    """``f(x, 1, 0)``, ``f(x, (1, 0))`` or ``f(x, [1, 0])`` -> (1, 0); ints only."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    for d in dims:
        if isinstance(d, bool) or not hasattr(d, "__index__") or isinstance(d, View):
            raise TypeError(f"{what}(): dims must be ints, got {d!r}")
    return tuple(operator.index(d) for d in dims)


def _zeros_with(x, g, where):
    """A zero tensor of x's shape with ``g`` written into ``where(zeros)`` (a view)."""
    z = zeros(x.shape, g.dtype, g.device)
    if g.numel():
        I.assign_(where(z), g)
    return z


@op(method=False, function=False)
def cat(*tensors, dim=0):
    """torch.cat of the tensors (given one by one here; wt.cat takes a list): joined
    along ``dim``, promoted to one dtype; a 1-d empty tensor is skipped."""
    return SH.cat(tensors, dim)


@cat.grad
def _cat_grad(g, out, want, *tensors, dim=0):
    d = norm_dim(dim, g.ndim)
    res, s = [], 0
    for t, w in zip(tensors, want):
        if t.shape == (0,) and g.shape != (0,):
            res.append(None)  # skipped by the forward pass
            continue
        n = t.shape[d]
        res.append(g.narrow(d, s, n) if w else None)
        s += n
    return res


@op(method=False, function=False)
def stack(*tensors, dim=0):
    """torch.stack of the tensors (given one by one here; wt.stack takes a list): all of
    one shape, joined along a new dim ``dim``."""
    if not tensors:
        raise RuntimeError("stack(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, View):
            raise TypeError(f"stack(): tensors[{i}] must be a wgpu_tensor.Tensor, got {type(t).__name__}")
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                               f"at entry 0 and {list(t.shape)} at entry {i}")
    d = norm_dim(dim, tensors[0].ndim, 1)
    return SH.cat([t.unsqueeze(d) for t in tensors], d)


@stack.grad
def _stack_grad(g, out, want, *tensors, dim=0):
    d = norm_dim(dim, g.ndim)
    return [g.narrow(d, i, 1).squeeze(d) if w else None for i, w in enumerate(want)]


@op("slice", method=False, function=False)
def narrow_(x, dim, start, length):
    """torch.narrow: ``length`` entries of ``dim`` from ``start``, a view (the op behind
    Tensor.narrow, split and chunk)."""
    if not isinstance(x, View):
        raise TypeError(f"narrow(): input must be a wgpu_tensor.Tensor, got {type(x).__name__}")
    return x.narrow(operator.index(dim), operator.index(start), operator.index(length))


@narrow_.grad
def _narrow_grad(g, out, want, x, dim, start, length):
    return (_zeros_with(x, g, lambda z: z.narrow(dim, start, length)),)


def _transpose(x: View, dim0: int, dim1: int) -> View:
    return x.transpose(operator.index(dim0), operator.index(dim1))


def _transpose_grad(g, out, want, x, dim0, dim1):
    return (g.transpose(dim0, dim1),) if x.ndim >= 2 else (E.reshape(g, x.shape),)


def _swapaxes(x: View, axis0: int, axis1: int) -> View:
    return x.transpose(operator.index(axis0), operator.index(axis1))


for _name, _fn in (("transpose", _transpose), ("swapdims", _transpose), ("swapaxes", _swapaxes)):
    op(_name)(_fn).grad(_transpose_grad)
document({n: f"""A view with dims {a}0 and {a}1 swapped (transpose, swapdims and swapaxes are aliases).

    >>> x = wt.zeros(2, 3, 4)
    >>> x.{n}(0, 2).shape
    (4, 3, 2)
    >>> wt.{n}(wt.tensor([[1, 2]]), 0, 1)
    tensor([[1],
            [2]])""" for n, a in (("transpose", "dim"), ("swapdims", "dim"), ("swapaxes", "axis"))})


@op()
def t(x: View) -> View:
    """The transpose of a matrix, a view; 0-d and 1-d tensors come back as they are.

    >>> wt.tensor([[1, 2, 3]]).t()
    tensor([[1],
            [2],
            [3]])
    """
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x.transpose(0, -1) if x.ndim == 2 else x.derive(x.shape, x._strides, x._offset)


@t.grad
def _t_grad(g, out, want, x):
    return (g.transpose(0, -1) if x.ndim == 2 else g,)


@op()
def permute(x: View, *dims: int, **kwargs) -> View:
    """A view with dim i taken from dims[i] (x.permute(2, 0, 1) or wt.permute(x, dims=(2, 0, 1))).

    >>> x = wt.zeros(2, 3, 4)
    >>> x.permute(2, 0, 1).shape
    (4, 2, 3)
    >>> wt.permute(x, dims=(1, 0, 2)).shape
    (3, 2, 4)
    """
    return x.permute(_dims_arg(_dims_kw(dims, kwargs, "permute"), "permute"))


def _dims_kw(dims, kwargs, what):
    """The dims given positionally or as ``dims=`` (not both)."""
    if kwargs:
        if set(kwargs) != {"dims"} or dims:
            raise TypeError(f"{what}() takes its dims positionally or as dims=, got "
                            f"{list(kwargs)} and {len(dims)} positional")
        return (kwargs["dims"],)
    return dims


@permute.grad
def _permute_grad(g, out, want, x, *dims, **kwargs):
    nd = [norm_dim(d, x.ndim) for d in _dims_arg(_dims_kw(dims, kwargs, "permute"), "permute")]
    inv = [0] * len(nd)
    for i, d in enumerate(nd):
        inv[d] = i
    return (g.permute(inv),)


def _movedim_perm(ndim, source, destination):
    src = (source,) if not isinstance(source, (tuple, list)) else tuple(source)
    dst = (destination,) if not isinstance(destination, (tuple, list)) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                           f"contain the same number of dims as destination ({list(dst)} dims)")
    src = [norm_dim(operator.index(d), ndim) for d in src]
    dst = [norm_dim(operator.index(d), ndim) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(src)})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(dst)})")
    perm = [-1] * ndim
    for s_, d_ in zip(src, dst):
        perm[d_] = s_
    rest = iter(d for d in range(ndim) if d not in src)
    return [p if p >= 0 else next(rest) for p in perm]


def _movedim(x: View, source: int | tuple[int, ...], destination: int | tuple[int, ...]) -> View:
    return x.permute(_movedim_perm(x.ndim, source, destination))


def _movedim_grad(g, out, want, x, source, destination):
    perm = _movedim_perm(x.ndim, source, destination)
    inv = [0] * len(perm)
    for i, d in enumerate(perm):
        inv[d] = i
    return (g.permute(inv),)


for _name in ("movedim", "moveaxis"):
    op(_name)(_movedim).grad(_movedim_grad)
document({n: f"""A view with the dims at ``source`` moved to ``destination`` (moveaxis: an alias).

    >>> x = wt.zeros(2, 3, 4)
    >>> x.{n}(0, -1).shape
    (3, 4, 2)
    >>> wt.{n}(x, (0, 1), (2, 0)).shape
    (3, 4, 2)""" for n in ("movedim", "moveaxis")})


@op()
def unflatten(x: View, dim: int, sizes: tuple[int, ...]) -> View:
    """A view with dim ``dim`` split into ``sizes`` (one -1 inferred).

    >>> wt.arange(6).unflatten(0, (2, -1))
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    return x.unflatten(operator.index(dim), as_shape((sizes,) if isinstance(sizes, int) else sizes))


unflatten.grad(_reshape_grad)


@op()
def diagonal(x: View, offset: int = 0, dim1: int = 0, dim2: int = 1) -> View:
    """The diagonal of dims dim1 and dim2 (``offset`` above the main one when positive)
    as the last dim, a view.

    >>> x = wt.arange(9).reshape(3, 3)
    >>> x.diagonal()
    tensor([0, 4, 8])
    >>> wt.diagonal(x, offset=1)
    tensor([1, 5])
    """
    return x.diagonal(operator.index(offset), operator.index(dim1), operator.index(dim2))


@diagonal.grad
def _diagonal_grad(g, out, want, x, offset=0, dim1=0, dim2=1):
    return (_zeros_with(x, g, lambda z: z.diagonal(offset, dim1, dim2)),)


@op()
def flip(x: View, *dims: int, **kwargs) -> View:
    """A copy of x with the order of ``dims`` reversed (x.flip(0, 1) or wt.flip(x, dims=(0, 1))).

    >>> x = wt.tensor([[1, 2], [3, 4]])
    >>> x.flip(0)
    tensor([[3, 4],
            [1, 2]])
    >>> wt.flip(x, dims=(0, 1))
    tensor([[4, 3],
            [2, 1]])
    """
    return SH.flip(x, _dims_arg(_dims_kw(dims, kwargs, "flip"), "flip"))


@flip.grad
def _flip_grad(g, out, want, x, *dims, **kwargs):
    return (SH.flip(g, _dims_arg(_dims_kw(dims, kwargs, "flip"), "flip")),)


@op()
def roll(x: View, shifts: int | tuple[int, ...], dims: int | tuple[int, ...] | None = None) -> View:
    """A copy of x with elements shifted by ``shifts`` along ``dims``, wrapping around;
    dims=None: over the flattened tensor, shape kept.

    >>> wt.tensor([1, 2, 3, 4]).roll(1)
    tensor([4, 1, 2, 3])
    >>> wt.roll(wt.tensor([[1, 2], [3, 4]]), shifts=-1, dims=1)
    tensor([[2, 1],
            [4, 3]])
    """
    return SH.roll(x, shifts, dims)


@roll.grad
def _roll_grad(g, out, want, x, shifts, dims=None):
    neg = [-s for s in shifts] if isinstance(shifts, (tuple, list)) else -shifts
    return (SH.roll(g, neg, dims),)


@op(saves=(1,))
def repeat_interleave(x: View, repeats: View | int | None = None, dim: int | None = None, *,
                      output_size: int | None = None) -> View:
    """Each element (dim=None: of the flattened x) or each slice along ``dim`` repeated
    ``repeats`` times in a row: an int, or an int32/uint32 tensor of one count per slice.
    With a tensor, the output size comes from the data: give ``output_size`` (the sum of
    repeats) to avoid the read of it (as PyTorch). repeat_interleave(repeats) alone
    repeats arange(len(repeats)).

    >>> wt.tensor([1, 2]).repeat_interleave(2)
    tensor([1, 1, 2, 2])
    >>> wt.repeat_interleave(wt.tensor([1, 2]), wt.tensor([1, 3]))
    tensor([1, 2, 2, 2])
    """
    if repeats is None:
        if not isinstance(x, View):
            raise TypeError("repeat_interleave(): repeats must be given")
        if x.ndim > 1:
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
        return repeat_interleave.forward(C.arange(x.numel() if x.ndim else 1, device=x.device), x, 0,
                                         output_size=output_size)
    if not isinstance(repeats, View):
        size = None
        if output_size is not None:
            r = operator.index(repeats)
            size = x.numel() if dim is None else (x.shape[norm_dim(dim, max(x.ndim, 1))] if x.ndim else 1)
            if output_size != size * r:
                raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the result's "
                                   f"size {size * r}")
        return SH.repeat_interleave(x, repeats, dim)
    xr, d, rep = SH.check_repeats(x, repeats, dim)
    if output_size is None:
        output_size = SH.read_output_size(rep)
    elif isinstance(output_size, bool) or operator.index(output_size) < 0:
        raise RuntimeError(f"repeat_interleave: output_size must be a non-negative int, got {output_size!r}")
    return SH.repeat_interleave_tensor(xr, rep, d, operator.index(output_size))


@repeat_interleave.grad
def _repeat_interleave_grad(g, out, want, x, repeats=None, dim=None, **kwargs):
    xs = (x.numel(),) if dim is None else (x.shape or (1,))
    d = 0 if dim is None else norm_dim(dim, len(xs))
    if isinstance(repeats, View):
        _, _, rep = SH.check_repeats(x, repeats, dim)
        return (E.reshape(SH.repeat_interleave_grad(g, rep, d, xs[d]), x.shape),)
    gr = E.reshape(g, xs[:d + 1] + (repeats,) + xs[d + 1:])
    return (E.reshape(R.sum(gr, d + 1), x.shape),)


def _count_rule(name, touched):
    """A counted input (see "counts through views") of shape op ``name``: the count stays
    when the op leaves dim 0 where it is (``touched(x, *args, **kwargs)``: the dims it
    moves, reverses or reshapes), else the op raises before any GPU work."""
    def forward(fwd, x, *args, **kwargs):
        if not (isinstance(x, View) and x.count is not None):
            return fwd(x, *args, **kwargs)
        if 0 in touched(x, *args, **kwargs):
            raise _moves_count(x, name)
        out = fwd(x, *args, **kwargs)
        out.count = x.count
        return out
    OPS[name].around(forward)


def _dims_of(x, dims):
    return {norm_dim(d, max(x.ndim, 1)) for d in dims} if x.ndim else set()


def _moved(x, perm):
    return {i for i, p in enumerate(perm) if norm_dim(p, x.ndim) != i}


_count_rule("transpose", lambda x, d0, d1: set() if not x.ndim or norm_dim(d0, x.ndim) == norm_dim(d1, x.ndim)
            else _dims_of(x, (d0, d1)))
_count_rule("t", lambda x: {0, 1} if x.ndim == 2 else set())
_count_rule("permute", lambda x, *dims, **kw: _moved(x, _dims_arg(_dims_kw(dims, kw, "permute"), "permute")))
_count_rule("movedim", lambda x, source, destination: _moved(x, _movedim_perm(x.ndim, source, destination)))
_count_rule("unflatten", lambda x, dim, sizes: _dims_of(x, (dim,)))
_count_rule("diagonal", lambda x, offset=0, dim1=0, dim2=1: _dims_of(x, (dim1, dim2)))
_count_rule("flip", lambda x, *dims, **kw: _dims_of(x, _dims_arg(_dims_kw(dims, kw, "flip"), "flip")))
_count_rule("roll", lambda x, shifts, dims=None: {0} if dims is None else
            _dims_of(x, dims if isinstance(dims, (tuple, list)) else (dims,)))
_count_rule("repeat_interleave", lambda x, repeats=None, dim=None, **kw: {0} if dim is None else _dims_of(x, (dim,)))
@OPS["slice"].around
def _counted_narrow(fwd, x, dim, start, length):
    """narrow along a counted dim 0 is a slice of it: the count clamps, on the GPU."""
    out = fwd(x, dim, start, length)
    if isinstance(x, View) and x.count is not None:
        if norm_dim(dim, x.ndim) == 0:
            return _index_count(x, slice(operator.index(start), operator.index(start) + operator.index(length)), out)
        out.count = x.count
    return out


def _joined_count(name):
    """cat / stack of counted tensors: along another dim than 0, of tensors sharing one
    count, the count stays; anything else raises (a joined dim 0 has no one count)."""
    def forward(fwd, *tensors, dim=0):
        counted = [t for t in tensors if isinstance(t, View) and t.count is not None]
        if not counted:
            return fwd(*tensors, dim=dim)
        d = norm_dim(dim, tensors[0].ndim + (name == "stack"))
        if d == 0 or len(counted) != len(tensors) or any(t.count is not counted[0].count for t in counted):
            raise _moves_count(counted[0], f"{name} along dim {d} (or with tensors of other counts)")
        out = fwd(*tensors, dim=dim)
        out.count = counted[0].count
        return out
    OPS[name].around(forward)


for _name in ("cat", "stack"):
    _joined_count(_name)


# ---------------------------------------------------------------- indexing
def tensor_key(key):
    """PyTorch's (numpy's) reading of an index: a 1-tuple holding one advanced index is
    that index; a list or numpy array becomes an index View (ints: integer indexing,
    bools: a mask; ``[]`` an empty integer index); other keys pass through."""
    if isinstance(key, tuple) and len(key) == 1 and isinstance(key[0], (list, np.ndarray, View)):
        key = key[0]
    if isinstance(key, list) and not key:
        return C.tensor(np.zeros(0, np.int32))
    if isinstance(key, np.ndarray) or (isinstance(key, list) and not any(
            isinstance(k, (slice, type(None), type(Ellipsis), View, list, tuple)) for k in key)):
        arr = np.asarray(key)
        if arr.dtype.kind not in "biu":
            raise IndexError(f"tensors used as indices must be integer or bool, got {arr.dtype}")
        return C.tensor(arr)
    return key


def _basic_key(key):
    return key


@op("index_advanced", method=False, function=False)
def index_advanced(x, key):
    """Mixed advanced indexing (index tensors or masks beside slices, ints, None, ...),
    with numpy's (PyTorch's) placement of the advanced dims; ``key`` prepared by
    ops.advanced.prepare (masks as coordinates)."""
    return AD.get(x, key)


@index_advanced.grad
def _index_advanced_grad(g, out, want, x, key):
    z = zeros(x.shape, g.dtype, g.device)
    return AD.put_(z, key, g, accumulate=True), None


def _bool_key(x, key):
    """A Python bool in an index is a new dim, of size 1 (True) or 0 (False), as in
    PyTorch and numpy: the key with None in their place, and the output dims to empty."""
    keys = key if isinstance(key, tuple) else (key,)
    if not any(isinstance(k, (bool, np.bool_)) for k in keys):
        return key, ()
    consumed = sum(1 for k in keys if k is not None and k is not Ellipsis and not isinstance(k, (bool, np.bool_)))
    out, empty, pos = [], [], 0
    for k in keys:
        if isinstance(k, (bool, np.bool_)):
            if not k:
                empty.append(pos)
            out.append(None)
            pos += 1
        elif k is None:
            out.append(k)
            pos += 1
        elif k is Ellipsis:
            out.append(k)
            pos += x.ndim - consumed
        else:
            out.append(k)
            pos += isinstance(k, slice)
    return tuple(out), tuple(empty)


@op(method=False, function=False)
def getitem(x, key):
    """Basic indexing (ints, slices, None, Python bools, ...): a view."""
    key, empty = _bool_key(x, key)
    out = _index_count(x, key, x.basic_index(_basic_key(key)))
    for d in empty:  # a False: that new dim is empty
        out = out.derive(out.shape[:d] + (0,) + out.shape[d + 1:], out._strides, out._offset)
    return out


@getitem.grad
def _getitem_grad(g, out, want, x, key):
    z = zeros(x.shape, g.dtype, g.device)
    if g.numel():
        I.assign_(z.basic_index(_bool_key(x, key)[0]), g)
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
def gather(x: View, dim: int, index: View) -> View:
    """torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] (dim 0); out has index's shape.

    >>> x = wt.tensor([[1, 2], [3, 4]])
    >>> wt.gather(x, 1, wt.tensor([[0, 0], [1, 0]]))
    tensor([[1, 1],
            [4, 3]])
    """
    return I.gather(x, dim, index)


@gather.grad
def _gather_grad(g, out, want, x, dim, index):
    z = zeros(x.shape, g.dtype, g.device)
    return I.scatter_add_(z, dim, index, g, check=False), None, None  # checked by the forward pass


@op()
def scatter(x: View, dim: int, index: View, src: View | None = None, *, value: float | None = None) -> View:
    """torch.scatter: a copy of x with x[index[i][j]][j] = src[i][j] (dim 0).

    >>> x = wt.zeros(2, 3)
    >>> x.scatter(1, wt.tensor([[2], [0]]), wt.tensor([[5.], [6.]]))
    tensor([[0., 0., 5.],
            [6., 0., 0.]])
    >>> wt.scatter(wt.zeros(3), 0, wt.tensor([1]), value=2.)
    tensor([0., 2., 0.])
    """
    return I.scatter(x, dim, index, src, value=value)


@op()
def scatter_add(x: View, dim: int, index: View, src: View) -> View:
    """torch.scatter_add: a copy of x with src added at index (duplicates add).

    >>> wt.zeros(3).scatter_add(0, wt.tensor([0, 2, 0]), wt.tensor([1., 2., 3.]))
    tensor([4., 0., 2.])
    """
    return I.scatter_add(x, dim, index, src)


@op()
def index_select(x: View, dim: int, index: View) -> View:
    """torch.index_select: the slices of x at ``index`` along dim.

    >>> x = wt.tensor([[1, 2], [3, 4], [5, 6]])
    >>> x.index_select(0, wt.tensor([2, 0]))
    tensor([[5, 6],
            [1, 2]])
    """
    return I.index_select(x, dim, index)


# ---------------------------------------------------------------- masking
@op(saves=(1,))
def masked_select(x: View, mask: View, out: View | None = None, fill_value: float | None = None) -> View:
    """The elements of x where mask is true, packed first into a fixed-size [N] result
    (N = elements of the broadcast shape); ``.count`` is a 0-d int32 tensor on the GPU
    holding how many; nothing is read back. ``fill_value`` fills the rest. A numpy bool
    array as the mask is uploaded first (as ``x[np_mask]`` does).

    PyTorch's result has the exact size k, which needs the count on the host (a sync).
    Here the size is the capacity N and the count stays on the GPU: host reads
    (``numpy()``, ``tolist()``, ``item()``, ``repr``, iteration) show the k valid
    elements, and reductions, elementwise ops, sort and indexing honour the count
    without a read. Past the count the values are unspecified unless ``fill_value`` is
    given; ``.uncounted()`` shows all N. ``out=`` takes a preallocated [N] tensor. For
    the exact [k] tensor: ``x[mask]`` (blocks once for the count) or ``await
    x.masked_select_async(mask)`` (awaits only the 4-byte count). Differentiable in x.

    >>> x = wt.tensor([[1, 2, 3], [4, 5, 6]])
    >>> sel = wt.masked_select(x, x > 3)
    >>> sel.shape                          # the capacity N: no read of the count
    (6,)
    >>> sel.count                          # a 0-d int32 tensor on the GPU
    tensor(3)
    >>> sel                                # host reads show the valid prefix
    tensor([4, 5, 6], count=3 of 6)
    >>> x.masked_select(x > 3).float().mean()    # honours the count, no sync
    tensor(5.)
    >>> x.masked_select(x > 3, fill_value=-1).uncounted()
    tensor([ 4,  5,  6, -1, -1, -1])
    >>> x[x > 3]                           # exact [k]: one read of the count
    tensor([4, 5, 6])
    """
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_:
        mask = C.tensor(mask)
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
def masked_fill(x: View, mask: View, value: View | float) -> View:
    """x with ``value`` (cast to x's dtype) where mask is true; mask and x broadcast.

    >>> x = wt.tensor([1., 2., 3.])
    >>> x.masked_fill(x > 1, 0.)
    tensor([1., 0., 0.])
    """
    return S.masked_fill(x, mask, value)


@masked_fill.grad
def _masked_fill_grad(g, out, want, x, mask, value):
    gx = E.where(mask, 0.0, g) if want[0] else None
    gv = R.sum(E.where(mask, g, 0.0)) if want[2] else None
    return gx, None, gv


@op(saves=(1,))
def masked_scatter(x: View, mask: View, source: View) -> View:
    """A copy of x (broadcast with mask) whose selected elements are source's first
    elements, in row-major order.

    >>> x = wt.zeros(4)
    >>> x.masked_scatter(wt.tensor([True, False, True, False]), wt.tensor([7., 8., 9.]))
    tensor([7., 0., 8., 0.])
    """
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
def nonzero(x: View, *, as_tuple: bool = False) -> View | tuple[View, ...]:
    """[N, ndim] int32 coordinates of the nonzero elements, packed first into a fixed-size
    result (N = x.numel()); ``.count`` on the GPU holds how many rows are valid (PyTorch
    returns the exact [k, ndim] int64 result, which costs a sync; ``x.nonzero_async()``
    gives that one here, awaiting only the count).
    ``as_tuple=True``: a tuple of ndim exact [k] index tensors, which needs the count:
    one explicit read, as in PyTorch (``await x.nonzero_async(as_tuple=True)`` does
    not block).

    >>> m = wt.tensor([[True, False], [False, True]])
    >>> idx = m.nonzero()
    >>> idx.shape, idx.count
    ((4, 2), tensor(2))
    >>> idx
    tensor([[0, 0],
            [1, 1]], count=2 of 4)
    >>> wt.nonzero(m, as_tuple=True)
    (tensor([0, 1]), tensor([0, 1]))
    """
    if as_tuple:
        res = S.nonzero(x)
        out = S.exact(res, S.read_count(res.count))
        if x.ndim == 0:
            return (C.zeros((out.shape[0],), D.int32),)
        return tuple(out.basic_index((slice(None), d)) for d in range(out.shape[1]))
    return S.nonzero(x)


@op(method=False)
def isin(elements: View, test_elements: View | float, *, invert: bool = False) -> View:
    """Bool tensor of elements' shape: whether each element is in test_elements.

    >>> wt.isin(wt.tensor([1, 2, 3, 4]), wt.tensor([2, 4]))
    tensor([False,  True, False,  True])
    >>> wt.isin(wt.tensor([1, 2]), wt.tensor([2]), invert=True)
    tensor([ True, False])
    """
    return SO.isin(elements, test_elements, invert=invert)


# ---------------------------------------------------------------- reductions
def _expand_back(g, x, dim, keepdim, mean=False):
    """A reduction's gradient broadcast back over x; a mean's divided by the elements it
    averaged; a counted x's zero past its count (those rows took no part)."""
    dims = R.reduced_dims(dim, x.ndim)
    if not keepdim and x.ndim:
        g = E.reshape(g, tuple(1 if i in dims else s for i, s in enumerate(x.shape)))
    g = g.expand(x.shape)
    counted = x.count is not None and 0 in dims
    n = math.prod(x.shape[d] for d in dims)
    if mean and counted:  # averaged over count * (n / rows) elements, known on the GPU
        inner = n // x.shape[0] if x.shape[0] else 0
        g = E.launch("a / f32(u32(max(b, 0)) * c)", g.dtype, [g, x.count, E.Scalar(inner)],
                     [g.dtype.wgsl, "i32", "u32"], shape=x.shape)
    elif mean:
        g = _mul(g, 1.0 / max(n, 1))
    return E.valid_rows(g, x.count) if counted else g


def _numpy_args(name, dim, axis, out):
    """numpy's reductions call ``t.sum(axis=..., dtype=..., out=...)``: accept its names."""
    if out is not None:
        raise TypeError(f"{name}(): out= is not supported")
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}(): give dim or axis, not both")
        return axis
    return dim


@op("sum")
def sum_(x: View, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
         dtype: DType | str | None = None, axis: int | tuple[int, ...] | None = None, out: None = None) -> View:
    """Sum over ``dim``: bool/int32 -> int32 (wraps), uint32 -> uint32, floats keep their dtype.

    >>> x = wt.tensor([[1, 2], [3, 4]])
    >>> x.sum()
    tensor(10)
    >>> wt.sum(x, dim=0)
    tensor([4, 6])
    >>> x.float().sum(1, keepdim=True)
    tensor([[3.],
            [7.]])
    """
    return R.sum(x, _numpy_args("sum", dim, axis, out), keepdim, dtype=dtype)


@sum_.grad
def _sum_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    return (_expand_back(g, x, _numpy_args("sum", dim, kwargs.get("axis"), None), keepdim),)


@op()
def mean(x: View, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
         dtype: DType | str | None = None, axis: int | tuple[int, ...] | None = None, out: None = None) -> View:
    """Mean over ``dim`` of a float tensor (or with a float ``dtype=``); nan when empty.

    >>> x = wt.tensor([[1., 2.], [3., 4.]])
    >>> x.mean()
    tensor(2.5000)
    >>> wt.mean(x, dim=1)
    tensor([1.5000, 3.5000])
    """
    return R.mean(x, _numpy_args("mean", dim, axis, out), keepdim, dtype=dtype)


@mean.grad
def _mean_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    return (_expand_back(g, x, _numpy_args("mean", dim, kwargs.get("axis"), None), keepdim, mean=True),)


def _reduction(name, fn, doc):
    fn.__doc__ = doc
    return op(name)(typed(fn))


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
_REDUCTION_EXAMPLES = {
    "any": """
        >>> m = wt.tensor([[True, False], [False, False]])
        >>> m.any()
        tensor(True)
        >>> wt.any(m, dim=1)
        tensor([ True, False])""",
    "all": """
        >>> m = wt.tensor([[True, True], [False, True]])
        >>> m.all()
        tensor(False)
        >>> wt.all(m, dim=1)
        tensor([ True, False])""",
    "count_nonzero": """
        >>> x = wt.tensor([[0, 1, 2], [3, 0, 0]])
        >>> x.count_nonzero()
        tensor(3)
        >>> wt.count_nonzero(x, dim=1)
        tensor([2, 1])""",
    "amax": """
        >>> x = wt.tensor([[1, 5], [7, 2]])
        >>> x.amax()
        tensor(7)
        >>> wt.amax(x, dim=0)
        tensor([7, 5])""",
    "amin": """
        >>> x = wt.tensor([[1, 5], [7, 2]])
        >>> x.amin(dim=1, keepdim=True)
        tensor([[1],
                [2]])""",
}
document({n: OPS[n].doc + "\n" + textwrap.dedent(ex) for n, ex in _REDUCTION_EXAMPLES.items()})


@op()
def sort(x: View, dim: int = -1, descending: bool = False) -> tuple[View, View]:
    """(values, indices) of x sorted along dim; NaN is the largest value. Stable; indices
    int32 (PyTorch: int64).

    >>> values, indices = wt.tensor([3., 1., 2.]).sort()
    >>> values, indices
    (tensor([1., 2., 3.]), tensor([1, 2, 0]))
    >>> wt.sort(wt.tensor([3., 1., 2.]), descending=True).values
    tensor([3., 2., 1.])
    """
    return SO.sort(x, dim, descending)


@op()
def kthvalue(x: View, k: int, dim: int = -1, keepdim: bool = False) -> tuple[View, View]:
    """(values, indices) of the k-th smallest (1-based) element along dim (NaN largest);
    indices int32 (PyTorch: int64).

    >>> wt.tensor([5., 1., 4., 2.]).kthvalue(2)
    kthvalue(values=tensor(2.), indices=tensor(3))
    """
    return SO.kthvalue(x, k, dim, keepdim)


# ---------------------------------------------------------------- reductions with dim (max, min, argmax, prod, var, std, logsumexp, norm, ...)

@OPS["amax"].grad
def _amax_grad(g, out, want, x, dim=None, keepdim=False):
    return (RD.spread_grad(g, out, x, dim, keepdim, "amax"),)  # ties share g evenly, as PyTorch


@OPS["amin"].grad
def _amin_grad(g, out, want, x, dim=None, keepdim=False):
    return (RD.spread_grad(g, out, x, dim, keepdim, "amin"),)


def _extreme(largest):
    name = "max" if largest else "min"

    def forward(x: View, dim: int | None = None, keepdim: bool = False) -> View | tuple[View, View]:
        if isinstance(dim, View):
            raise TypeError(f"{name}(input, other): the elementwise {name}imum of two tensors is "
                            f"wt.{name}imum(a, b)")
        if dim is None:
            if keepdim:
                raise TypeError(f"{name}(): keepdim needs a dim")
            return RD.full_extreme(x, largest, name)
        return RD.max_dim(x, dim, keepdim, largest, name)
    forward.__name__ = name
    forward.__doc__ = (f"{name}(x): the {'largest' if largest else 'smallest'} element (0-d; NaN if any "
                       f"is NaN). {name}(x, dim, keepdim=False): the named tuple (values, indices) "
                       "along dim, indices int32, the first occurrence (NaN counts as the extreme).")
    o = op(name, saves=(0,))(forward)

    @o.grad
    def _grad(g, out, want, x, dim=None, keepdim=False):
        if dim is None:  # ties share g evenly, as PyTorch's max() / min()
            return (RD.spread_grad(g, out, x, None, False, name),)
        return (RD.index_grad(g, x, RD.max_dim_indices(x, out, dim, keepdim, name), dim, keepdim),)
    return o


max_ = _extreme(True)
min_ = _extreme(False)
document({
    "max": OPS["max"].doc + """ For the elementwise max of two tensors: wt.maximum.

        >>> x = wt.tensor([[1, 5], [7, 2]])
        >>> x.max()
        tensor(7)
        >>> wt.max(x, dim=1)
        max(values=tensor([5, 7]), indices=tensor([1, 0]))""",
    "min": OPS["min"].doc + """ For the elementwise min of two tensors: wt.minimum.

        >>> x = wt.tensor([[1, 5], [7, 2]])
        >>> x.min()
        tensor(1)
        >>> x.min(dim=0).indices
        tensor([0, 1])""",
})


@op()
def argmax(x: View, dim: int | None = None, keepdim: bool = False) -> View:
    """int32 index (PyTorch: int64) of the first largest element along dim (of the
    flattened tensor when dim is None); NaN counts as the largest.

    >>> x = wt.tensor([[1., 7.], [9., 3.]])
    >>> x.argmax()
    tensor(2)
    >>> wt.argmax(x, dim=1)
    tensor([1, 0])
    """
    return RD.arg_extreme(x, dim, keepdim, True, "argmax")


@op()
def argmin(x: View, dim: int | None = None, keepdim: bool = False) -> View:
    """int32 index (PyTorch: int64) of the first smallest element along dim (of the
    flattened tensor when dim is None); NaN counts as the smallest.

    >>> x = wt.tensor([[1., 7.], [9., 3.]])
    >>> x.argmin()
    tensor(0)
    >>> wt.argmin(x, dim=0)
    tensor([0, 1])
    """
    return RD.arg_extreme(x, dim, keepdim, False, "argmin")


@op(saves=(0,))
def prod(x: View, dim: int | None = None, keepdim: bool = False, *, dtype: DType | str | None = None) -> View:
    """Product over dim: bool/int32 -> int32 (wraps), uint32 -> uint32, floats keep their dtype.

    >>> x = wt.tensor([[1, 2], [3, 4]])
    >>> x.prod()
    tensor(24)
    >>> wt.prod(x.float(), dim=0)
    tensor([3., 8.])
    """
    return RD.prod(x, dim, keepdim, dtype)


@prod.grad
def _prod_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    return (RD.prod_grad(g, out, x, dim, keepdim),)


def _var_args(dim, unbiased, keepdim):
    if isinstance(dim, bool):  # var(x, unbiased) (PyTorch's older overload)
        return None, dim, keepdim
    return dim, unbiased, keepdim


def _var_like(name, take_sqrt):
    def forward(x: View, dim: int | tuple[int, ...] | None = None, unbiased: bool | None = None,
                keepdim: bool = False, *, correction: int | None = None) -> View:
        dim, unbiased, keepdim = _var_args(dim, unbiased, keepdim)
        return RD.var(x, dim, unbiased, keepdim, correction, take_sqrt=take_sqrt, name=name)
    forward.__name__ = name
    forward.__doc__ = (f"{'Standard deviation' if take_sqrt else 'Variance'} over dim of a float tensor, "
                       "dividing by N - correction (correction=1 by default; unbiased=False is 0).")
    o = op(name, saves=(0,))(forward)

    @o.grad
    def _grad(g, out, want, x, dim=None, unbiased=None, keepdim=False, *, correction=None):
        dim, unbiased, keepdim = _var_args(dim, unbiased, keepdim)
        return (RD.var_grad(g, out, x, dim, keepdim, unbiased, correction, take_sqrt),)
    return o


var = _var_like("var", False)
std = _var_like("std", True)
document({
    "var": OPS["var"].doc + """

        >>> x = wt.tensor([[1., 2.], [3., 5.]])
        >>> x.var()
        tensor(2.9167)
        >>> wt.var(x, dim=1, correction=0)
        tensor([0.2500, 1.0000])""",
    "std": OPS["std"].doc + """

        >>> x = wt.tensor([1., 2., 3., 4.])
        >>> x.std()
        tensor(1.2910)
        >>> wt.std(x, unbiased=False)
        tensor(1.1180)""",
})


@op(saves=(0,))
def nansum(x: View, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
           dtype: DType | str | None = None) -> View:
    """Sum over dim, NaN counted as zero.

    >>> wt.tensor([1., float("nan"), 2.]).nansum()
    tensor(3.)
    """
    return RD.nansum(x, dim, keepdim, dtype)


@nansum.grad
def _nansum_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    return (RD.nansum_grad(g, x, dim, keepdim),)


@op(saves=(0,))
def nanmean(x: View, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
            dtype: DType | str | None = None) -> View:
    """Mean over dim of the non-NaN elements (NaN where all are NaN).

    >>> wt.tensor([1., float("nan"), 2.]).nanmean()
    tensor(1.5000)
    """
    return RD.nanmean(x, dim, keepdim, dtype)


@nanmean.grad
def _nanmean_grad(g, out, want, x, dim=None, keepdim=False, **kwargs):
    return (RD.nanmean_grad(g, x, dim, keepdim),)


@op(saves=(0,))
def logsumexp(x: View, dim: int | tuple[int, ...], keepdim: bool = False) -> View:
    """log(sum(exp(x))) over dim, computed stably; int and bool inputs give float32.

    >>> wt.tensor([[0., 0.], [100., 100.]]).logsumexp(dim=1)
    tensor([  0.6931, 100.6931])
    """
    return RD.logsumexp(x, dim, keepdim)


@logsumexp.grad
def _logsumexp_grad(g, out, want, x, dim, keepdim=False):
    return (RD.logsumexp_grad(g, out, x, dim, keepdim),)


@op(saves=(0,))
def norm(x: View, p: float | str = "fro", dim: int | tuple[int, ...] | None = None, keepdim: bool = False,
         dtype: DType | str | None = None) -> View:
    """Vector p-norm over dim (all elements when None): p = 'fro' (2), 1, 2, inf, -inf, 0,
    or any other float.

    >>> x = wt.tensor([3., -4.])
    >>> x.norm()
    tensor(5.)
    >>> wt.norm(x, p=1)
    tensor(7.)
    """
    return RD.norm(x, p, dim, keepdim, dtype)


@norm.grad
def _norm_grad(g, out, want, x, p="fro", dim=None, keepdim=False, dtype=None):
    return (RD.norm_grad(g, out, x, p, dim, keepdim),)



# ---------------------------------------------------------------- in place
def _inplace_op(name, fn, doc, method=True):
    fn.__doc__ = doc
    return op(name, inplace=True, method=method, function=False)(typed(fn))


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
    if isinstance(value, (list, tuple, np.ndarray)):
        value = C.tensor(value)
    if isinstance(key, View):
        if key.dtype is D.bool_:
            S.index_mask_put_(x, key, value)
        else:
            I.index_put_(x, key, value)
        return
    if AD.is_advanced(key):
        AD.put_(x, AD.prepare(x, key), value if isinstance(value, View) else value)
        return
    key, empty = _bool_key(x, key)
    target = x.basic_index(_basic_key(key))
    if not empty:
        I.assign_(target, value)


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
scatter_.forward.__annotations__.update(dim="int", src="View | None", value="float | None")
scatter_add_.forward.__annotations__.update(dim="int")
setitem = _inplace_op("x[...] = value", _setitem, "x[key] = value.", method=False)
document({
    "fill_": """Every element set to ``value`` (cast to x's dtype), in place; returns x.

        >>> x = wt.zeros(3)
        >>> x.fill_(2)
        tensor([2., 2., 2.])""",
    "copy_": """src (broadcast, any dtype: cast to x's) copied into x, in place; returns x.

        >>> x = wt.zeros(2, 2)
        >>> x.copy_(wt.tensor([1, 2]))
        tensor([[1., 2.],
                [1., 2.]])""",
    "masked_fill_": """masked_fill in place: ``value`` written where mask is true; returns x.

        >>> x = wt.tensor([1., 2., 3.])
        >>> x.masked_fill_(x > 1, 0.)
        tensor([1., 0., 0.])
        >>> x
        tensor([1., 0., 0.])""",
    "masked_scatter_": """masked_scatter in place: source's first elements go where mask is true.

        >>> x = wt.zeros(3)
        >>> x.masked_scatter_(wt.tensor([False, True, True]), wt.tensor([5., 6.]))
        tensor([0., 5., 6.])""",
    "scatter_": """scatter in place: x[index[i][j]][j] = src[i][j] (dim 0), or ``value=``.

        >>> x = wt.zeros(4)
        >>> x.scatter_(0, wt.tensor([3, 0]), wt.tensor([1., 2.]))
        tensor([2., 0., 0., 1.])""",
    "scatter_add_": """scatter_add in place: src added into x at index (duplicates add up).

        >>> x = wt.zeros(3)
        >>> x.scatter_add_(0, wt.tensor([1, 1, 2]), wt.tensor([1., 2., 3.]))
        tensor([0., 3., 3.])""",
})


# ---------------------------------------------------------------- scans, topk, unique
# Scans: ops/scan.py. topk and unique: ops/unique.py (sort, then the selection's
# compaction). cumsum/cumprod of bool/int32 give int32 (PyTorch: int64).
@op(saves=())
def cumsum(x: View, dim: int, *, dtype: DType | str | None = None) -> View:
    """Cumulative sum along dim: bool/int32 -> int32 (PyTorch: int64; wraps), uint32 ->
    uint32, float16 accumulated in float32; ``dtype=`` converts the input first.

    >>> wt.tensor([1, 2, 3]).cumsum(0)
    tensor([1, 3, 6])
    >>> wt.cumsum(wt.tensor([[1., 2.], [3., 4.]]), dim=1)
    tensor([[1., 3.],
            [3., 7.]])
    """
    return SC.cumsum(x, dim, dtype=dtype)


@cumsum.grad
def _cumsum_grad(g, out, want, x, dim, **kwargs):
    return SC.reverse_cumsum(g, dim), None


@op(saves=(0,))
def cumprod(x: View, dim: int, *, dtype: DType | str | None = None) -> View:
    """Cumulative product along dim (dtypes as cumsum).

    >>> wt.tensor([1., 2., 3., 4.]).cumprod(0)
    tensor([ 1.,  2.,  6., 24.])
    """
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
def cummax(x: View, dim: int) -> tuple[View, View]:
    """(values, indices) named tuple: running maximum along dim and its index (the later
    one on ties; NaN propagates); indices int32 (PyTorch: int64).

    >>> wt.tensor([1., 3., 2., 5.]).cummax(0)
    cummax(values=tensor([1., 3., 3., 5.]), indices=tensor([0, 1, 1, 3]))
    """
    return SC.cummax(x, dim)


@op(saves=(0,))
def cummin(x: View, dim: int) -> tuple[View, View]:
    """(values, indices) named tuple: running minimum along dim (as cummax).

    >>> wt.tensor([4., 2., 3., 1.]).cummin(0)
    cummin(values=tensor([4., 2., 2., 1.]), indices=tensor([0, 1, 1, 3]))
    """
    return SC.cummin(x, dim)


cummax.grad(_cumext_grad(SC.cummax))
cummin.grad(_cumext_grad(SC.cummin))


@op(saves=(0,))
def topk(x: View, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple[View, View]:
    """(values, indices) named tuple of the k largest (``largest=False``: smallest)
    elements along dim, in order (NaN is the largest); indices int32 (PyTorch: int64).

    >>> wt.tensor([1., 5., 3., 4.]).topk(2)
    topk(values=tensor([5., 4.]), indices=tensor([1, 3]))
    >>> wt.topk(wt.tensor([1, 5, 3]), 1, largest=False).values
    tensor([1])
    """
    return U.topk(x, k, dim, largest, sorted)


@topk.grad
def _topk_grad(g, out, want, x, k, dim=-1, largest=True, sorted=True):
    if x.ndim == 0:
        return (g if k else zeros((), g.dtype, g.device)), None
    idx = U.topk(x, k, dim, largest, sorted).indices  # recomputed (the sort is stable)
    d = norm_dim(dim, x.ndim)
    return I.scatter_add_(zeros(x.shape, g.dtype, g.device), d, idx, g, check=False), None


@op()
def unique(x: View, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None, *, fixed_size: bool = False) -> View | tuple[View, ...]:
    """Unique values of the flattened x, sorted (NaNs are one value, -0.0 == 0.0); with
    ``return_inverse`` (int32, x's shape) and ``return_counts`` (int32). Reads the number
    of unique values once (explicit, like x[mask]); ``fixed_size=True`` reads nothing:
    [N] results, unique values first, ``.count`` on the GPU.

    >>> x = wt.tensor([3, 1, 3, 2, 1])
    >>> x.unique()
    tensor([1, 2, 3])
    >>> wt.unique(x, return_counts=True)
    (tensor([1, 2, 3]), tensor([2, 1, 2]))
    >>> u = x.unique(fixed_size=True)
    >>> u.shape, u.count
    ((5,), tensor(3))
    """
    return U.unique(x, sorted, return_inverse, return_counts, dim, fixed_size=fixed_size)



def _scan_keeps_count(name):
    """A scan of a counted tensor keeps its count: along the counted dim the valid rows'
    prefix does not depend on the rows after them; along other dims rows are independent."""
    def forward(fwd, x, *args, **kwargs):
        out = fwd(x, *args, **kwargs)
        if isinstance(x, View) and x.count is not None and x.ndim:
            for v in (out if isinstance(out, tuple) else (out,)):
                v.count = x.count
        return out
    OPS[name].around(forward)


for _name in ("cumsum", "cumprod", "cummax", "cummin"):
    _scan_keeps_count(_name)


# ---------------------------------------------------------------- creation
def _creation(name, fn):
    return op(name, method=False)(typed(fn))


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


def _randint(low: int, high: int | None = None, size: int | tuple[int, ...] | None = None,
             seed: int | None = None, dtype: DType | str | None = None, device: object = None) -> View:
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing its size argument")
    return C.randint(low, high, as_shape((size,) if isinstance(size, int) else size), seed, dtype, device)


randint = _creation("randint", _randint)
tril = _creation("tril", lambda x, diagonal=0: C.tri(x, diagonal, True))
triu = _creation("triu", lambda x, diagonal=0: C.tri(x, diagonal, False))
tril.grad(lambda g, out, want, x, diagonal=0: (C.tri(g, diagonal, True), None))
triu.grad(lambda g, out, want, x, diagonal=0: (C.tri(g, diagonal, False), None))
document({
    "tensor": """A new tensor from a Python scalar, a (nested) list, a numpy array or a tensor
        (copied). Python bool -> bool, int -> int32, float -> float32; numpy float64 ->
        float32 and int64 -> int32 (WebGPU has no 64-bit types; an int out of int32's
        range raises OverflowError). ``device`` may be None, "cpu" or "cuda": all mean
        the one WebGPU adapter.

        >>> wt.tensor([[1, 2], [3, 4]])
        tensor([[1, 2],
                [3, 4]])
        >>> wt.tensor([1., 2.], requires_grad=True)
        tensor([1., 2.], requires_grad=True)
        >>> wt.tensor(np.arange(3)).dtype
        wgpu_tensor.int32""",
    "from_numpy": """A tensor copied from a numpy array (PyTorch shares the memory; here the data
        goes to the GPU). float64 becomes float32, other integer types int32
        (OverflowError when a value does not fit), unless ``dtype`` says otherwise.

        >>> wt.from_numpy(np.array([1.5, 2.5]))
        tensor([1.5000, 2.5000])
        >>> wt.from_numpy(np.array([1, 2], dtype=np.uint8)).dtype
        wgpu_tensor.int32""",
    "empty": """An uninitialised tensor of ``shape`` (float32 unless ``dtype``); the values are
        whatever the buffer held.

        >>> wt.empty(2, 3).shape
        (2, 3)
        >>> wt.empty((4,), dtype=wt.int32).dtype
        wgpu_tensor.int32""",
    "full": """A tensor of ``shape`` filled with ``fill_value`` (its dtype from the value when
        ``dtype`` is None: bool, int32 or float32).

        >>> wt.full((2, 2), 7)
        tensor([[7, 7],
                [7, 7]])
        >>> wt.full(3, 0.5)
        tensor([0.5000, 0.5000, 0.5000])""",
    "zeros": """A tensor of zeros of ``shape`` (float32 unless ``dtype``).

        >>> wt.zeros(2, 3)
        tensor([[0., 0., 0.],
                [0., 0., 0.]])
        >>> wt.zeros((2,), dtype=wt.bool)
        tensor([False, False])""",
    "ones": """A tensor of ones of ``shape`` (float32 unless ``dtype``).

        >>> wt.ones(3, dtype=wt.int32)
        tensor([1, 1, 1])""",
    "empty_like": """An uninitialised tensor with the shape (and dtype, unless given) of ``t``.

        >>> x = wt.tensor([[1, 2]])
        >>> y = wt.empty_like(x)
        >>> y.shape, y.dtype
        ((1, 2), wgpu_tensor.int32)""",
    "zeros_like": """Zeros with the shape (and dtype, unless given) of ``t``.

        >>> wt.zeros_like(wt.tensor([1, 2]))
        tensor([0, 0])""",
    "ones_like": """Ones with the shape (and dtype, unless given) of ``t``.

        >>> wt.ones_like(wt.tensor([1, 2]), dtype=wt.float32)
        tensor([1., 1.])""",
    "full_like": """``fill_value`` with the shape (and dtype, unless given) of ``t``.

        >>> wt.full_like(wt.tensor([1., 2.]), 3)
        tensor([3., 3.])""",
    "arange": """Values from ``start`` to ``end`` (exclusive) by ``step``, as torch.arange:
        int32 when start/end/step are all ints (PyTorch: int64), else float32.

        >>> wt.arange(4)
        tensor([0, 1, 2, 3])
        >>> wt.arange(1, 2, 0.25)
        tensor([1.0000, 1.2500, 1.5000, 1.7500])""",
    "rand": """Uniform samples in [0, 1) of ``shape``, float32, drawn on the GPU: the same
        ``seed`` gives the same values (PyTorch uses a global generator; without a seed
        one is drawn from the generator that ``wt.manual_seed`` seeds).

        >>> x = wt.rand(2, 3, seed=0)
        >>> x.shape, bool(((x >= 0) & (x < 1)).all())
        ((2, 3), True)
        >>> bool((wt.rand(4, seed=1) == wt.rand(4, seed=1)).all())
        True""",
    "randn": """Standard normal samples of ``shape``, float32, drawn on the GPU (``seed`` as rand).

        >>> x = wt.randn(1000, seed=0)
        >>> x.shape, abs(float(x.mean())) < 0.2, 0.8 < float(x.std()) < 1.2
        ((1000,), True, True)""",
    "randint": """Integers uniform in [low, high) of ``size``, int32 (PyTorch: int64), drawn on
        the GPU; ``randint(high, size)`` starts at 0 (``seed`` as rand).

        >>> x = wt.randint(0, 10, (5,), seed=0)
        >>> x.shape, x.dtype, bool(((x >= 0) & (x < 10)).all())
        ((5,), wgpu_tensor.int32, True)""",
    "tril": """The lower triangle of a matrix (or of each in a batch): elements above the
        ``diagonal``-th diagonal set to zero.

        >>> x = wt.ones(3, 3, dtype=wt.int32)
        >>> x.tril()
        tensor([[1, 0, 0],
                [1, 1, 0],
                [1, 1, 1]])
        >>> wt.tril(x, diagonal=-1)[2]
        tensor([1, 1, 0])""",
    "triu": """The upper triangle of a matrix (or of each in a batch): elements below the
        ``diagonal``-th diagonal set to zero.

        >>> wt.triu(wt.ones(2, 3))
        tensor([[1., 1., 1.],
                [0., 1., 1.]])""",
})


# ---------------------------------------------------------------- wgpu interop (a caller's buffers, indirect arguments)
@op(method=False)
def from_buffer(buffer, shape, dtype, offset=0):
    """A tensor over a wgpu buffer of wgpu_tensor's device, without a copy.

    ``buffer`` (a wgpu.GPUBuffer made on ``wt.get_device()``, or on the device given
    to ``wt.use_device``) holds ``shape`` elements of ``dtype`` in row-major order
    from byte ``offset``. The tensor reads and writes the buffer itself; freeing the
    tensor leaves the buffer to you (it never enters wgpu_tensor's pool). No PyTorch
    analogue (closest: ``torch.frombuffer`` over host memory).

    Requirements, checked before any GPU work (TypeError / ValueError naming what
    is missing): usages STORAGE (every kernel binds tensors as storage buffers),
    COPY_SRC (host reads such as ``numpy()`` and exact-size results copy out of it)
    and COPY_DST (in-place ops such as ``mul_`` copy their result into it).
    ``offset`` a multiple of 4 bytes (kernels address 32-bit words). The data's
    end, rounded up to a multiple of 16 bytes, within the buffer (kernels read
    16-byte vectors: allocate ``-(-nbytes // 16) * 16`` bytes). Not mapped. One of
    wgpu_tensor's dtypes (a 64-bit dtype is a TypeError: the bytes are not
    converted).

    wgpu_tensor writes whole 4-byte words: in-place ops on a bool or float16 tensor
    may rewrite the padding bytes after its last element, up to the next multiple
    of 4, never more. Do not destroy the buffer while the tensor is in use. Your
    own queue writes run before wgpu_tensor's later work; before your own commands
    read or write the buffer, take ``t.buffer`` (it submits what wgpu_tensor has
    recorded).

    >>> import wgpu
    >>> device = wt.get_device()
    >>> U = wgpu.BufferUsage
    >>> buf = device.create_buffer(size=16, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
    >>> device.queue.write_buffer(buf, 0, np.arange(4, dtype=np.float32))
    >>> t = wt.from_buffer(buf, (2, 2), wt.float32)
    >>> t.sum().item()
    6.0
    >>> t.mul_(10)                # writes into buf
    tensor([[ 0., 10.],
            [20., 30.]])
    """
    return IO.from_buffer(buffer, shape, dtype, offset)


@op(method=False)
def indirect_args(count, workgroup_size, *, draw=False, vertices_per_instance=None, out=None):
    """The arguments of an indirect dispatch (and draw) over ``count`` elements, on the GPU.

    ``count`` is a 0-d int32/uint32 tensor (a fixed-size result's ``.count``, or the
    counted result itself). Returns a uint32 tensor of 3 words, ``(x, y, 1)`` for
    ``compute_pass.dispatch_workgroups_indirect(args.buffer, args.buffer_offset)``,
    with x = ceil(count / workgroup_size). With ``draw=True`` it has 7: those 3, then
    ``(vertex_count, instance_count, 0, 0)`` for
    ``render_pass.draw_indirect(args.buffer, args.buffer_offset + 12)``: (count, 1)
    draws a vertex per element; with ``vertices_per_instance=v``, (v, count) draws an
    instance of v vertices per element. Written by one GPU invocation: no sync, the
    count is never read. Its buffer has usage INDIRECT (``out=``: a contiguous
    uint32 tensor of the right length whose buffer has it, e.g. reused each frame).

    A count of 0 gives (0, 1, 1), a dispatch that runs nothing (and a draw of 0).
    More than the device's workgroups per dimension (65,535 usually): the grid is
    2-D as wgpu_tensor's own launches, y = ceil(groups / 65535), x = ceil(groups /
    y); your kernel rebuilds its index as ``(wid.x + wid.y * nwg.x) * wg + lid`` and
    returns when it is at or past the count. (y is clamped to the limit too, which
    only counts over 65535**2 workgroups reach: then the kernel must loop.) No
    PyTorch analogue.

    >>> x = wt.arange(10)
    >>> sel = x.masked_select(x % 3 == 0)          # 4 selected, never read here
    >>> wt.indirect_args(sel.count, 2).tolist()
    [2, 1, 1]
    >>> wt.indirect_args(sel, 64, draw=True).tolist()
    [1, 1, 1, 4, 1, 0, 0]
    """
    return IO.indirect_args(count, workgroup_size, draw, vertices_per_instance, out)


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
def matmul(a: View, b: View) -> View:
    """torch.matmul: dot (1-D @ 1-D), matrix-vector, vector-matrix, matrix products and
    batches of them with broadcast batch dims; float32, float16 (accumulated in f32), int32.

    >>> a = wt.tensor([[1., 2.], [3., 4.]])
    >>> a @ wt.tensor([1., 1.])
    tensor([3., 7.])
    >>> wt.matmul(a, a)
    tensor([[ 7., 10.],
            [15., 22.]])
    """
    return L.matmul(a, b)


@op(saves=(0, 1))
def mm(a: View, b: View) -> View:
    """torch.mm: the product of two matrices (no broadcasting).

    >>> wt.mm(wt.tensor([[1., 2.]]), wt.tensor([[3.], [4.]]))
    tensor([[11.]])
    """
    return L.mm(a, b)


@op(saves=(0, 1))
def bmm(a: View, b: View) -> View:
    """torch.bmm: products of two [B, n, m] and [B, m, p] batches (no broadcasting).

    >>> a = wt.ones(2, 1, 3)
    >>> wt.bmm(a, wt.ones(2, 3, 2)).shape
    (2, 1, 2)
    >>> a.bmm(wt.ones(2, 3, 1)).flatten()
    tensor([3., 3.])
    """
    return L.bmm(a, b)


matmul.grad(_matmul_grad)
mm.grad(_matmul_grad)
bmm.grad(_matmul_grad)


@op()
def softmax(x: View, dim: int | None = None, dtype: DType | str | None = None) -> View:
    """exp(x) / sum(exp(x)) along ``dim`` (the row max subtracted first); a row whose max is
    NaN, +inf or -inf (all -inf) gives NaN, as PyTorch; ``dtype=`` casts the input first.

    >>> wt.softmax(wt.tensor([0., 0., 0., 0.]), dim=0)
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    >>> wt.tensor([[1., 1.], [0., float("-inf")]]).softmax(dim=1)
    tensor([[0.5000, 0.5000],
            [1.0000, 0.0000]])
    """
    return L.softmax(x, dim, dtype)


@softmax.grad
def _softmax_grad(g, out, want, x, dim=None, dtype=None):
    return (L.softmax_backward(g, out, dim),)


@op()
def log_softmax(x: View, dim: int | None = None, dtype: DType | str | None = None) -> View:
    """x - max - log(sum(exp(x - max))) along ``dim``; NaN rows as softmax; ``dtype=``.

    >>> wt.tensor([0., 0.]).log_softmax(dim=0)
    tensor([-0.6931, -0.6931])
    """
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


def _counted_product(name):
    """Counts through matmul: a counted operand's leading dim that is contracted (a 1-D
    operand, or b's rows) takes zeros past its count, so only valid rows add up; one that
    stays the result's leading dim (a's rows, a batch dim) keeps its count."""
    def forward(fwd, a, b):
        ca = a.count if isinstance(a, View) else None
        cb = b.count if isinstance(b, View) else None
        if ca is None and cb is None:
            return fwd(a, b)
        nd = max(a.ndim, b.ndim)
        keep = []
        if ca is not None:
            if a.ndim == 1:
                a = E.valid_rows(a, ca)
            elif a.ndim == nd:
                keep.append(ca)
            else:
                raise _moves_count(a, f"{name} with a {b.ndim}-d operand")
        if cb is not None:
            if b.ndim <= 2:
                b = E.valid_rows(b, cb)
            elif b.ndim == nd:
                keep.append(cb)
            else:
                raise _moves_count(b, f"{name} with a {a.ndim}-d operand")
        out = fwd(a.derive(a.shape, a._strides, a._offset), b.derive(b.shape, b._strides, b._offset))
        if keep:
            out.count = E.min_count(keep)
        return out
    OPS[name].around(forward)


def _counted_softmax(name):
    """Counts through softmax: along the counted dim only valid rows take part (the others
    enter as -inf, so they get probability 0); along other dims rows are independent. The
    count stays."""
    def forward(fwd, x, dim=None, dtype=None):
        if not (isinstance(x, View) and x.count is not None and x.ndim):
            return fwd(x, dim, dtype)
        count = x.count
        if dim is not None and norm_dim(dim, x.ndim) == 0:
            if x.dtype.kind != "f":
                x = E.cast(x, D.float32)
            x = E.valid_rows(x, count, "bitcast<f32>(0xff800000u)")
        else:
            x = x.derive(x.shape, x._strides, x._offset)
        out = fwd(x, dim, dtype)
        out.count = count
        return out
    OPS[name].around(forward)


for _name in ("matmul", "mm", "bmm"):
    _counted_product(_name)
for _name in ("softmax", "log_softmax"):
    _counted_softmax(_name)

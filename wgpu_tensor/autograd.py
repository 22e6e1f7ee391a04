"""The tape: reverse-mode autograd in the micrograd style.

An op on tensors that require grad returns a tensor with a ``_node``: the input
tensors and a ``backward(grad) -> grads`` closure written with the same GPU ops
as the forward pass (no host round trips). ``backward()`` walks the nodes in
reverse topological order and accumulates ``.grad`` on the leaves.

Saved tensors carry their storage's version: an in-place op on one of them
before ``backward()`` raises, as in PyTorch.
"""
from __future__ import annotations

import contextlib
import math
import threading

from .ops import elementwise as E
from .ops import reduce as R
from .ops import select

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = self.enabled

    def __exit__(self, *exc):
        _state.enabled = self.prev


def no_grad():
    """Context manager (or decorator): ops inside record nothing."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


class Node:
    """How an output was made: its differentiable inputs, the backward closure, and
    the (tensor, version) pairs the closure reads."""

    __slots__ = ("inputs", "backward", "saved", "name")

    def __init__(self, inputs, backward, saved, name):
        self.inputs = inputs
        self.backward = backward
        self.saved = saved
        self.name = name


_T = None


def _tensor():
    global _T
    if _T is None:
        from .tensor import Tensor
        _T = Tensor
    return _T


def needs_grad(*xs):
    T = _tensor()
    return is_grad_enabled() and any(isinstance(t, T) and t._requires_grad for t in xs)


def attach(out, inputs, backward, name, saved=()):
    """Make ``out`` the result of a differentiable op over ``inputs`` (None or
    tensors; only those that require grad get gradients)."""
    out._requires_grad = True
    out._node = Node(tuple(inputs), backward, tuple((t, t._st.version) for t in saved), name)
    return out


@contextlib.contextmanager
def inplace(t, what):
    """Around an in-place op: it may not write a tensor that takes part in autograd,
    and a successful write bumps the storage's version (checked by backward)."""
    if is_grad_enabled() and t._requires_grad:
        if t._node is None:
            raise RuntimeError(f"a leaf tensor that requires grad is being used in an in-place operation "
                               f"({what}); wrap it in wt.no_grad() or use the out-of-place op")
        raise RuntimeError(f"{what}: in-place ops on tensors that require grad are not supported by "
                           "wgpu_tensor's autograd; use the out-of-place op")
    yield
    t._st.version += 1


# ---------------------------------------------------------------- helpers over the ops
def _sum_to(g, shape):
    """Sum a gradient over the dims that broadcasting added or stretched."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if dims:
        g = R.sum(g, dims, True)
    return g.reshape(shape)


def _like(g, t):
    """Gradient ``g`` in the shape and dtype of input ``t``."""
    g = _sum_to(g, t.shape)
    return g if g.dtype is t.dtype else g.to(t.dtype)


def _pad_rows(g, shape):
    """``g`` as the first rows of a zero tensor of ``shape`` (the gradient of taking
    the first rows)."""
    from .ops import index as I
    z = _zeros(shape, g.dtype, g.device)
    if g.shape[0]:
        I.assign_(z[:g.shape[0]], g)
    return z


def _wants(t):
    """``t`` if it is a tensor that requires grad (an operand needing a gradient), else None."""
    return t if isinstance(t, _tensor()) and t._requires_grad else None


def _zeros(shape, dtype, dev):
    return E.fill(tuple(shape), 0, dtype, device=dev)


# ---------------------------------------------------------------- differentiable ops
def binary(name, x, y):
    out = E.fast_binary(name, x, y)  # a replayed plan (never one that needs a gradient)
    if out is not None:
        return out
    out = E.binary(name, x, y)
    if not needs_grad(x, y) or out.dtype.kind != "f":
        return out
    if name not in ("add", "sub", "mul", "div"):
        return out
    xt, yt = _wants(x), _wants(y)

    def backward(g):
        gx = gy = None
        if name in ("add", "sub"):
            gx = g if xt is not None else None
            gy = (g if name == "add" else -g) if yt is not None else None
        elif name == "mul":
            gx = g * y if xt is not None else None
            gy = g * x if yt is not None else None
        else:  # div
            gx = g / y if xt is not None else None
            gy = -(g * x) / (y * y) if yt is not None else None
        return (None if gx is None else _like(gx, xt), None if gy is None else _like(gy, yt))

    T = _tensor()
    saved = [t for t in (x, y) if isinstance(t, T)] if name in ("mul", "div") else []
    return attach(out, (xt, yt), backward, name, saved=saved)


def neg(x):
    out = E.neg(x)
    if not needs_grad(x):
        return out
    return attach(out, (x,), lambda g: (-g,), "neg")


def abs(x):  # noqa: A001
    out = E.abs_(x)
    if not needs_grad(x):
        return out

    def backward(g):
        sign = (x > 0).to(g.dtype) - (x < 0).to(g.dtype)
        return (_like(g * sign, x),)
    return attach(out, (x,), backward, "abs", saved=(x,))


def where(cond, x, y):
    out = E.where(cond, x, y)
    if not needs_grad(x, y) or out.dtype.kind != "f":
        return out
    xt, yt = _wants(x), _wants(y)

    def backward(g):
        return (None,
                _like(E.where(cond, g, 0.0), xt) if xt is not None else None,
                _like(E.where(cond, 0.0, g), yt) if yt is not None else None)
    return attach(out, (None, xt, yt), backward, "where", saved=(cond,))


def masked_fill(x, mask, value):
    out = select.masked_fill(x, mask, value)
    if not needs_grad(x, value) or out.dtype.kind != "f":
        return out
    vt = _wants(value)

    def backward(g):
        gx = _like(E.where(mask, 0.0, g), x) if x._requires_grad else None
        gv = None
        if vt is not None:
            gv = R.sum(E.where(mask, g, 0.0)).to(vt.dtype)
        return gx, None, gv
    return attach(out, (x, None, vt), backward, "masked_fill", saved=(mask,))


def masked_select(x, mask, out=None, fill_value=None):
    res = select.masked_select(x, mask, out=out, fill_value=fill_value)
    if not needs_grad(x):
        return res
    shape = tuple(select._check_mask(x, mask, "masked_select"))

    def backward(g):
        # The gradient of the packed result goes back to the selected positions;
        # g has N elements (the fixed size), so no count is needed.
        z = _zeros(shape, g.dtype, g.device)
        return (_like(select.masked_scatter(z, mask, g), x), None)
    return attach(res, (x, None), backward, "masked_select", saved=(mask,))


def narrow0(t, k):
    """The first k rows of ``t`` as their own tensor (masked_select_async, x[mask])."""
    out = select._exact(t, k)
    if not needs_grad(t):
        return out

    return attach(out, (t,), lambda g: (_pad_rows(g, t.shape),), "narrow")


def masked_scatter(x, mask, source):
    out = select.masked_scatter(x, mask, source)
    if not needs_grad(x, source) or out.dtype.kind != "f":
        return out
    shape = out.shape

    def backward(g):
        gx = _like(E.where(mask, 0.0, g), x) if x._requires_grad else None
        gs = None
        if source._requires_grad:
            # Source element j fed the j-th selected position: the packed gradient
            # (zeros past the count) is source's gradient, cut or padded to its size.
            packed = select.masked_select(g, mask.expand(shape), fill_value=0)
            m = source.numel()
            gs = packed[:m] if m <= packed.numel() else _pad_rows(packed, (m,))
            gs = gs.reshape(source.shape).contiguous()
        return gx, None, gs
    return attach(out, (x, None, source), backward, "masked_scatter", saved=(mask,))


def _reduced_dims(x, dim):
    from .tensor import _norm_dim
    if dim is None:
        return tuple(range(x.ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return tuple(sorted({_norm_dim(d, x.ndim) for d in dims})) if x.ndim else ()


def _expand_back(g, x, dim, keepdim, scale=None):
    dims = _reduced_dims(x, dim)
    if not keepdim and x.ndim:
        shape = tuple(1 if i in dims else s for i, s in enumerate(x.shape))
        g = g.reshape(shape)
    if scale is not None:
        g = g * scale
    return g.expand(x.shape).to(x.dtype)


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    out = R.sum(x, dim, keepdim, dtype=dtype)
    if not needs_grad(x) or out.dtype.kind != "f":
        return out
    return attach(out, (x,), lambda g: (_expand_back(g, x, dim, keepdim),), "sum")


def mean(x, dim=None, keepdim=False, dtype=None):
    out = R.mean(x, dim, keepdim, dtype=dtype)
    if not needs_grad(x):
        return out
    count = math.prod(x.shape[d] for d in _reduced_dims(x, dim))
    return attach(out, (x,), lambda g: (_expand_back(g, x, dim, keepdim, 1.0 / max(count, 1)),), "mean")


def view_op(x, out, name):
    """Reshaping views and copies (reshape, view, flatten, squeeze, unsqueeze,
    clone, contiguous): the gradient is reshaped back."""
    if not needs_grad(x):
        return out
    return attach(out, (x,), lambda g: (g.reshape(x.shape),), name)


def expand(x, out):
    if not needs_grad(x):
        return out
    return attach(out, (x,), lambda g: (_sum_to(g, x.shape),), "expand")


def cast(x, out):
    if not needs_grad(x) or out.dtype.kind != "f":
        return out
    return attach(out, (x,), lambda g: (g.to(x.dtype),), "to")


def getitem(x, key, out):
    """Basic indexing (ints, slices, None, ...): the gradient lands in a zero tensor."""
    if not needs_grad(x):
        return out

    def backward(g):
        from .ops import index as I
        z = _zeros(x.shape, g.dtype, g.device)
        if g.numel():
            I.assign_(z[key], g)
        return (z,)
    return attach(out, (x,), backward, "getitem")


def index_get(x, idx):
    from .ops import index as I
    out = I.index_get(x, idx)
    if not needs_grad(x):
        return out

    def backward(g):
        z = _zeros(x.shape, g.dtype, g.device)
        return (I.index_add_(z, idx, g, check=False),)  # checked by the forward pass
    return attach(out, (x,), backward, "index", saved=(idx,))


def gather(x, dim, index):
    from .ops import index as I
    out = I.gather(x, dim, index)
    if not needs_grad(x):
        return out

    def backward(g):
        z = _zeros(x.shape, g.dtype, g.device)
        return (I.scatter_add_(z, dim, index, g, check=False),)  # checked by the forward pass
    return attach(out, (x,), backward, "gather", saved=(index,))


# ---------------------------------------------------------------- backward
def backward(root, gradient=None):
    T = _tensor()
    if not root._requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if root.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        gradient = _zeros(root.shape, root.dtype, root.device) + 1.0
    elif not isinstance(gradient, T):
        raise TypeError(f"backward: gradient must be a Tensor, got {type(gradient).__name__}")
    elif gradient.shape != root.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {gradient.shape} and output[0] "
                           f"has a shape of {root.shape}.")
    order, seen = [], set()

    def visit(t):  # iterative DFS: deep graphs must not hit Python's recursion limit
        stack = [(t, False)]
        while stack:
            cur, done = stack.pop()
            if done:
                order.append(cur)
                continue
            if id(cur) in seen:
                continue
            seen.add(id(cur))
            stack.append((cur, True))
            if cur._node is not None:
                for i in cur._node.inputs:
                    if i is not None and i._requires_grad and id(i) not in seen:
                        stack.append((i, False))
    visit(root)
    grads = {id(root): gradient.detach()}
    with no_grad():
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            node = t._node
            if node is None:
                g = g if g.shape == t.shape else g.reshape(t.shape)
                g = g.contiguous() if g.dtype is t.dtype else g.to(t.dtype)
                t.grad = g if t.grad is None else t.grad + g
                continue
            for s, version in node.saved:
                if s._st.version != version:
                    raise RuntimeError("one of the tensors needed for gradient computation has been modified "
                                       f"by an in-place operation (saved by {node.name})")
            for i, gi in zip(node.inputs, node.backward(g)):
                if i is None or gi is None or not i._requires_grad:
                    continue
                prev = grads.get(id(i))
                grads[id(i)] = gi if prev is None else prev + gi

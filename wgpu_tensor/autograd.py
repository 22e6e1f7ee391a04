"""The tape: reverse-mode autograd in the micrograd style.

A differentiable op (wgpu_tensor.opdefs) applied to tensors that require grad
returns a tensor with a ``_node``: the input tensors and a ``backward(grad) ->
grads`` closure over the op's gradient rule, written with the same GPU ops as the
forward pass (no host round trips; gradients are Views). ``backward()`` walks the
nodes in reverse topological order and accumulates ``.grad`` on the leaves.

Saved inputs carry their storage's version: an in-place op on one of them before
``backward()`` raises, as in PyTorch.
"""
from __future__ import annotations

import contextlib
import threading

from .ops import elementwise as E
from .ops import reduce as R

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether ops are recorded for backward() now (False inside ``no_grad()``).

    >>> wt.is_grad_enabled()
    True
    >>> with wt.no_grad():
    ...     wt.is_grad_enabled()
    False
    """
    return getattr(_state, "enabled", True)


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = self.enabled

    def __exit__(self, *exc):
        _state.enabled = self.prev


def no_grad() -> _GradMode:
    """Context manager (or decorator): ops inside record nothing.

    >>> x = wt.tensor([1.], requires_grad=True)
    >>> with wt.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (or decorator): ops inside are recorded again, even within no_grad.

    >>> x = wt.tensor([1.], requires_grad=True)
    >>> with wt.no_grad(), wt.enable_grad():
    ...     (x * 2).requires_grad
    True
    """
    return _GradMode(True)


class Node:
    """How an output was made: its inputs (tensors, or None where no gradient flows),
    the backward closure (gradient View -> one gradient View or None per input), the
    (storage, version) pairs the closure reads, and the op's name."""

    __slots__ = ("inputs", "backward", "saved", "name")

    def __init__(self, inputs, backward, saved, name):
        self.inputs = inputs
        self.backward = backward
        self.saved = saved
        self.name = name


def attach(out, inputs, backward, name, saved=()):
    """Make tensor ``out`` the result of a differentiable op over ``inputs``; ``saved``
    holds the storages the rule reads."""
    out._requires_grad = True
    out._node = Node(tuple(inputs), backward, tuple((s, s.version) for s in saved), name)
    return out


def check_inplace(t, what):
    """An in-place op may not write a tensor that takes part in autograd."""
    if t._requires_grad and is_grad_enabled():
        if t._node is None:
            raise RuntimeError(f"a leaf tensor that requires grad is being used in an in-place operation "
                               f"({what}); wrap it in wt.no_grad() or use the out-of-place op")
        raise RuntimeError(f"{what}: in-place ops on tensors that require grad are not supported by "
                           "wgpu_tensor's autograd; use the out-of-place op")


def _sum_to(g, shape):
    """Sum a gradient over the dims that broadcasting added or stretched."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if dims:
        g = R.sum(g, dims, True)
    return E.reshape(g, shape)


def like(g, t):
    """Gradient View ``g`` in the shape and dtype of input View ``t``."""
    g = _sum_to(g, t.shape)
    return g if g.dtype is t.dtype else E.cast(g, t.dtype)


# ---------------------------------------------------------------- backward
def backward(root, gradient=None):
    """Accumulate d(root)/d(leaf) into every leaf's ``.grad`` (``gradient``: a tensor of
    root's shape, required unless root has one element)."""
    if not root._requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    rv = root._v
    if gradient is None:
        if rv.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        g0 = E.fill(rv.shape, 1.0, rv.dtype, device=rv.device)
    elif type(gradient) is not type(root):
        raise TypeError(f"backward: gradient must be a Tensor, got {type(gradient).__name__}")
    elif gradient._v.shape != rv.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {gradient._v.shape} and output[0] "
                           f"has a shape of {rv.shape}.")
    else:
        g0 = gradient._v
    order, seen = [], set()
    stack = [(root, False)]
    while stack:  # iterative DFS: deep graphs must not hit Python's recursion limit
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
    grads = {id(root): g0}
    with no_grad():
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            node, tv = t._node, t._v
            if node is None:  # a leaf
                if g.shape != tv.shape:
                    g = E.reshape(g, tv.shape)
                g = E.contiguous(g) if g.dtype is tv.dtype else E.cast(g, tv.dtype)
                t.grad = t._wrap(g) if t.grad is None else t._wrap(E.binary("add", t.grad._v, g))
                continue
            for s, version in node.saved:
                if s.version != version:
                    raise RuntimeError("one of the tensors needed for gradient computation has been modified "
                                       f"by an in-place operation (saved by {node.name})")
            for i, gi in zip(node.inputs, node.backward(g)):
                if i is None or gi is None or not i._requires_grad:
                    continue
                gi = like(gi, i._v)
                prev = grads.get(id(i))
                grads[id(i)] = gi if prev is None else E.binary("add", prev, gi)

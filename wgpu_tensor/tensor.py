"""The Tensor: a View (wgpu_tensor.view) with autograd, operators, host transfer and repr.

Every op reaches the GPU through one route: its declaration in wgpu_tensor.opdefs.
``apply`` unwraps the Tensor arguments to Views, runs the declared forward, wraps
the result, and records the declared gradient rule on the tape (wgpu_tensor.autograd)
when an input requires grad. Tensor methods and the ``wt.`` functions are made from
those declarations; the few composites here (``x[mask]``, ``repeat``, ...) are built
from declared ops, so their gradients come for free. This module makes no wgpu calls.
"""
from __future__ import annotations

import builtins  # Tensor's bool/int/float methods shadow the builtins in its body
import inspect
import math
import re
from collections.abc import Iterator
from typing import overload

import numpy as np

from . import autograd as A
from . import dtypes as D
from .dtypes import DType
from .opdefs import OPS, tensor_key
from .ops import advanced as AD
from .ops import creation as C
from .ops import elementwise as E
from .ops import interop as IO
from .ops import select as S
from .runtime.device import Device
from .view import View, as_shape, norm_dim

Shape = tuple  # a tensor's shape: a tuple of ints


def _unwrap(a):
    c = a.__class__
    if c is Tensor:
        return a._v
    if (c is tuple or c is list) and any(x.__class__ is Tensor for x in a):
        return c(x._v if x.__class__ is Tensor else x for x in a)
    return a


def _wrap_out(out):
    if out.__class__ is View:
        return Tensor._wrap(out)
    if isinstance(out, tuple):  # (values, indices) named tuples, nonzero_async's tuple
        return type(out)(*[_wrap_out(o) for o in out]) if hasattr(out, "_fields") else \
            tuple(_wrap_out(o) for o in out)
    return out


def apply(op, *args, **kwargs):
    """Run declared op ``op`` on Tensors and Python values: the one route of every op."""
    vargs = [_unwrap(a) for a in args]
    vkw = {k: _unwrap(v) for k, v in kwargs.items()} if kwargs else kwargs
    if op.inplace:
        target = args[0]
        A.check_inplace(target, op.name)
        op.forward(*vargs, **vkw)
        target._v._st.version += 1
        return target
    out = op.forward(*vargs, **vkw)
    if kwargs.get("out") is not None and out is kwargs["out"]._v:
        return kwargs["out"]
    res = _wrap_out(out)
    if kwargs.get("requires_grad"):
        res.requires_grad = True  # RuntimeError for a non-float dtype
        return res
    if op.backward is None or not A.is_grad_enabled():
        return res
    want = tuple(a.__class__ is Tensor and a._requires_grad for a in args)
    if not any(want):
        return res
    first = res[0] if isinstance(res, tuple) else res
    if first._v.dtype.kind != "f":
        return res
    rule, ov = op.backward, first._v
    rkw = {k: v for k, v in vkw.items() if k != "out"} if vkw else vkw  # a rule's `out` is the result

    def backward(g):
        return rule(g, ov, want, *vargs, **rkw)
    saved = [vargs[i]._st for i in op.saves if i < len(vargs) and vargs[i].__class__ is View]
    A.attach(first, [a if w else None for a, w in zip(args, want)], backward, op.name, saved)
    return res


COMPOSITES = {}  # public wt. functions composed here of declared ops (cat, split, ...)


def composite(f):
    """Make ``f`` (composed of declared ops) a public ``wt.`` function too."""
    COMPOSITES[f.__name__] = f
    return f


def functions():
    """{name: the public ``wt.<name>`` function} of every declared op that has one, and
    the composites."""
    return {**{o.name: function(o.name) for o in OPS.values() if o.function}, **COMPOSITES}


def function(name):
    """The public ``wt.<name>`` function of a declared op."""
    op = OPS[name]

    def f(*args, **kwargs):
        return apply(op, *args, **kwargs)
    f.__name__ = f.__qualname__ = name
    f.__module__ = "wgpu_tensor"  # where help() and pickle find it: wt.<name>
    f.__doc__ = op.doc
    f.__signature__ = signature(op.forward)
    return f


def _method(name):
    op = OPS[name]

    def m(self, *args, **kwargs):
        return apply(op, self, *args, **kwargs)
    m.__name__ = name
    m.__qualname__ = f"Tensor.{name}"
    m.__doc__ = op.doc
    m.__signature__ = signature(op.forward, method=True)
    return m


def signature(forward, method=False):
    """The public signature of a declared op: its forward's parameters, with Tensor in
    place of View in the annotations (help() and IDEs show these); a method's first
    parameter is ``self``."""
    sig = inspect.signature(forward)
    params = [p.replace(annotation=_public(p.annotation)) for p in sig.parameters.values()]
    if method and params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        params[0] = inspect.Parameter("self", params[0].POSITIONAL_OR_KEYWORD)
    return sig.replace(parameters=params, return_annotation=_public(sig.return_annotation))


def _public(annotation):
    if annotation is View:
        return "Tensor"
    if isinstance(annotation, str):
        return re.sub(r"\bView\b", "Tensor", annotation)
    return annotation


def _binop(name, reflected=False):
    """An operator method: the elementwise plan replayed when nothing needs a gradient
    (wgpu_tensor.ops.elementwise.fast_binary), else the declared op."""
    op = OPS[name]
    fast = E.fast_binary

    def m(self, other):
        a, b = (other, self) if reflected else (self, other)
        ca, cb = a.__class__, b.__class__
        va = a._v if ca is Tensor else a
        vb = b._v if cb is Tensor else b
        if not ((ca is Tensor and a._requires_grad) or (cb is Tensor and b._requires_grad)) \
                or not A.is_grad_enabled():
            out = fast(name, va, vb)
            if out is not None:
                t = object.__new__(Tensor)
                t._v, t._node, t._requires_grad, t.grad, t._count = out, None, False, None, None
                return t
        return apply(op, a, b)
    m.__name__ = name
    m.__qualname__ = f"Tensor.{name}"
    m.__doc__ = op.doc
    m.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("other", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Tensor | float")],
        return_annotation="Tensor")
    return m


def _inplace_binop(name):
    op = OPS["binary_"]

    def m(self: Tensor, other: Tensor | bool | int | float) -> Tensor:
        return apply(op, self, name, other)
    m.__name__ = f"{name}_"
    m.__qualname__ = f"Tensor.{name}_"
    sign, res = {"add": ("+", "[6., 8.]"), "sub": ("-", "[2., 4.]"), "mul": ("*", "[ 8., 12.]"),
                 "div": ("/", "[2., 3.]")}[name]
    m.__doc__ = f"""``x {sign}= other`` in place (the result must keep x's shape and dtype, as in
    PyTorch); returns x.

    >>> x = wt.tensor([4., 6.])
    >>> x.{name}_(2)
    tensor({res})
    >>> x
    tensor({res})"""
    return m


_REPR_FULL = 1000


@composite
def as_tensor(data, dtype: DType | str | None = None, device: object = None) -> Tensor:
    """``data`` itself when it is already a tensor of ``dtype`` (no copy), else a new
    tensor from it (torch.as_tensor; a numpy array is copied to the GPU, not shared).

    >>> x = wt.tensor([1, 2])
    >>> wt.as_tensor(x) is x
    True
    >>> wt.as_tensor([1.5, 2.5])
    tensor([1.5000, 2.5000])
    """
    if data.__class__ is Tensor and (dtype is None or D.to_dtype(dtype) is data.dtype):
        if device is not None:
            _check_device(device)
        return data
    return function("tensor")(data, dtype=dtype, device=device)


@composite
def is_tensor(obj: object) -> bool:
    """Whether ``obj`` is a wgpu_tensor Tensor (torch.is_tensor).

    >>> wt.is_tensor(wt.tensor([1])), wt.is_tensor([1])
    (True, False)
    """
    return isinstance(obj, Tensor)


def _check_device(d):
    """Any device a ported program names is this adapter: "cpu" and "cuda" included
    (the data is reachable from the host through .numpy() either way)."""
    if not C.is_device_name(d):
        raise ValueError(f"device={d!r}: wgpu_tensor runs on one WebGPU adapter; use None, 'cpu', "
                         "'cuda' or a tensor's .device")


def _from_host(array, dtype, requires_grad):
    t = function("tensor")(array, dtype=dtype)
    if requires_grad:
        t.requires_grad_()
    return t


class Tensor:
    """A tensor whose data lives in a GPU buffer (wgpu): ``shape``, ``dtype``, ``device``,
    and, for a fixed-size result, ``count``. Made by ``wt.tensor``, ``wt.zeros``,
    ``wt.from_numpy``, ... (not by calling the class). ``grad`` holds the gradient
    accumulated by ``backward()`` (None until then), as in PyTorch.

    >>> x = wt.tensor([[1., -2.], [3., 4.]], requires_grad=True)
    >>> x.shape, x.dtype
    ((2, 2), wgpu_tensor.float32)
    >>> x[x > 0].tolist()
    [1.0, 3.0, 4.0]
    >>> x.grad is None
    True
    >>> x.relu().sum().backward()
    >>> x.grad
    tensor([[1., 0.],
            [1., 1.]])
    """
    __slots__ = ("_v", "_node", "_requires_grad", "grad", "_count", "__weakref__", "__dict__")  # PyTorch lets users add attributes
    __hash__ = object.__hash__
    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, *a, **k):
        raise TypeError("create tensors with wgpu_tensor.tensor(), zeros(), from_numpy(), ...")

    @classmethod
    def _wrap(cls, v):
        t = object.__new__(cls)
        t._v, t._node, t._requires_grad, t.grad, t._count = v, None, False, None, None
        return t

    # ---------------------------------------------------------------- metadata
    @property
    def shape(self) -> Shape:
        """The size of each dim, a tuple of ints (PyTorch's torch.Size is a tuple too). A
        fixed-size result's shape is its capacity; ``.count`` holds the valid length.

        >>> wt.zeros(2, 3).shape
        (2, 3)
        """
        return self._v.shape

    @property
    def dtype(self) -> DType:
        """The element type: wt.bool, wt.int32, wt.uint32, wt.float16 or wt.float32.

        >>> wt.tensor([1.5]).dtype
        wgpu_tensor.float32
        """
        return self._v.dtype

    @property
    def device(self) -> Device:
        """The WebGPU device holding the data (there is one; ``.to(x.device)`` works).

        >>> x = wt.tensor([1])
        >>> x.device is wt.tensor([2]).device
        True
        """
        return self._v.device

    @property
    def count(self) -> Tensor | None:
        """For a fixed-size result (masked_select, nonzero, ...): a 0-d int32 tensor on the GPU
        holding how many leading elements are valid; None otherwise. PyTorch has no such
        attribute: its results have the exact size, which costs a sync.

        >>> x = wt.tensor([3, 8, 1, 9])
        >>> sel = x.masked_select(x > 2)
        >>> sel.count
        tensor(3)
        >>> x.count is None
        True
        """
        c = self._v.count
        if c is None:
            return None
        if self._count is None or self._count._v is not c:
            self._count = Tensor._wrap(c)
        return self._count

    @property
    def ndim(self) -> int:
        """The number of dims.

        >>> wt.zeros(2, 3).ndim
        2
        """
        return len(self._v.shape)

    def dim(self) -> int:
        """The number of dims (as ``ndim``).

        >>> wt.tensor(1.).dim()
        0
        """
        return len(self._v.shape)

    def numel(self) -> int:
        """The number of elements (of the capacity, for a fixed-size result).

        >>> wt.zeros(2, 3).numel()
        6
        """
        return self._v.numel()

    @overload
    def size(self, dim: None = None) -> Shape: ...

    @overload
    def size(self, dim: int) -> int: ...

    def size(self, dim: int | None = None) -> Shape | int:
        """The shape, or the size of one dim (negative dims count from the end).

        >>> x = wt.zeros(2, 3)
        >>> x.size(), x.size(-1)
        ((2, 3), 3)
        """
        return self._v.shape if dim is None else self._v.shape[norm_dim(dim, self.ndim)]

    @overload
    def stride(self, dim: None = None) -> Shape: ...

    @overload
    def stride(self, dim: int) -> int: ...

    def stride(self, dim: int | None = None) -> Shape | int:
        """The step in elements between neighbours along each dim (or along one).

        >>> x = wt.zeros(2, 3)
        >>> x.stride(), x.t().stride()
        ((3, 1), (1, 3))
        """
        return self._v._strides if dim is None else self._v._strides[norm_dim(dim, self.ndim)]

    def element_size(self) -> int:
        """Bytes per element (a bool is one byte, as in numpy and PyTorch).

        >>> wt.zeros(1).element_size(), wt.zeros(1, dtype=wt.bool).element_size()
        (4, 1)
        """
        return self._v.dtype.itemsize

    # ---------------------------------------------------------------- wgpu interop (ops/interop.py)
    @property
    def buffer(self):
        """The wgpu.GPUBuffer holding this tensor's elements (shared, not a copy), to
        bind in your own shaders or render pipelines; its first element is at byte
        ``buffer_offset``, element (i, j, ...) at ``buffer_offset + element_size() *
        (i * stride(0) + j * stride(1) + ...)``. A counted result's valid length is
        ``t.count``, whose ``.buffer`` holds it as an int32.

        Taking it submits the GPU work wgpu_tensor has recorded so far (it batches
        commands and submits them at sync points), so that your own submissions,
        which the queue runs later, see its results; wgpu_tensor work recorded after
        that is submitted later still: take ``.buffer`` again before your next
        submission that uses it. A buffer of wgpu_tensor's own pool is reused once
        the tensor is freed: keep the tensor alive while you use it. A storage
        binding must start at a multiple of the device's
        min-storage-buffer-offset-alignment (256 bytes usually): bind from 0 and add
        the offset in your shader when ``buffer_offset`` is not. No PyTorch analogue
        (closest: ``data_ptr()``).

        >>> t = wt.arange(6, dtype=wt.float32)
        >>> t.buffer.size >= 24, t[2:].buffer_offset
        (True, 8)
        """
        return IO.buffer_of(self._v)[0]

    @property
    def buffer_offset(self):
        """Byte offset of this tensor's first element in ``.buffer``
        (``storage_offset() * element_size()``).

        >>> wt.zeros(4, 4)[1].buffer_offset
        16
        """
        return self._v._offset * self._v.dtype.itemsize

    def storage_offset(self):
        """Offset of this tensor's first element in its storage, in elements (as PyTorch).

        >>> wt.zeros(4, 4)[1, 2:].storage_offset()
        6
        """
        return self._v._offset

    @property
    def nbytes(self):
        """Bytes of the elements, ``numel() * element_size()`` (as PyTorch).

        >>> wt.zeros(3, dtype=wt.float16).nbytes
        6
        """
        return self._v.numel() * self._v.dtype.itemsize

    def is_contiguous(self) -> bool:
        """Whether the elements lie in row-major order without gaps (an empty tensor is).

        >>> x = wt.zeros(2, 3)
        >>> x.is_contiguous(), x.t().is_contiguous()
        (True, False)
        """
        return self._v.is_contiguous()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        rows = self.shape[0] if self._v.count is None else S.read_count(self._v.count)
        for i in range(min(rows, self.shape[0])):
            yield self[i]

    # ---------------------------------------------------------------- autograd (autograd.py)
    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded for ``backward()`` (float tensors only;
        settable on leaves).

        >>> x = wt.tensor([1., 2.])
        >>> x.requires_grad
        False
        >>> x.requires_grad = True
        >>> (x * 2).requires_grad
        True
        """
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if self._node is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use .detach()")
        if flag and self.dtype.kind != "f":
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, got {self.dtype.name}")
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns the tensor.

        >>> wt.tensor([1., 2.]).requires_grad_()
        tensor([1., 2.], requires_grad=True)
        """
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """Whether the tensor was made by the user rather than by a recorded op.

        >>> x = wt.tensor([1.], requires_grad=True)
        >>> x.is_leaf, (x * 2).is_leaf
        (True, False)
        """
        return self._node is None

    @property
    def grad_fn(self):
        """The tape node that made this tensor (None for a leaf or without grad).

        >>> x = wt.tensor([1.], requires_grad=True)
        >>> x.grad_fn is None, (x * 2).grad_fn is None
        (True, False)
        """
        return self._node

    def detach(self) -> Tensor:
        """The same data, cut from the tape (shares the storage; keeps a count).

        >>> x = wt.tensor([1., 2.], requires_grad=True)
        >>> (x * 2).detach()
        tensor([2., 4.])
        """
        v = self._v
        d = v.derive(v.shape, v._strides, v._offset)
        d.count = v.count
        return Tensor._wrap(d)

    def backward(self, gradient: Tensor | None = None) -> None:
        """Accumulate the gradient of this tensor with respect to every leaf that requires
        grad into their ``.grad`` (``gradient`` is required for a non-scalar output).

        >>> x = wt.tensor([1., 2., 3.], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4., 6.])
        """
        A.backward(self, gradient)

    # ---------------------------------------------------------------- host transfer
    def _read_plan(self):
        t = E.contiguous(self._v)
        return t, t._offset * t.dtype.itemsize, t.numel() * t.dtype.itemsize

    def _from_bytes(self, raw):
        if isinstance(raw, tuple):  # (count, bytes) of a counted tensor: its valid rows
            k, raw = raw
            a = np.frombuffer(raw.data, dtype=self.dtype.np).reshape(self.shape) if raw.size else \
                np.zeros(self.shape, dtype=self.dtype.np)
            return a[:max(0, min(k, self.shape[0]))]
        return np.frombuffer(raw.data, dtype=self.dtype.np).reshape(self.shape) if raw.size else \
            np.zeros(self.shape, dtype=self.dtype.np)

    def _count_src(self):
        c = self._v.count
        return None if c is None else (c._buf, c._offset * 4)

    def numpy(self, *, _explicit: bool = True) -> np.ndarray:
        """Copy to the host (one GPU-to-CPU read). A counted tensor gives its valid rows
        only: the count is read in the same round trip.

        >>> wt.tensor([[1, 2], [3, 4]]).numpy()
        array([[1, 2],
               [3, 4]], dtype=int32)
        >>> x = wt.tensor([5, 1, 7])
        >>> x.masked_select(x > 2).numpy()
        array([5, 7], dtype=int32)
        """
        t, off, nbytes = self._read_plan()
        return self._from_bytes(self.device.read(t._buf, off, nbytes, explicit=_explicit,
                                                 count=self._count_src()))

    async def numpy_async(self) -> np.ndarray:
        """Copy to the host without blocking the event loop (as ``numpy()``, awaited).

        >>> import asyncio
        >>> asyncio.run(wt.tensor([1., 2.]).numpy_async())
        array([1., 2.], dtype=float32)
        """
        t, off, nbytes = self._read_plan()
        return self._from_bytes(await self.device.read_async(t._buf, off, nbytes, count=self._count_src()))

    def tolist(self) -> list | bool | int | float:
        """The values as (nested) Python lists (one read; a counted tensor: its valid rows).

        >>> wt.tensor([[1, 2], [3, 4]]).tolist()
        [[1, 2], [3, 4]]
        >>> wt.tensor(2.5).tolist()
        2.5
        """
        return self.numpy().tolist()

    def item(self) -> bool | int | float:
        """The one value of a one-element tensor as a Python number (one explicit read).

        >>> wt.tensor([[7]]).item()
        7
        >>> wt.tensor([1., 2.]).sum().item()
        3.0
        """
        if self._v.count is not None:
            a = self.numpy()
            if a.size != 1:
                raise RuntimeError(f"a Tensor with {a.size} valid elements cannot be converted to Scalar")
            return a.reshape(()).item()
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self.numpy().reshape(()).item()

    def _implicit_scalar(self, what):
        if self._v.count is not None:
            a = self.numpy(_explicit=False)
            if a.size != 1:
                raise RuntimeError(f"{what} of a Tensor with {a.size} valid values is ambiguous")
            return a.reshape(()).item()
        if self.numel() != 1:
            raise RuntimeError(f"{what} of a Tensor with {self.numel()} values is ambiguous")
        return self.numpy(_explicit=False).reshape(()).item()

    def __bool__(self) -> bool:
        return bool(self._implicit_scalar("Boolean value"))

    def __int__(self) -> int:
        return int(self._implicit_scalar("int()"))

    def __float__(self) -> float:
        return float(self._implicit_scalar("float()"))

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._implicit_scalar("index"))

    def __array__(self, dtype: object = None, copy: bool | None = None) -> np.ndarray:
        a = self.numpy(_explicit=False)
        return a.astype(dtype) if dtype is not None else a

    def __repr__(self) -> str:
        text = self._repr_body()
        if self._node is not None:
            name = "".join(p.capitalize() for p in self._node.name.split("_"))
            return f"{text[:-1]}, grad_fn=<{name}Backward0>)"
        if self._requires_grad:
            return f"{text[:-1]}, requires_grad=True)"
        return text

    def _repr_body(self):
        if self._v.count is not None:
            return self._repr_counted()
        n = self.numel()
        if n <= _REPR_FULL:
            return _format(self.numpy(_explicit=False), self.dtype)
        # Big tensors print a summary that reads only 2 x 3 elements, never the
        # whole tensor (asyncio.run, for one, reprs the main coroutine's result).
        flat = Tensor._wrap(E.reshape(self._v, (-1,)))
        head = flat[:3].numpy(_explicit=False)
        tail = flat[-3:].numpy(_explicit=False)
        body = _format(np.concatenate([head, tail]), self.dtype)
        i = _nth_comma(body, 3)
        # 1-D prints as PyTorch does; more dims add the size (the 6 are in flat order).
        size = "" if self.ndim == 1 else f", size={self.shape}"
        return f"{body[:i]},  ...{body[i:-1]}{size})"

    __str__ = __repr__

    def _repr_counted(self):
        """``tensor([4, 5, 6], count=3 of 6)``: the valid rows (past 1000 elements a
        summary of them, after reading the count), and how many of the capacity."""
        v, cap = self._v, self._v.shape[0]
        if self.numel() <= _REPR_FULL:
            a = self.numpy(_explicit=False)  # the valid rows and the count in one read
            body, k = _format(a, self.dtype), a.shape[0]
        else:
            k = min(cap, max(0, S.read_count(v.count, explicit=False)))
            body = Tensor._wrap(v.derive(v.shape, v._strides, v._offset).basic_index(slice(0, k)))._repr_body()
        return f"{body[:-1]}, count={k} of {cap})"

    # ---------------------------------------------------------------- views and shape
    def view(self, *shape: int) -> Tensor:
        return apply(OPS["view"], self, as_shape(shape))

    def reshape(self, *shape: int) -> Tensor:
        return apply(OPS["reshape"], self, as_shape(shape))

    def expand(self, *sizes: int) -> Tensor:
        return apply(OPS["expand"], self, as_shape(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        """A view broadcast to ``other``'s shape (as ``expand(other.shape)``).

        >>> wt.tensor([1, 2]).expand_as(wt.zeros(2, 2))
        tensor([[1, 2],
                [1, 2]])
        """
        return self.expand(other.shape)

    def repeat(self, *reps: int) -> Tensor:
        """A copy tiled ``reps`` times along each dim (extra leading reps add dims).

        >>> wt.tensor([1, 2]).repeat(2)
        tensor([1, 2, 1, 2])
        >>> wt.tensor([1, 2]).repeat(2, 1)
        tensor([[1, 2],
                [1, 2]])
        """
        reps = as_shape(reps)
        if len(reps) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                               "of dimensions of tensor")
        t = self.reshape((1,) * (len(reps) - self.ndim) + self.shape)
        inter, big = [], []
        for r, s in zip(reps, t.shape):
            inter += [1, s]
            big += [r, s]
        out = t.reshape(tuple(inter)).expand(tuple(big)).contiguous()
        return out.reshape(tuple(r * s for r, s in zip(reps, t.shape)))

    def contiguous(self) -> Tensor:
        """Itself when contiguous, else a contiguous copy.

        >>> x = wt.arange(6).reshape(2, 3).t()
        >>> x.is_contiguous(), x.contiguous().is_contiguous()
        (False, True)
        """
        return self if self.is_contiguous() else self.clone()

    def to(self, *args, dtype: DType | str | None = None, device: object = None, copy: bool = False,
           non_blocking: bool = False) -> Tensor:
        """``.to(dtype)``, ``.to(device)``, ``.to(device, dtype)``, ``.to(other_tensor)``
        as in PyTorch. A device ("cpu", "cuda", "cuda:0", a torch-style device or a
        tensor's ``.device``) changes nothing: the data stays on the one WebGPU adapter,
        and ``.numpy()`` reads it wherever the ported code expects it (see Devices).
        A 64-bit dtype gives its 32-bit type (one warning per process).

        >>> x = wt.tensor([1.7, -2.5])
        >>> x.to(wt.int32)
        tensor([ 1, -2])
        >>> x.to("cpu") is x
        True
        >>> x.to(wt.tensor([True])).dtype
        wgpu_tensor.bool
        """
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif C.is_device_name(a):
                device = a
            elif dtype is None:
                dtype = a
            else:
                raise TypeError(f"to() got an unexpected argument {a!r}")
        if device is not None:
            _check_device(device)
        if dtype is None:
            return self.clone() if copy else self
        dtype = D.to_dtype(dtype)
        if dtype is self.dtype:
            return self.clone() if copy else self
        return apply(OPS["to"], self, dtype)

    def cpu(self) -> Tensor:
        """Itself: the data stays on the GPU; ``.numpy()`` copies it to the host (so
        PyTorch's ``t.cpu().numpy()`` works unchanged).

        >>> x = wt.tensor([1, 2])
        >>> x.cpu() is x, x.cpu().numpy().tolist()
        (True, [1, 2])
        """
        return self

    def cuda(self, device: object = None, non_blocking: bool = False) -> Tensor:
        """Itself: it already lives on the (one) WebGPU adapter.

        >>> x = wt.tensor([1, 2])
        >>> x.cuda() is x
        True
        """
        if device is not None:
            _check_device(device)
        return self

    @property
    def is_cuda(self) -> bool:
        """False: the data lives on a WebGPU adapter, not a CUDA device.

        >>> wt.tensor([1]).is_cuda
        False
        """
        return False

    @property
    def data(self) -> Tensor:
        """The same data without autograd history (PyTorch's ``.data``).

        >>> x = wt.tensor([1., 2.], requires_grad=True)
        >>> x.data.requires_grad, x.data.tolist()
        (False, [1.0, 2.0])
        """
        return self.detach()

    def long(self) -> Tensor:
        """int64 requested: int32 (WebGPU has no 64-bit types; one warning per process).

        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     wt.tensor([1.5, 2.5]).long()
        tensor([1, 2])
        """
        return self.to(D.narrow_64("int64"))

    def double(self) -> Tensor:
        """float64 requested: float32 (WebGPU has no 64-bit types; one warning per process).

        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     wt.tensor([1, 2]).double().dtype
        wgpu_tensor.float32
        """
        return self.to(D.narrow_64("float64"))

    def _new(self, fn, *args, dtype=None, device=None, requires_grad=False, **kwargs):
        return function(fn)(*args, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad,
                                 **kwargs)

    def new_zeros(self, *size: int, **kw) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype (unless ``dtype=``).

        >>> wt.tensor([1, 2]).new_zeros(3)
        tensor([0, 0, 0])
        """
        return self._new("zeros", *size, **kw)

    def new_ones(self, *size: int, **kw) -> Tensor:
        """Ones of ``size`` with this tensor's dtype (unless ``dtype=``).

        >>> wt.tensor([1.]).new_ones(2, 1)
        tensor([[1.],
                [1.]])
        """
        return self._new("ones", *size, **kw)

    def new_empty(self, *size: int, **kw) -> Tensor:
        """An uninitialised tensor of ``size`` with this tensor's dtype (unless ``dtype=``).

        >>> y = wt.tensor([1, 2]).new_empty(2, 2)
        >>> y.shape, y.dtype
        ((2, 2), wgpu_tensor.int32)
        """
        return self._new("empty", *size, **kw)

    def new_full(self, size: Shape, fill_value: bool | int | float, **kw) -> Tensor:
        """``fill_value`` in a tensor of ``size`` with this tensor's dtype (unless ``dtype=``).

        >>> wt.tensor([1.]).new_full((2,), 3)
        tensor([3., 3.])
        """
        return self._new("full", size, fill_value, **kw)

    def new_tensor(self, data, dtype: DType | str | None = None, device: object = None,
                   requires_grad: bool = False) -> Tensor:
        """A new tensor from ``data`` with this tensor's dtype (unless ``dtype=``).

        >>> wt.tensor([1.]).new_tensor([2, 3])
        tensor([2., 3.])
        """
        return function("tensor")(data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor's value (one explicit read), as
        PyTorch; no spec gives the repr."""
        if not spec:
            return repr(self)
        if self.numel() == 1:
            return format(self.item(), spec)
        raise TypeError(f"unsupported format string passed to Tensor.__format__ (a tensor of shape "
                        f"{self.shape}; only one-element tensors take a format spec)")

    def __round__(self, ndigits: int | None = None) -> Tensor:
        """``round(t)`` / ``round(t, n)``: wt.round (half to even), a tensor, as PyTorch."""
        return apply(OPS["round"], self) if ndigits is None else apply(OPS["round"], self, decimals=ndigits)

    def __reduce__(self):
        """Pickling and copy.deepcopy go through host data (one read): a new tensor of the
        same values, dtype and requires_grad."""
        return (_from_host, (self.numpy() if self._v.count is None else self.uncounted().numpy(),
                             self.dtype.name, self._requires_grad))

    def __deepcopy__(self, memo):
        return _from_host(*self.__reduce__()[1])

    def float(self) -> Tensor:
        """A float32 copy (itself when already float32).

        >>> wt.tensor([1, 2]).float()
        tensor([1., 2.])
        """
        return self.to(D.float32)

    def half(self) -> Tensor:
        """A float16 copy (stored two per word and computed in f32, so it needs no
        ``shader-f16`` feature).

        >>> wt.tensor([1.5, 1/3]).half()
        tensor([1.5000, 0.3333], dtype=wgpu_tensor.float16)
        """
        return self.to(D.float16)

    def int(self) -> Tensor:
        """An int32 copy (floats truncate toward zero).

        >>> wt.tensor([1.7, -1.7]).int()
        tensor([ 1, -1])
        """
        return self.to(D.int32)

    def bool(self) -> Tensor:
        """A bool copy: nonzero is True.

        >>> wt.tensor([0., 0.5]).bool()
        tensor([False,  True])
        """
        return self.to(D.bool_)

    def type(self, dtype: DType | str | None = None) -> DType | Tensor:
        """The dtype (no argument; PyTorch gives a type name string), or a copy as ``dtype``.

        >>> x = wt.tensor([1, 2])
        >>> x.type()
        wgpu_tensor.int32
        >>> x.type(wt.float32)
        tensor([1., 2.])
        """
        return self.dtype if dtype is None else self.to(dtype)

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, key: object) -> Tensor:
        key = tensor_key(_unwrap(key))
        if AD.is_advanced(key):
            return apply(OPS["index_advanced"], self, AD.prepare(self._v, key))
        if key.__class__ is View:
            if key.dtype is D.bool_:
                return self._index_mask(Tensor._wrap(key))
            return apply(OPS["index"], self, key)
        return apply(OPS["getitem"], self, key)

    def _index_mask(self, mask):
        """x[mask]: a mask over x's leading dims selects whole sub-tensors; blocks
        once to read the count (the one sync of this path)."""
        full, rest = S.mask_over(self._v, mask._v)
        res = self.masked_select(Tensor._wrap(full))
        k = S.read_count(res._v.count)
        inner = math.prod(rest)
        return apply(OPS["narrow"], res, k).reshape((k // inner if inner else 0,) + rest)

    def __setitem__(self, key: object, value: Tensor | float | list | np.ndarray) -> None:
        if value.__class__ is Tensor and value._requires_grad and A.is_grad_enabled():
            raise RuntimeError("x[...] = value with a value that requires grad is not differentiable in "
                               "wgpu_tensor (its gradient would be lost): build the result out of place "
                               "(wt.where, masked_scatter, cat) or assign value.detach()")
        apply(OPS["x[...] = value"], self, key, value)

    def __delitem__(self, key: object) -> None:
        raise TypeError("'Tensor' object does not support item deletion")

    # ---------------------------------------------------------------- masking
    async def masked_select_async(self, mask: Tensor) -> Tensor:
        """The exact [k] selection (PyTorch's masked_select result); awaits only the 4-byte
        count, never blocks the event loop and never downloads the data.

        >>> import asyncio
        >>> x = wt.tensor([5, 1, 7])
        >>> asyncio.run(x.masked_select_async(x > 2))
        tensor([5, 7])
        """
        res = self.masked_select(mask)
        k = await S.read_count_async(res._v.count)
        return apply(OPS["narrow"], res, k)

    async def nonzero_async(self, *, as_tuple: builtins.bool = False) -> Tensor | tuple[Tensor, ...]:
        """The exact [k, ndim] coordinates (or a tuple of [k] per dim); awaits only the count.

        >>> import asyncio
        >>> m = wt.tensor([[False, True], [True, True]])
        >>> asyncio.run(m.nonzero_async())
        tensor([[0, 1],
                [1, 0],
                [1, 1]])
        >>> asyncio.run(m.nonzero_async(as_tuple=True))
        (tensor([0, 1, 1]), tensor([1, 0, 1]))
        """
        return _wrap_out(await S.nonzero_async(self._v, as_tuple=as_tuple))

    def zero_(self) -> Tensor:
        """Every element set to zero, in place; returns the tensor.

        >>> wt.tensor([1, 2]).zero_()
        tensor([0, 0])
        """
        return self.fill_(0)

    def __neg__(self) -> Tensor:
        return apply(OPS["neg"], self)

    def __pos__(self) -> Tensor:
        return self

    __eq__ = __ne__ = None  # the declared compares, set below


for _name in E.BINARY:
    setattr(Tensor, _name, _binop(_name))
for _name in ("add", "sub", "mul", "div"):
    setattr(Tensor, f"{_name}_", _inplace_binop(_name))
for _op in OPS.values():  # every other declared op is a method of its name
    if _op.method and _op.name not in Tensor.__dict__:
        setattr(Tensor, _op.name, _method(_op.name))


def _where(self: Tensor, condition: Tensor, y: Tensor | bool | int | float) -> Tensor:
    return apply(OPS["where"], condition, self, y)


_where.__name__, _where.__qualname__, _where.__doc__ = "where", "Tensor.where", OPS["where"].doc
Tensor.where = _where
for _name in ("view", "reshape", "expand"):  # hand-written above for their *shape arguments
    getattr(Tensor, _name).__doc__ = OPS[_name].doc
T = Tensor
T.__gt__, T.__ge__, T.__lt__, T.__le__ = T.gt, T.ge, T.lt, T.le
T.__eq__, T.__ne__ = T.eq, T.ne
T.__and__, T.__or__, T.__xor__ = T.logical_and, T.logical_or, T.logical_xor
T.__rand__, T.__ror__, T.__rxor__ = (_binop(n, True) for n in ("logical_and", "logical_or", "logical_xor"))
T.__add__, T.__sub__, T.__mul__, T.__truediv__ = T.add, T.sub, T.mul, T.div
T.__radd__, T.__rsub__, T.__rmul__, T.__rtruediv__ = (_binop(n, True) for n in ("add", "sub", "mul", "div"))
T.__iadd__, T.__isub__, T.__imul__, T.__itruediv__ = T.add_, T.sub_, T.mul_, T.div_
T.__invert__ = T.logical_not
T.__abs__ = T.abs
# ---------------------------------------------------------------- operators of elementwise math (** % // & | ^ ~ << >>)
T.__pow__, T.__mod__, T.__floordiv__ = T.pow, T.remainder, T.floor_divide
T.__rpow__, T.__rmod__, T.__rfloordiv__ = (_binop(n, True) for n in ("pow", "remainder", "floor_divide"))
T.__lshift__, T.__rshift__ = T.bitwise_left_shift, T.bitwise_right_shift
T.__rlshift__, T.__rrshift__ = (_binop(n, True) for n in ("bitwise_left_shift", "bitwise_right_shift"))


def _bitop(logical, bitwise, reflected=False):
    """& | ^: the logical op (and its fused mask paths) when both sides are bool,
    else the bitwise op (integers; a float operand is a TypeError), as PyTorch."""
    lg, bw = _binop(logical, reflected), _binop(bitwise, reflected)

    def m(self: Tensor, other: Tensor | int | bool) -> Tensor:
        c = other.__class__
        if self._v.dtype is D.bool_ and (c is bool or (c is Tensor and other._v.dtype is D.bool_)):
            return lg(self, other)
        return bw(self, other)
    m.__name__ = bitwise
    return m


T.__and__, T.__or__, T.__xor__ = (_bitop(f"logical_{n}", f"bitwise_{n}") for n in ("and", "or", "xor"))
T.__rand__, T.__ror__, T.__rxor__ = (_bitop(f"logical_{n}", f"bitwise_{n}", True) for n in ("and", "or", "xor"))


def _invert(self: Tensor) -> Tensor:
    return self.logical_not() if self._v.dtype is D.bool_ else self.bitwise_not()


T.__invert__ = _invert


# ---------------------------------------------------------------- operators and properties of shape ops (.T, .mT)
# cat/stack take a list (the declared ops take the tensors one by one, so that the
# tape sees each); narrow, split and chunk are narrows (the declared op "slice"), one
# per piece, so each piece carries its own gradient. They join the wt. functions below.
def _tensor_list(tensors, what):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{what}(): argument 'tensors' must be a tuple or list of Tensors, "
                        f"not {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        if t.__class__ is not Tensor:
            raise TypeError(f"{what}(): expected Tensor as element {i} in argument 0, "
                            f"but got {type(t).__name__}")
    return tuple(tensors)


def cat(tensors: list[Tensor] | tuple[Tensor, ...], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """torch.cat: the tensors joined along ``dim`` (or ``axis``), promoted to one dtype
    (as torch.cat); a 1-d empty tensor is skipped.

    >>> a, b = wt.tensor([[1, 2]]), wt.tensor([[3, 4]])
    >>> wt.cat([a, b])
    tensor([[1, 2],
            [3, 4]])
    >>> wt.cat((a, b), dim=1)
    tensor([[1, 2, 3, 4]])
    """
    return apply(OPS["cat"], *_tensor_list(tensors, "cat"), dim=dim if axis is None else axis)


def concatenate(tensors: list[Tensor] | tuple[Tensor, ...], axis: int = 0, *,
                dim: int | None = None) -> Tensor:
    """torch.concatenate: cat with numpy's ``axis``.

    >>> wt.concatenate([wt.tensor([1]), wt.tensor([2, 3])], axis=0)
    tensor([1, 2, 3])
    """
    return apply(OPS["cat"], *_tensor_list(tensors, "concatenate"), dim=axis if dim is None else dim)


def concat(tensors: list[Tensor] | tuple[Tensor, ...], dim: int = 0) -> Tensor:
    """torch.concat: an alias of cat.

    >>> wt.concat([wt.tensor([1.]), wt.tensor([2])])
    tensor([1., 2.])
    """
    return apply(OPS["cat"], *_tensor_list(tensors, "concat"), dim=dim)


def stack(tensors: list[Tensor] | tuple[Tensor, ...], dim: int = 0) -> Tensor:
    """torch.stack: tensors of one shape joined along a new dim ``dim``.

    >>> a, b = wt.tensor([1, 2]), wt.tensor([3, 4])
    >>> wt.stack([a, b])
    tensor([[1, 2],
            [3, 4]])
    >>> wt.stack([a, b], dim=1)
    tensor([[1, 3],
            [2, 4]])
    """
    return apply(OPS["stack"], *_tensor_list(tensors, "stack"), dim=dim)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """torch.narrow: ``length`` entries of ``dim`` from ``start``, a view of x.

    >>> x = wt.arange(6).reshape(2, 3)
    >>> wt.narrow(x, 1, 1, 2)
    tensor([[1, 2],
            [4, 5]])
    >>> x.narrow(0, 1, 1)
    tensor([[3, 4, 5]])
    """
    if x.__class__ is not Tensor:
        raise TypeError(f"narrow(): input must be a wgpu_tensor.Tensor, got {type(x).__name__}")
    return apply(OPS["slice"], x, dim, start, length)


def split(x: Tensor, split_size_or_sections: int | list[int] | tuple[int, ...],
          dim: int = 0) -> tuple[Tensor, ...]:
    """torch.split: a tuple of views of x along ``dim``: pieces of ``split_size`` (the
    last one shorter), or of the sizes in a list.

    >>> x = wt.arange(5)
    >>> wt.split(x, 2)
    (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    >>> x.split([1, 4])
    (tensor([0]), tensor([1, 2, 3, 4]))
    """
    if x.__class__ is not Tensor:
        raise TypeError(f"split(): input must be a wgpu_tensor.Tensor, got {type(x).__name__}")
    if x.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = norm_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in as_shape((split_size_or_sections,))]
        if any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, "
                               f"but got split_sizes={sizes}")
        if sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    else:
        if isinstance(split_size_or_sections, bool) or not hasattr(split_size_or_sections, "__index__") \
                or split_size_or_sections.__class__ is Tensor:
            raise TypeError("split(): split_size_or_sections must be an int or a list of ints, got "
                            f"{type(split_size_or_sections).__name__}")
        k = split_size_or_sections.__index__()
        if k < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={k}")
        if k == 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sizes = [min(k, size - s) for s in range(0, size, k)] if size else [0]
    out, s = [], 0
    for n in sizes:
        out.append(apply(OPS["slice"], x, d, s, n))
        s += n
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.chunk: at most ``chunks`` views of x along ``dim``, of ceil(size / chunks)
    entries each (the last one shorter; fewer pieces when they run out).

    >>> wt.chunk(wt.arange(5), 2)
    (tensor([0, 1, 2]), tensor([3, 4]))
    >>> wt.arange(4).reshape(2, 2).chunk(2, dim=1)[1]
    tensor([[1],
            [3]])
    """
    if x.__class__ is not Tensor:
        raise TypeError(f"chunk(): input must be a wgpu_tensor.Tensor, got {type(x).__name__}")
    if isinstance(chunks, bool) or not hasattr(chunks, "__index__") or chunks.__class__ is Tensor:
        raise TypeError(f"chunk(): chunks must be an int, got {type(chunks).__name__}")
    chunks = chunks.__index__()
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: %d" % chunks)
    if x.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = norm_dim(dim, x.ndim)
    size = x.shape[d]
    if size == 0:
        return tuple(apply(OPS["slice"], x, d, 0, 0) for _ in range(chunks))
    return split(x, -(-size // chunks), d)


def _tril(self: Tensor, diagonal: int = 0) -> Tensor:
    return apply(OPS["tril"], self, diagonal)


def _triu(self: Tensor, diagonal: int = 0) -> Tensor:
    return apply(OPS["triu"], self, diagonal)


def _T(self: Tensor) -> Tensor:
    """All dims reversed, a view (PyTorch deprecates .T for other than 2-d, but allows it).

    >>> wt.tensor([[1, 2, 3]]).T
    tensor([[1],
            [2],
            [3]])
    """
    return apply(OPS["permute"], self, tuple(range(self.ndim - 1, -1, -1)))


def _mT(self: Tensor) -> Tensor:
    """The last two dims swapped, a view (a batch of matrices transposed).

    >>> x = wt.zeros(4, 2, 3)
    >>> x.mT.shape
    (4, 3, 2)
    """
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {self.ndim}-D tensor.")
    return apply(OPS["transpose"], self, -2, -1)


T.narrow, T.split, T.chunk = narrow, split, chunk
T.tril, T.triu = _tril, _triu
T.tril.__doc__, T.triu.__doc__ = OPS["tril"].doc, OPS["triu"].doc
T.T, T.mT = property(_T), property(_mT)
for _f in (cat, concatenate, concat, stack, narrow, split, chunk):
    composite(_f)



# ---------------------------------------------------------------- operators of linear algebra (@)
T.__matmul__ = T.matmul


def _rmatmul(self: Tensor, other: Tensor) -> Tensor:
    return apply(OPS["matmul"], other, self)


T.__rmatmul__ = _rmatmul


del T


def _nth_comma(s, k):
    i = -1
    for _ in range(k):
        i = s.index(",", i + 1)
    return i


def _format(a, dtype):
    suffix = ""
    if dtype in (D.uint32, D.float16):
        suffix = f", dtype=wgpu_tensor.{dtype.name}"
    if a.size == 0:
        return f"tensor([], size={tuple(a.shape)}{suffix})" if a.ndim != 1 else f"tensor([]{suffix})"
    if dtype is D.bool_:
        fmt = {"bool": lambda v: " True" if v else "False"}
    elif dtype.kind == "f":
        fin = a[np.isfinite(a)].astype(np.float64)
        if fin.size and np.all(fin == np.round(fin)) and np.abs(fin).max() < 1e8:
            width = max(len(f"{v:.0f}") for v in fin) + 1
            fmt = {"float_kind": lambda v: (f"{v:.0f}." if np.isfinite(v) else str(v)).rjust(width)}
        else:
            big = fin.size and (np.abs(fin).max() >= 1e8 or (np.abs(fin[fin != 0]).min(initial=1) < 1e-4))
            f = "{:.4e}" if big else "{:.4f}"
            width = max((len(f.format(v)) for v in fin), default=3)
            fmt = {"float_kind": lambda v: (f.format(v) if np.isfinite(v) else str(v)).rjust(width)}
    else:
        fmt = None
    body = np.array2string(a, separator=", ", formatter=fmt, prefix="tensor(", threshold=1000)
    if a.ndim == 0:
        body = body.strip()  # the bool formatter pads " True" to align columns
    return f"tensor({body}{suffix})"

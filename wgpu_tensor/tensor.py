"""The Tensor: shape, dtype, strides, operators and host transfer.

A Tensor is a strided view of a GPU buffer. This module makes no wgpu calls:
ops go through wgpu_tensor.ops, buffers and reads through the runtime.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import autograd as A
from . import dtypes as D
from .ops.launch import contiguous_strides



class _Storage:
    """Owns one pooled GPU buffer; returns it to the pool when the last view dies."""

    __slots__ = ("buf", "dev", "version", "__weakref__")

    def __init__(self, buf, dev):
        self.buf = buf
        self.dev = dev
        self.version = 0  # bumped by in-place ops; autograd checks it on saved tensors

    def __del__(self):
        try:
            self.dev.release(self.buf)
        except Exception:  # interpreter shutdown
            pass


def _device_of(tensors):
    dev = None
    for t in tensors:
        if dev is None:
            dev = t.device
        elif t.device is not dev:
            raise ValueError("tensors live on two different devices; move one first")
    return dev


def _as_shape(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    shape = []
    for s in args:
        if isinstance(s, Tensor):
            s = s.item()
        try:
            s = operator.index(s)
        except TypeError:
            raise TypeError(f"shape entries must be ints, got {s!r}") from None
        shape.append(s)
    return tuple(shape)


def _norm_dim(dim, ndim, extra=0):
    n = ndim + extra
    lo, hi = -max(n, 1), max(n, 1) - 1
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % max(n, 1)


class Tensor:
    __hash__ = object.__hash__
    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, *a, **k):
        raise TypeError("create tensors with wgpu_tensor.tensor(), zeros(), from_numpy(), ...")

    # ---------------------------------------------------------------- construction
    @classmethod
    def _view(cls, storage, shape, strides, offset, dtype):
        t = object.__new__(cls)
        t._st = storage
        t._buf = storage.buf
        t.shape = tuple(shape)
        t._strides = tuple(strides)
        t._offset = offset
        t.dtype = dtype
        t.device = storage.dev
        t.count = None
        t._requires_grad = False
        t._node = None
        t.grad = None
        return t

    @classmethod
    def _empty(cls, shape, dtype, dev):
        for s in shape:
            if s < 0:
                raise ValueError(f"negative dimension in shape {tuple(shape)}")
        n = math.prod(shape)
        nbytes = n * dtype.itemsize
        dev.check_size(nbytes, f"a {dtype.name} tensor of shape {tuple(shape)}")
        return cls._view(_Storage(dev.alloc(nbytes), dev), shape, contiguous_strides(shape), 0, dtype)

    @classmethod
    def _fresh(cls, shape, strides, dtype, dev, nbytes):
        """A new contiguous tensor whose checked shape, strides and size a caller
        has cached (the elementwise plans): _empty without the checks."""
        return cls._view(_Storage(dev.alloc(nbytes), dev), shape, strides, 0, dtype)

    def _derive(self, shape, strides, offset):
        return Tensor._view(self._st, shape, strides, offset, self.dtype)

    # ---------------------------------------------------------------- metadata
    @property
    def ndim(self):
        return len(self.shape)

    def dim(self):
        return len(self.shape)

    def numel(self):
        return math.prod(self.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_norm_dim(dim, self.ndim)]

    def stride(self, dim=None):
        return self._strides if dim is None else self._strides[_norm_dim(dim, self.ndim)]

    def element_size(self):
        return self.dtype.itemsize

    # ---------------------------------------------------------------- autograd (autograd.py)
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if self._node is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use .detach()")
        if flag and self.dtype.kind != "f":
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, got {self.dtype.name}")
        self._requires_grad = flag

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    def detach(self):
        """The same data, cut from the tape."""
        return self._derive(self.shape, self._strides, self._offset)

    def backward(self, gradient=None):
        A.backward(self, gradient)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        from .ops import index as I
        with A.inplace(self, "fill_"):
            I.assign_(self, value)
        return self

    def copy_(self, src):
        from .ops import index as I
        with A.inplace(self, "copy_"):
            I.copy_(self, src)
        return self

    def is_contiguous(self):
        return all(st == c for s, st, c in zip(self.shape, self._strides, contiguous_strides(self.shape))
                   if s != 1)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    # ---------------------------------------------------------------- host transfer
    def _read_plan(self):
        t = self if self.is_contiguous() else self.contiguous()
        return t, t._offset * t.dtype.itemsize, t.numel() * t.dtype.itemsize

    def _from_bytes(self, raw):
        return np.frombuffer(raw.data, dtype=self.dtype.np).reshape(self.shape) if raw.size else \
            np.zeros(self.shape, dtype=self.dtype.np)

    def numpy(self, *, _explicit=True) -> np.ndarray:
        """Copy to the host (one GPU-to-CPU read)."""
        t, off, nbytes = self._read_plan()
        return self._from_bytes(self.device.read(t._buf, off, nbytes, explicit=_explicit))

    async def numpy_async(self) -> np.ndarray:
        """Copy to the host without blocking the event loop."""
        t, off, nbytes = self._read_plan()
        return self._from_bytes(await self.device.read_async(t._buf, off, nbytes))

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self.numpy().reshape(()).item()

    def _implicit_scalar(self, what):
        if self.numel() != 1:
            raise RuntimeError(f"{what} of a Tensor with {self.numel()} values is ambiguous")
        return self.numpy(_explicit=False).reshape(()).item()

    def __bool__(self):
        return bool(self._implicit_scalar("Boolean value"))

    def __int__(self):
        return int(self._implicit_scalar("int()"))

    def __float__(self):
        return float(self._implicit_scalar("float()"))

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._implicit_scalar("index"))

    def __array__(self, dtype=None, copy=None):
        a = self.numpy(_explicit=False)
        return a.astype(dtype) if dtype is not None else a

    def __repr__(self):
        with A.no_grad():
            text = self._repr_body()
        if self._node is not None:
            name = "".join(p.capitalize() for p in self._node.name.split("_"))
            return f"{text[:-1]}, grad_fn=<{name}Backward0>)"
        if self._requires_grad:
            return f"{text[:-1]}, requires_grad=True)"
        return text

    def _repr_body(self):
        n = self.numel()
        if n <= _REPR_FULL:
            return _format(self.numpy(_explicit=False), self.dtype)
        # Big tensors print a summary that reads only 2 x 3 elements, never the
        # whole tensor (asyncio.run, for one, reprs the main coroutine's result).
        flat = self.reshape(-1)
        head = flat[:3].numpy(_explicit=False)
        tail = flat[-3:].numpy(_explicit=False)
        body = _format(np.concatenate([head, tail]), self.dtype)
        i = _nth_comma(body, 3)
        # 1-D prints as PyTorch does; more dims add the size (the 6 are in flat order).
        size = "" if self.ndim == 1 else f", size={self.shape}"
        return f"{body[:i]},  ...{body[i:-1]}{size})"

    __str__ = __repr__

    # ---------------------------------------------------------------- views and shape
    def view(self, *shape):
        shape = self._infer_shape(_as_shape(shape))
        if not self.is_contiguous():
            raise RuntimeError("view size is not compatible with input tensor's size and stride; "
                               "use .reshape(...) instead")
        return A.view_op(self, self._derive(shape, contiguous_strides(shape), self._offset), "view")

    def reshape(self, *shape):
        shape = self._infer_shape(_as_shape(shape))
        t = self if self.is_contiguous() else self.contiguous()
        return A.view_op(self, t._derive(shape, contiguous_strides(shape), t._offset), "reshape")

    def _infer_shape(self, shape):
        n = self.numel()
        if shape.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        if -1 in shape:
            rest = math.prod(s for s in shape if s != -1)
            if rest == 0 or n % rest:
                raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
            shape = tuple(n // rest if s == -1 else s for s in shape)
        if any(s < 0 for s in shape) or math.prod(shape) != n:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
        return shape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim), _norm_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        return self.reshape(self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:])

    def unsqueeze(self, dim):
        d = _norm_dim(dim, self.ndim, 1)
        st = self._strides[d] * self.shape[d] if d < self.ndim else 1
        return A.view_op(self, self._derive(self.shape[:d] + (1,) + self.shape[d:],
                                            self._strides[:d] + (st,) + self._strides[d:], self._offset), "unsqueeze")

    def squeeze(self, dim=None):
        if dim is None:
            dims = {i for i, s in enumerate(self.shape) if s == 1}
        else:
            dims = {_norm_dim(d, self.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
            dims = {d for d in dims if self.ndim and self.shape[d] == 1}
        keep = [i for i in range(self.ndim) if i not in dims]
        return A.view_op(self, self._derive(tuple(self.shape[i] for i in keep),
                                            tuple(self._strides[i] for i in keep), self._offset), "squeeze")

    def expand(self, *sizes):
        sizes = _as_shape(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                               f"or equal to the number of dimensions in the tensor ({self.ndim})")
        pad = len(sizes) - self.ndim
        shape, strides = [], []
        for i, s in enumerate(sizes):
            if i < pad:
                if s < 0:
                    raise RuntimeError(f"expand: -1 is not allowed in a leading, new dimension")
                shape.append(s)
                strides.append(0)
                continue
            cur, st = self.shape[i - pad], self._strides[i - pad]
            if s == -1 or s == cur:
                shape.append(cur)
                strides.append(st)
            elif cur == 1:
                shape.append(s)
                strides.append(0)
            else:
                raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size "
                                   f"({cur}) at non-singleton dimension {i}. Target sizes: {list(sizes)}. "
                                   f"Tensor sizes: {list(self.shape)}")
        return A.expand(self, self._derive(tuple(shape), tuple(strides), self._offset))

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *reps):
        reps = _as_shape(reps)
        if len(reps) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                               "of dimensions of tensor")
        t = self.reshape((1,) * (len(reps) - self.ndim) + self.shape)
        inter = []
        for r, s in zip(reps, t.shape):
            inter += [1, s]
        big = []
        for r, s in zip(reps, t.shape):
            big += [r, s]
        out = t.reshape(tuple(inter)).expand(tuple(big)).contiguous()
        return out.reshape(tuple(r * s for r, s in zip(reps, t.shape)))

    def contiguous(self):
        return self if self.is_contiguous() else self.clone()

    def clone(self):
        from .ops import elementwise as E
        out = E.launch("a", self.dtype, [self], [self.dtype.wgsl if self.dtype is not D.bool_ else "bool"])
        return A.view_op(self, out, "clone")

    def to(self, dtype, copy=False):
        dtype = D.to_dtype(dtype)
        if dtype is self.dtype:
            return self.clone() if copy else self
        from .ops import elementwise as E
        return A.cast(self, E.cast(self, dtype))

    def float(self):
        return self.to(D.float32)

    def half(self):
        return self.to(D.float16)

    def int(self):
        return self.to(D.int32)

    def bool(self):
        return self.to(D.bool_)

    def type(self, dtype=None):
        return self.dtype if dtype is None else self.to(dtype)

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, key):
        key = _tensor_key(key, self.device)
        if isinstance(key, Tensor):
            if key.dtype is D.bool_:
                return self._index_mask(key)
            return A.index_get(self, key)
        return A.getitem(self, key, self._basic_index(key))

    def _index_mask(self, mask):
        """x[mask]: a mask over x's leading dims selects whole sub-tensors; blocks
        once to read the count (the one sync of this path)."""
        from .ops import select
        full, rest = select._mask_over(self, mask)
        res = self.masked_select(full)
        k = int(res.count.numpy().reshape(()))
        inner = math.prod(rest)
        return A.narrow0(res, k).reshape((k // inner if inner else 0,) + rest)

    def _basic_index(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(isinstance(k, (Tensor, list, np.ndarray)) for k in key):
            raise NotImplementedError("advanced indexing (tensors or lists inside a tuple index) is "
                                      "not implemented yet")
        n_ell = sum(k is Ellipsis for k in key)
        if n_ell > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
        if consumed > self.ndim:
            raise IndexError(f"too many indices for tensor of dimension {self.ndim}")
        if n_ell:
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - consumed) + key[i + 1:]
        shape, strides, off, d = [], [], self._offset, 0
        for k in key:
            if k is None:
                shape.append(1)
                strides.append(0)
                continue
            if isinstance(k, slice):
                size, st = self.shape[d], self._strides[d]
                start, stop, step = k.indices(size)
                if step <= 0:
                    raise ValueError("step must be greater than zero")
                n = len(range(start, stop, step))
                if n:
                    off += start * st
                shape.append(n)
                strides.append(st * step)
                d += 1
                continue
            try:
                i = operator.index(k)
            except TypeError:
                raise TypeError(f"unsupported index {k!r} of type {type(k).__name__}") from None
            size = self.shape[d]
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {size}")
            off += (i % size) * self._strides[d]
            d += 1
        shape += self.shape[d:]
        strides += self._strides[d:]
        return self._derive(tuple(shape), tuple(strides), off)

    # ---------------------------------------------------------------- ops
    def _bin(self, name, other):
        return A.binary(name, self, other)

    def _rbin(self, name, other):
        return A.binary(name, other, self)

    def gt(self, o): return self._bin("gt", o)
    def ge(self, o): return self._bin("ge", o)
    def lt(self, o): return self._bin("lt", o)
    def le(self, o): return self._bin("le", o)
    def eq(self, o): return self._bin("eq", o)
    def ne(self, o): return self._bin("ne", o)
    __gt__, __ge__, __lt__, __le__ = gt, ge, lt, le

    def __eq__(self, o):
        return self._bin("eq", o)

    def __ne__(self, o):
        return self._bin("ne", o)

    def logical_and(self, o): return self._bin("logical_and", o)
    def logical_or(self, o): return self._bin("logical_or", o)
    def logical_xor(self, o): return self._bin("logical_xor", o)
    __and__, __or__, __xor__ = logical_and, logical_or, logical_xor
    def __rand__(self, o): return self._rbin("logical_and", o)
    def __ror__(self, o): return self._rbin("logical_or", o)
    def __rxor__(self, o): return self._rbin("logical_xor", o)

    def logical_not(self):
        from .ops import elementwise as E
        return E.logical_not(self)

    __invert__ = logical_not

    def add(self, o): return self._bin("add", o)
    def sub(self, o): return self._bin("sub", o)
    def mul(self, o): return self._bin("mul", o)
    def div(self, o): return self._bin("div", o)
    __add__, __sub__, __mul__, __truediv__ = add, sub, mul, div
    def __radd__(self, o): return self._rbin("add", o)
    def __rsub__(self, o): return self._rbin("sub", o)
    def __rmul__(self, o): return self._rbin("mul", o)
    def __rtruediv__(self, o): return self._rbin("div", o)

    def _inplace(self, name, other):
        """self op= other, written into self's own buffer (as PyTorch's add_ etc.)."""
        with A.inplace(self, f"{name}_"):
            self._inplace_write(name, other)
        return self

    def _inplace_write(self, name, other):
        from .ops import select
        from .ops.launch import broadcast_shapes
        # Check the result's shape and dtype before any GPU work (PyTorch's rules).
        if isinstance(other, Tensor):
            shape, rd = broadcast_shapes(self.shape, other.shape), D.promote(self.dtype, other.dtype)
        else:
            shape, rd = self.shape, D.promote_scalar(self.dtype, D.scalar_dtype(other))
        rd = D.float32 if name == "div" and rd.kind != "f" else D.int32 if rd is D.bool_ else rd
        if tuple(shape) != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(shape)}")
        if rd is not self.dtype and (rd.kind == "f" and self.dtype.kind != "f" or self.dtype is D.bool_):
            raise RuntimeError(f"result type {rd.name} can't be cast to the desired output type "
                               f"{self.dtype.name}")
        res = A.binary(name, self, other)
        if res.dtype is not self.dtype:
            res = res.to(self.dtype)
        select._store(self, res)

    def add_(self, o): return self._inplace("add", o)
    def sub_(self, o): return self._inplace("sub", o)
    def mul_(self, o): return self._inplace("mul", o)
    def div_(self, o): return self._inplace("div", o)
    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def __neg__(self):
        return A.neg(self)

    def neg(self):
        return -self

    def abs(self):
        return A.abs(self)

    __abs__ = abs

    def __pos__(self):
        return self

    # ---------------------------------------------------------------- masking
    def masked_select(self, mask, *, out=None, fill_value=None):
        return A.masked_select(self, mask, out=out, fill_value=fill_value)

    async def masked_select_async(self, mask):
        """The exact [k] selection; awaits only the 4-byte count."""
        res = self.masked_select(mask)
        k = int((await res.count.numpy_async()).reshape(()))
        return A.narrow0(res, k)

    def nonzero(self, *, as_tuple=False):
        from .ops import select
        if as_tuple:
            raise ValueError("nonzero(as_tuple=True) needs the exact count: use "
                             "await x.nonzero_async(as_tuple=True)")
        return select.nonzero(self)

    async def nonzero_async(self, *, as_tuple=False):
        from .ops import select
        return await select.nonzero_async(self, as_tuple=as_tuple)

    def masked_fill(self, mask, value):
        return A.masked_fill(self, mask, value)

    def masked_fill_(self, mask, value):
        from .ops import select
        with A.inplace(self, "masked_fill_"):
            return select.masked_fill_(self, mask, value)

    def masked_scatter(self, mask, source):
        return A.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask, source):
        from .ops import select
        with A.inplace(self, "masked_scatter_"):
            return select.masked_scatter_(self, mask, source)

    def where(self, condition, y):
        return A.where(condition, self, y)

    # ---------------------------------------------------------------- reductions (ops/reduce.py)
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        return A.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        return A.mean(self, dim, keepdim, dtype=dtype)

    def any(self, dim=None, keepdim=False):
        from .ops import reduce as R
        return R.any(self, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        from .ops import reduce as R
        return R.all(self, dim, keepdim)

    def count_nonzero(self, dim=None):
        from .ops import reduce as R
        return R.count_nonzero(self, dim)

    def amax(self, dim=None, keepdim=False):
        from .ops import reduce as R
        return R.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        from .ops import reduce as R
        return R.amin(self, dim, keepdim)

    # ---------------------------------------------------------------- sorting (ops/sort.py)
    def sort(self, dim=-1, descending=False):
        from .ops import sort as S
        return S.sort(self, dim, descending)

    def kthvalue(self, k, dim=-1, keepdim=False):
        from .ops import sort as S
        return S.kthvalue(self, k, dim, keepdim)

    # ---------------------------------------------------------------- index ops (ops/index.py)
    def gather(self, dim, index):
        return A.gather(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None):
        from .ops import index as I
        return I.scatter(self, dim, index, src, value=value)

    def scatter_(self, dim, index, src=None, *, value=None):
        from .ops import index as I
        with A.inplace(self, "scatter_"):
            return I.scatter_(self, dim, index, src, value=value)

    def scatter_add(self, dim, index, src):
        from .ops import index as I
        return I.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim, index, src):
        from .ops import index as I
        with A.inplace(self, "scatter_add_"):
            return I.scatter_add_(self, dim, index, src)

    def index_select(self, dim, index):
        from .ops import index as I
        return I.index_select(self, dim, index)

    def __setitem__(self, key, value):
        with A.inplace(self, "x[...] = value"):
            self._setitem(key, value)

    def _setitem(self, key, value):
        key = _tensor_key(key, self.device)
        if isinstance(key, Tensor):
            if key.dtype is D.bool_:
                from .ops import select
                select.index_mask_put_(self, key, value)
                return
            from .ops import index as I
            I.index_put_(self, key, value)
            return
        from .ops import index as I
        I.assign_(self._basic_index(key), value)


_REPR_FULL = 1000


def _tensor_key(key, dev):
    """A list or numpy array used as an index becomes a tensor (ints: integer
    indexing, bools: a mask), as in PyTorch; other keys pass through."""
    if isinstance(key, np.ndarray) or (isinstance(key, list) and not any(
            isinstance(k, (slice, type(None), type(Ellipsis), Tensor, list, tuple)) for k in key)):
        from .ops.creation import tensor
        arr = np.asarray(key)
        if arr.dtype.kind not in "biu":
            raise IndexError(f"tensors used as indices must be integer or bool, got {arr.dtype}")
        return tensor(arr)
    return key


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

"""The storage-level view: a GPU buffer seen as a strided array, and its shape maths.

A View is (storage, shape, strides, element offset, dtype, device), plus ``count``
for fixed-size results (a 0-d int32 View on the GPU holding how many leading
elements are valid, or None). The ops (wgpu_tensor.ops) take and return Views;
the Tensor (wgpu_tensor.tensor) wraps one and adds autograd, operators and host
transfer. Everything here is pure metadata: no kernel runs, nothing is read.
"""
from __future__ import annotations

import math
import operator
from functools import lru_cache


class Storage:
    """Owns one pooled GPU buffer; returns it to the pool when the last view dies.

    A lazy storage (``lazy`` set, ``buf`` None) holds a result not computed yet: a
    mask whose predicate (ops/elementwise.py's Pred) fused consumers evaluate in
    their own kernels. ``materialise`` writes it; View._buf calls it, so any
    consumer that needs the bytes gets them, and the device calls it before any
    write into a buffer the predicate reads (Device.add_reader)."""

    __slots__ = ("buf", "dev", "version", "lazy", "__weakref__")

    def __init__(self, buf, dev, lazy=None):
        self.buf = buf
        self.dev = dev
        self.version = 0  # bumped by in-place ops; autograd checks it on saved inputs
        self.lazy = lazy

    def materialise(self):
        """Write a lazy storage's buffer (once; a no-op otherwise)."""
        if self.buf is None:
            with self.dev.lock:
                if self.buf is None:
                    self.lazy.write(self)

    def __del__(self):
        try:
            if self.buf is not None:
                self.dev.release(self.buf)
        except Exception:  # interpreter shutdown
            pass


class View:
    __slots__ = ("_st", "_buf", "shape", "_strides", "_offset", "dtype", "device", "count", "bounds")

    def __init__(self, storage, shape, strides, offset, dtype):
        self._st = storage
        if storage.buf is not None:  # else a lazy storage: __getattr__ materialises it
            self._buf = storage.buf
        self.shape = shape
        self._strides = strides
        self._offset = offset
        self.dtype = dtype
        self.device = storage.dev
        self.count = None
        # Known exclusive upper bounds of the values, per column of the last dim (one
        # entry: all values): nonzero's coordinates are below its input's shape, so
        # indexing with them needs no range check (and no read).
        self.bounds = None

    def __getattr__(self, name):
        # Only an unset slot lands here: _buf of a lazy storage, written on first use.
        if name != "_buf":
            raise AttributeError(name)
        st = self._st
        st.materialise()
        self._buf = st.buf
        return st.buf

    @staticmethod
    def empty(shape, dtype, dev):
        """A new contiguous view of a fresh buffer (contents unspecified)."""
        shape = tuple(shape)
        for s in shape:
            if s < 0:
                raise ValueError(f"negative dimension in shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        dev.check_size(nbytes, f"a {dtype.name} tensor of shape {shape}")
        return View(Storage(dev.alloc(nbytes), dev), shape, contiguous_strides(shape), 0, dtype)

    @staticmethod
    def fresh(buf, shape, strides, dtype, dev):
        """A view of a new buffer (its owner from now on) for a shape, strides and
        size a caller has checked and cached (the elementwise plans)."""
        return View(Storage(buf, dev), shape, strides, 0, dtype)

    def derive(self, shape, strides, offset):
        """Another view of the same storage (no count)."""
        return View(self._st, tuple(shape), tuple(strides), offset, self.dtype)

    def as_dtype(self, dtype):
        """The same elements (and count) read as another dtype of the same itemsize."""
        v = View(self._st, self.shape, self._strides, self._offset, dtype)
        v.count = self.count
        return v

    # ---------------------------------------------------------------- metadata
    @property
    def ndim(self):
        return len(self.shape)

    def numel(self):
        return math.prod(self.shape)

    def is_contiguous(self):
        if not self.numel():
            return True  # as PyTorch: nothing to be out of place
        return all(st == c for s, st, c in zip(self.shape, self._strides, contiguous_strides(self.shape))
                   if s != 1)

    # ---------------------------------------------------------------- view maths
    def expand(self, sizes):
        """Broadcast to ``sizes`` (-1 keeps a dim) with zero strides; PyTorch's errors."""
        sizes = tuple(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                               f"or equal to the number of dimensions in the tensor ({self.ndim})")
        pad = len(sizes) - self.ndim
        shape, strides = [], []
        for i, s in enumerate(sizes):
            if i < pad:
                if s < 0:
                    raise RuntimeError("expand: -1 is not allowed in a leading, new dimension")
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
        return self.derive(shape, strides, self._offset)

    def unsqueeze(self, dim):
        d = norm_dim(dim, self.ndim, 1)
        st = self._strides[d] * self.shape[d] if d < self.ndim else 1
        return self.derive(self.shape[:d] + (1,) + self.shape[d:], self._strides[:d] + (st,) + self._strides[d:],
                           self._offset)

    def squeeze(self, dim=None):
        if dim is None:
            dims = {i for i, s in enumerate(self.shape) if s == 1}
        else:
            dims = {norm_dim(d, self.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
            dims = {d for d in dims if self.ndim and self.shape[d] == 1}
        keep = [i for i in range(self.ndim) if i not in dims]
        return self.derive(tuple(self.shape[i] for i in keep), tuple(self._strides[i] for i in keep),
                           self._offset)

    def reshaped(self, shape):
        """The same contiguous elements under ``shape`` (already inferred); the caller
        copies a non-contiguous view first."""
        return self.derive(shape, contiguous_strides(shape), self._offset)

    def infer_shape(self, shape):
        """``shape`` with its one -1 filled in, checked against the element count."""
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
        return tuple(shape)

    def basic_index(self, key):
        """The view of a basic index: ints, slices (positive steps), None and one
        Ellipsis, as a tuple or alone."""
        if not isinstance(key, tuple):
            key = (key,)
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
                raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and integer or "
                                 f"bool tensors are valid indices (got {type(k).__name__})") from None
            size = self.shape[d]
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {size}")
            off += (i % size) * self._strides[d]
            d += 1
        shape += self.shape[d:]
        strides += self._strides[d:]
        return self.derive(shape, strides, off)

    # ---------------------------------------------------------------- shape views (transpose, narrow, ...)
    def transpose(self, dim0, dim1):
        """A view with dims ``dim0`` and ``dim1`` swapped (a 0-d or 1-d view accepts 0/-1)."""
        a, b = norm_dim(dim0, self.ndim), norm_dim(dim1, self.ndim)
        if self.ndim < 2 or a == b:
            return self.derive(self.shape, self._strides, self._offset)
        perm = list(range(self.ndim))
        perm[a], perm[b] = b, a
        return self.permute(perm)

    def permute(self, dims):
        """A view with dim i taken from ``dims[i]`` (a permutation, negatives allowed)."""
        dims = tuple(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute(): number of dimensions in the tensor input does not "
                               f"match the length of the desired ordering of dimensions i.e. input.dim() = "
                               f"{self.ndim} is not equal to len(dims) = {len(dims)}")
        nd = [norm_dim(d, self.ndim) for d in dims]
        if len(set(nd)) != len(nd):
            raise RuntimeError("permute(): duplicate dims are not allowed.")
        return self.derive(tuple(self.shape[d] for d in nd), tuple(self._strides[d] for d in nd), self._offset)

    def narrow(self, dim, start, length):
        """A view of ``length`` entries of ``dim`` from ``start`` (a negative start counts
        from the end), PyTorch's checks."""
        if self.ndim == 0:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        d = norm_dim(dim, self.ndim)
        size = self.shape[d]
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], "
                             f"but got {start})")
        if start < 0:
            start += size
        if start > size - length:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
        off = self._offset + start * self._strides[d] if length else self._offset
        return self.derive(self.shape[:d] + (length,) + self.shape[d + 1:], self._strides, off)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        """The view of the diagonal of dims ``dim1``/``dim2`` (``offset`` above the main
        one when positive), appended as the last dim; PyTorch's torch.diagonal."""
        a, b = norm_dim(dim1, self.ndim), norm_dim(dim2, self.ndim)
        if a == b:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        if offset >= 0:
            n = max(0, min(self.shape[a], self.shape[b] - offset))
            off = self._offset + offset * self._strides[b]
        else:
            n = max(0, min(self.shape[a] + offset, self.shape[b]))
            off = self._offset - offset * self._strides[a]
        if n == 0:
            off = self._offset
        keep = [i for i in range(self.ndim) if i not in (a, b)]
        return self.derive(tuple(self.shape[i] for i in keep) + (n,),
                           tuple(self._strides[i] for i in keep) + (self._strides[a] + self._strides[b],), off)

    def unflatten(self, dim, sizes):
        """A view with dim ``dim`` split into ``sizes`` (one -1 inferred); always a view."""
        if self.ndim == 0:
            raise IndexError("Dimension specified as 0 but tensor has no dimensions")
        d = norm_dim(dim, self.ndim)
        sizes = tuple(sizes)
        if not sizes:
            raise RuntimeError("unflatten: sizes must be non-empty")
        size = self.shape[d]
        if sizes.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        if -1 in sizes:
            rest = math.prod(s for s in sizes if s != -1)
            if rest == 0 or size % rest:
                raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of "
                                   f"dim {dim} ({size}) in the input tensor")
            sizes = tuple(size // rest if s == -1 else s for s in sizes)
        if any(s < 0 for s in sizes) or math.prod(sizes) != size:
            raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of "
                               f"dim {dim} ({size}) in the input tensor")
        st = self._strides[d]
        inner = tuple(st * c for c in contiguous_strides(sizes))
        return self.derive(self.shape[:d] + sizes + self.shape[d + 1:],
                           self._strides[:d] + inner + self._strides[d + 1:], self._offset)


# ---------------------------------------------------------------- shape maths
def norm_dim(dim, ndim, extra=0):
    """``dim`` in [0, ndim + extra) (negative counts from the end); PyTorch's IndexError."""
    n = ndim + extra
    lo, hi = -max(n, 1), max(n, 1) - 1
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % max(n, 1)


def as_shape(args):
    """A shape from ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])``; entries may be anything
    with ``__index__`` (a one-element integer tensor is read explicitly)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    shape = []
    for s in args:
        if not isinstance(s, int) and hasattr(s, "item") and hasattr(s, "numel"):
            s = s.item()
        try:
            s = operator.index(s)
        except TypeError:
            raise TypeError(f"shape entries must be ints, got {s!r}") from None
        shape.append(s)
    return tuple(shape)


def broadcast_shapes(*shapes):
    nd = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(nd):
        size = 1
        for s in shapes:
            d = s[len(s) - nd + i] if len(s) - nd + i >= 0 else 1
            if d == 1:
                continue
            if size != 1 and d != size:
                raise ValueError(
                    "shapes " + " and ".join(str(tuple(s)) for s in shapes)
                    + " do not broadcast (dimension "
                    f"{i - nd}: {size} vs {d})")
            size = d
        out.append(size)
    return tuple(out)


def broadcast_strides(shape, strides, out_shape):
    """Strides of a view with ``shape``/``strides`` broadcast to ``out_shape``."""
    pad = len(out_shape) - len(shape)
    res = [0] * pad
    for d, (s, st) in enumerate(zip(shape, strides)):
        res.append(0 if (s == 1 and out_shape[pad + d] != 1) else st)
    return tuple(res)


def contiguous_strides(shape):
    """Row-major strides (elements) of ``shape``; cached: every new view asks."""
    try:
        return _contiguous_strides(shape)
    except TypeError:  # a list
        return _contiguous_strides(tuple(shape))


@lru_cache(maxsize=4096)
def _contiguous_strides(shape):
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= int(s)
    return tuple(reversed(st))


def device_of(views):
    """The one device of ``views`` (ValueError when they live on two)."""
    dev = None
    for t in views:
        if dev is None:
            dev = t.device
        elif t.device is not dev:
            raise ValueError("tensors live on two different devices; move one first")
    return dev

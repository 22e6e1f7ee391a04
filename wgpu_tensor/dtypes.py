"""The dtype table and the promotion rules.

Every dtype is stored in a GPU buffer with numpy's byte layout; shaders see the
buffer as an array of u32 words and decode an element with the ``load``
expression below (``W`` is the word array, ``e`` the element index).
"""
from __future__ import annotations

import warnings

import numpy as np


class DType:
    """An element type: wt.bool, wt.int32, wt.uint32, wt.float16, wt.float32 (WebGPU has
    no 64-bit types: int64/long requests give int32 and float64/double give float32).
    PyTorch's short names are the same objects: wt.float, wt.int, wt.half.

    >>> wt.float is wt.float32, wt.int32.itemsize, wt.bool.is_floating_point
    (True, 4, False)
    >>> wt.zeros(2, dtype=wt.uint32)
    tensor([0, 0], dtype=wgpu_tensor.uint32)
    """
    __slots__ = ("name", "np", "itemsize", "kind", "wgsl", "load", "rank")

    def __init__(self, name, np_dtype, kind, wgsl, load, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.kind = kind          # "b" bool, "i" signed, "u" unsigned, "f" float
        self.wgsl = wgsl          # WGSL type values of this dtype are computed in
        self.load = load          # WGSL expression decoding element e of word array W
        self.rank = rank          # position in the promotion lattice

    @property
    def is_floating_point(self):
        return self.kind == "f"

    @property
    def wide32(self):
        """The 32-bit dtype that holds every value of this one exactly (bool -> int32,
        float16 -> float32): what 1- and 2-byte elements are widened to where a
        kernel moves one element per invocation."""
        return self if self.itemsize == 4 else int32 if self.kind == "b" else float32

    @property
    def bits32(self):
        """The 32-bit dtype whose words hold this one's elements exactly where they
        are only moved, never computed on (bool -> int32 0/1, float16 -> uint32
        holding its 16 bits, so every NaN payload survives)."""
        return self if self.itemsize == 4 else int32 if self.kind == "b" else uint32

    def __repr__(self):
        return f"wgpu_tensor.{self.name}"

    def __reduce__(self):
        return (get, (self.name,))


bool_ = DType("bool", np.bool_, "b", "bool",
              "(((W[e >> 2u] >> ((e & 3u) * 8u)) & 0xffu) != 0u)", 0)
int32 = DType("int32", np.int32, "i", "i32", "bitcast<i32>(W[e])", 1)
uint32 = DType("uint32", np.uint32, "u", "u32", "W[e]", 1)
# float16 is stored packed (two per word) and computed in f32, so it needs no
# shader-f16 feature: it works on every adapter.
float16 = DType("float16", np.float16, "f", "f32", "unpack2x16float(W[e >> 1u])[e & 1u]", 2)
float32 = DType("float32", np.float32, "f", "f32", "bitcast<f32>(W[e])", 3)
# The raw 16 bits of a float16 element as a u32 (not a public dtype): float16 data
# that is moved rather than computed on goes through it, because a round trip
# through f32 may change a NaN's payload (OpenGL returns 0x7E00 as 0x7FFF).
float16_bits = DType("float16", np.float16, "u", "u32", "((W[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu)", 2)

ALL = (bool_, int32, uint32, float16, float32)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME["bool_"] = bool_


def get(name):
    return _BY_NAME[name]


def from_numpy_dtype(npdt) -> DType:
    """The dtype a numpy array of dtype ``npdt`` becomes (float64 -> float32,
    every narrower or wider integer -> int32, except uint32)."""
    npdt = np.dtype(npdt)
    if npdt == np.bool_:
        return bool_
    if npdt == np.float32 or npdt == np.float64:
        return float32
    if npdt == np.float16:
        return float16
    if npdt == np.uint32:
        return uint32
    if npdt.kind in "iu":
        if npdt.itemsize == 8 and npdt.kind == "u":
            return int32  # range-checked by the caller
        return int32
    raise TypeError(
        f"unsupported dtype {npdt} (wgpu_tensor has bool, int32, uint32, float16, float32)")


_WARNED_64 = []


def narrow_64(name):
    """int64 / float64 requested: WebGPU has no 64-bit types, so (as JAX without x64)
    int32 / float32, with one warning per process."""
    to = int32 if name in ("int64", "long", "uint64") else float32
    if not _WARNED_64:
        _WARNED_64.append(True)
        warnings.warn(f"{name} requested: WebGPU has no 64-bit types, so wgpu_tensor uses {to.name} "
                      "(values out of its range raise); this warning is shown once", UserWarning, stacklevel=4)
    return to


def to_dtype(d) -> DType:
    """Accept a wgpu_tensor dtype, a name, a numpy dtype or a Python type. 64-bit
    requests give int32 / float32 (see narrow_64)."""
    if isinstance(d, DType):
        return d
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    if isinstance(d, str) and d in ("int64", "long", "float64", "double"):
        return narrow_64(d)
    if d is bool:
        return bool_
    if d is int:
        return int32
    if d is float:
        return float32
    try:
        npdt = np.dtype(d)
    except TypeError:
        raise TypeError(f"unsupported dtype {d!r}") from None
    if npdt in (np.bool_, np.int32, np.uint32, np.float16, np.float32):
        return from_numpy_dtype(npdt)
    if npdt in (np.int64, np.float64):
        return narrow_64(npdt.name)
    raise TypeError(f"unsupported dtype {d!r} (wgpu_tensor has bool, int32, uint32, float16, float32)")


def scalar_dtype(v) -> DType:
    if isinstance(v, (bool, np.bool_)):
        return bool_
    if isinstance(v, (int, np.integer)):
        return int32
    if isinstance(v, (float, np.floating)):
        return float32
    if isinstance(v, (np.ndarray, list, tuple)):
        shape = np.shape(v) if isinstance(v, np.ndarray) else f"len {len(v)}"
        raise TypeError(f"an operand of type {type(v).__name__} ({shape}): wrap it with wt.tensor() first "
                        "(wgpu_tensor converts host arrays only explicitly, so no upload is hidden)")
    text = repr(v)
    raise TypeError(f"unsupported scalar {text if len(text) <= 60 else text[:57] + '...'} of type "
                    f"{type(v).__name__}")


def promote(a: DType, b: DType) -> DType:
    """Result dtype of a binary op on two tensors (PyTorch's lattice:
    bool < int32/uint32 < float16 < float32; int32 with uint32 gives int32)."""
    if a is b:
        return a
    if a.rank != b.rank:
        return a if a.rank > b.rank else b
    return int32  # int32 with uint32


def promote_scalar(t: DType, s: DType) -> DType:
    """Result dtype of tensor (op) Python scalar: a scalar never widens the
    tensor's category (int * 2 stays int, float16 * 2.5 stays float16), but a
    float scalar makes an integer or bool tensor float32 and an int scalar
    makes a bool tensor int32."""
    if s.kind == "f":
        return t if t.kind == "f" else float32
    if s.kind == "i":
        return t if t.kind != "b" else int32
    return t

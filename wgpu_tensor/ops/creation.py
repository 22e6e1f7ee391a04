"""Creating views: from host data (one upload) or on the GPU (fill, arange, random, tril/triu)."""
from __future__ import annotations

import math
import random as _random

import numpy as np

from .. import dtypes as D
from ..dtypes import DType
from ..runtime import get_device
from ..view import View
from . import elementwise as E

_I32 = (-(2 ** 31), 2 ** 31 - 1)
_U32 = (0, 2 ** 32 - 1)
_seed_gen = _random.Random()


def manual_seed(seed: int) -> None:
    """Seed the generator that draws seeds for rand/randn/randint called without one.

    >>> wt.manual_seed(0)
    >>> a = wt.rand(3)
    >>> wt.manual_seed(0)
    >>> bool((wt.rand(3) == a).all())
    True
    """
    _seed_gen.seed(int(seed))


def _next_seed():
    return _seed_gen.getrandbits(32)


def _check_int_range(arr, target):
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    lo, hi = _U32 if target is D.uint32 else _I32
    if arr.dtype.kind == "f":
        # float -> int truncates toward zero; a value past the range (or NaN) must not wrap.
        if not np.isfinite(arr).all():
            raise OverflowError(f"a non-finite value ({arr[~np.isfinite(arr)].flat[0]}) does not fit "
                                f"{target.name}")
        mn, mx = int(np.trunc(arr.min())), int(np.trunc(arr.max()))
    else:
        mn, mx = int(arr.min()), int(arr.max())
    if mn < lo or mx > hi:
        raise OverflowError(f"value {mx if mx > hi else mn} does not fit {target.name} "
                            f"(range [{lo}, {hi}])")


def _check_float_range(arr, target):
    """float64 values beyond the target's range would silently become inf: refuse them."""
    if arr.dtype != np.float64 or not arr.size:
        return
    fin = arr[np.isfinite(arr)]
    lim = float(np.finfo(target.np).max)
    if fin.size and np.abs(fin).max() > lim:
        raise OverflowError(f"value {fin.flat[int(np.argmax(np.abs(fin)))]!r} does not fit {target.name} "
                            f"(largest {lim:.6g}); float64 data become {target.name}")


def is_device_name(d):
    """Whether ``d`` names a device ported code may pass: "cpu", "cuda", "cuda:0", ... or a
    torch-style device object. On a one-adapter runtime every one of them is this adapter."""
    return isinstance(d, str) and d.split(":")[0] in ("cpu", "cuda", "gpu", "wgpu", "mps") or \
        type(d).__name__ in ("device", "Device")


def _device(device):
    """The device for a new tensor: ``device=`` may be None or a tensor's ``.device``
    (PyTorch code passes ``device=x.device``); wgpu_tensor runs on one adapter."""
    dev = get_device()
    if device is None or device is dev:
        return dev
    if is_device_name(device):
        return dev  # ported code names "cpu" or "cuda": both mean the one adapter here
    raise ValueError(f"device={device!r}: wgpu_tensor runs on one WebGPU adapter; pass device=None, "
                     "'cpu', 'cuda' or a tensor's .device")


def from_numpy(arr: np.ndarray, dtype: DType | str | None = None, device: object = None) -> View:
    """Upload a numpy array (copied). float64 becomes float32, other integer types int32
    (OverflowError when a value does not fit), unless ``dtype`` says otherwise."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"unsupported dtype {arr.dtype} (wgpu_tensor has bool, int32, uint32, "
                        "float16, float32)")
    target = D.to_dtype(dtype) if dtype is not None else D.from_numpy_dtype(arr.dtype)
    if target.kind in "iu":
        _check_int_range(arr, target)
    elif target.kind == "f":
        _check_float_range(arr, target)
    # not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    host = np.asarray(arr.astype(target.np, copy=False), order="C")
    dev = _device(device)
    t = View.empty(host.shape, target, dev)
    if host.nbytes:
        dev.upload(t._buf, host.reshape(-1).view(np.uint8))
    return t


def check_requires_grad(dtype):
    """RuntimeError (before any GPU work) for requires_grad on a non-float dtype."""
    if dtype.kind != "f":
        raise RuntimeError(f"only tensors of floating point dtype can require gradients, got {dtype.name}")


def tensor(data: object, dtype: DType | str | None = None, device: object = None,
           requires_grad: bool = False) -> View:
    """A new view from a scalar, (nested) list, numpy array or View (copied)."""
    _device(device)
    if requires_grad and dtype is not None:
        check_requires_grad(D.to_dtype(dtype))
    if isinstance(data, View):
        return E.cast(data, D.to_dtype(dtype)) if dtype is not None else E.copy(data)
    if isinstance(data, (bool, np.bool_)):
        arr = np.asarray(data, dtype=np.bool_)
    elif isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        arr = np.asarray(int(data), dtype=object if not -(2 ** 63) <= int(data) < 2 ** 63 else np.int64)
        if arr.dtype == object:
            raise OverflowError(f"value {data} does not fit int32")
    else:
        try:
            arr = np.asarray(data)
        except (ValueError, OverflowError) as e:
            if isinstance(e, OverflowError):
                raise OverflowError(f"a value does not fit int32: {e}") from None
            raise ValueError(f"cannot make a tensor from {type(data).__name__}: {e}") from None
        if arr.dtype == object:
            if all(isinstance(v, int) for v in np.asarray(data, dtype=object).reshape(-1)):
                raise OverflowError("a Python int in the data does not fit int32")
            raise TypeError(f"unsupported data for a tensor: {type(data).__name__}")
    if arr.dtype.kind == "f" and dtype is None:
        _check_float_range(arr, D.float32)
        arr = arr.astype(np.float32 if arr.dtype != np.float16 else np.float16)
    if requires_grad and (D.to_dtype(dtype) if dtype is not None else D.from_numpy_dtype(arr.dtype)).kind != "f":
        got = D.to_dtype(dtype) if dtype is not None else D.from_numpy_dtype(arr.dtype)
        raise RuntimeError(f"only tensors of floating point dtype can require gradients, got {got.name} "
                           "(pass float data or dtype=wt.float32)")
    return from_numpy(arr, dtype)


def _dt(dtype, default=D.float32):
    return default if dtype is None else D.to_dtype(dtype)


def empty(shape, dtype=None, device=None):
    return View.empty(shape, _dt(dtype), _device(device))


def full(shape, fill_value, dtype=None, device=None):
    if dtype is None:
        dtype = D.scalar_dtype(fill_value)
    return E.fill(shape, fill_value, D.to_dtype(dtype), device=_device(device))


def zeros(shape, dtype=None, device=None):
    return full(shape, 0, _dt(dtype), device)


def ones(shape, dtype=None, device=None):
    return full(shape, 1, _dt(dtype), device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: DType | str | None = None,
           device: object = None) -> View:
    """Like torch.arange: int32 when start/end/step are all ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        dtype = D.int32 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else D.float32
    dtype = D.to_dtype(dtype)
    if dtype is D.bool_:
        raise TypeError("arange: bool is not a valid dtype (use int32, uint32, float16 or float32)")
    n = max(0, math.ceil((end - start) / step))
    return E.arange(start, step, n, dtype, device=_device(device))


def _seed(seed):
    return _next_seed() if seed is None else int(seed) & 0xFFFFFFFF


def _float_dt(dtype, what):
    dt = _dt(dtype)
    if dt.kind != "f":
        raise TypeError(f"{what}: dtype must be float32 or float16, not {dt.name}")
    return dt


def rand(shape, seed=None, dtype=None, device=None):
    """Uniform [0, 1) from a counter-based hash of (index, seed): same seed, same numbers."""
    return E.random("rand", shape, _seed(seed), _float_dt(dtype, "rand"), device=_device(device))


def randn(shape, seed=None, dtype=None, device=None):
    """Standard normal (Box-Muller over the same hash)."""
    return E.random("randn", shape, _seed(seed), _float_dt(dtype, "randn"), device=_device(device))


def randint(low, high, size, seed=None, dtype=None, device=None):
    """Integers in [low, high)."""
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    if high - low > 2 ** 32 or not -(2 ** 31) <= low or high > 2 ** 31:
        raise OverflowError("randint: bounds must fit int32")
    t = E.random("randint", size, _seed(seed), low=int(low), high=int(high), device=_device(device))
    return t if dtype is None else E.cast(t, D.to_dtype(dtype))


def tri(x, diagonal, lower):
    """tril (lower) / triu of the last two dims of ``x``."""
    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'} needs at least 2 dimensions, got shape {x.shape}")
    r, c = x.shape[-2:]
    # keep[i, j] = (j - i <= diagonal) for tril, (j - i >= diagonal) for triu.
    d = E.binary("sub", arange(c).unsqueeze(0), arange(r).unsqueeze(1))
    keep = E.binary("le" if lower else "ge", d, diagonal)
    return E.where(keep, x, False if x.dtype is D.bool_ else 0)

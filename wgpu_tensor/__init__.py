"""wgpu_tensor: GPU tensors on WebGPU, built around masking.

    import wgpu_tensor as wt
    x = wt.tensor([[1, 2, 3], [4, 5, 6]])
    sel = x.masked_select(x > 3)      # [6] on the GPU, sel.count == 3, no sync
"""
from .dtypes import bool_ as bool, int32, uint32, float16, float32, DType  # noqa: A001
# PyTorch's short names for the same dtypes (wgpu_tensor has no 64-bit types).
float, half, int = float32, float16, int32  # noqa: A001
from .tensor import Tensor
from .runtime import get_device as _get_device
from .ops.creation import (tensor, from_numpy, empty, zeros, ones, full, empty_like, zeros_like,
                           ones_like, full_like, arange, rand, randn, randint, tril, triu,
                           manual_seed)
from . import autograd as _autograd
from .autograd import no_grad, enable_grad, is_grad_enabled

__version__ = "0.1.0"


def device_info():
    """Which adapter is in use: name, vendor, backend, type and key limits."""
    return _get_device().info()


def synchronize():
    """Wait for all queued GPU work (not counted by sync_count)."""
    _get_device().synchronize()


def sync_count():
    """How many GPU-to-CPU reads have happened in this process."""
    return _get_device().sync_count


def set_sync_debug_mode(mode):
    """"error" or "warn": an implicit read (bool(t), int(t), float(t), repr, np.asarray(t))
    raises or warns; "default" turns the check off. Explicit reads (numpy(), item(), tolist(),
    await, x[mask]) are always allowed."""
    if mode not in ("default", "warn", "error"):
        raise ValueError(f"sync debug mode must be 'default', 'warn' or 'error', not {mode!r}")
    _get_device().sync_mode = mode


def get_sync_debug_mode():
    return _get_device().sync_mode


def memory_stats():
    """Bytes allocated on the GPU, how many sit in the pool, how many are in use."""
    return _get_device().memory_stats()


def empty_cache():
    """Free the pooled (unused) GPU buffers."""
    _get_device().empty_cache()


def _binary(name):
    def f(x, y):
        return _autograd.binary(name, x, y)
    f.__name__ = name
    return f


gt, ge, lt, le, eq, ne = (_binary(n) for n in ("gt", "ge", "lt", "le", "eq", "ne"))
logical_and, logical_or, logical_xor = (_binary(n) for n in ("logical_and", "logical_or", "logical_xor"))
add, sub, mul, div = (_binary(n) for n in ("add", "sub", "mul", "div"))


def logical_not(x):
    return x.logical_not()


def neg(x):
    return -x


def abs(x):  # noqa: A001
    return x.abs()


def where(condition, x, y):
    return _autograd.where(condition, x, y)


def masked_select(x, mask, out=None, fill_value=None):
    return x.masked_select(mask, out=out, fill_value=fill_value)


async def masked_select_async(x, mask):
    return await x.masked_select_async(mask)


def nonzero(x, *, as_tuple=False):
    return x.nonzero(as_tuple=as_tuple)


async def nonzero_async(x, *, as_tuple=False):
    return await x.nonzero_async(as_tuple=as_tuple)


def masked_fill(x, mask, value):
    return x.masked_fill(mask, value)


def masked_scatter(x, mask, source):
    return x.masked_scatter(mask, source)


def sum(x, dim=None, keepdim=False, *, dtype=None):  # noqa: A001
    return x.sum(dim, keepdim, dtype=dtype)


def mean(x, dim=None, keepdim=False, *, dtype=None):
    return x.mean(dim, keepdim, dtype=dtype)


def any(x, dim=None, keepdim=False):  # noqa: A001
    return x.any(dim, keepdim)


def all(x, dim=None, keepdim=False):  # noqa: A001
    return x.all(dim, keepdim)


def count_nonzero(x, dim=None):
    return x.count_nonzero(dim)


def amax(x, dim=None, keepdim=False):
    return x.amax(dim, keepdim)


def amin(x, dim=None, keepdim=False):
    return x.amin(dim, keepdim)


def sort(x, dim=-1, descending=False):
    return x.sort(dim, descending)


def kthvalue(x, k, dim=-1, keepdim=False):
    return x.kthvalue(k, dim, keepdim)


def isin(elements, test_elements, *, invert=False):
    from .ops import sort as _sort
    return _sort.isin(elements, test_elements, invert=invert)


def gather(x, dim, index):
    return x.gather(dim, index)


def scatter(x, dim, index, src=None, *, value=None):
    return x.scatter(dim, index, src, value=value)


def scatter_add(x, dim, index, src):
    return x.scatter_add(dim, index, src)


def index_select(x, dim, index):
    return x.index_select(dim, index)

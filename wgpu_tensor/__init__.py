"""wgpu_tensor: GPU tensors on WebGPU, built around masking.

    import wgpu_tensor as wt
    x = wt.tensor([[1, 2, 3], [4, 5, 6]])
    sel = x.masked_select(x > 3)      # [6] on the GPU, sel.count == 3, no sync

Layers, each importing only those below it: this module -> tensor (the Tensor,
``apply``) -> opdefs (each op's checks, forward and gradient) and autograd (the
tape) -> ops (kernels' Python side, on Views) -> view (storage and shape maths)
-> runtime (device, buffers, pipelines), dtypes.
"""
from __future__ import annotations

import builtins  # bool, int and float below are wgpu_tensor's dtypes (as torch.bool, torch.int)

from .dtypes import bool_ as bool, int32, uint32, float16, float32, DType  # noqa: A001
from .autograd import no_grad, enable_grad, is_grad_enabled
from .ops.creation import manual_seed
from .runtime import get_device as _get_device, use_device as _use_device
from .tensor import Tensor, functions as _functions, _unwrap, _wrap_out
from .ops.select import read_count_async as _read_count_async
from .ops.unique import exact_results as _exact_unique

# PyTorch's short names for the same dtypes (wgpu_tensor has no 64-bit types).
float, half, int = float32, float16, int32  # noqa: A001

__version__ = "0.1.0"

# Every declared op with a public function (wgpu_tensor/opdefs.py): wt.tensor, wt.zeros,
# wt.gt, wt.where, wt.masked_select, wt.sum, wt.sort, ...
globals().update(_functions())


async def masked_select_async(x: Tensor, mask: Tensor) -> Tensor:
    """The exact [k] selection of x where mask is true (PyTorch's masked_select result);
    awaits only the 4-byte count, never blocks the event loop.

    >>> import asyncio
    >>> x = wt.tensor([5, 1, 7])
    >>> asyncio.run(wt.masked_select_async(x, x > 2))
    tensor([5, 7])
    """
    return await x.masked_select_async(mask)


async def nonzero_async(x: Tensor, *, as_tuple: builtins.bool = False) -> Tensor | tuple[Tensor, ...]:
    """The exact [k, ndim] coordinates of x's nonzero elements; awaits only the count.

    >>> import asyncio
    >>> asyncio.run(wt.nonzero_async(wt.tensor([0, 3, 0, 4])))
    tensor([[1],
            [3]])
    """
    return await x.nonzero_async(as_tuple=as_tuple)


async def unique_async(x: Tensor, sorted: builtins.bool = True, return_inverse: builtins.bool = False,
                       return_counts: builtins.bool = False,
                       dim: builtins.int | None = None) -> Tensor | tuple[Tensor, ...]:
    """The exact torch.unique result; awaits only the 4-byte count of unique values.

    >>> import asyncio
    >>> asyncio.run(wt.unique_async(wt.tensor([3, 1, 3])))
    tensor([1, 3])
    >>> asyncio.run(wt.unique_async(wt.tensor([3, 1, 3]), return_counts=True))
    (tensor([1, 3]), tensor([1, 2]))
    """
    res = unique(x, sorted, return_inverse, return_counts, dim, fixed_size=True)  # noqa: F821
    values = res if isinstance(res, Tensor) else res[0]
    k = await _read_count_async(values._v.count)
    return _wrap_out(_exact_unique(_unwrap(res), k, return_inverse, return_counts))


def device_info() -> dict:
    """Which adapter is in use: name, vendor, backend, type and key limits (a dict).

    >>> info = wt.device_info()
    >>> sorted(k for k in info if k in ("name", "backend", "type"))
    ['backend', 'name', 'type']
    """
    return _get_device().info()


def get_device() -> "wgpu.GPUDevice":
    """The wgpu.GPUDevice wgpu_tensor runs on (made on first use), to share with your
    own wgpu code: buffers you create on it can be wrapped with ``wt.from_buffer``,
    and tensors' ``.buffer`` bound in your pipelines. (``t.device`` is wgpu_tensor's
    wrapper of it, accepted by ``.to()`` and ``device=``; not this object.) PyTorch
    has no analogue (the nearest is ``torch.cuda.current_device()``).

    >>> import wgpu
    >>> isinstance(wt.get_device(), wgpu.GPUDevice)
    True
    """
    return _get_device().device


def use_device(device: "wgpu.GPUDevice") -> None:
    """Make wgpu_tensor run on ``device``, your wgpu.GPUDevice, instead of opening its
    own: call it before any other wgpu_tensor call. Afterwards passing the device in
    use again is a no-op and another one a RuntimeError (tensors cannot move between
    devices). wgpu_tensor then works within the limits and features the device was
    created with: request the adapter's maxima of max-buffer-size and
    max-storage-buffer-binding-size for large tensors, and the "subgroup" feature
    for the faster scans. No PyTorch analogue.

    >>> wt.use_device(wt.get_device())     # the device in use: accepted
    """
    _use_device(device)


def synchronize() -> None:
    """Wait for all queued GPU work (not counted by sync_count).

    >>> y = wt.ones(3) * 2
    >>> wt.synchronize()
    """
    _get_device().synchronize()


def sync_count() -> builtins.int:
    """How many GPU-to-CPU reads have happened in this process.

    >>> x = wt.tensor([1, 2, 3])
    >>> before = wt.sync_count()
    >>> sel = x.masked_select(x > 1)       # fixed-size: no read
    >>> wt.sync_count() - before
    0
    >>> n = sel.count.item()                # an explicit read
    >>> wt.sync_count() - before, n
    (1, 2)
    """
    return _get_device().sync_count


def set_sync_debug_mode(mode: str) -> None:
    """"error" or "warn": an implicit read (bool(t), int(t), float(t), repr, np.asarray(t))
    raises or warns; "default" turns the check off. Explicit reads (numpy(), item(), tolist(),
    await, x[mask]) are always allowed. (PyTorch's torch.cuda.set_sync_debug_mode takes
    the same names.)

    >>> x = wt.tensor([1., 2.])
    >>> wt.set_sync_debug_mode("error")
    >>> try:
    ...     bool(x.sum() > 0)
    ... except RuntimeError:
    ...     print("implicit read refused")
    implicit read refused
    >>> x.sum().item()
    3.0
    >>> wt.set_sync_debug_mode("default")
    """
    if mode not in ("default", "warn", "error"):
        raise ValueError(f"sync debug mode must be 'default', 'warn' or 'error', not {mode!r}")
    _get_device().sync_mode = mode


def get_sync_debug_mode() -> str:
    """The current sync debug mode: "default", "warn" or "error" (see set_sync_debug_mode).

    >>> wt.get_sync_debug_mode()
    'default'
    """
    return _get_device().sync_mode


def memory_stats() -> dict:
    """Bytes allocated on the GPU, pooled, in use, in readback buffers, held in all (what
    the memory limit counts) and the limit; entries of the pipeline, bind-group and plan
    caches, and pipelines evicted so far (a dict).

    >>> s = wt.memory_stats()
    >>> s["in_use_bytes"] <= s["allocated_bytes"], s["pipelines"] >= 0
    (True, True)
    """
    return _get_device().memory_stats()


def set_memory_limit(nbytes: builtins.int | None) -> builtins.int:
    """Cap the bytes the runtime holds (live tensors, the pool, readback buffers): an
    allocation that would pass it trims the pool, then raises MemoryError naming the
    limit, with earlier tensors intact. 0: no cap; None: the default (half the
    available host memory on CPU adapters and integrated GPUs, none on discrete GPUs).
    Returns the previous cap. PyTorch's nearest is
    ``torch.cuda.set_per_process_memory_fraction``.

    >>> old = wt.set_memory_limit(1 << 20)
    >>> try:
    ...     wt.zeros(1 << 20)          # 4 MiB, over the 1 MiB cap
    ... except MemoryError:
    ...     print("MemoryError")
    MemoryError
    >>> _ = wt.set_memory_limit(old)
    """
    return _get_device().set_memory_limit(nbytes)


def get_memory_limit() -> builtins.int:
    """The memory cap in bytes (0: none).

    >>> wt.get_memory_limit() >= 0
    True
    """
    return _get_device().memory_limit


def set_cache_limits(pipelines: builtins.int | None = None, bind_groups: builtins.int | None = None,
                     plans: builtins.int | None = None) -> dict:
    """Bound the pipeline, bind-group and replay-plan caches (entries, least recently
    used evicted first; None keeps a bound). Returns the previous bounds as a dict.

    >>> old = wt.set_cache_limits(pipelines=256)
    >>> _ = wt.set_cache_limits(**old)
    """
    return _get_device().set_cache_limits(pipelines, bind_groups, plans)


def empty_cache() -> None:
    """Free the pooled (unused) GPU buffers and idle readback buffers.

    >>> wt.empty_cache()
    >>> wt.memory_stats()["pooled_bytes"]
    0
    """
    _get_device().empty_cache()
from . import nn  # noqa: E402  (wgpu_tensor.nn.functional: softmax, scaled_dot_product_attention)

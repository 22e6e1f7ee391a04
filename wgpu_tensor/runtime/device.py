"""The device layer: adapter, buffer pool, pipeline cache, command batching, readback.

Its contract to the layers above is small: ``alloc`` a buffer, ``upload`` bytes
into it, ``dispatch`` a cached kernel over buffers, ``clear``/``copy`` buffer
ranges, ``read``/``read_async`` bytes back. Work is recorded into one command
encoder (one open compute pass) and submitted only at sync points.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import os
import tempfile
import threading
import warnings
import weakref
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from . import errors, shaders

try:  # wgpu may be missing; the error then says how to install it
    import wgpu
except ImportError as _e:  # pragma: no cover - exercised only without wgpu
    wgpu = None
    _WGPU_IMPORT_ERROR = _e

INSTALL_HINT = (
    "wgpu_tensor found no WebGPU adapter. On a machine without a GPU install Mesa's "
    "software Vulkan driver (lavapipe): `sudo apt-get install mesa-vulkan-drivers` "
    "(Debian/Ubuntu). On a machine with a GPU, install its Vulkan/Metal/D3D12 driver. "
    "WGPU_BACKEND_TYPE / WGPU_ADAPTER_NAME select among several adapters.")

_uid = itertools.count(1)


class Buffer:
    """A GPU buffer. ``uid`` identifies it in bind-group keys. ``kind`` says where
    it goes when its tensor dies: None, the pool of plain storage buffers;
    "indirect", the pool of those that are also INDIRECT (Device.alloc); "foreign",
    nowhere: a caller's buffer wrapped by Device.wrap_buffer stays the caller's."""

    __slots__ = ("gpu", "size", "uid", "kind", "__weakref__")

    def __init__(self, gpu, size, kind=None):
        self.gpu = gpu
        self.size = size
        self.uid = next(_uid)
        self.kind = kind


class Kernel:
    """A compute pipeline plus the layout of its bindings.

    Binding 0 is always the uniform parameter block (dynamic offset); the
    others are storage buffers, ``"r"`` (read-only) or ``"rw"``.
    """

    __slots__ = ("pipeline", "layout", "access", "params_size", "key", "aliases")

    def __init__(self, pipeline, layout, access, params_size, key):
        self.pipeline = pipeline
        self.layout = layout
        self.access = access
        self.params_size = params_size
        self.key = key
        self.aliases = []  # its keys in Device.op_cache, dropped with it on eviction


class Command(NamedTuple):
    """One entry of Device.record_commands(): a command recorded, a read, or an
    allocation.

    kind: "dispatch", "clear", "copy", "upload", "read" or "alloc".
    name: the shader of a dispatch (Kernel.key[0]); "new" or "pool" for an alloc.
    params: a dispatch's template parameters as a dict; an alloc's {"nbytes": asked}.
    groups: the workgroups a dispatch launched (grid x * y); 0 otherwise.
    grid: a dispatch's (x, y) workgroup grid; () otherwise.
    bindings: (buffer uid, byte offset, byte size) per binding 1..n of a dispatch
        (None for an absent one); the range cleared / uploaded / read / allocated;
        (source, destination) of a copy.
    """
    kind: str
    name: str = ""
    params: dict = {}
    groups: int = 0
    grid: tuple = ()
    bindings: tuple = ()


def _win(b):
    return None if b is None else (b[0].uid, b[1], b[2])


def _round_up(n, a):
    return (n + a - 1) // a * a


def _bucket(n):
    """Pool size class: powers of two below 1 MiB, then steps of 1/8 of a power of two."""
    n = max(int(n), 16)
    if n <= 1 << 20:
        return 1 << (n - 1).bit_length()
    step = 1 << ((n - 1).bit_length() - 4)
    return _round_up(n, step)


# Entries each cache keeps before evicting its least recently used one (see
# Device.set_cache_limits). A pipeline costs about 0.75 MiB of RSS on lavapipe,
# a bind group or a plan a few hundred bytes.
CACHE_LIMITS = {"pipelines": 512, "bind_groups": 4096, "plans": 4096}
# After this many pipeline evictions the freed heap memory is handed back to the OS
# (_malloc_trim): see Device._new_kernel.
TRIM_EVERY = 64
HOST_SHARE = 0.5  # the default memory limit's share of available host memory
STAGING_KEEP = 1 << 26  # readback buffers up to this size are kept for reuse


_TRIM = []  # [glibc's malloc_trim, or None], looked up on first use


def _malloc_trim():
    """Hand the free pages of every malloc arena back to the OS (glibc's malloc_trim(0));
    nothing where the C library has no malloc_trim. Whether it ran."""
    if not _TRIM:
        try:
            import ctypes
            fn = ctypes.CDLL(None).malloc_trim
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            fn = None
        _TRIM.append(fn)
    if _TRIM[0] is None:
        return False
    _TRIM[0](0)
    return True


def _read_int(path):
    """The first integer in a one-value file (/proc, /sys), or None ("max", missing, ...)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_room(root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """Bytes this process's cgroup may still use (limit minus usage; the least over its
    own cgroup and the root, cgroup v2 and v1), or None when none has a limit."""
    v2 = ("memory.max", "memory.current")
    v1 = ("memory.limit_in_bytes", "memory.usage_in_bytes")
    places = [(root, v2), (root + "/memory", v1)]
    try:
        with open(proc_cgroup) as f:
            for ln in f:
                parts = ln.strip().split(":", 2)
                if len(parts) == 3 and parts[2].strip("/"):
                    if parts[0] == "0" and not parts[1]:  # v2: 0::/path
                        places.append((root + "/" + parts[2].strip("/"), v2))
                    elif "memory" in parts[1].split(","):  # v1: N:memory:/path
                        places.append((root + "/memory/" + parts[2].strip("/"), v1))
    except OSError:
        pass
    rooms = []
    for d, (limit_file, usage_file) in places:
        limit = _read_int(f"{d}/{limit_file}")
        if limit is not None and limit < 1 << 60:  # ("max" in v2, a huge number in v1: none)
            rooms.append(max(limit - (_read_int(f"{d}/{usage_file}") or 0), 0))
    return min(rooms) if rooms else None


def host_memory_available():
    """Bytes of host memory this process can still take: /proc/meminfo's MemAvailable
    (else os.sysconf's available pages), lowered to the cgroup's room if it has a limit.
    None when nothing can be read."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("MemAvailable:"):
                    avail = int(ln.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            avail = None
    room = _cgroup_room()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


class Device:
    ARENA_SIZE = 1 << 18  # uniform parameter ring, flushed when full
    POOL_CAP = 1 << 30  # bytes kept in the pool for reuse before trimming

    def __init__(self, device=None):
        """Open a device on the default adapter, or adopt ``device`` (a caller's
        wgpu.GPUDevice, see use_device): its limits and features are then the ones
        it was created with."""
        if wgpu is None:
            raise RuntimeError(f"wgpu (wgpu-py) is not importable: {_WGPU_IMPORT_ERROR}. "
                               "pip install wgpu")
        if device is not None:
            self.adapter, self.device = device.adapter, device
            self._features(set(device.features))
        else:
            self._open()
        dl = self.device.limits
        self.max_buffer = int(dl["max-buffer-size"])
        self.max_binding = int(dl["max-storage-buffer-binding-size"]) // 4 * 4
        self.max_groups = int(dl["max-compute-workgroups-per-dimension"])
        self.max_storage_bindings = int(dl["max-storage-buffers-per-shader-stage"])
        self.storage_align = int(dl["min-storage-buffer-offset-alignment"])
        self.uniform_align = int(dl["min-uniform-buffer-offset-alignment"])
        self.queue = self.device.queue
        self.lock = threading.RLock()

        # The three caches are least-recently-used, bounded by self.cache_limits.
        # Pipelines, under (shader, sorted params, access, entry):
        self._kernels = OrderedDict()
        self._recent = None  # the pipeline dispatch_fresh last moved to the end (None: unknown)
        # Ops cache their kernels here too, under flat signature keys of their own
        # (e.g. elementwise: expression, dtypes), skipping the sorted params key
        # (kernel(alias=)); an evicted pipeline takes its aliases with it.
        self.op_cache = {}
        # Replay plans of ops (elementwise: ops/elementwise.py), objects with a
        # .kernel; an evicted pipeline takes its plans with it.
        self.plans = OrderedDict()
        # Bind groups, under (Kernel or plan, then (buffer uid, offset, size) per
        # binding): buffer uids are never reused and a pooled buffer keeps its GPU
        # buffer, so a bind group stays valid until _trim destroys buffers (it then
        # drops them all); an evicted pipeline takes its bind groups with it.
        self._bind_groups = OrderedDict()
        self.cache_limits = dict(CACHE_LIMITS)
        self.evictions = 0  # pipelines evicted from the cache
        self._trimmed_at = 0  # self.evictions when the heap was last trimmed (_malloc_trim)
        self.trims = 0  # heap trims done
        self._pool = {}  # size (a plain buffer) or (kind, size) -> [Buffer]
        self._owned = set()  # every live Buffer (see alloc)
        self._foreign = weakref.WeakValueDictionary()  # wgpu uid -> Buffer of a wrapped caller's buffer
        self._pooled_bytes = 0
        self._allocated_bytes = 0
        self._staging = {}  # size -> [idle readback buffer]
        self._staging_bytes = 0  # bytes of every readback buffer, idle or mapped
        self._encoder = None
        self._pass = None
        self._pass_pipeline = None  # the pipeline last set in the open pass
        # Lazy results (view.Storage) by the buffers they read: a write into one of
        # those buffers materialises them first (see add_reader).
        self._readers = {}
        self._timer = None  # a _PassTimer while pass timing is on
        self._arena = self.device.create_buffer(
            size=self.ARENA_SIZE, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        self._arena_data = bytearray(self.ARENA_SIZE)
        self._arena_pos = 0
        self._last_params = self._last_off = self._last_size = None  # the block last written
        self._pending = False  # anything recorded since the last submit
        self._batches = collections.deque()  # closed, not yet submitted: (params, command buffer)
        self._submit_lock = threading.Lock()
        self._read_workers = None  # read_async's worker threads, made on first use
        self.sync_count = 0
        self.bytes_read = 0  # bytes copied GPU -> host by read/read_async
        self.sync_mode = "default"
        self.dispatches = 0
        # Every other recorded command and allocation is counted too (counters()),
        # so a test can prove nothing at all happened; record_commands() logs them.
        self.clears = self.copies = self.uploads = self.reads = 0
        self.allocs = 0  # buffers created by alloc()
        self.pool_hits = 0  # alloc() calls served from the pool
        self._log = None  # the list record_commands() appends to, or None
        self._submitted = 0  # self.dispatches at the last flush
        self.memory_limit = self.default_memory_limit()
        self.subgroup_size = 0
        self.use_subgroups = self.has_subgroups and self._probe_subgroups()

    def _open(self):
        if not os.environ.get("XDG_RUNTIME_DIR"):
            # Mesa prints 'XDG_RUNTIME_DIR is invalid' noise without it.
            os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="wgpu_tensor_")
        try:
            adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        except Exception as e:  # wgpu raises when no adapter/driver exists
            raise RuntimeError(f"{INSTALL_HINT} (wgpu said: {e})") from None
        if adapter is None:
            raise RuntimeError(INSTALL_HINT)
        self.adapter = adapter
        lim = adapter.limits
        wanted = ["max-buffer-size", "max-storage-buffer-binding-size",
                  "max-compute-workgroups-per-dimension", "max-compute-workgroup-storage-size",
                  "max-compute-invocations-per-workgroup", "max-compute-workgroup-size-x",
                  "max-storage-buffers-per-shader-stage", "max-uniform-buffer-binding-size"]
        required_limits = {k: lim[k] for k in wanted if k in lim}
        want_feats = self._features(set(adapter.features))
        try:
            self.device = adapter.request_device_sync(required_features=want_feats,
                                                      required_limits=required_limits)
        except Exception as e:  # a driver that lists an adapter but cannot open it
            raise RuntimeError(f"{INSTALL_HINT} (the adapter {adapter.info.get('device', '')!r} was found, "
                               f"but opening a device on it failed: {e})") from None

    def _features(self, feats):
        """Which optional features to use of ``feats``; returns them."""
        want = []
        self.has_subgroups = ("subgroup" in feats
                              and os.environ.get("WGPU_TENSOR_SUBGROUPS", "1") != "0")
        if self.has_subgroups:
            want.append("subgroup")
        self.has_timestamps = "timestamp-query" in feats
        if self.has_timestamps:
            want.append("timestamp-query")
        return want

    def _probe_subgroups(self):
        """The scans assume subgroups are consecutive runs of local_invocation_index
        of a size dividing the workgroup; check that once, else use the
        workgroup-memory path. An internal read: not counted by sync_count."""
        try:
            k = self.kernel("subgroup_probe", {"WG": 256}, ["rw"], 16)
            buf = self.alloc(16)
            self.upload(buf, np.array([1, 0, 0, 0], np.uint32))
            self.dispatch(k, b"\0" * 16, [(buf, 0, 16)], 1)
            self.flush()
            ok, size = np.frombuffer(self.queue.read_buffer(buf.gpu, 0, 8), np.uint32)
            self.release(buf)
        except Exception as e:  # a driver that rejects the probe gets the fallback
            warnings.warn(f"subgroup probe failed ({e}); using workgroup-memory scans")
            return False
        self.subgroup_size = int(size)
        return bool(ok)

    # ------------------------------------------------------------------ accounting
    def counters(self):
        """How many commands of each kind were recorded, reads made and buffers
        allocated (new or from the pool) since the device was made."""
        return {"dispatch": self.dispatches, "clear": self.clears, "copy": self.copies,
                "upload": self.uploads, "read": self.reads, "alloc": self.allocs,
                "pool_hit": self.pool_hits}

    @contextlib.contextmanager
    def record_commands(self):
        """Log every command recorded inside the block (dispatches, clears, copies,
        uploads, reads) and every allocation, in order, as Command entries of the
        list it yields. For tests: it proves which kernels ran, over which windows,
        and that nothing ran. Nested blocks: the outer list gets the inner entries
        too. The log is the device's, so other threads' work lands in it too."""
        log = []
        with self.lock:
            outer, self._log = self._log, log
        try:
            yield log
        finally:
            with self.lock:
                self._log = outer
                if outer is not None:
                    outer.extend(log)

    def _log_dispatch(self, kernel, bindings, gx, gy):
        self._log.append(Command("dispatch", kernel.key[0], dict(kernel.key[1]), gx * gy, (gx, gy),
                                 tuple(_win(b) for b in bindings)))

    # ------------------------------------------------------------------ info
    def info(self):
        i = self.adapter.info
        return {
            "name": i.get("device", ""),
            "vendor": i.get("vendor", ""),
            "backend": i.get("backend_type", ""),
            "type": i.get("adapter_type", ""),
            "description": i.get("description", ""),
            "subgroups": self.use_subgroups,
            "subgroup_size": self.subgroup_size,
            "timestamp_query": self.has_timestamps,
            "max_buffer_size": self.max_buffer,
            "max_storage_binding_size": self.max_binding,
            "max_workgroups_per_dimension": self.max_groups,
        }

    @property
    def is_cpu(self):
        """A CPU adapter (lavapipe, or any that says so): the kernels' CPU layouts."""
        return "cpu" in str(self.adapter.info.get("adapter_type", "")).lower() or self.is_lavapipe

    @property
    def is_lavapipe(self):
        i = self.adapter.info
        return "llvmpipe" in (i.get("device", "") + i.get("vendor", "")).lower()

    # ------------------------------------------------------------------ memory limit
    def default_memory_limit(self):
        """The ceiling a device starts with: on a CPU adapter (lavapipe, llvmpipe) and
        on anything but a discrete GPU, whose "GPU memory" is host memory, HOST_SHARE
        of the host memory available now (cgroup limits included) on top of what the
        runtime already holds; on a discrete GPU 0 (no ceiling of ours: the driver's
        own out-of-memory error becomes MemoryError after the pool is trimmed)."""
        if not self.is_lavapipe and self.adapter.info.get("adapter_type", "") == "DiscreteGPU":
            return 0
        avail = host_memory_available()
        if avail is None:
            return 0
        return self.held_bytes() + int(avail * HOST_SHARE)

    def set_memory_limit(self, nbytes):
        """Set the ceiling on bytes the runtime holds (held_bytes): a positive int; 0
        for no ceiling; None for the default (default_memory_limit, recomputed now).
        A lower ceiling trims the pool at once. Returns the previous ceiling."""
        if nbytes is None:
            nbytes = self.default_memory_limit()
        elif isinstance(nbytes, bool) or not isinstance(nbytes, (int, float, np.integer, np.floating)):
            raise TypeError(f"set_memory_limit: nbytes must be an int (bytes), 0 or None, "
                            f"not {type(nbytes).__name__}")
        elif not (nbytes >= 0 and nbytes < float("inf")):
            raise ValueError(f"set_memory_limit: nbytes must be >= 0 (0: no limit), got {nbytes}")
        with self.lock:
            old, self.memory_limit = self.memory_limit, int(nbytes)
            if self.memory_limit and self.held_bytes() > self.memory_limit:
                self._make_room(0)
        return old

    def held_bytes(self):
        """Bytes the runtime holds on the device: live tensors' buffers, pooled free
        ones and readback (staging) buffers. What the memory limit counts."""
        return self._allocated_bytes + self._staging_bytes

    def _make_room(self, size):
        """Trim the pool, then idle readback buffers, until ``size`` more bytes fit the
        limit (or both are empty). Whether they fit. Call under self.lock."""
        over = self.held_bytes() + size - self.memory_limit
        if over > 0 and self._pooled_bytes:
            self._trim(max(self._pooled_bytes - over, 0))
            over = self.held_bytes() + size - self.memory_limit
        if over > 0 and self._staging:
            self._trim_staging()
            over = self.held_bytes() + size - self.memory_limit
        return over <= 0

    def _check_limit(self, size, what):
        """MemoryError (after trimming) when ``size`` more bytes would pass the limit."""
        if self.memory_limit and self.held_bytes() + size > self.memory_limit and not self._make_room(size):
            raise MemoryError(
                f"{what} {size} bytes would take wgpu_tensor's device memory to "
                f"{self.held_bytes() + size} bytes, over its memory limit of {self.memory_limit} bytes "
                f"({self._allocated_bytes - self._pooled_bytes} bytes in live tensors; free some, or raise "
                "the limit with wt.set_memory_limit)")

    # ------------------------------------------------------------------ buffers
    def check_size(self, nbytes, what="tensor"):
        if nbytes > self.max_buffer:
            raise MemoryError(
                f"{what} needs {nbytes} bytes, over this adapter's max-buffer-size of "
                f"{self.max_buffer} bytes")

    def alloc(self, nbytes, indirect=False) -> Buffer:
        """A storage buffer of at least ``nbytes`` (rounded to 4, at least 16);
        ``indirect``: one that is also an INDIRECT buffer (the arguments of a
        caller's indirect dispatch or draw), pooled apart from the others.
        MemoryError when it would pass the memory limit even after trimming the pool."""
        size = self.size_class(nbytes)
        with self.lock:
            return self._alloc(nbytes, size, indirect)

    def size_class(self, nbytes):
        """The bytes of the pooled buffer alloc(nbytes) gives (MemoryError when
        ``nbytes`` is over the adapter's max-buffer-size)."""
        if nbytes <= 1 << 20:  # the common small case: a power-of-two size class
            return 16 if nbytes <= 16 else 1 << (int(nbytes) - 1).bit_length()
        self.check_size(nbytes)
        size = _bucket(nbytes)
        if size > self.max_buffer:
            size = _round_up(max(nbytes, 16), 4)
        return size

    def _alloc(self, nbytes, size, indirect=False):
        """alloc() of a buffer of ``size`` bytes (its size class), under the lock."""
        key = ("indirect", size) if indirect else size
        if self._pooled_bytes > self.POOL_CAP:
            self._trim(self.POOL_CAP // 2)
        free = self._pool.get(key)
        if free:
            self._pooled_bytes -= size
            self.pool_hits += 1
            buf = free.pop()
            if self._log is not None:
                self._log.append(Command("alloc", "pool", {"nbytes": nbytes},
                                         bindings=((buf.uid, 0, size),)))
            return buf
        self._check_limit(size, "allocating")
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        if indirect:
            usage |= wgpu.BufferUsage.INDIRECT
        try:
            gpu = self.device.create_buffer(size=size, usage=usage)
        except Exception as e:
            self._trim(0)
            try:
                gpu = self.device.create_buffer(size=size, usage=usage)
            except Exception as e2:
                if errors.is_device_lost(e2):
                    raise errors.DeviceLostError(f"the WebGPU device was lost: {e2}") from e2
                raise MemoryError(f"could not allocate a GPU buffer of {size} bytes: {e}") from None
        self._allocated_bytes += size
        self.allocs += 1
        buf = Buffer(gpu, size, "indirect" if indirect else None)
        if self._log is not None:
            self._log.append(Command("alloc", "new", {"nbytes": nbytes},
                                     bindings=((buf.uid, 0, size),)))
        # The device owns every buffer until it destroys it: a tensor dying in
        # a reference cycle must not let the collector finalize the wgpu object
        # of a buffer that goes back to the pool.
        self._owned.add(buf)
        return buf

    def release(self, buf: Buffer):
        """Return a buffer to the pool (commands already recorded keep their order).
        It runs from __del__, at any point, even inside dispatch(): it only files
        the buffer; trimming an over-full pool waits for the next alloc(). A
        foreign buffer (wrap_buffer) is the caller's: it is never pooled."""
        if buf.kind is not None:
            if buf.kind == "foreign":
                return
            key = (buf.kind, buf.size)
        else:
            key = buf.size
        with self.lock:
            self._pool.setdefault(key, []).append(buf)
            self._pooled_bytes += buf.size

    def _trim(self, keep):
        # Destroying a buffer that pending commands use is an error: submit them first.
        self.flush()
        for key in sorted(self._pool, key=lambda k: k if k.__class__ is int else k[1], reverse=True):
            lst = self._pool[key]
            while lst and self._pooled_bytes > keep:
                b = lst.pop()
                self._pooled_bytes -= b.size
                self._allocated_bytes -= b.size
                self._owned.discard(b)
                b.gpu.destroy()
        self._bind_groups.clear()

    def _trim_staging(self):
        """Destroy the idle readback buffers (mapped ones are in use: not in the lists)."""
        for lst in self._staging.values():
            for st in lst:
                self._staging_bytes -= st.size
                st.destroy()
        self._staging.clear()

    # What a caller's buffer must allow to serve as a tensor (wrap_buffer), and why.
    WRAP_USAGES = (("STORAGE", "every kernel binds its tensors as storage buffers"),
                   ("COPY_SRC", "host reads (numpy(), item(), print) and exact-size results "
                                "copy out of it"),
                   ("COPY_DST", "in-place ops (mul_, add_, ...) copy their result into it"))

    def wrap_buffer(self, gpu, offset, nbytes) -> Buffer:
        """A Buffer for ``gpu``, a caller's wgpu buffer of this device holding
        ``nbytes`` at byte ``offset``: never pooled, never destroyed here. Wrapping
        one buffer twice gives the same Buffer (so aliasing views are seen as such).
        Raises TypeError / ValueError, naming what is wrong, before any GPU work."""
        if wgpu is None or not isinstance(gpu, wgpu.GPUBuffer):
            raise TypeError(f"from_buffer: expected a wgpu.GPUBuffer, got {type(gpu).__name__}")
        if getattr(gpu, "_device", self.device) is not self.device:
            raise ValueError("from_buffer: the buffer belongs to another wgpu device than wgpu_tensor's; "
                             "call wt.use_device(that device) before wgpu_tensor makes its own, or "
                             "create the buffer on wt.get_device()")
        missing = [(n, why) for n, why in self.WRAP_USAGES if not gpu.usage & getattr(wgpu.BufferUsage, n)]
        if missing:
            raise ValueError("from_buffer: the buffer lacks usage " + " and ".join(n for n, _ in missing)
                             + " (" + "; ".join(f"{n}: {why}" for n, why in missing) + "); create it with "
                             "usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST")
        if str(getattr(gpu, "map_state", "unmapped")) != "unmapped":
            raise ValueError(f"from_buffer: the buffer is {gpu.map_state}; unmap it first (a mapped buffer "
                             "cannot be used by GPU commands)")
        if offset.__class__ is bool or not isinstance(offset, int) or offset < 0 or offset % 4:
            raise ValueError(f"from_buffer: offset must be a non-negative multiple of 4 bytes (the kernels "
                             f"address buffers in 32-bit words), got {offset!r}")
        # Kernels read tensors as 16-byte vectors through windows that end at the
        # data's next multiple of 16 bytes, or at the buffer's end: that end must be
        # a multiple of 16 as well (as every pool buffer's size is), so the data,
        # rounded up to 16 bytes, must lie within the buffer.
        end = _round_up(offset + nbytes, 16) if nbytes else offset
        if end > gpu.size:
            raise ValueError(f"from_buffer: {nbytes} bytes at offset {offset} need the buffer to reach byte "
                             f"{end} (the data's end rounded up to a multiple of 16 bytes: kernels read "
                             f"16-byte vectors), but it has {gpu.size} bytes")
        with self.lock:
            buf = self._foreign.get(gpu.uid)
            if buf is None or buf.gpu is not gpu:
                buf = Buffer(gpu, gpu.size // 16 * 16, "foreign")
                self._foreign[gpu.uid] = buf
            return buf

    def is_indirect(self, buf: Buffer):
        """Whether ``buf`` may hold the arguments of an indirect dispatch or draw."""
        return bool(buf.gpu.usage & wgpu.BufferUsage.INDIRECT)

    def empty_cache(self):
        """Free the pooled buffers and the idle readback buffers."""
        with self.lock:
            self._trim(0)
            self._trim_staging()

    def memory_stats(self):
        """Bytes: allocated (live + pooled buffers), pooled, in use (live tensors),
        staging (readback buffers), held (what the limit counts), limit (0: none);
        entries of the pipeline, bind-group and plan caches; pipelines evicted."""
        return {"allocated_bytes": self._allocated_bytes, "pooled_bytes": self._pooled_bytes,
                "in_use_bytes": self._allocated_bytes - self._pooled_bytes,
                "staging_bytes": self._staging_bytes, "held_bytes": self.held_bytes(),
                "limit_bytes": self.memory_limit, "pipelines": len(self._kernels),
                "bind_groups": len(self._bind_groups), "plans": len(self.plans),
                "evicted_pipelines": self.evictions}

    def upload(self, buf: Buffer, data, offset=0):
        """Copy host bytes into ``buf`` at ``offset``, after all recorded work."""
        mv = memoryview(data).cast("B")
        n = len(mv)
        if n == 0:
            return
        with self.lock:
            if self._readers:
                self._before_write(buf)
            # queue.write_buffer runs before commands still sitting in the encoder,
            # so submit those first to keep program order. Always: a batch a read
            # worker has taken off the queue but not yet submitted is in neither
            # _pending nor _batches, and flush() waits for it (_submit_lock).
            self.flush()
            if n % 4:
                padded = bytearray(_round_up(n, 4))
                padded[:n] = mv
                mv = memoryview(padded)
            self.queue.write_buffer(buf.gpu, offset, mv)
            self.uploads += 1
            if self._log is not None:
                self._log.append(Command("upload", bindings=((buf.uid, offset, n),)))

    # ------------------------------------------------------------------ kernels
    def kernel(self, name, params, access, params_size, entry="main", alias=None):
        """The compute pipeline for shader ``name`` rendered with ``params``; cached
        by (name, params) so a hit does no templating. ``alias``: a key of the
        caller's under which op_cache also holds it (see touch)."""
        key = (name, tuple(sorted(params.items())), tuple(access), entry)
        k = self._kernels.get(key)
        if k is None:
            with self.lock:
                k = self._kernels.get(key)
                if k is None:
                    k = self._new_kernel(name, params, access, params_size, key, entry)
        self.touch(k)
        if alias is not None:
            with self.lock:
                if self._kernels.get(key) is k:  # (not evicted meanwhile)
                    self.op_cache[alias] = k
                    k.aliases.append(alias)
        return k

    def touch(self, kernel):
        """Mark a cached pipeline used (least recently used goes first)."""
        try:
            self._kernels.move_to_end(kernel.key)
        except KeyError:  # evicted meanwhile by another thread: the caller's copy still works
            pass
        self._recent = None

    def _new_kernel(self, name, params, access, params_size, key, entry):
        code = shaders.render(name, params)
        try:
            k = self._build_kernel(name, code, access, params_size, key, entry)
        except wgpu.GPUError as e:
            if errors.is_device_lost(e):
                raise errors.DeviceLostError(f"the WebGPU device was lost: {e}") from e
            raise errors.shader_error(name, params, e) from e
        self._kernels[key] = k
        self._recent = None
        while len(self._kernels) > self.cache_limits["pipelines"]:
            self._evict(self._kernels.popitem(last=False)[1])
        if self.evictions - self._trimmed_at >= TRIM_EVERY:
            # An evicted pipeline's compiled code and the compiler's working memory
            # are freed, but glibc keeps freed memory in the malloc arena of the
            # thread that compiled it; with pipelines compiled from several threads
            # RSS then keeps growing under constant eviction (scripts/soak.py with a
            # 64-pipeline bound: ~70 KiB per eviction, ~7 KiB with MALLOC_ARENA_MAX=2).
            # Trimming every arena each TRIM_EVERY evictions hands free pages back
            # (about 10 ms, next to the TRIM_EVERY compiles it follows).
            self._trimmed_at = self.evictions
            self.trims += _malloc_trim()
        return k

    def _evict(self, kernel):
        """Drop an evicted pipeline's aliases, plans and bind groups, so that nothing
        cached keeps it alive. Work already recorded holds its own references."""
        self.evictions += 1
        for a in kernel.aliases:
            if self.op_cache.get(a) is kernel:
                del self.op_cache[a]
        for key in [key for key, p in self.plans.items() if p.kernel is kernel]:
            del self.plans[key]
        for key in [key for key in self._bind_groups
                    if key[0] is kernel or getattr(key[0], "kernel", None) is kernel]:
            del self._bind_groups[key]

    def set_cache_limits(self, pipelines=None, bind_groups=None, plans=None):
        """Bound the caches (entries; None leaves one as it is); a cache over its new
        bound evicts its least recently used entries now. Returns the previous limits."""
        new = {"pipelines": pipelines, "bind_groups": bind_groups, "plans": plans}
        for k, v in new.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"set_cache_limits: {k} must be an int >= 1, got {v!r}")
        with self.lock:
            old = dict(self.cache_limits)
            self.cache_limits.update({k: int(v) for k, v in new.items() if v is not None})
            while len(self._kernels) > self.cache_limits["pipelines"]:
                self._evict(self._kernels.popitem(last=False)[1])
            for cache, cap in ((self._bind_groups, self.cache_limits["bind_groups"]),
                               (self.plans, self.cache_limits["plans"])):
                while len(cache) > cap:
                    cache.popitem(last=False)
        return old

    def _is_cached(self, kernel):
        """Whether ``kernel`` (a Kernel, or a plan with .kernel) is still in the
        pipeline cache: what refers to an evicted one must not be cached."""
        k = kernel if kernel.__class__ is Kernel else kernel.kernel
        return self._kernels.get(k.key) is k

    def remember_plan(self, key, plan):
        """Cache an op's replay plan (an object with .kernel) under ``key``."""
        with self.lock:
            if plan.kernel is not None and not self._is_cached(plan.kernel):
                return  # evicted by another thread since the plan took it: not cached
            self.plans[key] = plan
            if len(self.plans) > self.cache_limits["plans"]:
                self.plans.popitem(last=False)

    def _build_kernel(self, name, code, access, params_size, key, entry):
        module = self.device.create_shader_module(label=name, code=code)
        S = wgpu.ShaderStage.COMPUTE
        entries = [{"binding": 0, "visibility": S,
                    "buffer": {"type": "uniform", "has_dynamic_offset": True}}]
        for i, a in enumerate(access):
            if a is None:
                continue
            entries.append({"binding": i + 1, "visibility": S, "buffer": {
                "type": "storage" if a == "rw" else "read-only-storage"}})
        bgl = self.device.create_bind_group_layout(entries=entries)
        pl = self.device.create_pipeline_layout(bind_group_layouts=[bgl])
        pipeline = self.device.create_compute_pipeline(
            label=name, layout=pl, compute={"module": module, "entry_point": entry})
        return Kernel(pipeline, bgl, tuple(access), _round_up(params_size, 16), key)

    def _bind_group(self, kernel, bindings, key=None):
        if key is None:
            key = (kernel, *[b and (b[0].uid, b[1], b[2]) for b in bindings])
            bg = self._bind_groups.get(key)
            if bg is not None:
                self._bind_groups.move_to_end(key)
                return bg
        entries = [{"binding": 0, "resource": {"buffer": self._arena, "offset": 0,
                                               "size": kernel.params_size}}]
        for i, b in enumerate(bindings):
            if b is not None:
                entries.append({"binding": i + 1,
                                "resource": {"buffer": b[0].gpu, "offset": b[1], "size": b[2]}})
        bg = self.device.create_bind_group(layout=kernel.layout, entries=entries)
        if self._is_cached(kernel):  # (not one evicted meanwhile by another thread)
            self._bind_groups[key] = bg
        if len(self._bind_groups) > self.cache_limits["bind_groups"]:
            self._bind_groups.popitem(last=False)
        return bg

    def grid(self, groups):
        """Split a 1-D workgroup count into (x, y) within the per-dimension limit.
        Shaders rebuild the linear id as wid.x + wid.y * num_workgroups.x and
        return when it is past their work."""
        if groups <= self.max_groups:
            return groups, 1
        y = -(-groups // self.max_groups)
        x = -(-groups // y)
        if y > self.max_groups:
            raise ValueError(f"{groups} workgroups exceed this adapter's limit of "
                             f"{self.max_groups}**2")
        return x, y

    def dispatch(self, kernel, params: bytes, bindings, groups):
        """Record one dispatch of ``groups`` workgroups. ``bindings`` is a list of
        (Buffer, byte offset, byte size), or None for an absent binding, for
        bindings 1..n."""
        if groups <= 0:
            return
        if groups <= self.max_groups:
            gx, gy = groups, 1
        else:
            gx, gy = self.grid(groups)
        with self.lock:
            if self._readers:
                self._before_dispatch(kernel, bindings)
            off = self._params_offset(kernel, params)
            bg = self._bind_group(kernel, bindings)
            self._pending = True
            self.dispatches += 1
            self._record(kernel, bg, off, gx, gy)
            if self._log is not None:
                self._log_dispatch(kernel, bindings, gx, gy)

    def _params_offset(self, kernel, params):
        """Arena offset of ``params`` for this dispatch: the last block again when it
        is the same (a loop of one op uses one block), else a new one."""
        if params == self._last_params and kernel.params_size == self._last_size:
            return self._last_off
        off = self._arena_pos
        end = off + kernel.params_size
        if end > self.ARENA_SIZE:
            self.flush()
            off, end = 0, kernel.params_size
        self._arena_data[off:off + len(params)] = params
        ua = self.uniform_align
        self._arena_pos = (end + ua - 1) // ua * ua
        self._last_params, self._last_off, self._last_size = params, off, kernel.params_size
        return off

    def _record(self, kernel, bg, off, gx, gy):
        cp = self._pass or self._compute_pass()
        if self._pass_pipeline is not kernel.pipeline:  # state persists within a pass
            cp.set_pipeline(kernel.pipeline)
            self._pass_pipeline = kernel.pipeline
        cp.set_bind_group(0, bg, [off])
        cp.dispatch_workgroups(gx, gy, 1)

    def dispatch_fresh(self, plan, a, b):
        """A new buffer (alloc) for the result of an elementwise plan
        (ops/elementwise.py), and the plan dispatched into it over buffers ``a``
        and ``b`` (None for a scalar operand): the windows, parameters, workgroup
        count and result size come cached with the plan. The small-op path: one
        lock acquisition, the plan's pipeline marked used (touch). Returns the
        buffer (the caller's tensor owns it)."""
        kernel = plan.kernel
        lock = self.lock
        lock.acquire()
        try:
            out = self._alloc(plan.nbytes, plan.size)
            try:
                if self._readers:
                    self._before_write(out)
                off = self._params_offset(kernel, plan.params)
                key = (plan, out.uid, a and a.uid, b and b.uid)
                bg = self._bind_groups.get(key)
                w = plan.wins
                if bg is None:
                    bg = self._bind_group(kernel, [(out, *w[0]), a and (a, *w[1]), b and (b, *w[2])], key)
                else:
                    self._bind_groups.move_to_end(key)
                self._pending = True
                self.dispatches += 1
                self._record(kernel, bg, off, *plan.grid)
                if self._log is not None:
                    self._log_dispatch(kernel, [(out, *w[0]), a and (a, *w[1]), b and (b, *w[2])], *plan.grid)
            except BaseException:
                self.release(out)
                raise
            if kernel is not self._recent:  # (a loop of one op hashes its key once)
                self.touch(kernel)
                self._recent = kernel
        finally:
            lock.release()
        return out

    # ------------------------------------------------------------------ lazy results
    def add_reader(self, buf, lazy):
        """Note that ``lazy`` (an unwritten result with a ``materialise()``) reads
        ``buf``: any later write into ``buf`` (a dispatch binding it read-write, a
        clear, a copy or an upload into it) materialises it first, so it sees the
        buffer as it was when it was made. Held weakly: a result that dies unwritten
        costs nothing."""
        with self.lock:
            rs = self._readers.get(buf)
            if rs is None:
                rs = self._readers[buf] = weakref.WeakSet()
                if len(self._readers) > 4096:  # drop the buffers whose readers all died
                    for k in [k for k, v in self._readers.items() if not v]:
                        del self._readers[k]
            rs.add(lazy)

    def before_outside_write(self, buf):
        """Write the lazy results that read ``buf`` now: code outside wgpu_tensor
        (a caller holding ``t.buffer``) may write into it without our knowing."""
        with self.lock:
            if self._readers:
                self._before_write(buf)

    def _before_write(self, buf):
        rs = self._readers.pop(buf, None)
        if rs:
            for r in list(rs):
                r.materialise()

    def _before_dispatch(self, kernel, bindings):
        for b, a in zip(bindings, kernel.access):
            if b is not None and a == "rw" and b[0] in self._readers:
                self._before_write(b[0])

    def _compute_pass(self):
        if self._pass is None:
            t = self._timer
            if t is not None and t.n + 2 <= t.capacity:
                self._pass = self._enc().begin_compute_pass(timestamp_writes={
                    "query_set": t.query_set, "beginning_of_pass_write_index": t.n,
                    "end_of_pass_write_index": t.n + 1})
                t.n += 2
            else:
                if t is not None:
                    t.overflow = True
                self._pass = self._enc().begin_compute_pass()
            self._pass_pipeline = None
        return self._pass

    def _enc(self):
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder()
        return self._encoder

    def _end_pass(self):
        if self._pass is not None:
            self._pass.end()
            self._pass = None
            self._pass_pipeline = None

    def clear(self, buf: Buffer, offset=0, size=None):
        """Zero a byte range (offset and size multiples of 4) after recorded work."""
        size = buf.size - offset if size is None else size
        if size <= 0:
            return
        with self.lock:
            if self._readers:
                self._before_write(buf)
            self._end_pass()
            self._enc().clear_buffer(buf.gpu, offset, size)
            self._pending = True
            self.clears += 1
            if self._log is not None:
                self._log.append(Command("clear", bindings=((buf.uid, offset, size),)))

    def copy(self, src: Buffer, src_off, dst: Buffer, dst_off, size):
        if size <= 0:
            return
        with self.lock:
            if self._readers:
                self._before_write(dst)
            self._end_pass()
            self._enc().copy_buffer_to_buffer(src.gpu, src_off, dst.gpu, dst_off, size)
            self._pending = True
            self.copies += 1
            if self._log is not None:
                self._log.append(Command("copy", bindings=((src.uid, src_off, size), (dst.uid, dst_off, size))))

    def flush(self, submit=True):
        """Submit everything recorded so far (no wait). ``submit=False`` only closes
        the batch and queues it; _submit_batches() submits the queue in order, and
        every flush (and so every upload, read and sync) does that first."""
        with self.lock:
            if self._encoder is not None:
                self._close_batch()
            if submit:
                self._submit_batches()

    def _close_batch(self):
        # Detach the batch first: if wgpu rejects it, it is dropped and the
        # next call records into a fresh encoder (a rejected encoder stays
        # "ended" and would fail every later call). Rejections must surface
        # here: an invalid submit aborts the process inside wgpu-native.
        enc, cp, self._encoder, self._pass = self._encoder, self._pass, None, None
        arena, self._arena_pos, self._pending = self._arena_pos, 0, False
        self._last_params = None
        batch, self._submitted = self.dispatches - self._submitted, self.dispatches
        try:
            if cp is not None:
                cp.end()
            cb = enc.finish()
        except wgpu.GPUError as e:
            self._bind_groups.clear()
            raise errors.batch_error(e, batch) from e
        # The parameter block goes with the batch: the arena is rewritten from
        # offset 0 by the next one, possibly before this one is submitted.
        self._batches.append((bytes(memoryview(self._arena_data)[:arena]), cb))

    def _submit_batches(self):
        """Submit the closed batches, oldest first, each after its parameter block.
        Called with or without self.lock (read_async's worker thread runs it
        without, so the event loop never waits on queue.submit, which on lavapipe
        can take as long as the work already queued); ``_submit_lock`` keeps the
        order, and when it returns every batch closed before the call is submitted."""
        with self._submit_lock:
            while self._batches:
                arena, cb = self._batches.popleft()
                if arena:
                    self.queue.write_buffer(self._arena, 0, arena)
                self.queue.submit([cb])

    # ------------------------------------------------------------------ readback
    def _staging_buffer(self, size):
        size = _bucket(size)
        lst = self._staging.get(size)
        if lst:
            return lst.pop()
        self._check_limit(size, "reading back")
        st = self.device.create_buffer(size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
        self._staging_bytes += size
        return st

    def _return_staging(self, st):
        """File an unmapped readback buffer for reuse; a big one is destroyed."""
        with self.lock:
            if st.size > STAGING_KEEP:
                self._staging_bytes -= st.size
                st.destroy()
            else:
                self._staging.setdefault(st.size, []).append(st)

    def _record_read(self, buf, offset, nbytes, explicit, count=None, submit=True):
        """Copy the bytes (and, with ``count`` = (buffer, byte offset), 4 bytes of a
        count, into the first 16 bytes) to a staging buffer and submit: one round trip."""
        lo = offset // 4 * 4
        hi = _round_up(offset + nbytes, 4)
        head = 16 if count else 0
        # The sync debug mode raises before a readback buffer is taken: a buffer
        # taken and never given back would stay counted in staging_bytes.
        self._check_sync(explicit)
        st = self._staging_buffer(head + hi - lo)  # (MemoryError past the limit: nothing done yet)
        try:
            self.sync_count += 1
            self.bytes_read += nbytes + (4 if count else 0)
            self._end_pass()
            enc = self._enc()
            if count:
                enc.copy_buffer_to_buffer(count[0].gpu, count[1], st, 0, 4)
            if hi > lo:
                enc.copy_buffer_to_buffer(buf.gpu, lo, st, head, hi - lo)
            self.reads += 1
            if self._log is not None:
                self._log.append(Command("read", params={"nbytes": nbytes + (4 if count else 0)},
                                         bindings=((buf.uid, lo, hi - lo),)))
            self.flush(submit)
        except BaseException:
            self._return_staging(st)
            raise
        return st, head + offset - lo, head + hi - lo

    def _finish_read(self, st, skip, span, nbytes, count=None):
        try:
            raw = np.frombuffer(st.read_mapped(0, span, copy=False), dtype=np.uint8)
            out = np.array(raw[skip:skip + nbytes])
            if count:
                out = (int(raw[:4].view("<i4")[0]), out)
        finally:
            st.unmap()
            self._return_staging(st)
        return out

    def read(self, buf: Buffer, offset, nbytes, explicit=True, count=None):
        """Bytes ``[offset, offset+nbytes)`` of ``buf`` after all recorded work, as uint8.
        With ``count`` = (buffer, byte offset) of an int32: (its value, the bytes), read
        in the same round trip."""
        if nbytes == 0 and not count:
            self._note_sync(explicit)
            return np.zeros(0, np.uint8)
        with self.lock:
            st, skip, span = self._record_read(buf, offset, nbytes, explicit, count)
            try:
                st.map_sync(wgpu.MapMode.READ, 0, span)
            except BaseException:  # (the readback buffer goes back: it stays counted otherwise)
                self._return_staging(st)
                raise
            return self._finish_read(st, skip, span, nbytes, count)

    async def read_async(self, buf: Buffer, offset, nbytes, explicit=True, count=None):
        """read(), awaited: the event loop only records the copy to a staging
        buffer; a worker thread submits the queued batches and waits for the map,
        so neither queue.submit nor the wait runs on the loop. The worker runs to
        the end even when the awaiting task is cancelled, so the staging buffer
        goes back and the batches are submitted."""
        if nbytes == 0 and not count:
            self._note_sync(explicit)
            return np.zeros(0, np.uint8)
        with self.lock:
            st, skip, span = self._record_read(buf, offset, nbytes, explicit, count, submit=False)
            if self._read_workers is None:
                self._read_workers = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix="wgpu_tensor_read")
            fut = self._read_workers.submit(self._wait_read, st, skip, span, nbytes, count)
        return await asyncio.shield(asyncio.wrap_future(fut))

    def _wait_read(self, st, skip, span, nbytes, count):
        try:
            self._submit_batches()
            # wgpu-py 0.32's map_sync(READ) first submits an empty command buffer
            # (a workaround for reads without a prior submit) that waits for the
            # GPU to go idle; the batches are submitted, so map without it.
            try:
                promise = st.map_async("READ_NOSYNC", 0, span)
            except (ValueError, KeyError, TypeError):  # a wgpu-py without that mode
                promise = st.map_async(wgpu.MapMode.READ, 0, span)
            promise.sync_wait()
        except BaseException:
            with self.lock:
                self._staging.setdefault(st.size, []).append(st)
            raise
        return self._finish_read(st, skip, span, nbytes, count)

    def _note_sync(self, explicit):
        self._check_sync(explicit)
        self.sync_count += 1

    def _check_sync(self, explicit):
        """The sync debug mode's warning or error for an implicit read."""
        if not explicit and self.sync_mode != "default":
            msg = ("an implicit GPU-to-CPU read (sync) happened; use .numpy()/.item()/await "
                   "to read on purpose")
            if self.sync_mode == "error":
                raise RuntimeError(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=4)

    # ------------------------------------------------------------------ device timing
    def start_pass_timing(self, capacity=4096):
        """Start timing compute passes with timestamp queries (each pass recorded from
        now on writes its begin/end). Returns False, and times nothing, when the
        adapter lacks "timestamp-query" or the query set cannot be made."""
        with self.lock:
            self._end_pass()  # work recorded before now is not timed
            self._timer = None
            if not self.has_timestamps:
                return False
            try:
                self._timer = _PassTimer(self, capacity)
            except Exception as e:  # a driver that advertises but rejects it
                warnings.warn(f"timestamp queries unavailable ({e}); use wall time")
                self.has_timestamps = False
                return False
            self._end_pass()  # the next dispatch opens a timed pass
            return True

    def stop_pass_timing(self):
        """Seconds the compute passes recorded since start_pass_timing() ran on the
        device (sum of end - begin per pass; copies and clears between passes
        are not counted), after waiting for them. None if timing was off or more
        passes ran than the query set holds. Not counted as a read."""
        with self.lock:
            self._end_pass()
            t, self._timer = self._timer, None
            if t is None:
                return None
            if t.overflow or t.n == 0:
                self.flush()
                return None if t.overflow else 0.0
            enc = self._enc()
            enc.resolve_query_set(t.query_set, 0, t.n, t.resolve, 0)
            st = self._staging_buffer(t.n * 8)
            enc.copy_buffer_to_buffer(t.resolve, 0, st, 0, t.n * 8)
            self.flush()
            st.map_sync(wgpu.MapMode.READ, 0, t.n * 8)
            try:
                ts = np.frombuffer(st.read_mapped(0, t.n * 8, copy=True), np.uint64).astype(np.int64)
            finally:
                st.unmap()
                self._return_staging(st)
            t.query_set.destroy()
            t.resolve.destroy()
            ticks = np.maximum(ts[1::2] - ts[0::2], 0).sum()
            return float(ticks) * self.timestamp_period() * 1e-9

    def timestamp_period(self):
        """Nanoseconds per timestamp tick (wgpu-native reports raw ticks; 1.0 when
        the library cannot say)."""
        try:
            from wgpu.backends.wgpu_native._ffi import lib
            p = float(lib.wgpuQueueGetTimestampPeriod(self.queue._internal))
            return p if p > 0 else 1.0
        except Exception:
            return 1.0

    def synchronize(self):
        """Wait until all submitted work is done (maps a small buffer: 0.32's
        on_submitted_work_done_sync is broken). Not counted as a read."""
        with self.lock:
            self.flush()
            st = self._staging_buffer(16)
            st.map_sync(wgpu.MapMode.READ, 0, 16)
            st.unmap()
            self._return_staging(st)


class _PassTimer:
    """A timestamp query set (two entries per compute pass) and its resolve buffer."""

    def __init__(self, dev, capacity):
        self.capacity = capacity // 2 * 2
        self.query_set = dev.device.create_query_set(type="timestamp", count=self.capacity)
        self.resolve = dev.device.create_buffer(
            size=self.capacity * 8, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
        self.n = 0
        self.overflow = False


_default = None
_default_lock = threading.Lock()


def get_device() -> Device:
    """The runtime's Device (a wrapper of the wgpu device), made on first use."""
    global _default
    d = _default
    if d is None:
        with _default_lock:
            if _default is None:
                _default = Device()
            d = _default
    return d


def current_device():
    """The runtime's Device if one was made (or adopted) already, else None."""
    return _default


def use_device(device) -> Device:
    """Make the runtime adopt ``device`` (a wgpu.GPUDevice) instead of opening its
    own: before the first GPU use. Afterwards only the device already in use is
    accepted (a no-op); another one is a RuntimeError."""
    global _default
    if wgpu is None or not isinstance(device, wgpu.GPUDevice):
        raise TypeError(f"use_device: expected a wgpu.GPUDevice, got {type(device).__name__}")
    with _default_lock:
        if _default is None:
            _default = Device(device)
        elif _default.device is not device:
            raise RuntimeError("use_device: wgpu_tensor already runs on another wgpu device (made on its "
                               "first use, or adopted before); call wt.use_device() before any other "
                               "wgpu_tensor call, or share wt.get_device() with your code instead")
        return _default


class override_limits:
    """Context manager for tests: pretend the adapter has a smaller storage
    binding and/or fewer workgroups per dimension, so that the multi-launch and
    2-D dispatch paths run on small tensors. Usage:

        with override_limits(max_binding=4096, max_groups=7): ...
    """

    def __init__(self, max_binding=None, max_groups=None):
        self.new = {"max_binding": max_binding, "max_groups": max_groups}

    def __enter__(self):
        dev = get_device()
        self.old = {k: getattr(dev, k) for k in self.new}
        for k, v in self.new.items():
            if v is not None:
                setattr(dev, k, v)
        return dev

    def __exit__(self, *exc):
        dev = get_device()
        for k, v in self.old.items():
            setattr(dev, k, v)


@contextlib.contextmanager
def cache_limits(pipelines=None, bind_groups=None, plans=None):
    """Context manager: bound the device's caches (Device.set_cache_limits) inside the
    block, restoring the previous bounds after it. For tests of eviction:

        with cache_limits(pipelines=8, plans=4): ...
    """
    dev = get_device()
    old = dev.set_cache_limits(pipelines, bind_groups, plans)
    try:
        yield dev
    finally:
        dev.set_cache_limits(**old)


@contextlib.contextmanager
def memory_limit(nbytes):
    """Context manager: Device.set_memory_limit(nbytes) inside the block, the previous
    limit after it."""
    dev = get_device()
    old = dev.set_memory_limit(nbytes)
    try:
        yield dev
    finally:
        dev.set_memory_limit(old)

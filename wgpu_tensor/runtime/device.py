"""The device layer: adapter, buffer pool, pipeline cache, command batching, readback.

Its contract to the layers above is small: ``alloc`` a buffer, ``upload`` bytes
into it, ``dispatch`` a cached kernel over buffers, ``clear``/``copy`` buffer
ranges, ``read``/``read_async`` bytes back. Work is recorded into one command
encoder (one open compute pass) and submitted only at sync points.
"""
from __future__ import annotations

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
    """A GPU buffer owned by the pool. ``uid`` identifies it in bind-group keys."""

    __slots__ = ("gpu", "size", "uid", "__weakref__")

    def __init__(self, gpu, size):
        self.gpu = gpu
        self.size = size
        self.uid = next(_uid)


class Kernel:
    """A compute pipeline plus the layout of its bindings.

    Binding 0 is always the uniform parameter block (dynamic offset); the
    others are storage buffers, ``"r"`` (read-only) or ``"rw"``.
    """

    __slots__ = ("pipeline", "layout", "access", "params_size", "key")

    def __init__(self, pipeline, layout, access, params_size, key):
        self.pipeline = pipeline
        self.layout = layout
        self.access = access
        self.params_size = params_size
        self.key = key


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


class Device:
    ARENA_SIZE = 1 << 18  # uniform parameter ring, flushed when full
    POOL_CAP = 1 << 30  # bytes kept in the pool for reuse before trimming

    def __init__(self):
        if wgpu is None:
            raise RuntimeError(f"wgpu (wgpu-py) is not importable: {_WGPU_IMPORT_ERROR}. "
                               "pip install wgpu")
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
        feats = set(adapter.features)
        want_feats = []
        self.has_subgroups = ("subgroup" in feats
                              and os.environ.get("WGPU_TENSOR_SUBGROUPS", "1") != "0")
        if self.has_subgroups:
            want_feats.append("subgroup")
        self.has_timestamps = "timestamp-query" in feats
        if self.has_timestamps:
            want_feats.append("timestamp-query")
        try:
            self.device = adapter.request_device_sync(required_features=want_feats,
                                                      required_limits=required_limits)
        except Exception as e:  # a driver that lists an adapter but cannot open it
            raise RuntimeError(f"{INSTALL_HINT} (the adapter {adapter.info.get('device', '')!r} was found, "
                               f"but opening a device on it failed: {e})") from None
        dl = self.device.limits
        self.max_buffer = int(dl["max-buffer-size"])
        self.max_binding = int(dl["max-storage-buffer-binding-size"]) // 4 * 4
        self.max_groups = int(dl["max-compute-workgroups-per-dimension"])
        self.max_storage_bindings = int(dl["max-storage-buffers-per-shader-stage"])
        self.storage_align = int(dl["min-storage-buffer-offset-alignment"])
        self.uniform_align = int(dl["min-uniform-buffer-offset-alignment"])
        self.queue = self.device.queue
        self.lock = threading.RLock()

        self._kernels = {}
        # Ops cache their kernels here under flat signature keys of their own
        # (e.g. elementwise: expression, dtypes), skipping the sorted params key.
        self.op_cache = {}
        self._bind_groups = OrderedDict()
        self._pool = {}  # size -> [Buffer]
        self._owned = set()  # every live Buffer (see alloc)
        self._pooled_bytes = 0
        self._allocated_bytes = 0
        self._staging = {}
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
        self.subgroup_size = 0
        self.use_subgroups = self.has_subgroups and self._probe_subgroups()

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

    # ------------------------------------------------------------------ buffers
    def check_size(self, nbytes, what="tensor"):
        if nbytes > self.max_buffer:
            raise MemoryError(
                f"{what} needs {nbytes} bytes, over this adapter's max-buffer-size of "
                f"{self.max_buffer} bytes")

    def alloc(self, nbytes) -> Buffer:
        """A storage buffer of at least ``nbytes`` (rounded to 4, at least 16)."""
        if nbytes <= 1 << 20:  # the common small case: a power-of-two size class
            size = 16 if nbytes <= 16 else 1 << (int(nbytes) - 1).bit_length()
        else:
            self.check_size(nbytes)
            size = _bucket(nbytes)
            if size > self.max_buffer:
                size = _round_up(max(nbytes, 16), 4)
        with self.lock:
            if self._pooled_bytes > self.POOL_CAP:
                self._trim(self.POOL_CAP // 2)
            free = self._pool.get(size)
            if free:
                self._pooled_bytes -= size
                self.pool_hits += 1
                buf = free.pop()
                if self._log is not None:
                    self._log.append(Command("alloc", "pool", {"nbytes": nbytes},
                                             bindings=((buf.uid, 0, size),)))
                return buf
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
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
            buf = Buffer(gpu, size)
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
        the buffer; trimming an over-full pool waits for the next alloc()."""
        with self.lock:
            self._pool.setdefault(buf.size, []).append(buf)
            self._pooled_bytes += buf.size

    def _trim(self, keep):
        # Destroying a buffer that pending commands use is an error: submit them first.
        self.flush()
        for size in sorted(self._pool, reverse=True):
            lst = self._pool[size]
            while lst and self._pooled_bytes > keep:
                b = lst.pop()
                self._pooled_bytes -= size
                self._allocated_bytes -= size
                self._owned.discard(b)
                b.gpu.destroy()
        self._bind_groups.clear()

    def empty_cache(self):
        with self.lock:
            self._trim(0)

    def memory_stats(self):
        return {"allocated_bytes": self._allocated_bytes, "pooled_bytes": self._pooled_bytes,
                "in_use_bytes": self._allocated_bytes - self._pooled_bytes}

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
            # so submit those first to keep program order.
            if self._pending:
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
    def kernel(self, name, params, access, params_size, entry="main"):
        """The compute pipeline for shader ``name`` rendered with ``params``; cached
        by (name, params) so a hit does no templating."""
        key = (name, tuple(sorted(params.items())), tuple(access), entry)
        k = self._kernels.get(key)
        if k is not None:
            return k
        with self.lock:
            k = self._kernels.get(key)
            if k is not None:
                return k
            code = shaders.render(name, params)
            try:
                k = self._build_kernel(name, code, access, params_size, key, entry)
            except wgpu.GPUError as e:
                if errors.is_device_lost(e):
                    raise errors.DeviceLostError(f"the WebGPU device was lost: {e}") from e
                raise errors.shader_error(name, params, e) from e
            self._kernels[key] = k
            return k

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
            key = (id(kernel), *[b and (b[0].uid, b[1], b[2]) for b in bindings])
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
        self._bind_groups[key] = bg
        if len(self._bind_groups) > 4096:
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

    def dispatch_plan(self, plan, out, a, b):
        """dispatch() of an elementwise plan (ops/elementwise.py) over buffers
        ``out``, ``a`` and ``b`` (None for a scalar operand): the windows,
        parameters and workgroup count come cached with the plan."""
        kernel = plan.kernel
        with self.lock:
            if self._readers:
                self._before_write(out)
            off = self._params_offset(kernel, plan.params)
            key = (plan, out.uid, a and a.uid, b and b.uid)
            bg = self._bind_groups.get(key)
            w = plan.wins
            if bg is None:
                bg = self._bind_group(kernel, [(out, *w[0]), a and (a, *w[1]), b and (b, *w[2])], key)
            self._pending = True
            self.dispatches += 1
            self._record(kernel, bg, off, *plan.grid)
            if self._log is not None:
                self._log_dispatch(plan.kernel, [(out, *w[0]), a and (a, *w[1]), b and (b, *w[2])], *plan.grid)

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

    def flush(self):
        """Submit everything recorded so far (no wait)."""
        with self.lock:
            if self._encoder is None:
                return
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
            if arena:
                self.queue.write_buffer(self._arena, 0, memoryview(self._arena_data)[:arena])
            self.queue.submit([cb])

    # ------------------------------------------------------------------ readback
    def _staging_buffer(self, size):
        size = _bucket(size)
        lst = self._staging.get(size)
        if lst:
            return lst.pop()
        return self.device.create_buffer(size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)

    def _record_read(self, buf, offset, nbytes, explicit, count=None):
        """Copy the bytes (and, with ``count`` = (buffer, byte offset), 4 bytes of a
        count, into the first 16 bytes) to a staging buffer and submit: one round trip."""
        self._note_sync(explicit)
        self.bytes_read += nbytes + (4 if count else 0)
        lo = offset // 4 * 4
        hi = _round_up(offset + nbytes, 4)
        head = 16 if count else 0
        st = self._staging_buffer(head + hi - lo)
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
        self.flush()
        return st, head + offset - lo, head + hi - lo

    def _finish_read(self, st, skip, span, nbytes, count=None):
        try:
            raw = np.frombuffer(st.read_mapped(0, span, copy=False), dtype=np.uint8)
            out = np.array(raw[skip:skip + nbytes])
            if count:
                out = (int(raw[:4].view("<i4")[0]), out)
        finally:
            st.unmap()
            with self.lock:
                self._staging.setdefault(st.size, []).append(st)
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
            st.map_sync(wgpu.MapMode.READ, 0, span)
            return self._finish_read(st, skip, span, nbytes, count)

    async def read_async(self, buf: Buffer, offset, nbytes, explicit=True, count=None):
        if nbytes == 0 and not count:
            self._note_sync(explicit)
            return np.zeros(0, np.uint8)
        with self.lock:
            st, skip, span = self._record_read(buf, offset, nbytes, explicit, count)
            # wgpu-py 0.32's map_async(READ) first submits an empty command buffer
            # (a workaround for reads without a prior submit), and that submit
            # blocks until the GPU is idle: the event loop would stall for the
            # whole op. We have just submitted, so ask for its internal
            # "READ_NOSYNC" mode, which returns at once.
            try:
                promise = st.map_async("READ_NOSYNC", 0, span)
            except (ValueError, KeyError, TypeError):  # a wgpu-py without that mode
                promise = st.map_async(wgpu.MapMode.READ, 0, span)
        await promise
        return self._finish_read(st, skip, span, nbytes, count)

    def _note_sync(self, explicit):
        if not explicit and self.sync_mode != "default":
            msg = ("an implicit GPU-to-CPU read (sync) happened; use .numpy()/.item()/await "
                   "to read on purpose")
            if self.sync_mode == "error":
                raise RuntimeError(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=4)
        self.sync_count += 1

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
                self._staging.setdefault(st.size, []).append(st)
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
            self._staging.setdefault(st.size, []).append(st)


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
    global _default
    d = _default
    if d is None:
        with _default_lock:
            if _default is None:
                _default = Device()
            d = _default
    return d


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

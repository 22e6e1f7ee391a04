"""Linear algebra and attention kernels on Views: matmul (shaders/matmul.wgsl) and
softmax / log_softmax and their gradients (shaders/softmax.wgsl).

matmul follows torch.matmul's rules (1-D operands, broadcast batch dims) and reads
strided and transposed operands in place: a transposed view is only other strides.
The product runs over 64 x 64 tiles of the output, through workgroup memory, 4 x 4
outputs per invocation; float16 is read as float16 and accumulated in f32 (written
through an f32 buffer, then rounded once); int32 accumulates in i32 (wraps).
Contiguous float32 operands on vec4 boundaries take shaders/matmul_vec4.wgsl (vec4
reads straight from the buffers; with subgroups, a 32 x 4 SG tile per subgroup, each
row of A read once per subgroup and broadcast): the same sums in the same order with
or without subgroups.
The inner dim K is cut into chunks of K_CHUNK (each launch adds its chunk to the
result) so that no WGSL loop runs past llvmpipe's 65,535 iterations per invocation.
"""
from __future__ import annotations

import math

from .. import dtypes as D
from ..runtime.uniforms import MATMUL, SOFTMAX
from ..view import View, broadcast_shapes, norm_dim
from . import elementwise as E
from .launch import MAX_DIMS, span, window

K_CHUNK = 16384       # inner-dim elements per launch (a multiple of the 16-element k tile)
TILE = 64             # output rows and columns per workgroup
TK = 16               # inner-dim elements per step through workgroup memory
VEC4_TM, VEC4_TN = 16, 64  # the vec4 kernel's output tile
SG_TM = 32            # ... with subgroups: rows per workgroup (its columns: 4 per invocation)
SG_LANES = 8          # ... lanes that read rows of A (the others take them by broadcast)
SG_MIN, SG_MAX = 8, 128  # subgroup sizes that variant takes
MAX_BATCH_DIMS = 4    # coalesced batch dims the kernel unravels
SOFTMAX_MAX_ITERS = 60000  # row elements per invocation, at most (llvmpipe's loop limit)
SOFTMAX_WG = 8        # invocations per softmax row (lavapipe: one SIMD vector)
SOFTMAX_WG_LONG = 256  # ... for rows too long for SOFTMAX_WG invocations
SOFTMAX_MAX_NV = 32   # vec4s per invocation held in registers, at most (rows <= 1024 floats)

_MATMUL_DTYPES = (D.float32, D.float16, D.int32)


# ---------------------------------------------------------------- matmul
def _check_matmul_dtypes(a, b, what):
    for t in (a, b):
        if not isinstance(t, View):
            raise TypeError(f"{what}(): expected a wgpu_tensor.Tensor, got {type(t).__name__}")
    if a.dtype is not b.dtype:
        raise TypeError(f"{what}(): expected both operands to have the same dtype, but got: "
                        f"{a.dtype.name} != {b.dtype.name}")
    if a.dtype not in _MATMUL_DTYPES:
        raise TypeError(f"{what}(): not implemented for {a.dtype.name} (float32, float16 and int32 are)")
    if a.device is not b.device:
        raise ValueError("tensors live on two different devices; move one first")


def matmul_shapes(a_shape, b_shape):
    """(batch shape, M, K, N, result shape) of torch.matmul on these shapes; its errors."""
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{len(a_shape)}D and {len(b_shape)}D")
    a2 = (1,) + tuple(a_shape) if len(a_shape) == 1 else tuple(a_shape)
    b2 = tuple(b_shape) + (1,) if len(b_shape) == 1 else tuple(b_shape)
    M, K = a2[-2:]
    K2, N = b2[-2:]
    if K != K2:
        if len(a_shape) == 1 and len(b_shape) == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a_shape[0]}] and src "
                               f"[{b_shape[0]}] to have the same number of elements, but got "
                               f"{a_shape[0]} and {b_shape[0]} elements respectively")
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({M}x{K} and {K2}x{N}) "
                           f"(shapes {tuple(a_shape)} and {tuple(b_shape)})")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + ((M,) if len(a_shape) > 1 else ()) + ((N,) if len(b_shape) > 1 else ())
    return batch, M, K, N, out


def as_matrices(a, b):
    """``a`` and ``b`` as views of at least 2 dims (a 1-D a is a row, a 1-D b a column)."""
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(1) if b.ndim == 1 else b
    return a2, b2


def matmul(a, b):
    """torch.matmul: 1-D operands (dot, matrix-vector, vector-matrix), broadcast batch dims."""
    _check_matmul_dtypes(a, b, "matmul")
    batch, M, K, N, out_shape = matmul_shapes(a.shape, b.shape)
    a2, b2 = as_matrices(a, b)
    c = bmm_broadcast(a2, b2, batch, M, K, N)
    return c.reshaped(out_shape)


def mm(a, b):
    """torch.mm: two matrices, no broadcasting."""
    _check_matmul_dtypes(a, b, "mm")
    if a.ndim != 2:
        raise RuntimeError(f"self must be a matrix, got a {a.ndim}-D tensor")
    if b.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got a {b.ndim}-D tensor")
    return matmul(a, b)


def bmm(a, b):
    """torch.bmm: two batches of matrices of the same batch size, no broadcasting."""
    _check_matmul_dtypes(a, b, "bmm")
    if a.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor, got a {a.ndim}-D tensor")
    if b.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor, got a {b.ndim}-D tensor")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    return matmul(a, b)


def transpose_last(x):
    """The view of ``x`` with its last two dims swapped (no copy)."""
    if x.ndim < 2:
        return x
    sh, st = list(x.shape), list(x._strides)
    sh[-2], sh[-1] = sh[-1], sh[-2]
    st[-2], st[-1] = st[-1], st[-2]
    return x.derive(sh, st, x._offset)


def _batch_dims(batch, a, b):
    """Coalesced (sizes, A strides, B strides) of the batch dims, C being contiguous."""
    nb = len(batch)
    ast = [0 if a.shape[i - nb + a.ndim - 2] == 1 else a._strides[i - nb + a.ndim - 2]
           if i - nb + a.ndim - 2 >= 0 else 0 for i in range(nb)]
    bst = [0 if b.shape[i - nb + b.ndim - 2] == 1 else b._strides[i - nb + b.ndim - 2]
           if i - nb + b.ndim - 2 >= 0 else 0 for i in range(nb)]
    dims = []
    for s, x, y in zip(batch, ast, bst):
        if s == 1:
            continue
        if dims and dims[-1][1] == x * s and dims[-1][2] == y * s:
            dims[-1] = (dims[-1][0] * s, x, y)
        else:
            dims.append((s, x, y))
    return dims


def _rows_vec4(v):
    """Whether the vec4 kernels can read ``v``'s rows: unit last stride, every other
    stride and the offset on 4-element boundaries."""
    return v._strides[-1] == 1 and v._offset % 4 == 0 and all(s % 4 == 0 for s in v._strides[:-1])


def bmm_broadcast(a, b, batch, M, K, N):
    """[*batch, M, N] = a @ b for views of >= 2 dims whose batch dims broadcast to ``batch``."""
    dev = a.device
    nb = math.prod(batch)
    dt = a.dtype
    if nb == 0 or M == 0 or N == 0:
        return View.empty(batch + (M, N), dt, dev)
    if K == 0:
        return E.fill(batch + (M, N), 0, dt, device=dev)
    # The windows below assume non-negative strides.
    if any(s < 0 for s in a._strides):
        a = E.copy(a)
    if any(s < 0 for s in b._strides):
        b = E.copy(b)
    if dt is D.float32 and K % 4 == 0 and N % 4 == 0:
        # The vec4 kernels read rows of A and B whole, on 4-element boundaries. An operand
        # laid out otherwise (a transposed view, as in q @ k.mT or matmul's gradients; a
        # view off a vec4 boundary) is copied contiguous first: O(its size) against the
        # product's O(M K N), and the vec4 kernels run >10x the tiled one on lavapipe.
        if not _rows_vec4(a):
            a = E.copy(a)
        if not _rows_vec4(b):
            b = E.copy(b)
    dims = _batch_dims(batch, a, b)
    if len(dims) > MAX_BATCH_DIMS:
        a = E.copy(a.expand(batch + (M, K)))
        b = E.copy(b.expand(batch + (K, N)))
        dims = _batch_dims(batch, a, b)
    wide = dt.wide32 if dt is D.float16 else dt  # f16 results go through an f32 buffer
    c = View.empty(batch + (M, N), wide, dev)
    acc = "i32" if dt is D.int32 else "f32"
    kernel = dev.kernel("matmul", {"ACC": acc, "TK": TK, "LOAD_A": dt.load.replace("W[", "A["),
                                   "LOAD_B": dt.load.replace("W[", "B[")},
                        ["r", "r", "rw"], MATMUL.size)
    pad4 = dims + [(1, 0, 0)] * (MAX_BATCH_DIMS - len(dims))
    a_shape = [s for s, _, _ in dims] + [M, K]
    a_str = [x for _, x, _ in dims] + [a._strides[-2], a._strides[-1]]
    b_shape = [s for s, _, _ in dims] + [K, N]
    b_str = [y for _, _, y in dims] + [b._strides[-2], b._strides[-1]]
    # float32 with contiguous rows of A and B on 4-element boundaries: the vec4 kernel.
    vec4 = (dt is D.float32 and a._strides[-1] == 1 and b._strides[-1] == 1 and K % 4 == 0
            and N % 4 == 0 and a._strides[-2] % 4 == 0 and b._strides[-2] % 4 == 0
            and all(x % 4 == 0 and y % 4 == 0 for _, x, y in dims))
    # With subgroups (one subgroup a workgroup, of >= 8 invocations): the vec4 kernel's
    # variant that reads each row of A once per subgroup and broadcasts it (same sums).
    sg = vec4 and dev.use_subgroups and SG_MIN <= dev.subgroup_size <= SG_MAX
    if sg:
        kernel4 = dev.kernel("matmul_vec4", {"SUBGROUPS": True, "SG": dev.subgroup_size, "ROWS_SG": SG_LANES},
                             ["r", "r", "rw"], MATMUL.size)
        tm, tn = SG_TM, 4 * dev.subgroup_size
    elif vec4:
        kernel4 = dev.kernel("matmul_vec4", {"SUBGROUPS": False}, ["r", "r", "rw"], MATMUL.size)
        tm, tn = VEC4_TM, VEC4_TN
    else:
        kernel4, tm, tn = None, TILE, TILE
    tiles_n = -(-N // tn)
    with dev.lock:
        for b0, cnt, m0, m1 in _matmul_launches(dev, a, b, c, a_shape, a_str, b_shape, b_str, nb, M, K, N,
                                                tm, tn):
            aw = _win(dev, a, a_shape, a_str, (b0 * M + m0) * K, ((b0 + cnt - 1) * M + m1) * K)
            bw = _win(dev, b, b_shape, b_str, b0 * K * N, (b0 + cnt) * K * N)
            use4 = vec4 and aw[2] % 4 == 0 and bw[2] % 4 == 0
            lo = (b0 * M + m0) * N
            hi = ((b0 + cnt - 1) * M + m1) * N - 1
            cs, csz = window(dev, c._buf, 4, lo, hi)
            tiles_m = -(-(m1 - m0) // tm)
            groups = cnt * tiles_m * tiles_n
            if vec4 and not use4:  # a view offset off a vec4 boundary: the tiled kernel
                tiles_m, groups = -(-(m1 - m0) // TILE), cnt * -(-(m1 - m0) // TILE) * -(-N // TILE)
            for k0 in range(0, K, K_CHUNK):
                p = MATMUL.pack(M, N, min(K_CHUNK, K - k0), k0, m0, tiles_m, groups,
                                aw[2], bw[2], lo - cs // 4,
                                a._strides[-2], a._strides[-1], b._strides[-2], b._strides[-1],
                                len(dims), b0, 1 if k0 else 0,
                                *[s for s, _, _ in pad4], *[x for _, x, _ in pad4], *[y for _, _, y in pad4])
                dev.dispatch(kernel4 if use4 else kernel, p, [(a._buf, aw[0], aw[1]), (b._buf, bw[0], bw[1]),
                                         (c._buf, cs, csz)], groups)
    if wide is not dt:
        c = E.cast(c, dt)
    return c


def _win(dev, v, shape, strides, s, e):
    """(byte start, byte size, element offset of the view in the window) covering the
    linear indices [s, e) of the view ``v`` seen with ``shape`` / ``strides``."""
    lo, hi = span(v._offset, shape, strides, s, e)
    start, size = window(dev, v._buf, v.dtype.itemsize, lo, hi)
    return start, size, (v._offset - start // v.dtype.itemsize) & 0xFFFFFFFF


def _matmul_launches(dev, a, b, c, a_shape, a_str, b_shape, b_str, nb, M, K, N, tm, tn):
    """(first batch, batches, first row, end row) of each launch: its windows of A, B and
    C fit one storage binding and its workgroups one grid (rows are split only within one
    batch)."""
    tiles_n = -(-N // min(tm, tn))

    def fits(b0, cnt, m0, m1):
        if cnt * -(-(m1 - m0) // min(tm, tn)) * tiles_n > dev.max_groups ** 2:
            return False
        aw = _win(dev, a, a_shape, a_str, (b0 * M + m0) * K, ((b0 + cnt - 1) * M + m1) * K)
        bw = _win(dev, b, b_shape, b_str, b0 * K * N, (b0 + cnt) * K * N)
        cw = window(dev, c._buf, 4, (b0 * M + m0) * N, ((b0 + cnt - 1) * M + m1) * N - 1)
        return max(aw[1], bw[1], cw[1]) <= dev.max_binding

    out = []
    b0, guess = 0, nb
    while b0 < nb:
        cnt = min(guess, nb - b0)
        while cnt > 1 and not fits(b0, cnt, 0, M):
            cnt //= 2
        if fits(b0, cnt, 0, M):
            out.append((b0, cnt, 0, M))
            b0 += cnt
            guess = cnt
            continue
        # One batch is too big: rows in bands of whole tiles.
        if not fits(b0, 1, 0, min(M, TILE)):
            raise ValueError(f"matmul(): one operand's matrix (K={K}, N={N}) or a {TILE}-row band "
                             f"does not fit one storage binding of {dev.max_binding} bytes (or its "
                             f"workgroups one grid of {dev.max_groups}**2)")
        m0 = 0
        band = M
        while m0 < M:
            rows = min(band, M - m0)
            while rows > TILE and not fits(b0, 1, m0, m0 + rows):
                rows = max(TILE, rows // 2 // TILE * TILE)
            out.append((b0, 1, m0, m0 + rows))
            m0 += rows
            band = rows
        b0 += 1
    return out


# ---------------------------------------------------------------- softmax
def _row_geometry(shape, dim, strides_list):
    """Coalesced kept dims: (sizes, [strides per view]) over every dim but ``dim``."""
    dims = []
    for i, s in enumerate(shape):
        if i == dim or s == 1:
            continue
        sts = [st[i] for st in strides_list]
        if dims and all(p == q * s for p, q in zip(dims[-1][1], sts)):
            dims[-1] = (dims[-1][0] * s, sts)
        else:
            dims.append((s, sts))
    return dims


def _softmax_dtype(x, dtype, what):
    if not isinstance(x, View):
        raise TypeError(f"{what}(): expected a wgpu_tensor.Tensor, got {type(x).__name__}")
    if dtype is not None:
        out = D.to_dtype(dtype)
        if out.kind != "f":
            raise TypeError(f"{what}(): dtype must be a floating point dtype, got {out.name}")
        return out
    if x.dtype.kind != "f":
        raise TypeError(f"{what}(): not implemented for {x.dtype.name} input; pass a float dtype= "
                        "or convert the input first")
    return x.dtype


def softmax(x, dim, dtype=None, log=False, safe=False):
    """softmax (or log_softmax) of ``x`` along ``dim``; ``dtype`` casts the input first.
    ``safe``: rows of only -inf give 0 (the attention's softmax), not NaN."""
    what = "log_softmax" if log else "softmax"
    out_dt = _softmax_dtype(x, dtype, what)
    if dim is None:
        raise TypeError(f"{what}() missing its dim argument (an implicit dim is deprecated in PyTorch)")
    d = norm_dim(dim, x.ndim)
    if x.ndim == 0:
        x = x.unsqueeze(0)
        res = softmax(x, 0, dtype, log, safe)
        return res.reshaped(())
    if x.dtype is not out_dt and not (x.dtype is D.float16 and out_dt is D.float32):
        x = E.cast(x, out_dt)  # as PyTorch: the input is cast to dtype= first
    return _softmax_run(x, None, d, out_dt, {"LOG": log, "SAFE": safe, "BACKWARD": False})


def softmax_backward(g, y, dim, log=False):
    """The gradient of softmax (or log_softmax) along ``dim`` with output ``y``."""
    d = norm_dim(dim, y.ndim) if y.ndim else 0
    if y.ndim == 0:
        return softmax_backward(g.reshaped((1,)) if g.is_contiguous() else E.reshape(g, (1,)),
                                y.reshaped((1,)), 0, log).reshaped(())
    g = g.expand(y.shape) if g.shape != y.shape else g
    return _softmax_run(g, y, d, y.dtype, {"LOG": log, "SAFE": False, "BACKWARD": True})


def _softmax_run(x, y, d, out_dt, flags):
    dev = x.device
    shape = x.shape
    L = shape[d]
    wide = D.float32
    out = View.empty(shape, wide, dev)
    if out.numel() == 0:
        return out if out_dt is wide else View.empty(shape, out_dt, dev)
    views = [x, y if y is not None else x, out]
    dims = _row_geometry(shape, d, [v._strides for v in views])
    if len(dims) > MAX_DIMS:
        raise ValueError(f"softmax(): tensors of more than {MAX_DIMS} (non-mergeable) dims are not supported")
    # Invocations per row from the row length alone (the summation order follows WG, so
    # it is the same on every adapter); the workgroup is one subgroup where it fits in one.
    WG = SOFTMAX_WG if -(-L // SOFTMAX_WG) <= SOFTMAX_MAX_ITERS else SOFTMAX_WG_LONG
    if -(-L // WG) > SOFTMAX_MAX_ITERS:
        raise ValueError(f"softmax(): rows of {L} elements are longer than this kernel's limit of "
                         f"{WG * SOFTMAX_MAX_ITERS}")
    sub = dev.use_subgroups and WG <= dev.subgroup_size
    rows = out.numel() // L
    # Forward over contiguous float32 rows whose starts are multiples of 4: vec4 loads;
    # rows of at most WG * 4 * SOFTMAX_MAX_NV elements are held in registers (NV vec4s per
    # invocation, a power of two: few kernels).
    vec4 = (y is None and x.dtype is D.float32 and x._strides[d] == 1 and out._strides[d] == 1
            and L % 4 == 0 and all(st % 4 == 0 for _, sts in dims for st in sts[::2]))
    nv = 1 << (-(-L // (4 * WG)) - 1).bit_length()
    reg = vec4 and nv <= SOFTMAX_MAX_NV
    params = dict(flags, WG=WG, SUBGROUPS=sub, VEC4=vec4, REG=reg, NV=nv if reg else 0,
                  LOAD_X=x.dtype.load.replace("W[", "X["),
                  LOAD_Y=(y.dtype.load.replace("W[", "Y[") if y is not None else "0.0"))
    kernel = dev.kernel("softmax", params, ["r", "r" if y is not None else None, "rw"], SOFTMAX.size)
    pad = dims + [(1, [0, 0, 0])] * (MAX_DIMS - len(dims))
    kshape = [s for s, _ in pad]
    ks = [[sts[i] for _, sts in pad] for i in range(3)]
    # Views seen as [rows, L] through (kept dims..., dim) for the window maths.
    geo = [([s for s, _ in dims] + [L], [sts[i] for _, sts in dims] + [v._strides[d]])
           for i, v in enumerate(views)]
    with dev.lock:
        r0 = 0
        per = min(rows, dev.max_groups ** 2)
        while r0 < rows:
            cnt = min(per, rows - r0)
            while True:
                wins = [_win(dev, v, sh, st, r0 * L, (r0 + cnt) * L) for v, (sh, st) in zip(views, geo)]
                if vec4 and (wins[0][2] % 4 or wins[2][2] % 4):  # a view offset not on a vec4
                    vec4 = False
                    params.update(VEC4=False, REG=False, NV=0)
                    kernel = dev.kernel("softmax", params, ["r", None, "rw"], SOFTMAX.size)
                if max(w[1] for w in wins) <= dev.max_binding:
                    break
                if cnt == 1:
                    raise ValueError("softmax(): one row spreads over more than one storage binding "
                                     f"({dev.max_binding} bytes)")
                cnt = max(1, cnt // 2)
            # The shader adds row (r0 + g)'s offsets to each view's offset in its window.
            p = SOFTMAX.pack(cnt, r0, L, len(dims), *[w[2] for w in wins],
                             x._strides[d], views[1]._strides[d], out._strides[d],
                             *kshape, *ks[0], *ks[1], *ks[2])
            dev.dispatch(kernel, p, [(x._buf, wins[0][0], wins[0][1]),
                                     (y._buf, wins[1][0], wins[1][1]) if y is not None else None,
                                     (out._buf, wins[2][0], wins[2][1])], cnt)
            r0 += cnt
            per = cnt
    if out_dt is not wide:
        out = E.cast(out, out_dt)
    return out


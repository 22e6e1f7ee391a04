"""Benchmark: ops beside numpy and the plain vec4 copy kernel, one row per op.

    python benchmarks/bench_ops.py [--rows matmul,matmul_tiled,fma_peak,softmax,topk]
                                   [--matmul-n 1024] [--softmax-shape 4096,1024]
                                   [--topk-log2n 20] [--topk-k 100] [--fma-iters 1000]
                                   [--repeat 5]

Rows (each times ours and its reference in interleaved rounds, best of --repeat,
GPU cases ending in a sync, and checks what it timed against numpy):
  matmul   n x n float32 @: GFLOP/s (2 n^3 / time), beside numpy's on the same machine
           (numpy's BLAS and its kernel are printed, via threadpoolctl if installed).
           Contiguous operands take the vec4 kernel (shaders/matmul_vec4.wgsl: vec4 loads
           of A and B, no workgroup memory; with subgroups 32 rows x 4 columns per
           invocation, rows of A broadcast within the subgroup; without, 4 x 4).
  matmul_bt  the same product with B given as a transposed view (column stride n): B is
           copied contiguous, then the vec4 kernel runs (as for q @ k.mT).
  matmul_tiled  n x (n + 1) @ (n + 1) x n (an inner dim that is not a multiple of 4):
           the workgroup-memory kernel (shaders/matmul.wgsl: 64 x 64 tiles, 16-deep
           steps through workgroup memory, 4 x 4 outputs per invocation).
  fma_peak multiply-adds alone (shaders/fma_peak.wgsl: no loads in the loop), in
           GFLOP/s beside numpy's matmul: the ceiling of any matmul kernel here.
  softmax  softmax(x, -1) of a float32 [rows, cols]: time as a ratio to the copy kernel
           (shaders/copy_vec4.wgsl) moving the same bytes (one read, one write).
  topk     topk(x, k) of 2^topk_log2n float32: time beside numpy's argpartition + sort of
           the k (wall time, GPU side synced).
More rows: add a function ``row_NAME(args, dev)`` returning a Row and list it in ROWS.
If OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set, run with them unset only here:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ops.py
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402
from wgpu_tensor.runtime.uniforms import COPY  # noqa: E402
from bench_select import copy_kernel  # noqa: E402


class Row(NamedTuple):
    """One benchmark row: ``ours`` (GPU, synced by the caller), ``ref`` (host, or the
    copy kernel with ``ref_is_gpu``), ``check`` (asserts the result of ``ours``),
    ``report(t_ours, t_ref) -> (text, figures dict)``."""
    name: str
    ours: Callable
    ref: Callable
    ref_is_gpu: bool
    check: Callable
    report: Callable


def best_of(cases, repeat, sync):
    """Minimum wall time of each case over ``repeat`` interleaved rounds (after a warm-up)."""
    for f, gpu in cases.values():
        f()
    sync()
    best = {k: float("inf") for k in cases}
    for _ in range(repeat):
        for k, (f, gpu) in cases.items():
            t0 = time.perf_counter()
            f()
            if gpu:
                sync()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def blas_info():
    """numpy's BLAS: library, kernel (architecture), threads; from threadpoolctl if installed."""
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                     "OMP_NUM_THREADS") if k in os.environ}
    try:
        import threadpoolctl
    except ImportError:
        return {"threadpoolctl": "not installed", "env": env}
    pools = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
             for d in threadpoolctl.threadpool_info() if d.get("user_api") == "blas"]
    return {"blas": pools, "env": env}


def row_matmul(args, dev, kind="vec4"):
    """n x n float32 @. ``kind``: "vec4" (contiguous operands), "bt" (B given as a
    transposed view, column stride n: copied contiguous, then the vec4 kernel) or
    "tiled" (inner dim n + 1, not a multiple of 4: the workgroup-memory kernel)."""
    n = args.matmul_n
    k = n + 1 if kind == "tiled" else n
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    ta = wt.tensor(a)
    tb = wt.tensor(np.ascontiguousarray(b.T)).T if kind == "bt" else wt.tensor(b)
    what = {"vec4": "", "bt": ", B a transposed view (copied, then the vec4 kernel)",
            "tiled": f", inner dim {k} (workgroup-memory kernel)"}[kind]
    out = {}

    def ours():
        out["c"] = ta @ tb

    def check():
        ref = a.astype(np.float64) @ b
        bound = np.abs(a).astype(np.float64) @ np.abs(b)
        assert (np.abs(out["c"].numpy() - ref) <= 4 * k * 2.0 ** -24 * bound + 1e-30).all()

    def report(t, tn):
        flop = 2.0 * n * n * k
        g, gn = flop / t / 1e9, flop / tn / 1e9
        return (f"matmul {n}x{k} @ {k}x{n} float32{what}: {g:.2f} GFLOP/s ({t * 1e3:.1f} ms); numpy "
                f"{gn:.2f} GFLOP/s ({tn * 1e3:.1f} ms); ours / numpy = {g / gn:.3f}",
                {"gflops": g, "numpy_gflops": gn, "ratio_to_numpy": g / gn})
    return Row({"vec4": "matmul", "bt": "matmul_bt", "tiled": "matmul_tiled"}[kind], ours, lambda: a @ b,
               False, check, report)


def row_matmul_bt(args, dev):
    return row_matmul(args, dev, "bt")


def row_matmul_tiled(args, dev):
    return row_matmul(args, dev, "tiled")


def row_fma_peak(args, dev):
    """Multiply-adds alone: 64 * 256 invocations, each --fma-iters * 16 rounds on 2 vec4s."""
    unroll, iters, inv = 16, args.fma_iters, 64 * 256
    k = dev.kernel("fma_peak", {"UNROLL": unroll}, ["r", "rw"], COPY.size)
    src = wt.tensor(np.array([0.999, 0.001, 0, 0], np.float32))
    dst = wt.empty(inv * 4)
    n = args.matmul_n
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)

    def ours():
        dev.dispatch(k, COPY.pack(iters), [(src._v._buf, 0, 16), (dst._v._buf, 0, inv * 16)], inv // 64)

    def check():
        assert np.isfinite(dst.numpy()).all()

    def report(t, tn):
        g, gn = inv * iters * unroll * 2 * 4 * 2 / t / 1e9, 2.0 * n ** 3 / tn / 1e9
        return (f"multiply-add loop alone (no loads): {g:.2f} GFLOP/s ({t * 1e3:.1f} ms); numpy's "
                f"{n}x{n} matmul {gn:.2f} GFLOP/s; peak / numpy = {g / gn:.3f}",
                {"gflops": g, "numpy_gflops": gn, "ratio_to_numpy": g / gn})
    return Row("fma_peak", ours, lambda: a @ b, False, check, report)


def row_softmax(args, dev):
    rows, cols = args.softmax_shape
    x_np = np.random.default_rng(1).standard_normal((rows, cols), dtype=np.float32)
    x = wt.tensor(x_np)
    dst = wt.empty(rows, cols)
    out = {}

    def ours():
        out["y"] = x.softmax(-1)

    def check():
        e = np.exp(x_np - x_np.max(-1, keepdims=True))
        np.testing.assert_allclose(out["y"].numpy(), e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)

    def report(t, tc):
        return (f"softmax [{rows}, {cols}] float32 along -1: {t * 1e3:.2f} ms; copy kernel of the same "
                f"bytes {tc * 1e3:.2f} ms; ratio {t / tc:.2f}x copy",
                {"ms": t * 1e3, "copy_ms": tc * 1e3, "ratio_to_copy": t / tc})
    return Row("softmax", ours, lambda: copy_kernel(dev, x, dst, rows * cols), True, check, report)


def row_topk(args, dev):
    n, k = 1 << args.topk_log2n, args.topk_k
    x_np = np.random.default_rng(2).standard_normal(n, dtype=np.float32)
    x = wt.tensor(x_np)
    out = {}

    def ours():
        out["r"] = wt.topk(x, k)

    def ref():
        return np.sort(x_np[np.argpartition(-x_np, k)[:k]])[::-1]

    def check():
        np.testing.assert_array_equal(out["r"].values.numpy(), -np.sort(-x_np)[:k])

    def report(t, tn):
        return (f"topk of 2^{args.topk_log2n} float32, k={k}: {t * 1e3:.1f} ms; numpy (argpartition + "
                f"sort of the k) {tn * 1e3:.2f} ms; ours / numpy = {t / tn:.1f}x",
                {"ms": t * 1e3, "numpy_ms": tn * 1e3, "ratio_to_numpy": t / tn})
    return Row("topk", ours, ref, False, check, report)


ROWS = {"matmul": row_matmul, "matmul_bt": row_matmul_bt, "matmul_tiled": row_matmul_tiled, "fma_peak": row_fma_peak,
        "softmax": row_softmax, "topk": row_topk}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--matmul-n", type=int, default=1024)
    ap.add_argument("--softmax-shape", type=lambda s: tuple(int(v) for v in s.split(",")), default=(4096, 1024))
    ap.add_argument("--fma-iters", type=int, default=1000)
    ap.add_argument("--topk-log2n", type=int, default=20)
    ap.add_argument("--topk-k", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    dev = get_device()
    info = wt.device_info()
    print(f"adapter: {info['name']} ({info['backend']}, {info['type']}); CPU: {_cpu()}; "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    blas = blas_info()
    print(f"numpy {np.__version__} BLAS: {blas}")
    results = {"adapter": info["name"], "blas": blas, "rows": {}}
    for name in args.rows.split(","):
        row = ROWS[name](args, dev)
        best = best_of({"ours": (row.ours, True), "ref": (row.ref, row.ref_is_gpu)}, args.repeat,
                       dev.synchronize)
        row.check()
        text, figures = row.report(best["ours"], best["ref"])
        print("  " + text)
        results["rows"][name] = figures
    return results


def _cpu():
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()

"""wt.nn.functional.scaled_dot_product_attention against a float64 numpy reference,
the example examples/attention_masking.py against numpy, and the kernels of this
area on the second adapter (wgpu's OpenGL backend).

Tolerances: scores are f32 dot products of E terms, softmax adds a few ulp, the output
is a convex combination of v's rows: 1e-5 relative of the magnitudes plus 1e-5."""
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wgpu_tensor as wt
import wgpu_tensor.nn.functional as F
from conftest import no_gpu_work
from test_linalg import fd_grad

ROOT = Path(__file__).resolve().parent.parent


def T(a, **kw):
    return wt.tensor(a, **kw)


def safe_softmax(s):
    with np.errstate(invalid="ignore"):
        m = s.max(-1, keepdims=True)
        e = np.exp(s - np.where(np.isfinite(m), m, 0))
        p = e / e.sum(-1, keepdims=True)
    return np.where(np.all(s == -np.inf, -1, keepdims=True), 0.0, p)


def sdpa_ref(q, k, v, mask=None, is_causal=False, scale=None):
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if is_causal:
        mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), bool))
    if mask is not None:
        mask = np.asarray(mask)
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return np.matmul(safe_softmax(s), v)


def close(got, ref, rtol=1e-5, atol=1e-5):
    ref = np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(got.numpy(), ref, rtol=rtol, atol=atol)


def qkv(rng, sq, sk, sv, dtype=np.float32):
    return (rng.standard_normal(s).astype(dtype) for s in (sq, sk, sv))


def test_sdpa_plain_scale_and_broadcast_batch(rng):
    q, k, v = qkv(rng, (2, 3, 17, 8), (2, 3, 13, 8), (2, 3, 13, 5))
    close(F.scaled_dot_product_attention(T(q), T(k), T(v)), sdpa_ref(q, k, v))
    close(F.scaled_dot_product_attention(T(q), T(k), T(v), scale=0.3), sdpa_ref(q, k, v, scale=0.3))
    # Batch dims broadcast (a key/value shared by every head), and 2-D inputs.
    k1, v1 = k[:, :1], v[:, :1]
    close(F.scaled_dot_product_attention(T(q), T(k1), T(v1)), sdpa_ref(q, k1, v1))
    close(F.scaled_dot_product_attention(T(q[0, 0]), T(k[0, 0]), T(v[0, 0])), sdpa_ref(q[0, 0], k[0, 0], v[0, 0]))
    # A long key sequence (past one 64-wide tile, rows past one softmax workgroup).
    q, k, v = qkv(rng, (1, 65, 16), (1, 300, 16), (1, 300, 7))
    close(F.scaled_dot_product_attention(T(q), T(k), T(v)), sdpa_ref(q, k, v))


def test_sdpa_masks_bool_float_causal(rng):
    q, k, v = qkv(rng, (2, 3, 7, 8), (2, 3, 9, 8), (2, 3, 9, 4))
    lengths = np.array([9, 4])
    pad = (np.arange(9)[None, :] < lengths[:, None])[:, None, None, :]       # [2, 1, 1, 9]
    close(F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=T(pad)), sdpa_ref(q, k, v, pad))
    fm = rng.standard_normal((7, 9)).astype(np.float32)
    fm[2, 5] = -np.inf
    close(F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=T(fm)), sdpa_ref(q, k, v, fm))
    qs, ks, vs = qkv(rng, (2, 9, 8), (2, 9, 8), (2, 9, 4))
    close(F.scaled_dot_product_attention(T(qs), T(ks), T(vs), is_causal=True), sdpa_ref(qs, ks, vs, is_causal=True))
    # is_causal with L != S: top-left aligned, as PyTorch's math backend (tril of [L, S]).
    close(F.scaled_dot_product_attention(T(q), T(k), T(v), is_causal=True), sdpa_ref(q, k, v, is_causal=True))


def test_sdpa_fully_masked_rows_give_zeros_as_pytorch(rng):
    # PyTorch >= 2.5 (math backend's _safe_softmax): a query that may see no key gets 0,
    # where plain softmax of an all -inf row is NaN.
    q, k, v = qkv(rng, (2, 4, 8), (2, 6, 8), (2, 6, 3))
    mask = rng.random((2, 4, 6)) < 0.6
    mask[0, 1] = False
    mask[1, 3] = False
    got = F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=T(mask)).numpy()
    np.testing.assert_array_equal(got[0, 1], np.zeros(3, np.float32))
    np.testing.assert_array_equal(got[1, 3], np.zeros(3, np.float32))
    np.testing.assert_allclose(got, sdpa_ref(q, k, v, mask), rtol=1e-5, atol=1e-5)
    fm = np.where(mask, 0.0, -np.inf).astype(np.float32)
    got = F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=T(fm)).numpy()
    np.testing.assert_array_equal(got[0, 1], np.zeros(3, np.float32))
    # NaN in a key that takes part is NaN, as PyTorch.
    k2 = k.copy()
    k2[0, 0, 0] = np.nan
    got = F.scaled_dot_product_attention(T(q), T(k2), T(v)).numpy()
    assert np.isnan(got[0]).all() and not np.isnan(got[1]).any()


def test_sdpa_float16(rng):
    q, k, v = qkv(rng, (2, 17, 8), (2, 13, 8), (2, 13, 5), np.float16)
    got = F.scaled_dot_product_attention(T(q), T(k), T(v))
    assert got.dtype is wt.float16
    # float16 scores and weights are rounded (2**-11 each): 1e-2 absolute on O(1) outputs.
    np.testing.assert_allclose(got.numpy().astype(np.float64), sdpa_ref(q, k, v), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("kind", ["none", "bool", "causal", "float"])
def test_sdpa_gradients_by_finite_differences(rng, kind):
    q = rng.standard_normal((2, 3, 4))
    k = rng.standard_normal((2, 5, 4))
    v = rng.standard_normal((2, 5, 3))
    w = rng.standard_normal((2, 3, 3))
    mask, causal = None, kind == "causal"
    if kind == "bool":
        mask = np.array([[[True, True, False, True, False]], [[True, False, False, False, True]]])
    elif kind == "float":
        mask = rng.standard_normal((3, 5))
    if causal:
        k, v = k[:, :3], v[:, :3]

    def loss(q_, k_, v_, m_=mask):
        return float(np.sum(w * sdpa_ref(q_, k_, v_, m_, causal)))
    tq, tk, tv = (T(a.astype(np.float32), requires_grad=True) for a in (q, k, v))
    tm = None
    if mask is not None:
        tm = T(mask if mask.dtype == bool else mask.astype(np.float32), requires_grad=mask.dtype != bool)
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal)
    (out * T(w.astype(np.float32))).sum().backward()
    # f32 forward and backward against float64 central differences: 1e-4.
    for t, num in ((tq, fd_grad(lambda x: loss(x, k, v), q)), (tk, fd_grad(lambda x: loss(q, x, v), k)),
                   (tv, fd_grad(lambda x: loss(q, k, x), v))):
        np.testing.assert_allclose(t.grad.numpy(), num, rtol=1e-4, atol=1e-4)
    if kind == "float":
        np.testing.assert_allclose(tm.grad.numpy(), fd_grad(lambda x: loss(q, k, v, x), mask),
                                   rtol=1e-4, atol=1e-4)


def test_sdpa_bad_input_raises_before_gpu_work():
    q, k, v = wt.ones(2, 3, 4), wt.ones(2, 5, 4), wt.ones(2, 5, 3)
    bm, im, fm16 = wt.ones(3, 5, dtype=wt.bool), wt.ones(3, 5, dtype=wt.int32), wt.ones(3, 5, dtype=wt.float16)
    bad_mask, qi, k3 = wt.ones(4, 5, dtype=wt.bool), wt.ones(2, 3, 4, dtype=wt.int32), wt.ones(2, 5, 3)
    v6, q16 = wt.ones(2, 6, 3), wt.ones(2, 3, 4, dtype=wt.float16)
    with no_gpu_work():
        with pytest.raises(NotImplementedError, match="dropout_p=0.1 is not supported"):
            F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)
        with pytest.raises(RuntimeError, match="should not be set when is_causal=True"):
            F.scaled_dot_product_attention(q, k, v, attn_mask=bm, is_causal=True)
        with pytest.raises(TypeError, match="attn_mask must be bool or the query's dtype"):
            F.scaled_dot_product_attention(q, k, v, attn_mask=im)
        with pytest.raises(TypeError, match="attn_mask must be bool or the query's dtype"):
            F.scaled_dot_product_attention(q, k, v, attn_mask=fm16)
        with pytest.raises(ValueError, match="do not broadcast"):
            F.scaled_dot_product_attention(q, k, v, attn_mask=bad_mask)
        with pytest.raises(TypeError, match="must be float32 or float16"):
            F.scaled_dot_product_attention(qi, k, v)
        with pytest.raises(RuntimeError, match="query's last dim 4 must equal key's 3"):
            F.scaled_dot_product_attention(q, k3, v)
        with pytest.raises(RuntimeError, match="same sequence length"):
            F.scaled_dot_product_attention(q, k, v6)
        with pytest.raises(TypeError, match="same dtype"):
            F.scaled_dot_product_attention(q16, k, v)
        with pytest.raises(NotImplementedError, match="enable_gqa"):
            F.scaled_dot_product_attention(q, k, v, enable_gqa=True)


def test_sdpa_does_not_sync(rng):
    q, k, v = (T(a) for a in qkv(rng, (2, 3, 4), (2, 5, 4), (2, 5, 3)))
    mask = T(rng.random((2, 3, 5)) < 0.7)
    wt.set_sync_debug_mode("error")
    try:
        before = wt.sync_count()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out2 = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        assert wt.sync_count() == before
    finally:
        wt.set_sync_debug_mode("default")
    assert out.shape == (2, 3, 3) and out2.shape == (2, 3, 3)


def _load_example():
    spec = importlib.util.spec_from_file_location("attention_masking", ROOT / "examples" / "attention_masking.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_numbers_against_numpy():
    r = {name: t.numpy() for name, t in _load_example().compute().items()}
    x, lengths = r["x"].astype(np.float64), r["lengths"]
    q, k, v = (x @ r[w] for w in ("wq", "wk", "wv"))
    pad = np.arange(5)[None, :] < lengths[:, None]
    causal = np.tril(np.ones((5, 5), bool))
    mask = pad[:, None, :] & causal
    np.testing.assert_array_equal(r["pad"], pad)
    np.testing.assert_array_equal(r["causal"], causal)
    np.testing.assert_array_equal(r["mask"], mask)
    ref = sdpa_ref(q, k, v, mask)
    np.testing.assert_allclose(r["out"], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r["by_hand"], ref, rtol=1e-5, atol=1e-5)
    s = q @ np.swapaxes(k, -1, -2) / 2.0
    np.testing.assert_allclose(r["weights"], safe_softmax(np.where(mask, s, -np.inf)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["pad_out"], sdpa_ref(q, k, v, pad[:, None, :]), rtol=1e-5, atol=1e-5)
    assert r["on_padding"] == 0.0
    np.testing.assert_allclose(r["causal_out"], sdpa_ref(q, k, v, is_causal=True), rtol=1e-5, atol=1e-5)
    pooled = (ref * pad[:, :, None]).sum(1) / pad.sum(1)[:, None]
    np.testing.assert_allclose(r["pooled"], pooled, rtol=1e-5, atol=1e-5)


_OTHER_ADAPTER = """
import sys, numpy as np, wgpu_tensor as wt
import wgpu_tensor.nn.functional as F
rng = np.random.default_rng(5)
a = rng.standard_normal((3, 70, 33)).astype(np.float32)
b = rng.standard_normal((33, 65)).astype(np.float32)
x = rng.standard_normal((9, 300)).astype(np.float32)
q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 8), (2, 7, 8), (2, 7, 3)))
mask = rng.random((2, 5, 7)) < 0.6
out = dict(backend=wt.device_info()["backend"], a=a, b=b, x=x, q=q, k=k, v=v, mask=mask,
           mm=(wt.tensor(a) @ wt.tensor(b)).numpy(),
           mm16=(wt.tensor(a.astype(np.float16)) @ wt.tensor(b.astype(np.float16))).numpy(),
           sm=wt.tensor(x).softmax(-1).numpy(), lsm=wt.tensor(x).log_softmax(0).numpy(),
           att=F.scaled_dot_product_attention(wt.tensor(q), wt.tensor(k), wt.tensor(v),
                                              attn_mask=wt.tensor(mask)).numpy())
np.savez(sys.argv[1], **out)
"""


def test_kernels_on_the_opengl_adapter(tmp_path):
    """matmul, softmax and attention on wgpu's OpenGL backend (llvmpipe through GL, no
    subgroups, 16 storage buffers per stage) in a child process, against numpy."""
    if wt.device_info()["backend"] == "OpenGL":
        pytest.skip("this process already runs on the OpenGL adapter")
    out = tmp_path / "gl.npz"
    env = dict(os.environ, WGPU_BACKEND_TYPE="OpenGL")
    r = subprocess.run([sys.executable, "-c", _OTHER_ADAPTER, str(out)], env=env, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0 and "no WebGPU adapter" in r.stderr + r.stdout:
        msg = "no OpenGL adapter here (Mesa's GL driver: libegl-mesa0 libgl1-mesa-dri)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI runs both adapters")
        pytest.skip(msg)
    assert r.returncode == 0, r.stderr[-3000:]
    g = np.load(out)
    assert str(g["backend"]) == "OpenGL"
    a, b = g["a"].astype(np.float64), g["b"].astype(np.float64)
    np.testing.assert_allclose(g["mm"], a @ b, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(g["mm16"], g["a"].astype(np.float16).astype(np.float64)
                               @ g["b"].astype(np.float16).astype(np.float64), rtol=1e-2, atol=5e-2)
    x = g["x"].astype(np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(g["sm"], e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    ls = x - x.max(0) - np.log(np.exp(x - x.max(0)).sum(0))
    np.testing.assert_allclose(g["lsm"], ls, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g["att"], sdpa_ref(g["q"], g["k"], g["v"], g["mask"]), rtol=1e-5, atol=1e-5)

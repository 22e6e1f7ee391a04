"""Results that must not depend on the adapter: what WGSL specifies but a backend's
translation may not do (saturating float -> int casts on OpenGL), float16 moved as raw
bits (a trip through f32 changes NaN payloads on OpenGL), no private bool arrays (a
driver crash on zink), and the subgroup kernel exact for any subgroup size the
hardware picks at run time."""
import math
from pathlib import Path

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, shaders

from conftest import require_subgroups

SHADERS = Path(__file__).resolve().parent.parent / "shaders"


# ---------------------------------------------------------------- no private bool arrays
def test_no_bool_arrays_in_the_shader_sources():
    files = sorted(SHADERS.glob("*.wgsl"))
    assert len(files) > 20
    bad = [f.name for f in files if "array<bool" in f.read_text().replace(" ", "")]
    assert not bad, f"array<bool in {bad}: collect bools into u32 with select(0u, 1u, ...)"


def test_no_bool_arrays_in_rendered_bool_kernels(rng):
    """Every kernel built so far, after the bool results (compares, logic, casts,
    reductions, where, selection, scans), rendered again: none holds an
    array<bool> (templated types such as elementwise's result array included)."""
    dev = get_device()
    a = rng.standard_normal((7, 37)).astype(np.float32)
    x = wt.tensor(a)
    m = x > 0
    results = [(m, a > 0), (~m, ~(a > 0)), (m & (x < 1), (a > 0) & (a < 1)),
               (x.to(wt.bool), a != 0), (m.any(dim=1), (a > 0).any(axis=1)),
               (m.all(dim=0), (a > 0).all(axis=0)), (m.any(), (a > 0).any()),
               (wt.where(m, m, ~m), np.ones_like(a, bool)), (m[m], (a > 0)[a > 0]),
               (m.cumsum(1), np.cumsum(a > 0, 1, dtype=np.int32))]
    for got, want in results:
        np.testing.assert_array_equal(got.numpy(), want)
    codes = {}
    for name, params, _access, _entry in list(dev._kernels):
        codes[name, params] = shaders.render(name, dict(params))
    assert {"elementwise", "reduce"} <= {n for n, _ in codes}
    bad = sorted({n for (n, _), code in codes.items() if "array<bool" in code.replace(" ", "")})
    assert not bad, f"array<bool in the rendered {bad}"


# ---------------------------------------------------------------- saturating casts
SPECIAL = np.array([np.nan, -np.nan, np.inf, -np.inf, 3e9, -3e9, 1e10, -1e10, 2147483520.0, 2147483648.0,
                    -2147483648.0, -2147483904.0, 4294967040.0, 4294967296.0, -1.5, 1.5, -0.5, 0.5,
                    -0.0, 0.0, 7.9, -7.9, 65504.0, -65504.0, 16777217.0], np.float32)


def saturated(a, np_int):
    """The cast rule (WGSL's): truncate toward zero, clamp to the int range's floats
    (the top is the largest float32 under 2**31 / 2**32), NaN -> the lower bound."""
    info = np.iinfo(np_int)
    top = float(np.nextafter(np.float32(info.max + 1), np.float32(0)))
    t = np.trunc(a.astype(np.float64))
    t = np.where(np.isnan(t), info.min, np.clip(t, info.min, top))
    return t.astype(np_int)


@pytest.mark.parametrize("src", [wt.float32, wt.float16])
@pytest.mark.parametrize("dst", [wt.int32, wt.uint32])
@pytest.mark.parametrize("n", [0, 1, 25, 257, 1025])
def test_float_to_int_casts_saturate(rng, src, dst, n):
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.resize(SPECIAL, n).astype(src.np)
    rng.shuffle(a)
    x = wt.tensor(a)
    want = saturated(a, dst.np)
    np.testing.assert_array_equal(x.to(dst).numpy(), want)
    # a strided view, and the cast inside a reduction's dtype=
    np.testing.assert_array_equal(x[::2].to(dst).numpy(), want[::2])
    if n:
        # an int reduction of float input goes through the same cast (torch: x.to(dtype) first)
        assert x[:1].sum(dtype=dst).item() == want[:1].sum(dtype=dst.np)


def test_float_to_int_cast_of_huge_and_nan_values_is_the_same_everywhere():
    x = wt.tensor(np.array([np.nan, np.inf, -np.inf, 1e20, -1e20], np.float32))
    assert x.to(wt.int32).tolist() == [-2 ** 31, 2 ** 31 - 128, -2 ** 31, 2 ** 31 - 128, -2 ** 31]
    assert x.to(wt.uint32).tolist() == [0, 2 ** 32 - 256, 0, 2 ** 32 - 256, 0]


# ---------------------------------------------------------------- float16 moved as bits
# NaNs with payloads (quiet, signalling, negative), subnormals, -0.0, +-inf, normal values.
F16_BITS = np.array([0x7E00, 0x7E01, 0xFE00, 0x7C01, 0x7D00, 0xFC01, 0x7FFF, 0x0001, 0x03FF, 0x8001,
                     0x8000, 0x0000, 0x7C00, 0xFC00, 0x3C00, 0xBC00, 0x7BFF, 0x0400, 0x3555], np.uint16)


def f16_data(rng, n):
    return rng.permutation(np.resize(F16_BITS, n)).view(np.float16)


def bits(a):
    return np.asarray(a).view(np.uint16)


@pytest.mark.parametrize("n", [0, 1, 19, 257, 1025, 4099])
def test_float16_copies_keep_every_bit(rng, n):
    a = f16_data(rng, n)
    x = wt.tensor(a)
    assert bits(x.numpy()).tolist() == bits(a).tolist()
    np.testing.assert_array_equal(bits(x.clone().numpy()), bits(a))
    if n > 1:
        a2 = a[: n // 2 * 2].reshape(2, -1)
        t = wt.tensor(a2).T
        assert not t.is_contiguous()
        np.testing.assert_array_equal(bits(t.contiguous().numpy()), bits(a2.T))
        np.testing.assert_array_equal(bits(x[1::3].clone().numpy()), bits(a[1::3]))


@pytest.mark.parametrize("n", [0, 1, 19, 257, 1025, 4099])
def test_float16_selection_keeps_every_bit(rng, n):
    a = f16_data(rng, n)
    m = rng.random(n) < 0.6
    x, mm = wt.tensor(a), wt.tensor(m)
    np.testing.assert_array_equal(bits(x[mm].numpy()), bits(a[m]))
    np.testing.assert_array_equal(bits(wt.masked_select(x, mm).numpy()), bits(a[m]))
    fixed = wt.masked_select(x, mm, fill_value=-2.5)
    k = int(m.sum())
    got = bits(fixed.uncounted().numpy())
    np.testing.assert_array_equal(got[:k], bits(a[m]))
    assert (got[k:] == 0xC100).all()   # -2.5 as float16
    src = f16_data(rng, n)[::-1].copy()
    want = a.copy()
    want[m] = src[:k]
    np.testing.assert_array_equal(bits(x.masked_scatter(mm, wt.tensor(src)).numpy()), bits(want))


@pytest.mark.parametrize("n", [1, 19, 257, 1025])
@pytest.mark.parametrize("descending", [False, True])
def test_float16_sort_values_keep_every_bit(rng, n, descending):
    a = f16_data(rng, n)
    r = wt.tensor(a).sort(descending=descending)
    # NaN largest, -0.0 == 0.0, stable: numpy's stable argsort of the values
    key = np.where(np.isnan(a), np.inf, a.astype(np.float64))
    key = np.where(np.isnan(a), 2, np.where(np.isinf(key) & (key > 0), 1, 0)) * 1e6 + np.nan_to_num(key, posinf=0)
    order = np.argsort(-key if descending else key, kind="stable")
    np.testing.assert_array_equal(bits(r.values.numpy()), bits(a[r.indices.numpy()]))
    np.testing.assert_array_equal(np.sort(r.indices.numpy()), np.arange(n))
    if not descending:
        np.testing.assert_array_equal(r.indices.numpy(), order)
    kth = wt.tensor(a).kthvalue(max(1, n // 2))
    np.testing.assert_array_equal(bits(kth.values.numpy()), bits(a[kth.indices.numpy()]))


# ---------------------------------------------------------------- subgroup size at run time
@pytest.mark.parametrize("probed", [4, 16, 32])
def test_subgroup_kernel_exact_when_the_runtime_size_differs_from_the_probe(monkeypatch, rng, probed):
    """A GPU may run a pipeline with another subgroup size than the start-up probe saw
    (Intel picks per pipeline). Pretending the probe saw ``probed`` lanes while the
    adapter runs its own: a smaller probed size launches fewer subgroups per
    workgroup than run (exact: subgroups take tiles in a loop); a larger one, more
    subgroups than run (surplus ones take none) and, before the kernel derived
    everything from the builtin size, lanes' private runs sized too short (each
    lane's share of a tile now comes from the size the pipeline runs with). Dense
    and sparse tiles, packed stores with head and tail words, 1-D and 2-D nonzero."""
    require_subgroups("the one-pass subgroup kernel")
    from wgpu_tensor.ops import select as S
    dev = get_device()
    if not dev.info()["type"].lower().startswith("cpu"):
        pytest.skip("the one-pass subgroup kernel runs on CPU adapters")
    monkeypatch.setattr(dev, "subgroup_size", probed)
    with dev.record_commands() as log:
        for n in (1, 1023, 1025, S.TILE_SG - 1, 3 * S.TILE_SG + 7, 70001):
            for frac in (0.02, 0.5, 0.97):
                a = rng.standard_normal(n).astype(np.float32)
                m = rng.random(n) < frac
                x = wt.tensor(a)
                np.testing.assert_array_equal(x[wt.tensor(m)].numpy(), a[m])
                np.testing.assert_array_equal(x.masked_select(x > 1.0).numpy(), a[a > 1.0])  # fused
                np.testing.assert_array_equal(x.masked_select(x < 0.9).numpy(), a[a < 0.9])  # fused, dense
                np.testing.assert_array_equal(wt.nonzero(wt.tensor(m)).numpy()[:, 0], np.flatnonzero(m))
                if n % 5 == 0:
                    m2 = m.reshape(5, -1)
                    np.testing.assert_array_equal(wt.nonzero(wt.tensor(m2)).numpy(), np.argwhere(m2))
    one = [c for c in log if c.kind == "dispatch" and c.name == "select_onepass_sg"]
    assert one and all("RUN" not in c.params for c in one), "a private array sized from the probe"
    fused = [c for c in one if c.params["FUSED"]]
    assert fused, "the fused kernel did not run"
    assert {c.params["PACKED"] for c in one if c.params["VALUES"]} == {True}


@pytest.mark.parametrize("probed", [4, 16, 32])
def test_threepass_kernels_exact_when_the_runtime_size_differs_from_the_probe(monkeypatch, rng, probed):
    """count_blocks_sg and scatter_selected_sg (masked_select on the three passes,
    masked_scatter) size only their launch from the probe (one subgroup per block
    of the probed size); the blocks are taken in a loop strided by the number of
    subgroups of the size the pipeline runs with, and each lane's share comes from
    that size too: exact either way."""
    require_subgroups("the three-pass subgroup kernels")
    from wgpu_tensor.ops import select as S
    dev = get_device()
    monkeypatch.setattr(dev, "subgroup_size", probed)
    monkeypatch.setattr(S, "PATH", "threepass")
    with dev.record_commands() as log:
        for n in (1, 4095, 4097, 5 * S.BLOCK + 3, 70001):
            a = rng.standard_normal(n).astype(np.float32)
            m = rng.random(n) < 0.4
            x, mm = wt.tensor(a), wt.tensor(m)
            np.testing.assert_array_equal(x.masked_select(mm).numpy(), a[m])
            np.testing.assert_array_equal(wt.nonzero(mm).numpy()[:, 0], np.flatnonzero(m))
            src = rng.standard_normal(n).astype(np.float32)
            want = a.copy()
            want[m] = src[:m.sum()]
            np.testing.assert_array_equal(x.masked_scatter(mm, wt.tensor(src)).numpy(), want)
    names = {c.name for c in log if c.kind == "dispatch"}
    assert {"count_blocks_sg", "scatter_selected_sg"} <= names, names


@pytest.mark.parametrize("probed", [8, 16, 32])
def test_matmul_subgroup_variant_exact_when_the_runtime_size_differs_from_the_probe(monkeypatch, rng, probed):
    """matmul_vec4's subgroup variant makes a workgroup of SG = probed invocations and
    a tile of 4 * SG columns. Run with smaller subgroups (lavapipe's 8 under a probe of
    16 or 32: a workgroup of several subgroups), each column must come from the
    invocation's place in the workgroup (before: its place in its subgroup, so the
    second subgroup recomputed the first one's columns and left its own unwritten)."""
    require_subgroups("the matmul subgroup variant")
    from wgpu_tensor.ops import linalg as L
    dev = get_device()
    if dev.subgroup_size < L.SG_MIN:
        pytest.skip("the adapter's subgroups are too small for the variant")
    monkeypatch.setattr(dev, "subgroup_size", probed)
    with dev.record_commands() as log:
        for m_, k_, n_ in ((9, 12, 132), (33, 64, 260), (1, 4, 4)):
            a = rng.standard_normal((m_, k_)).astype(np.float32)
            b = rng.standard_normal((k_, n_)).astype(np.float32)
            got = (wt.tensor(a) @ wt.tensor(b)).numpy()
            np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)
    sgs = {c.params.get("SG") for c in log if c.kind == "dispatch" and c.name == "matmul_vec4"
           and c.params.get("SUBGROUPS")}
    assert sgs == {probed}, sgs

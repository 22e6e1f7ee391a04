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
                     0x8000, 0x0000, 0x7C00, 0xFC00, 0x3C00, 0xBC00, 0x7BFF, 0x0400, 0x3555,
                     0xFE12, 0xFD55, 0xFFFF], np.uint16)


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


# Every op that only moves float16 values, on float16 inputs full of NaN payloads
# (quiet and signalling, both signs), infinities, zeros and subnormals: the raw bits
# of its result against numpy's result of the same op on the uint16 view.
# (name, wt op over the context c, numpy op over the bits context h)
def _put(a, where, v):
    a = a.copy()
    a[where] = v
    return a


def _h(v):
    return int(np.array(v, np.float16).view(np.uint16))


F16_MOVES = [
    ("where", lambda c: wt.where(c.m, c.x, c.y), lambda h: np.where(h.m, h.x, h.y)),
    ("where_scalar_y", lambda c: wt.where(c.m, c.x, 2.5), lambda h: np.where(h.m, h.x, _h(2.5))),
    ("where_scalar_x_nan", lambda c: wt.where(c.m, float("nan"), c.y), lambda h: np.where(h.m, 0x7E00, h.y)),
    ("where_broadcast", lambda c: wt.where(c.m2[:, :1], c.x2, c.y2[:1]),
     lambda h: np.where(h.m2[:, :1], h.x2, h.y2[:1])),
    ("where_lazy_mask", lambda c: wt.where(c.y > 0, c.x, c.y), lambda h: np.where(h.yf > 0, h.x, h.y)),
    ("masked_fill", lambda c: c.x.masked_fill(c.m, -np.inf), lambda h: np.where(h.m, 0xFC00, h.x)),
    ("masked_fill_tensor_nan", lambda c: c.x.masked_fill(c.m, c.snan), lambda h: np.where(h.m, 0x7D55, h.x)),
    ("masked_fill_", lambda c: c.x.clone().masked_fill_(c.m, 1.5), lambda h: np.where(h.m, _h(1.5), h.x)),
    ("masked_scatter", lambda c: c.x.masked_scatter(c.m, c.y), lambda h: _put(h.x, h.m, h.y[:h.m.sum()])),
    ("masked_scatter_counted", lambda c: c.x.masked_scatter(c.m, c.y[c.m | c.m3]),
     lambda h: _put(h.x, h.m, h.y[h.m | h.m3][:h.m.sum()])),
    ("setitem_mask", lambda c: _set(c.x, c.m, c.y[c.m]), lambda h: _put(h.x, h.m, h.y[h.m])),
    ("setitem_mask_scalar", lambda c: _set(c.x, c.m, float("-nan")), lambda h: _put(h.x, h.m, 0xFE00)),
    ("setitem_index", lambda c: _set(c.x, c.i, c.y[: len(c.i)]), lambda h: _put(h.x, h.i, h.y[: len(h.i)])),
    ("gather", lambda c: c.x.gather(0, c.j), lambda h: h.x[h.j]),
    ("index_select", lambda c: c.x.index_select(0, c.j), lambda h: h.x[h.j]),
    ("getitem_index", lambda c: c.x[c.j], lambda h: h.x[h.j]),
    ("getitem_mask", lambda c: c.x[c.m], lambda h: h.x[h.m]),
    ("scatter", lambda c: c.x.scatter(0, c.i, c.y), lambda h: _put(h.x, h.i, h.y[: len(h.i)])),
    ("cat", lambda c: wt.cat([c.x, c.y]), lambda h: np.concatenate([h.x, h.y])),
    ("stack", lambda c: wt.stack([c.x, c.y], 1), lambda h: np.stack([h.x, h.y], 1)),
    ("flip", lambda c: c.x2.flip(1), lambda h: h.x2[:, ::-1]),
    ("roll", lambda c: c.x.roll(3), lambda h: np.roll(h.x, 3)),
    ("transpose", lambda c: c.x2.t().contiguous(), lambda h: h.x2.T),
    ("permute_3d", lambda c: c.x3.permute(2, 0, 1).contiguous(), lambda h: h.x3.transpose(2, 0, 1)),
    ("expand", lambda c: c.x2[:1].expand(3, -1).contiguous(), lambda h: np.broadcast_to(h.x2[:1], (3, h.x2.shape[1]))),
    ("repeat_interleave", lambda c: c.x.repeat_interleave(3), lambda h: np.repeat(h.x, 3)),
    ("repeat", lambda c: c.x2.repeat(2, 1), lambda h: np.tile(h.x2, (2, 1))),
    ("tril", lambda c: c.x2.tril(), lambda h: np.where(np.tri(*h.x2.shape, dtype=bool), h.x2, 0)),
    ("triu", lambda c: c.x2.triu(1), lambda h: np.where(np.tri(*h.x2.shape, dtype=bool), 0, h.x2)),
    ("diagonal", lambda c: c.x2.diagonal().contiguous(), lambda h: np.diagonal(h.x2)),
    ("narrow", lambda c: c.x[1:].clone(), lambda h: h.x[1:]),
    ("strided", lambda c: c.x[::2].contiguous(), lambda h: h.x[::2]),
    ("reshape_of_view", lambda c: c.x2.t().reshape(-1), lambda h: h.x2.T.reshape(-1)),
    ("to_float16", lambda c: c.x.to(wt.float16), lambda h: h.x),
]


def _set(x, idx, v):
    x = x.clone()
    x[idx] = v
    return x


class _Ctx:
    pass


def _f16_contexts(rng, n):
    """(wt context, numpy bits context) over n float16 elements."""
    a, b = f16_data(rng, n), f16_data(rng, n)[::-1].copy()
    cols = max(1, min(n, 7))
    rows = n // cols
    m, m3 = rng.random(n) < 0.5, rng.random(n) < 0.3
    i = rng.permutation(n)[: max(1, n // 3)] if n else np.zeros(0, np.int64)
    j = rng.integers(0, n, 2 * n + 1) if n else np.zeros(0, np.int64)
    h, c = _Ctx(), _Ctx()
    h.x, h.y, h.m, h.m3, h.i, h.j = bits(a), bits(b), m, m3, i, j
    h.yf = b
    h.x2, h.y2 = bits(a[: rows * cols]).reshape(rows, cols), bits(b[: rows * cols]).reshape(rows, cols)
    h.m2 = m[: rows * cols].reshape(rows, cols)
    h.x3 = bits(np.resize(a, 2 * 3 * max(n // 6, 1))).reshape(2, 3, -1)
    c.x, c.y, c.m, c.m3 = wt.tensor(a), wt.tensor(b), wt.tensor(m), wt.tensor(m3)
    c.i, c.j = wt.tensor(i.astype(np.int32)), wt.tensor(j.astype(np.int32))
    c.x2, c.y2, c.m2 = (wt.tensor(np.ascontiguousarray(v).view(np.float16) if v.dtype == np.uint16 else v)
                        for v in (h.x2, h.y2, h.m2))
    c.x3 = wt.tensor(h.x3.view(np.float16))
    c.snan = wt.tensor(np.array(0x7D55, np.uint16).view(np.float16))
    return c, h


@pytest.mark.parametrize("n", [1, 19, 257, 1025])
@pytest.mark.parametrize("row", [r[0] for r in F16_MOVES])
def test_float16_moves_keep_every_bit(rng, n, row):
    """Ops that only move float16 values keep every bit: NaN payloads (quiet,
    signalling, both signs), infinities, -0.0, subnormals. As in PyTorch (where is
    a select); a Python scalar is rounded to float16 first (NaN -> 0x7E00 / 0xFE00)."""
    wt_op, np_op = next(r[1:] for r in F16_MOVES if r[0] == row)
    c, h = _f16_contexts(rng, n)
    got = wt_op(c)
    assert got.dtype is wt.float16
    want = np.asarray(np_op(h), np.uint16)
    arr = got.numpy() if got.count is None else got.uncounted().numpy()[: int(got.count)]
    np.testing.assert_array_equal(bits(np.ascontiguousarray(arr)), want, err_msg=row)


@pytest.mark.parametrize("n", [1, 19, 257, 1025])
def test_float16_values_of_computing_ops_are_the_input_elements(rng, n):
    """Ops that pick an element by comparing (max/min with dim, cummax/cummin, topk,
    sort, kthvalue) return, as PyTorch does, values[i] = x[indices[i]]: a NaN result
    keeps the payload of the NaN at its index (the first NaN of a row for max/min,
    the latest NaN seen for cummax/cummin), never a canonical NaN."""
    c, h = _f16_contexts(rng, n)
    a = h.x.view(np.float16)
    a2 = h.x2.view(np.float16)
    for name, r in (("max", c.x2.max(1)), ("min", c.x2.min(1))):
        idx = r.indices.numpy()
        np.testing.assert_array_equal(bits(r.values.numpy()), h.x2[np.arange(len(idx)), idx], err_msg=name)
        nan_row = np.isnan(a2).any(1)
        first_nan = np.argmax(np.isnan(a2), 1)
        ext = (np.argmax if name == "max" else np.argmin)(np.nan_to_num(a2.astype(np.float64), nan=0,
                                                                        posinf=np.inf, neginf=-np.inf), 1)
        np.testing.assert_array_equal(idx[nan_row], first_nan[nan_row], err_msg=name)
        ok = ~nan_row
        np.testing.assert_array_equal(a2[ok, idx[ok]], a2[ok, ext[ok]], err_msg=name)
    for name, r in (("cummax", c.x.cummax(0)), ("cummin", c.x.cummin(0))):
        idx = r.indices.numpy()
        np.testing.assert_array_equal(bits(r.values.numpy()), h.x[idx], err_msg=name)
        want, cur = [], None   # PyTorch: isnan(x) || (!isnan(out) && x >= out)  (<= for cummin)
        for k, v in enumerate(a.astype(np.float64)):
            if cur is None or np.isnan(v) or (not np.isnan(a[cur]) and (v >= a[cur] if name == "cummax"
                                                                          else v <= a[cur])):
                cur = k
            want.append(cur)
        np.testing.assert_array_equal(idx, want, err_msg=name)
    k = max(1, n // 3)
    t = c.x.topk(k)
    np.testing.assert_array_equal(bits(t.values.numpy()), h.x[t.indices.numpy()])
    key = np.where(np.isnan(a), np.inf, a.astype(np.float64))
    nan_first = np.lexsort((-key, ~np.isnan(a)))   # NaN largest, then by value
    np.testing.assert_array_equal(np.sort(key[t.indices.numpy()]), np.sort(key[nan_first[:k]]))
    s = c.x.sort()
    np.testing.assert_array_equal(bits(s.values.numpy()), h.x[s.indices.numpy()])
    kth = c.x.kthvalue(max(1, n // 2))
    np.testing.assert_array_equal(bits(kth.values.numpy()), h.x[kth.indices.numpy()])
    # Computed, not moved: a full reduction's NaN is the canonical 0x7E00 (either
    # sign in); unique keeps one NaN, the first NaN of x (the sort is stable).
    nan = np.isnan(a)
    for t in (c.x.amax(), c.x.amin(), c.x.max(), c.x.min()):
        if nan.any():
            assert int(bits(t.numpy())) == 0x7E00
    u = bits(c.x.unique().numpy())
    if nan.any():
        assert u[-1] == h.x[np.argmax(nan)] and np.isnan(u.view(np.float16)).sum() == 1
    np.testing.assert_array_equal(np.sort(u[~np.isnan(u.view(np.float16))].view(np.float16)),
                                  np.unique(a[~nan]))


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

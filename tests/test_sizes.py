"""The sizes that break GPU code: empty, one element, workgroup edges, not a
multiple of 4, launches split over several storage bindings, 2-D dispatch grids
(cheaply, through override_limits) and one real tensor bigger than a binding."""
import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.ops import elementwise as E
from wgpu_tensor.runtime import override_limits
from conftest import DTYPES, SIZES, assert_same, rand_np


def _dispatches():
    return wt._get_device().dispatches


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_at_edge_sizes(rng, n, dtype):
    a, b = rand_np(rng, (n,), dtype, special=True), rand_np(rng, (n,), dtype, special=True)
    x, y = wt.tensor(a), wt.tensor(b)
    assert_same(x, a)
    assert_same(x < y, a < b)
    assert_same(x != y[:1] if n else x != y, a != b[:1] if n else a != b)
    if dtype is wt.bool:
        assert_same(x ^ y, a ^ b)
        assert_same(~x, ~a)
    else:
        with np.errstate(all="ignore"):
            assert_same(x + y, a + b)
            assert_same(x * 3, a * np.asarray(3, dtype.np))
    # an odd element offset: bool and float16 words start mid-word
    assert_same(x[1:].clone(), a[1:])
    assert_same(x[1:] == y[:-1] if n else x == y, a[1:] == b[:-1] if n else a == b)
    assert_same(wt.where(x > y, x, y), np.where(a > b, a, b))
    assert_same(wt.full((n,), 1, dtype=dtype), np.ones(n, dtype.np))


@pytest.mark.parametrize("n", SIZES)
def test_casts_at_edge_sizes(rng, n):
    a = rand_np(rng, (n,), wt.float32)
    x = wt.tensor(a)
    for dt in DTYPES:
        if dt is wt.uint32:
            continue
        assert_same(x.to(dt), a.astype(dt.np))
        assert_same(x[::2].to(dt), a[::2].astype(dt.np))


@pytest.mark.parametrize("n", [0, 1, 4, 5, 255, 256, 257, 1025])
def test_arange_and_random_at_edge_sizes(n):
    assert_same(wt.arange(n), np.arange(n, dtype=np.int32))
    r = wt.rand(n, seed=1).numpy()
    assert r.shape == (n,) and ((r >= 0) & (r < 1)).all()
    if n > 1:
        assert len(np.unique(r)) > n // 2


# ---------------------------------------------------------------- split launches, 2-D grids
LIMITS = [dict(max_binding=4096), dict(max_groups=7), dict(max_binding=4096, max_groups=7),
          dict(max_binding=1024, max_groups=3)]
LIMIT_IDS = ["binding4096", "groups7", "binding4096-groups7", "binding1024-groups3"]


@pytest.mark.parametrize("limits", LIMITS, ids=LIMIT_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_split_launches_with_strided_views(rng, limits, dtype):
    # 4,900 elements: over 4096 bytes even as bool, over 7 workgroups of 256 elements;
    # rows narrow enough that a column view's window fits the smallest binding.
    a = rand_np(rng, (700, 7), dtype, special=True)
    b = rand_np(rng, (7,), dtype, special=True)
    c = rand_np(rng, (700, 1), dtype, special=True)
    x, y, z = wt.tensor(a), wt.tensor(b), wt.tensor(c)
    with override_limits(**limits):
        n0 = _dispatches()
        assert_same(x > y, a > b)  # y broadcast along rows
        if "max_binding" in limits:
            assert _dispatches() - n0 > 1  # it really was split
        assert_same(x[::2, 1::3] <= z[::2], a[::2, 1::3] <= c[::2])
        assert_same(x[:, 0] == x[:, 5], a[:, 0] == a[:, 5])
        assert_same(y.unsqueeze(0).expand(700, 7) != x, np.broadcast_to(b, (700, 7)) != a)
        assert_same(wt.where(x < z, x, y), np.where(a < c, a, b))
        assert_same(x[3:].clone(), a[3:])
        assert_same(x[:, ::3].clone(), a[:, ::3])
        if dtype is wt.bool:
            assert_same(x & y, a & b)
            assert_same(~x[:, 1::2], ~a[:, 1::2])
        else:
            with np.errstate(all="ignore"):
                assert_same(x + y, a + b)
                assert_same(x[1::2] - z[1::2], a[1::2] - c[1::2])
                assert_same(-x[:, ::4], -a[:, ::4])
        # casts (of finite values: NaN/inf -> int is undefined in numpy)
        f = np.where(np.isfinite(a), a, 0).astype(a.dtype) if dtype.kind == "f" else a
        xf = wt.tensor(f)
        for dt in DTYPES:
            if dt is wt.uint32 and dtype.kind in "if":
                continue
            assert_same(xf[::3].to(dt), f[::3].astype(dt.np))
    # the limits come back
    info = wt.device_info()
    assert info["max_storage_binding_size"] > 4096 and info["max_workgroups_per_dimension"] > 7


@pytest.mark.parametrize("n", [12543, 12544, 12545, 30001])
def test_two_d_grid_boundaries(rng, n):
    # 7 x 7 workgroups of 256 elements cover 12544: go past it (more launches) and stop
    # one short of a full grid (trailing workgroups of the grid must do nothing).
    a = rng.standard_normal(n).astype(np.float32)
    x = wt.tensor(a)
    with override_limits(max_groups=7):
        assert_same(x > 0, a > 0)
        assert_same(x[1:] * x[:-1], a[1:] * a[:-1])
        assert_same(x.half(), a.astype(np.float16))
        assert_same((x > 0)[3:].clone(), (a > 0)[3:])


def test_thin_strided_view_over_small_binding_is_a_clear_error(rng):
    a = rng.standard_normal((64, 1000)).astype(np.float32)
    x = wt.tensor(a)
    with override_limits(max_binding=4096):
        col = x[:, 7]  # 64 elements 4000 bytes apart: no 32-element window fits 4096 bytes
        with pytest.raises(ValueError, match="storage binding"):
            col > 0
    assert_same(x[:, 7] > 0, a[:, 7] > 0)  # fine with the real limits
    assert_same(x, a)


# ---------------------------------------------------------------- bigger than one binding
@pytest.mark.slow
def test_tensor_bigger_than_a_storage_binding(big_binding, monkeypatch):
    """2**25 + 1000 float32 (134 MB) over a 128 MiB storage binding (lavapipe's
    own, pretended exactly so the counts below follow from that constant, not
    from the adapter): one compare, one add, each as two launches, the first of
    131,072 workgroups on a 2-D grid (over 65,535 per dimension)."""
    dev = wt._get_device()
    n = 2 ** 25 + 1000
    rng = np.random.default_rng(0)
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    x, y = wt.tensor(a), wt.tensor(b)
    per_launch = big_binding // 4                      # float32 elements in one binding
    launches = -(-n // per_launch)
    assert launches == 2
    monkeypatch.setattr(E, "LAZY", False)  # the compare runs at once (not a lazy mask)
    with dev.record_commands() as log:
        m = x > y
        s = x + y
    ran = [c for c in log if c.kind == "dispatch"]
    assert [c.name for c in ran] == ["elementwise"] * 2 * launches
    assert [c.params["EXPR"] for c in ran] == ["a > b"] * launches + ["a + b"] * launches
    for op, out, isz in ((ran[:launches], m, 1), (ran[launches:], s, 4)):
        for i, c in enumerate(op):
            lo, hi = i * per_launch, min(n, (i + 1) * per_launch)
            assert c.bindings[0] == (out._v._buf.uid, lo * isz, (hi - lo) * isz), c.bindings[0]
            assert c.bindings[1] == (x._v._buf.uid, lo * 4, (hi - lo) * 4), c.bindings[1]
            assert c.bindings[2] == (y._v._buf.uid, lo * 4, (hi - lo) * 4), c.bindings[2]
            assert c.groups * 4 * c.params["WG"] >= hi - lo
        assert op[0].grid[1] > 1 and op[0].groups > 65535  # a 2-D grid
    got = m.numpy()
    assert got.shape == (n,)
    np.testing.assert_array_equal(got, a > b)
    np.testing.assert_array_equal(s.numpy(), a + b)


# ---------------------------------------------------------------- the same numbers everywhere
def _pcg(v):
    """shaders/elementwise.wgsl's pcg hash in numpy (uint32, wrapping)."""
    v = np.asarray(v, np.uint32)
    with np.errstate(over="ignore"):
        s = v * np.uint32(747796405) + np.uint32(2891336453)
        w = ((s >> ((s >> np.uint32(28)) + np.uint32(4))) ^ s) * np.uint32(277803737)
    return (w >> np.uint32(22)) ^ w


def _rand_bits(n, seed, stream):
    gi = np.arange(n, dtype=np.uint32)
    with np.errstate(over="ignore"):
        return _pcg(_pcg(gi ^ _pcg(np.uint32(seed))) + np.uint32((stream * 0x9E3779B9) & 0xFFFFFFFF))


def np_rand(n, seed):
    return (_rand_bits(n, seed, 0) >> np.uint32(8)).astype(np.float32) * np.float32(1 / 16777216)


def np_randint(n, seed, low, high):
    return (np.int64(low) + (_rand_bits(n, seed, 0) % np.uint32(high - low)).astype(np.int64)).astype(np.int32)


def np_randn(n, seed):
    """The Box-Muller transform of the shader in float64: the GPU's f32 log, sqrt
    and cos may differ from it in the last bits, never more."""
    u1 = ((_rand_bits(n, seed, 1) >> np.uint32(8)).astype(np.float64) + 1) / 16777216
    u2 = (_rand_bits(n, seed, 2) >> np.uint32(8)).astype(np.float64) / 16777216
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


RANDOM_CASES = {  # name: (make, shape)
    "rand": (lambda shape: wt.rand(*shape, seed=7), (170, 173)),
    "rand-f16": (lambda shape: wt.rand(*shape, seed=7, dtype=wt.float16), (170, 173)),
    "randn": (lambda shape: wt.randn(*shape, seed=8), (170, 173)),
    "randint": (lambda shape: wt.randint(-1000, 2 ** 31 - 1, shape, seed=9), (30011,)),
}
RANDOM_N = 170 * 173
# 29,410 elements: two launches or more under a 64 KiB binding, each of over 7 workgroups
RANDOM_LIMITS = [dict(max_binding=65536), dict(max_groups=7), dict(max_binding=65536, max_groups=7),
                 dict(max_binding=1024, max_groups=3)]
RANDOM_LIMIT_IDS = ["binding64K", "groups7", "binding64K-groups7", "binding1024-groups3"]


def _random_values():
    return {k: make(shape).numpy() for k, (make, shape) in RANDOM_CASES.items()}


def test_seeded_random_matches_its_definition():
    """rand and randint bit for bit against the hash in numpy; randn close to
    it (its log, sqrt and cos are the adapter's)."""
    got = _random_values()
    n = RANDOM_N
    np.testing.assert_array_equal(got["rand"].ravel(), np_rand(n, 7))
    np.testing.assert_array_equal(got["rand-f16"].ravel(), np_rand(n, 7).astype(np.float16))
    np.testing.assert_array_equal(got["randint"], np_randint(30011, 9, -1000, 2 ** 31 - 1))
    # WGSL bounds cos to 2**-11 absolute error (times a radius under 6 here);
    # lavapipe's is within 2e-5 (measured over 2**20 values)
    atol = 1e-4 if wt._get_device().is_lavapipe else 6 * 2 ** -11
    np.testing.assert_allclose(got["randn"].ravel(), np_randn(n, 8), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("limits", RANDOM_LIMITS, ids=RANDOM_LIMIT_IDS)
def test_seeded_random_is_the_same_under_every_split(limits):
    """The same seed gives the same numbers, bit for bit, whatever the launches:
    several storage bindings, 2-D grids, both. The splits must really happen."""
    want = _random_values()
    dev = wt._get_device()
    with override_limits(**limits), dev.record_commands() as log:
        got = _random_values()
    launches = [c for c in log if c.kind == "dispatch"]
    if "max_binding" in limits:
        assert len(launches) >= 2 * len(RANDOM_CASES), "no op was split over several bindings"
    if limits.get("max_groups") == 7:
        assert any(c.grid[1] > 1 for c in launches), "no 2-D grid"
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


_OTHER_ADAPTER = r"""
import sys, numpy as np, wgpu_tensor as wt
sys.path.insert(0, sys.argv[1])
from test_sizes import _random_values
info = wt.device_info()
np.savez(sys.argv[2], backend=info["backend"], name=info["name"], **_random_values())
"""


def test_seeded_random_is_the_same_on_the_opengl_adapter(tmp_path):
    """The same seed gives the same numbers on another adapter: wgpu's OpenGL
    backend (Mesa's llvmpipe through GL, present beside lavapipe on the CI
    machine; required there) in a child process, against this process's adapter."""
    import os
    import subprocess
    import sys
    here = wt.device_info()
    if here["backend"] == "OpenGL":
        pytest.skip("this process already runs on the OpenGL adapter")
    out = tmp_path / "other.npz"
    env = dict(os.environ, WGPU_BACKEND_TYPE="OpenGL")
    r = subprocess.run([sys.executable, "-c", _OTHER_ADAPTER, os.path.dirname(__file__), str(out)],
                       env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "no WebGPU adapter" in r.stderr + r.stdout:
        msg = "no OpenGL adapter here (Mesa's GL driver: libegl-mesa0 libgl1-mesa-dri)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI runs both adapters")
        pytest.skip(msg)
    assert r.returncode == 0, r.stderr[-3000:]
    other = np.load(out)
    assert str(other["backend"]) == "OpenGL" and here["backend"] != "OpenGL"
    mine = _random_values()
    for k in mine:
        np.testing.assert_array_equal(other[k], mine[k], err_msg=k)

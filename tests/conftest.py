"""Shared set-up for the test suite: a quiet Mesa, the CI adapter check, and
helpers that make random numpy data of every wgpu_tensor dtype."""
import os
import tempfile
import zlib

if not os.environ.get("XDG_RUNTIME_DIR"):
    # Mesa prints 'XDG_RUNTIME_DIR is invalid' on every adapter request without it.
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="wgpu_tensor_tests_")

import numpy as np
import pytest

try:
    from hypothesis import settings
    settings.register_profile("wgpu_tensor", deadline=None, max_examples=40, derandomize=True)
    settings.load_profile("wgpu_tensor")
except ImportError:  # pragma: no cover
    pass

import wgpu_tensor as wt

DTYPES = [wt.bool, wt.int32, wt.uint32, wt.float16, wt.float32]
NUMERIC = [wt.int32, wt.uint32, wt.float16, wt.float32]
# Sizes that break GPU code: empty, one element, a workgroup (64 invocations x 4
# elements = 256) and neighbours, not a multiple of 4.
SIZES = [0, 1, 2, 3, 5, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4099]


@pytest.fixture(scope="session", autouse=True)
def _adapter_is_lavapipe_in_ci():
    if os.environ.get("CI"):
        name = wt.device_info()["name"]
        assert "llvmpipe" in name.lower(), f"CI must run on lavapipe, got adapter {name!r}"
    yield


@pytest.fixture(params=["subgroups", "workgroup-memory"])
def scan_path(request):
    """Run a test on the subgroup scan and on the workgroup-memory scan."""
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    want = request.param == "subgroups"
    if want and not dev.use_subgroups:
        pytest.skip("adapter has no usable subgroups")
    old = dev.use_subgroups
    dev.use_subgroups = want
    yield request.param
    dev.use_subgroups = old


@pytest.fixture
def rng(request):
    # A seed per test, stable across runs, so a failure reproduces.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def rand_np(rng, shape, dtype, *, special=False):
    """Random numpy data of a wgpu_tensor dtype. Small integers repeat, so that
    == and != see both outcomes; ``special`` mixes NaN, +-inf and -0.0 into floats."""
    shape = tuple(shape)
    if dtype is wt.bool:
        return rng.random(shape) < 0.5
    if dtype is wt.int32:
        return rng.integers(-6, 7, shape).astype(np.int32)
    if dtype is wt.uint32:
        return rng.integers(0, 13, shape).astype(np.uint32)
    a = np.asarray(rng.integers(-12, 13, shape) / 4, dtype.np)  # exact in float16 too
    if special and a.size:
        pick = rng.random(shape)
        a[pick < 0.05] = np.nan
        a[(pick >= 0.05) & (pick < 0.08)] = np.inf
        a[(pick >= 0.08) & (pick < 0.11)] = -np.inf
        a[(pick >= 0.11) & (pick < 0.14)] = -0.0
    return a


def assert_same(t, expected, *, rtol=0.0, atol=0.0):
    """``t`` (a Tensor) has ``expected``'s shape, numpy dtype and values (NaN == NaN)."""
    assert isinstance(t, wt.Tensor)
    expected = np.asarray(expected)
    got = t.numpy()
    assert t.shape == expected.shape, (t.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if rtol or atol:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)

"""Shared set-up for the test suite: a quiet Mesa, the CI adapter check, and
helpers that make random numpy data of every wgpu_tensor dtype.

With CI set (``.ci/run`` exports CI=true) the suite first asserts the adapter
facts it relies on, so that a change of adapter, a failed subgroup probe or a
smaller binding fails loudly instead of quietly dropping paths from the matrix."""
import contextlib
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


IN_CI = bool(os.environ.get("CI"))
# CI runs the suite twice: on lavapipe (Vulkan, the full suite) and a subset on
# wgpu's OpenGL backend over llvmpipe (scripts/test-gl.sh sets WGPU_BACKEND_TYPE).
# The adapter check and require_subgroups follow that variable, so only the GL run
# may lack subgroups: if they vanish on the lavapipe run, it still fails.
CI_GL = os.environ.get("WGPU_BACKEND_TYPE", "").lower() == "opengl"

# What the suite assumes of the CI adapter, lavapipe (Mesa's llvmpipe on Vulkan):
# the subgroup probe passes (so both scan paths and the one-pass subgroup kernel
# run), 8-lane subgroups (256-bit LLVM vectors of 32-bit lanes), and a storage
# binding of at least BIG_BINDING bytes. The big-size tests pretend the binding is
# exactly BIG_BINDING (override_limits), so their expected segment, window and
# launch counts follow from that constant, not from the adapter.
CI_SUBGROUP_SIZE = 8
BIG_BINDING = 1 << 27  # 128 MiB: lavapipe's own max-storage-buffer-binding-size


def ci_adapter_problems(dev, gl=False):
    """The ways ``dev`` differs from the adapter the suite assumes under CI (with
    ``gl``: wgpu's OpenGL backend over llvmpipe, which has no subgroups)."""
    info = dev.info()
    bad = []
    if gl:
        if "llvmpipe" not in info["name"].lower():
            bad.append(f"the CI GL run must run on llvmpipe, got adapter {info['name']!r}")
        if info["backend"] != "OpenGL":
            bad.append(f"the CI GL run must run on OpenGL, got backend {info['backend']!r}")
        return bad
    if "llvmpipe" not in info["name"].lower():
        bad.append(f"CI must run on lavapipe, got adapter {info['name']!r}")
    if info["backend"] != "Vulkan":
        bad.append(f"CI must run on Vulkan (lavapipe), got backend {info['backend']!r}")
    if not dev.has_subgroups:
        bad.append("the adapter has no 'subgroup' feature (or WGPU_TENSOR_SUBGROUPS=0 is set): "
                   "the subgroup scan paths would be skipped")
    elif not dev.use_subgroups:
        bad.append("the subgroup probe failed: the subgroup scans and lavapipe's one-pass "
                   "kernel would not run")
    if dev.subgroup_size != CI_SUBGROUP_SIZE:
        bad.append(f"subgroup size {dev.subgroup_size}, expected {CI_SUBGROUP_SIZE}")
    if dev.max_binding < BIG_BINDING:
        bad.append(f"max storage binding {dev.max_binding} bytes, under the {BIG_BINDING} the "
                   "big-size tests assume")
    return bad


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a big-size test (seconds each); runs in CI too")


@pytest.fixture(scope="session", autouse=True)
def _adapter_facts_in_ci():
    if IN_CI:
        from wgpu_tensor.runtime import get_device
        bad = ci_adapter_problems(get_device(), gl=CI_GL)
        assert not bad, "CI adapter check: " + "; ".join(bad)
    yield


def require_subgroups(what="this test"):
    """Skip when the adapter has no usable subgroups; under CI fail instead (the
    CI adapter has them, so their absence is a regression, not a skip), except on
    the CI's OpenGL run, whose adapter has none."""
    from wgpu_tensor.runtime import get_device
    if not get_device().use_subgroups:
        msg = f"{what} needs the subgroup path, and the adapter has no usable subgroups"
        if IN_CI and not CI_GL:
            pytest.fail(msg)
        pytest.skip(msg)


@contextlib.contextmanager
def no_gpu_work(allocs=0):
    """Assert that the block records nothing at all on the device: no dispatch,
    clear, copy, upload or read, and no buffer allocated (new or from the pool).
    Work recorded before the block is flushed first. Yields the
    command log. ``allocs``: exactly that many allocations and nothing else (a
    known gap, stated where it is used, so that closing it shows here)."""
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    dev.flush()
    before = dev.counters()
    with dev.record_commands() as log:
        yield log
    after = dev.counters()
    assert [c.kind for c in log] == ["alloc"] * allocs, f"GPU work was recorded: {log[:4]}"
    assert after["alloc"] + after["pool_hit"] - before["alloc"] - before["pool_hit"] == allocs
    assert dict(after, alloc=0, pool_hit=0) == dict(before, alloc=0, pool_hit=0), (before, after)


@pytest.fixture
def big_binding():
    """Pretend the storage binding is exactly BIG_BINDING bytes (see above); skip
    on an adapter whose binding is smaller (under CI the session check fails)."""
    from wgpu_tensor.runtime import get_device, override_limits
    if get_device().max_binding < BIG_BINDING:
        pytest.skip(f"the adapter's storage binding is under {BIG_BINDING} bytes")
    with override_limits(max_binding=BIG_BINDING, max_groups=65535):
        yield BIG_BINDING


@pytest.fixture(params=["subgroups", "workgroup-memory"])
def scan_path(request):
    """Run a test on the subgroup scan and on the workgroup-memory scan."""
    from wgpu_tensor.runtime import get_device
    dev = get_device()
    want = request.param == "subgroups"
    if want:
        require_subgroups("the subgroup scan path")
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

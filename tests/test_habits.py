"""PyTorch habits that ported code relies on, and indexing edges, against numpy (whose
indexing rules PyTorch follows) or PyTorch's documented behaviour."""
import copy
import pickle
import warnings

import numpy as np
import pytest

import wgpu_tensor as wt
from conftest import DTYPES, assert_same, rand_np, no_gpu_work


# ---------------------------------------------------------------- indexing edges
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", [True, False, (Ellipsis, True), (True, Ellipsis), (0, True), (slice(None), False),
                                 (True, 1), (None, True, 0)])
def test_python_bools_are_new_dims(rng, dtype, key):
    a = rand_np(rng, (3, 4), dtype)
    assert_same(wt.tensor(a)[key], a[key])


def test_bools_on_0d_and_in_assignment(rng):
    s = np.float32(3.0)
    assert_same(wt.tensor(s)[True], np.asarray(s)[True])
    assert_same(wt.tensor(s)[False], np.asarray(s)[False])
    a = rand_np(rng, (3, 2), wt.float32)
    x = wt.tensor(a)
    x[True] = 5.0                                            # every element, as numpy
    b = a.copy()
    b[True] = 5.0
    assert_same(x, b)
    x[False] = 7.0                                           # nothing
    assert_same(x, b)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_one_tuple_advanced_index_and_empty_list(rng, n):
    a = rand_np(rng, (n + 2, 3), wt.float32)
    x = wt.tensor(a)
    assert_same(x[[0, 1],], a[[0, 1],])
    m = a[:, 0] > 0
    assert_same(x[wt.tensor(m),], a[m,])
    assert_same(x[[]], a[np.array([], np.int64)])
    assert_same(x[np.array([], np.int64)], a[np.array([], np.int64)])


def test_float_index_is_an_index_error():
    x = wt.tensor([1.0, 2.0])
    with no_gpu_work(), pytest.raises(IndexError, match="valid indices"):
        x[1.5]
    with no_gpu_work(), pytest.raises(IndexError, match="valid indices"):
        x[(1.0,)]


def test_empty_views_are_contiguous_and_del_is_a_type_error():
    x = wt.zeros(4, 3)
    assert x[0:0].is_contiguous() and x[:, 0:0].is_contiguous() and x[::2][0:0].is_contiguous()
    with pytest.raises(TypeError, match="item deletion"):
        del x[0]


@pytest.mark.parametrize("value", [[10.0, 20.0], np.array([10.0, 20.0], np.float32), (10, 20)])
def test_mask_assignment_takes_lists_and_arrays(value):
    x = wt.tensor([1.0, 2.0, 3.0])
    x[wt.tensor([True, False, True])] = value
    assert x.tolist() == [10.0, 2.0, 20.0]
    y = wt.zeros(2, 2)
    y[[0, 1]] = [[1.0, 2.0], [3.0, 4.0]]
    assert y.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_assigning_a_value_that_requires_grad_raises_before_gpu_work():
    w = wt.tensor([1.0, 2.0], requires_grad=True)
    z = wt.zeros(2, 2)
    with no_gpu_work(), pytest.raises(RuntimeError, match="not differentiable"):
        z[:, 0] = w
    z[:, 0] = w.detach()
    assert z.tolist() == [[1.0, 0.0], [2.0, 0.0]]
    with wt.no_grad():
        z[:, 1] = w
    assert z.tolist() == [[1.0, 1.0], [2.0, 2.0]]


# ---------------------------------------------------------------- where(cond), nonzero(as_tuple=True)
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 4), (2, 3, 2), ()])
def test_where_with_one_argument_and_nonzero_as_tuple(rng, shape):
    c = rng.random(shape) < 0.5
    before = wt.sync_count()
    got = wt.where(wt.tensor(c))
    assert wt.sync_count() == before + 1                     # the one explicit read of the count
    want = np.nonzero(np.atleast_1d(c)) if c.ndim == 0 else np.nonzero(c)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g, w.astype(np.int32))
    for g, w in zip(wt.nonzero(wt.tensor(c), as_tuple=True), want):
        assert_same(g, w.astype(np.int32))
    with pytest.raises(TypeError, match="condition alone"):
        wt.where(wt.tensor(c), 1.0)


# ---------------------------------------------------------------- devices
def test_device_idioms_of_ported_code():
    x = wt.tensor([1.5, -2.0])
    assert x.to("cuda") is x and x.cuda() is x and x.cpu() is x and x.to(x.device) is x
    assert x.to("cuda:0") is x and x.to("cpu").numpy().tolist() == [1.5, -2.0]
    assert x.to("cpu", wt.int32).tolist() == [1, -2]
    assert x.to(wt.tensor([1])).dtype is wt.int32            # to(other): other's dtype
    assert x.to(dtype=wt.float16).dtype is wt.float16
    assert wt.zeros(2, device="cuda").tolist() == [0.0, 0.0]
    assert wt.ones(1, device="cpu").tolist() == [1.0]
    assert wt.tensor([1], device=x.device).tolist() == [1]
    assert x.is_cuda is False
    with pytest.raises(ValueError, match="one WebGPU adapter"):
        wt.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="one WebGPU adapter"):
        x.cuda(device="tpu")


# ---------------------------------------------------------------- small habits
def test_data_new_tensors_format_round():
    x = wt.tensor([1.5, -2.0, 4.0], requires_grad=True)
    assert x.data.requires_grad is False and x.data.tolist() == [1.5, -2.0, 4.0]
    assert x.new_zeros(2).tolist() == [0.0, 0.0] and x.new_zeros(2).dtype is wt.float32
    assert x.new_ones((2, 1)).shape == (2, 1)
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert x.new_empty(3).shape == (3,)
    assert x.new_tensor([1, 2]).dtype is wt.float32 and x.new_tensor([1, 2]).tolist() == [1.0, 2.0]
    i = wt.tensor([1, 2])
    assert i.new_zeros(2).dtype is wt.int32
    loss = (x * x).sum()
    assert f"{loss:.4f}" == "22.2500" and f"{wt.tensor(3):d}" == "3"
    assert format(wt.tensor([1.0, 2.0])) == repr(wt.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="one-element"):
        f"{wt.tensor([1.0, 2.0]):.2f}"
    assert_same(round(wt.tensor(2.5)), np.asarray(np.float32(2.0)))           # half to even
    assert_same(round(wt.tensor([2.567, -1.234]), 2), np.array([2.57, -1.23], np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_deepcopy_and_pickle_through_host_data(rng, dtype):
    a = rand_np(rng, (3, 5), dtype)
    x = wt.tensor(a)
    for y in (copy.deepcopy(x), pickle.loads(pickle.dumps(x)), copy.copy(x)):
        assert y is not x and y._v._buf is not x._v._buf
        assert_same(y, a)
    g = wt.tensor([1.0, 2.0], requires_grad=True)
    assert copy.deepcopy(g).requires_grad and pickle.loads(pickle.dumps(g)).requires_grad


def test_numpy_reductions_and_numpy_masks(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    x = wt.tensor(a)
    np.testing.assert_allclose(np.sum(x).item(), a.sum(), rtol=1e-5)
    np.testing.assert_allclose(np.mean(x).item(), a.mean(), rtol=1e-5)
    np.testing.assert_allclose(np.sum(x, axis=0).numpy(), a.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.mean(x, axis=1).numpy(), a.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.sum(axis=1).numpy(), a.sum(1), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="not both"):
        x.sum(0, axis=1)
    m = a > 0
    assert x.masked_select(m).tolist() == a[m].tolist()
    assert wt.masked_select(x, m).tolist() == a[m].tolist()


def test_64_bit_requests_map_to_32_bits_with_one_warning():
    from wgpu_tensor import dtypes as D
    D._WARNED_64.clear()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert wt.tensor([1, 2], dtype="int64").dtype is wt.int32
        assert wt.tensor([1.5], dtype=np.float64).dtype is wt.float32
        assert wt.tensor([1.5]).long().tolist() == [1]
        assert wt.tensor([1]).double().dtype is wt.float32
        assert wt.zeros(2, dtype=np.int64).dtype is wt.int32
    assert len([x for x in w if "64-bit" in str(x.message)]) == 1     # one warning per process
    with pytest.raises(OverflowError):
        wt.tensor(np.array([2 ** 40], np.int64))


# ---------------------------------------------------------------- mixed advanced indexing
def _np_key(key):
    return tuple(v.numpy() if isinstance(v, wt.Tensor) else v for v in key)


def _keys(rng):
    idx = wt.tensor(np.array([2, 0, 1], np.int32))          # no duplicates: assignment order is free
    cm = wt.tensor(rng.random(6) < 0.5)
    rm = wt.tensor(np.array([True, False, True]))
    return [(slice(None), cm), (rm, slice(0, 2)), (idx, 1), (idx, wt.tensor(np.array([0, 5, -1], np.int32))),
            (Ellipsis, wt.tensor(np.array([4, 0], np.int32))), (slice(None), wt.tensor(np.array([[0, 3], [1, 2]]))),
            (idx, slice(None), wt.tensor(np.array([0, 1, 3], np.uint32))), (1, slice(None), [0, 4]),
            ([0, 2], Ellipsis, 3), (slice(None), -1, wt.tensor(np.array([-1, 0], np.int32))),
            (None, idx, slice(1, 3)), (rm, None, wt.tensor(np.array([0, 5], np.int32)))]


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_advanced_indexing_reads_like_numpy(rng, dtype):
    a = rand_np(rng, (3, 6, 5), dtype)
    x = wt.tensor(a)
    for key in _keys(rng):
        assert_same(x[key], a[_np_key(key)])
    t, at = x.transpose(0, 2), a.transpose(2, 1, 0)            # a strided view
    for key in _keys(rng)[2:6]:
        k = tuple(v if not isinstance(v, int) else min(v, 2) for v in key[:2])
        assert_same(t[k[:1] + (slice(1, 3),)], at[_np_key(k[:1]) + (slice(1, 3),)])


@pytest.mark.parametrize("dtype", [wt.float32, wt.int32, wt.float16, wt.bool])
def test_mixed_advanced_indexing_assignment_like_numpy(rng, dtype):
    a = rand_np(rng, (3, 6, 5), dtype)
    for key in _keys(rng):
        nk = _np_key(key)
        want = a.copy()
        shape = want[nk].shape
        v = rand_np(rng, shape, dtype)
        want[nk] = v
        x = wt.tensor(a)
        x[key] = wt.tensor(v)
        assert_same(x, want)
        want2 = a.copy()
        want2[nk] = 1
        x = wt.tensor(a)
        x[key] = 1
        assert_same(x, want2)


def test_mixed_advanced_indexing_gradient_and_errors(rng):
    a = rng.standard_normal((3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    p = wt.tensor(a, requires_grad=True)
    idx = np.array([2, 0, 2, 1])
    (p[wt.tensor(idx.astype(np.int32)), 3] * wt.tensor(w)).sum().backward()
    want = np.zeros_like(a)
    np.add.at(want, (idx, 3), w)                              # duplicates accumulate
    np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-6)
    x = wt.tensor(a)
    with pytest.raises(IndexError, match="out of bounds"):
        x[wt.tensor(np.array([0, 3], np.int32)), 1]
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, 6, wt.tensor(np.array([0], np.int32))]
    with no_gpu_work(), pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0, [0]]
    with no_gpu_work(), pytest.raises(IndexError, match="integer or bool"):
        x[:, [0.5]]


# ---------------------------------------------------------------- error messages of the trial
def test_error_messages_name_what_is_wrong():
    x = wt.zeros(3, 4)
    with no_gpu_work(), pytest.raises(TypeError, match=r"operand of type ndarray \(\(3, 4\)\): wrap it with wt.tensor") as e:
        x + np.ones((3, 4))
    assert "1., 1." not in str(e.value)                      # the array is not printed
    with pytest.raises(TypeError, match="unsupported scalar 'aaaa.*\\.\\.\\. of type str"):
        x + "a" * 100                                        # long values are cut
    with no_gpu_work(), pytest.raises(RuntimeError, match="got int32 \\(pass float data"):
        wt.tensor([1, 2], requires_grad=True)


def test_a_device_that_fails_to_open_gets_the_install_hint(monkeypatch):
    import wgpu
    from wgpu_tensor.runtime import device as device_module

    class Adapter:
        limits = {}
        features = set()
        info = {"device": "broken"}

        def request_device_sync(self, **kw):
            raise RuntimeError("driver said no")

    monkeypatch.setattr(wgpu.gpu, "request_adapter_sync", lambda **kw: Adapter())
    with pytest.raises(RuntimeError, match="mesa-vulkan-drivers.*'broken' was found, but opening a device on it "
                                           "failed: driver said no"):
        device_module.Device()


def test_as_tensor_is_tensor_and_float64_range():
    x = wt.tensor([1.0, 2.0])
    assert wt.as_tensor(x) is x and wt.as_tensor(x, dtype=wt.float32) is x
    assert wt.as_tensor(x, dtype=wt.int32).tolist() == [1, 2]
    assert wt.as_tensor([1, 2]).tolist() == [1, 2] and wt.as_tensor(np.ones(2)).dtype is wt.float32
    assert wt.is_tensor(x) and not wt.is_tensor(np.ones(2)) and not wt.is_tensor(1.0)
    with no_gpu_work(), pytest.raises(OverflowError, match="does not fit float32"):
        wt.tensor(1e300)
    with no_gpu_work(), pytest.raises(OverflowError, match="does not fit float32"):
        wt.tensor(np.array([1.0, -1e39]))
    assert np.isinf(wt.tensor(np.array([np.inf, 1.0])).numpy()[0])   # inf itself is a float32 value

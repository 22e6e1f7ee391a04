"""Shape ops against numpy: the views (transpose, swapaxes, permute, t, .T, .mT, movedim,
unflatten, diagonal, narrow, split, chunk), the copies (cat, stack, flip, roll,
repeat_interleave) and flatten, tril/triu as methods. Every dtype, sizes around the
workgroup, strided and expanded inputs, views sharing storage, gradients against finite
differences of the numpy reference, bindings and grids too small for one launch, bad
input before any GPU work, and no host read."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device, override_limits

from conftest import DTYPES, assert_same, no_gpu_work, rand_np

SIZES = [0, 1, 3, 63, 64, 65, 255, 256, 257, 1025]


def T(a):
    t = wt.from_numpy(np.asarray(a))
    assert t.dtype.np == np.asarray(a).dtype
    return t


def variants(rng, shape, dtype):
    """(numpy array, tensor) pairs of one logical value: contiguous, a strided view
    (every other column of a wider tensor), a transposed view and an expanded view."""
    a = rand_np(rng, shape, dtype)
    out = [(a, T(a))]
    if len(shape) >= 1:
        wide = rand_np(rng, shape[:-1] + (2 * shape[-1],), dtype)
        wide[..., ::2] = a
        out.append((a, T(wide)[..., ::2]))
        tr = np.ascontiguousarray(np.swapaxes(a, 0, -1))
        out.append((a, T(tr).transpose(0, -1)))
        row = rand_np(rng, (1,) + shape[1:], dtype)
        out.append((np.broadcast_to(row, shape), T(row).expand(*shape)))
    return out


# Result dtype of cat over two dtypes: PyTorch's promotion (int32 with uint32: int32).
ORDER = {wt.bool: 0, wt.int32: 1, wt.uint32: 1, wt.float16: 2, wt.float32: 3}


def promoted(a, b):
    if a is b:
        return a
    if ORDER[a] != ORDER[b]:
        return a if ORDER[a] > ORDER[b] else b
    return wt.int32


def fd_grad(f, x, g, h=0.5):
    """d sum(g * f(x)) / dx by central differences in float64 numpy (the shape ops are
    linear, so a big step is exact and the result is the adjoint of f applied to g)."""
    x = np.asarray(x, np.float64)
    out = np.zeros_like(x)
    flat = out.reshape(-1)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        flat[i] = (np.sum(g * f(x + e)) - np.sum(g * f(x - e))) / (2 * h)
    return out


def check_grad(rng, wt_f, np_f, shapes, dtype=wt.float32):
    """Gradients of sum(G * wt_f(*xs)) against fd_grad of np_f, for each input."""
    xs = [rand_np(rng, s, dtype) for s in shapes]
    ts = [T(x).requires_grad_() for x in xs]
    y = wt_f(*ts)
    ref = np_f(*[x.astype(np.float64) for x in xs])
    assert y.shape == ref.shape
    g = rand_np(rng, ref.shape, dtype)
    y.backward(T(g))
    for i, x in enumerate(xs):
        def fi(v, i=i):
            args = [a.astype(np.float64) for a in xs]
            args[i] = v
            return np_f(*args)
        exp = fd_grad(fi, x, g.astype(np.float64))
        assert ts[i].grad is not None, f"no gradient for input {i}"
        np.testing.assert_allclose(ts[i].grad.numpy().astype(np.float64), exp, rtol=1e-3, atol=1e-3)


def same_storage(v, base):
    return v._v._buf is base._v._buf


# ---------------------------------------------------------------- views
@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_permute_t_T_mT_movedim(rng, dtype):
    for a, x in variants(rng, (3, 4, 5), dtype):
        with no_gpu_work():                                   # views: metadata only
            views = [x.transpose(0, 2), wt.transpose(x, -1, 1), x.swapaxes(0, 1), wt.swapdims(x, 2, 0),
                     x.permute(2, 0, 1), wt.permute(x, (1, 2, 0)), x.permute([-1, -2, -3]), x.T, x.mT,
                     x.movedim(0, 2), wt.movedim(x, (0, 1), (2, 0)), x.moveaxis(-1, 0)]
        exps = [np.swapaxes(a, 0, 2), np.swapaxes(a, -1, 1), np.swapaxes(a, 0, 1), np.swapaxes(a, 2, 0),
                a.transpose(2, 0, 1), a.transpose(1, 2, 0), a.transpose(2, 1, 0), a.transpose(2, 1, 0),
                np.swapaxes(a, -1, -2), np.moveaxis(a, 0, 2), np.moveaxis(a, (0, 1), (2, 0)),
                np.moveaxis(a, -1, 0)]
        for v, e in zip(views, exps):
            assert same_storage(v, x)
            assert_same(v, e)
    m = rand_np(rng, (4, 7), dtype)
    assert_same(T(m).t(), m.T)
    assert_same(wt.t(T(m)[:, ::3]), m[:, ::3].T)
    v = rand_np(rng, (5,), dtype)
    assert_same(T(v).t(), v)
    assert_same(T(v).T, v)
    assert_same(T(m).T, m.T)
    s = rand_np(rng, (), dtype)
    assert_same(T(s).t(), s)
    assert_same(T(s).T, s)
    assert_same(T(s).transpose(0, -1), s)                    # 0-d: dims 0 and -1 allowed
    assert_same(T(v).transpose(0, 0), v)


@pytest.mark.parametrize("n", SIZES)
def test_transposed_views_at_sizes(rng, n):
    a = rand_np(rng, (n, 3), wt.float32)
    x = T(a)
    assert_same(x.T.contiguous(), np.ascontiguousarray(a.T))
    assert_same(x.T.flatten(), a.T.reshape(-1))
    assert_same(x.T * 2, a.T * 2)


def test_writing_through_views_changes_the_base():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = T(a.copy())
    x.transpose(0, 2)[1, 2, 0] = -1.0                        # a[0, 2, 1]
    x.permute(2, 0, 1)[3] = -2.0                              # a[:, :, 3]
    x.T[0, 0, 1] = -3.0                                       # a[1, 0, 0]
    x.mT[0, 3, 0] = -4.0                                      # a[0, 0, 3]... overwritten below
    x.movedim(1, 0)[0, 1, 0] = -5.0                           # a[1, 0, 0]
    x.diagonal(1, 1, 2)[0, 1] = -6.0                          # a[0, 1, 2]
    x.narrow(2, 1, 2)[1, 1, 0] = -7.0                         # a[1, 1, 1]
    x.unflatten(2, (2, 2))[1, 2, 1, 1] = -8.0                 # a[1, 2, 3]
    p0, p1 = x.split(1, 0)
    p1[0, 0, 2] = -9.0                                        # a[1, 0, 2]
    c = x.chunk(2, 2)[1]
    c[0, 2, 0] = -10.0                                        # a[0, 2, 2]
    e = a.copy()
    e[0, 2, 1] = -1
    e[:, :, 3] = -2
    e[1, 0, 0] = -3
    e[0, 0, 3] = -4
    e[1, 0, 0] = -5
    e[0, 1, 2] = -6
    e[1, 1, 1] = -7
    e[1, 2, 3] = -8
    e[1, 0, 2] = -9
    e[0, 2, 2] = -10
    assert_same(x, e)
    m = T(np.zeros((3, 3), np.int32))
    m.t()[0, 2] = 5
    assert_same(m, np.array([[0, 0, 0], [0, 0, 0], [5, 0, 0]], np.int32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,args", [((4, 5), (0, 0, 1)), ((4, 5), (2, 0, 1)), ((4, 5), (-3, 0, 1)),
                                        ((4, 5), (5, 0, 1)), ((4, 5), (-4, 1, 0)), ((3, 4, 5), (1, -1, 0)),
                                        ((3, 4, 5), (-1, 2, 1)), ((0, 3), (0, 0, 1)), ((6, 1), (0, 0, 1)),
                                        ((5, 5), (7, 0, 1))])
def test_diagonal(rng, dtype, shape, args):
    off, d1, d2 = args
    for a, x in variants(rng, shape, dtype):
        with no_gpu_work():
            v = x.diagonal(off, d1, d2)
            w = wt.diagonal(x, offset=off, dim1=d1, dim2=d2)
        e = np.diagonal(a, off, d1, d2)
        assert_same(v, e)
        assert_same(w, e)
        assert same_storage(v, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_split_chunk(rng, dtype):
    for a, x in variants(rng, (7, 6), dtype):
        with no_gpu_work():
            cases = [(x.narrow(0, 2, 3), a[2:5]), (wt.narrow(x, 1, -4, 2), a[:, 2:4]), (x.narrow(1, 6, 0), a[:, 6:]),
                     (x.narrow(0, 0, 7), a)]
            sp = x.split(3)
            sp1 = wt.split(x, [1, 0, 5], dim=1)
            ch = x.chunk(3, 1)
            ch2 = wt.chunk(x, 4)
            ch3 = x.chunk(10, 0)
        for v, e in cases:
            assert_same(v, e)
            assert same_storage(v, x)
        assert [p.shape for p in sp] == [(3, 6), (3, 6), (1, 6)]
        for p, e in zip(sp, (a[:3], a[3:6], a[6:])):
            assert_same(p, e)
        assert [p.shape for p in sp1] == [(7, 1), (7, 0), (7, 5)]
        for p, e in zip(sp1, (a[:, :1], a[:, 1:1], a[:, 1:])):
            assert_same(p, e)
        assert [p.shape[1] for p in ch] == [2, 2, 2]
        assert [p.shape[0] for p in ch2] == [2, 2, 2, 1]      # ceil(7 / 4) = 2
        assert [p.shape[0] for p in ch3] == [1] * 7           # fewer pieces than asked
        for p, e in zip(ch2, np.array_split(a, [2, 4, 6])):
            assert_same(p, e)
        assert all(same_storage(p, x) for p in sp + sp1 + ch + ch2)
    z = T(np.zeros((0, 3), np.float32))
    assert [p.shape for p in z.split(2)] == [(0, 3)]
    assert [p.shape for p in z.chunk(3)] == [(0, 3)] * 3
    assert [p.shape for p in T(np.zeros(6, np.int32)).chunk(4)] == [(2,), (2,), (2,)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_unflatten_and_flatten(rng, dtype):
    for a, x in variants(rng, (4, 6, 2), dtype):
        with no_gpu_work():
            u = x.unflatten(1, (2, 3))
            u2 = wt.unflatten(x, -1, (1, -1))
            u3 = x.unflatten(0, [-1, 2])
        assert same_storage(u, x) and same_storage(u2, x)
        assert_same(u, a.reshape(4, 2, 3, 2))
        assert_same(u2, a.reshape(4, 6, 1, 2))
        assert_same(u3, a.reshape(2, 2, 6, 2))
        assert_same(x.flatten(), a.reshape(-1))
        assert_same(x.flatten(1), a.reshape(4, 12))
        assert_same(wt.flatten(x, 0, 1), a.reshape(24, 2))
        assert_same(x.flatten(-2, -1), a.reshape(4, 12))
        assert_same(x.flatten(1, 1), a)
    s = rand_np(rng, (), dtype)
    assert_same(T(s).flatten(), s.reshape(1))
    c = T(rand_np(rng, (3, 4), dtype))
    assert same_storage(c.flatten(), c)                       # contiguous: a view, as in PyTorch
    assert_same(T(np.zeros((0, 5), np.float32)).unflatten(1, (5, 1)), np.zeros((0, 5, 1), np.float32))


# ---------------------------------------------------------------- cat, stack
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_cat_1d_sizes(rng, dtype, n):
    a, b = rand_np(rng, (n,), dtype), rand_np(rng, (n // 2 + 1,), dtype)
    assert_same(wt.cat([T(a), T(b)]), np.concatenate([a, b]))
    assert_same(wt.cat((T(b), T(a), T(b))), np.concatenate([b, a, b]))
    assert_same(wt.cat([T(a)]), a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cat_dims_strided_expanded(rng, dtype, dim):
    (a, x), (b, y), (c, z), (d, w) = variants(rng, (2, 3, 5), dtype)
    k = [3, 1, 2, 3][dim]
    shape2 = [2, 3, 5]
    shape2[dim] = k
    e2 = rand_np(rng, tuple(shape2), dtype)
    parts = [x, y, z, w, T(e2)]
    exp = np.concatenate([a, b, c, d, e2], axis=dim)
    assert_same(wt.cat(parts, dim), exp)
    assert_same(wt.cat(parts, dim=dim), exp)
    assert_same(wt.concatenate(parts, axis=dim), exp)
    assert_same(wt.concat(parts, dim=dim), exp)
    assert_same(wt.cat(parts, axis=dim), exp)
    sexp = np.stack([a, b, c, d], axis=dim)
    assert_same(wt.stack([x, y, z, w], dim), sexp)
    assert_same(wt.stack((x, y), dim=3), np.stack([a, b], axis=3))


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_cat_promotes_like_torch(rng, da, db):
    a, b = rand_np(rng, (2, 3), da), rand_np(rng, (1, 3), db)
    r = wt.cat([T(a), T(b)])
    rd = promoted(da, db)
    assert r.dtype is rd
    assert_same(r, np.concatenate([a.astype(rd.np), b.astype(rd.np)]))
    s = wt.stack([T(a[0]), T(b[0])])
    assert s.dtype is rd


def test_cat_empty_tensors(rng):
    a = rand_np(rng, (2, 3), wt.float32)
    e0 = np.zeros((0,), np.int32)
    r = wt.cat([T(e0), T(a), T(e0)], 1)                       # legacy: 1-d empties are skipped
    assert_same(r, a)
    assert_same(wt.cat([T(a), T(np.zeros((0, 3), np.float32))]), a)
    assert_same(wt.cat([T(np.zeros((2, 0), np.float32)), T(a)], 1), a)
    assert_same(wt.cat([T(e0), T(e0)]), e0)
    assert_same(wt.cat([T(np.zeros((0, 3), np.float32))] * 2), np.zeros((0, 3), np.float32))
    assert_same(wt.stack([T(e0), T(e0)]), np.zeros((2, 0), np.int32))
    h = wt.cat([T(np.zeros((0,), np.bool_)), T(np.array([1.5], np.float16))])
    assert h.dtype is wt.float16                               # every input takes part in the promotion


def test_stack_of_scalars_and_views_share_nothing(rng):
    s = [T(np.float32(i)) for i in range(5)]
    assert_same(wt.stack(s), np.arange(5, dtype=np.float32))
    a = rand_np(rng, (3,), wt.float32)
    x = T(a)
    r = wt.cat([x, x])
    r[0] = 100.0                                              # cat copies
    assert_same(x, a)


# ---------------------------------------------------------------- flip, roll
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_flip_roll_1d_sizes(rng, dtype, n):
    a = rand_np(rng, (n,), dtype, special=True)
    x = T(a)
    assert_same(x.flip(0), a[::-1])
    assert_same(wt.flip(x, (-1,)), a[::-1])
    for s in (1, -1, 3, n + 2, -(2 * n) - 5, 0, 64):
        assert_same(x.roll(s), np.roll(a, s))
        assert_same(wt.roll(x, s, 0), np.roll(a, s))


@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_roll_nd_strided_expanded(rng, dtype):
    for a, x in variants(rng, (4, 5, 6), dtype):
        for dims in [(0,), (1,), (2,), (0, 2), (2, 1, 0), ()]:
            assert_same(x.flip(dims), np.flip(a, dims))
        assert_same(x.flip(0, 1), np.flip(a, (0, 1)))
        assert_same(x.flip([-1]), np.flip(a, -1))
        assert_same(wt.flip(x, dims=(0, -1)), np.flip(a, (0, -1)))
        assert_same(wt.permute(x, dims=(2, 0, 1)), a.transpose(2, 0, 1))
        assert_same(x.swapaxes(axis0=0, axis1=2), np.swapaxes(a, 0, 2))
        assert_same(x.transpose(dim0=1, dim1=0), np.swapaxes(a, 1, 0))
        for shifts, dims in [(2, 0), (-3, 1), (7, -1), ((1, 2), (0, 2)), ((3, -1, 1), (2, 0, 1)), (5, None),
                             (-13, None), ((1, 1), (1, 1))]:
            assert_same(x.roll(shifts, dims), np.roll(a, shifts, dims))
        assert_same(wt.roll(x, shifts=(1, -2), dims=(0, 1)), np.roll(a, (1, -2), (0, 1)))
    r = rand_np(rng, (3, 4), dtype)
    x = T(r)
    y = x.flip(0)
    y[0, 0] = T(np.asarray(not r[0, 0]).astype(r.dtype))          # a copy: the base is unchanged
    assert_same(x, r)
    assert_same(T(np.zeros((0, 4), np.float32)).flip(0, 1), np.zeros((0, 4), np.float32))
    assert_same(T(np.zeros((3, 0), np.int32)).roll(1, 0), np.zeros((3, 0), np.int32))
    assert_same(T(np.float32(2)).flip(()), np.float32(2))
    assert_same(T(np.float32(2)).roll(3), np.float32(2))


# ---------------------------------------------------------------- repeat_interleave
@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_interleave(rng, dtype):
    for a, x in variants(rng, (3, 4), dtype):
        for r in (0, 1, 2, 5):
            assert_same(x.repeat_interleave(r), np.repeat(a, r))
            assert_same(wt.repeat_interleave(x, r, 0), np.repeat(a, r, 0))
            assert_same(x.repeat_interleave(r, dim=-1), np.repeat(a, r, -1))
        assert_same(x.repeat_interleave(3, 1, output_size=12), np.repeat(a, 3, 1))
    s = rand_np(rng, (), dtype)
    assert_same(T(s).repeat_interleave(3), np.repeat(s, 3))
    assert_same(T(s).repeat_interleave(2, 0), np.repeat(s, 2))
    for n in (0, 63, 257):
        v = rand_np(rng, (n,), dtype)
        assert_same(T(v).repeat_interleave(3), np.repeat(v, 3))


# ---------------------------------------------------------------- tril / triu as methods
@pytest.mark.parametrize("dtype", DTYPES)
def test_tril_triu_methods(rng, dtype):
    for a, x in variants(rng, (2, 4, 5), dtype):
        for k in (-1, 0, 2):
            assert_same(x.tril(k), np.tril(a, k))
            assert_same(x.triu(diagonal=k), np.triu(a, k))
        assert_same(x.tril(), np.tril(a))


# ---------------------------------------------------------------- gradients (finite differences)
GRAD_CASES = [
    ("transpose", lambda x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2), [(2, 3, 4)]),
    ("swapaxes", lambda x: wt.swapaxes(x, 1, -1) * x.transpose(1, 2), lambda x: np.swapaxes(x, 1, 2) ** 2,
     [(2, 3, 4)]),
    ("permute", lambda x: x.permute(1, 2, 0), lambda x: x.transpose(1, 2, 0), [(2, 3, 4)]),
    ("t", lambda x: x.t(), lambda x: x.T, [(3, 5)]),
    ("t1d", lambda x: wt.t(x), lambda x: x, [(4,)]),
    ("T", lambda x: x.T, lambda x: x.transpose(2, 1, 0), [(2, 3, 4)]),
    ("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), [(2, 3, 4)]),
    ("movedim", lambda x: x.movedim((0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0)), [(2, 3, 4)]),
    ("unflatten", lambda x: x.unflatten(1, (2, -1)), lambda x: x.reshape(2, 2, 3, 2), [(2, 6, 2)]),
    ("flatten", lambda x: x.T.flatten(1), lambda x: x.T.reshape(4, 6), [(2, 3, 4)]),
    ("diagonal", lambda x: x.diagonal(1, 0, 2), lambda x: np.diagonal(x, 1, 0, 2), [(3, 2, 4)]),
    ("diagonal-neg", lambda x: wt.diagonal(x, -1), lambda x: np.diagonal(x, -1), [(4, 3)]),
    ("narrow", lambda x: x.narrow(1, 1, 2), lambda x: x[:, 1:3], [(3, 4)]),
    ("split", lambda x: x.split([1, 3], 1)[1] * 2 + x.split(2, 1)[0].sum(),
     lambda x: x[:, 1:4] * 2 + x[:, :2].sum(), [(3, 4)]),
    ("chunk", lambda x: wt.cat(x.chunk(3, 0)[::-1]), lambda x: np.concatenate([x[4:], x[2:4], x[:2]]),
     [(5, 2)]),
    ("cat", lambda x, y, z: wt.cat([x, y, z], 1), lambda x, y, z: np.concatenate([x, y, z], 1),
     [(2, 3), (2, 1), (2, 2)]),
    ("cat-expanded", lambda x, y: wt.cat([x.expand(3, 2), y.T], 0),
     lambda x, y: np.concatenate([np.broadcast_to(x, (3, 2)), y.T], 0), [(1, 2), (2, 4)]),
    ("stack", lambda x, y: wt.stack([x, y], 1), lambda x, y: np.stack([x, y], 1), [(2, 3), (2, 3)]),
    ("flip", lambda x: x.flip(0, 2), lambda x: np.flip(x, (0, 2)), [(2, 3, 4)]),
    ("flip-strided", lambda x: x[:, ::2].flip(1), lambda x: np.flip(x[:, ::2], 1), [(3, 5)]),
    ("roll", lambda x: x.roll((1, -2), (0, 1)), lambda x: np.roll(x, (1, -2), (0, 1)), [(3, 5)]),
    ("roll-flat", lambda x: wt.roll(x, 4), lambda x: np.roll(x, 4), [(3, 5)]),
    ("repeat_interleave", lambda x: x.repeat_interleave(3, 1), lambda x: np.repeat(x, 3, 1), [(2, 3)]),
    ("repeat_interleave-flat", lambda x: x.repeat_interleave(2), lambda x: np.repeat(x, 2), [(2, 3)]),
]


@pytest.mark.parametrize("name,f,npf,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_finite_differences(rng, name, f, npf, shapes):
    check_grad(rng, f, npf, shapes)


def test_gradient_float16_and_mixed_cat(rng):
    x = T(rand_np(rng, (2, 3), wt.float16)).requires_grad_()
    y = T(rand_np(rng, (1, 3), wt.float32)).requires_grad_()
    r = wt.cat([x, y])
    assert r.dtype is wt.float32
    g = rand_np(rng, (3, 3), wt.float32)
    r.backward(T(g))
    assert x.grad.dtype is wt.float16 and y.grad.dtype is wt.float32
    assert_same(x.grad, g[:2].astype(np.float16))
    assert_same(y.grad, g[2:])


def test_gradient_only_for_inputs_that_want_it(rng):
    a = rand_np(rng, (2, 2), wt.float32)
    x = T(a).requires_grad_()
    y = T(a)
    wt.cat([y, x, y]).sum().backward()
    assert_same(x.grad, np.ones((2, 2), np.float32))
    assert y.grad is None
    e = T(np.zeros(0, np.float32)).requires_grad_()
    x.grad = None
    r = wt.cat([e, x, e], 1)                                   # the 1-d empties are skipped
    assert r.grad_fn is not None
    (r * T(a)).sum().backward()
    assert_same(x.grad, a)
    assert e.grad is None or e.grad.shape == (0,)
    assert repr(x.T).endswith("grad_fn=<PermuteBackward0>)")
    assert repr(x.narrow(0, 0, 1)).endswith("grad_fn=<SliceBackward0>)")


# ---------------------------------------------------------------- big: several bindings and grids
@pytest.mark.parametrize("dtype", [wt.bool, wt.float16, wt.float32])
def test_over_one_binding_and_grid(rng, dtype):
    a = rand_np(rng, (301, 67), dtype)
    b = rand_np(rng, (301, 33), dtype)
    v = rand_np(rng, (20011,), dtype)
    dev = get_device()
    with override_limits(max_binding=4096, max_groups=3), dev.record_commands() as log:
        x, y, z = T(a), T(b), T(v)
        assert_same(wt.cat([x, y[:, ::2], x], 1), np.concatenate([a, b[:, ::2], a], 1))
        assert_same(wt.cat([x, x.T.T], 0), np.concatenate([a, a], 0))
        assert_same(x.flip(0), a[::-1])
        assert_same(x.flip(1), a[:, ::-1])
        assert_same(z.flip(0), v[::-1])
        assert_same(x.roll((100, -7), (0, 1)), np.roll(a, (100, -7), (0, 1)))
        assert_same(z.roll(9999), np.roll(v, 9999))
        assert_same(wt.stack([z, z]), np.stack([v, v]))
        assert_same(y.repeat_interleave(3, 0), np.repeat(b, 3, 0))
    assert sum(c.kind == "dispatch" for c in log) > 60         # the plans really split
    with override_limits(max_binding=1 << 17, max_groups=3):
        # A transposed view over more than half a binding: gathered from a contiguous copy.
        assert_same(x.T.flip(0, 1), a.T[::-1, ::-1])
        assert_same(x.T.flip(1), a.T[:, ::-1])
        assert_same(wt.cat([x.T, x.T], 1), np.concatenate([a.T, a.T], 1))
        assert_same(x.T.roll(5, 1), np.roll(a.T, 5, 1))


def test_real_cat_flip_over_one_binding():
    dev = get_device()
    n = dev.max_binding // 4 + 4099
    if n * 4 > 160 * 2 ** 20:
        pytest.skip("only on adapters with a binding near lavapipe's 128 MiB")
    x = wt.arange(n, dtype=wt.float32)
    r = wt.cat([x[:5], x])
    f = x.flip(0)
    pos = np.array([0, 4, 5, 6, n // 2, n - 1, n, n + 4], np.int64)
    got = r[T(pos.astype(np.int32))].numpy()
    exp_r = np.concatenate([np.arange(5), np.arange(n)])[pos].astype(np.float32)
    np.testing.assert_array_equal(got, exp_r)
    pf = np.array([0, 1, n // 2, n - 2, n - 1], np.int32)
    np.testing.assert_array_equal(f[T(pf)].numpy(), (n - 1 - pf).astype(np.float32))


# ---------------------------------------------------------------- no host reads
def test_no_host_read(rng):
    x = T(rand_np(rng, (5, 6), wt.float32))
    before = wt.sync_count()
    wt.set_sync_debug_mode("error")
    try:
        outs = [wt.cat([x, x]), wt.stack([x, x], 2), x.flip(0, 1), x.roll(2), x.roll((1, 2), (0, 1)),
                x.repeat_interleave(2, 1), x.T.contiguous(), x.diagonal().contiguous(),
                *x.split(4), *x.chunk(2, 1), x.unflatten(1, (3, 2)), x.tril(), x.movedim(0, 1)]
        wt.synchronize()
    finally:
        wt.set_sync_debug_mode("default")
    assert wt.sync_count() == before
    assert len(outs) == 15


# ---------------------------------------------------------------- bad input: raised before any GPU work
def test_bad_input_before_gpu_work():
    x = T(np.zeros((2, 3), np.float32))
    b = T(np.zeros((3, 3), np.float32))
    s = T(np.float32(1))
    v3 = T(np.zeros(3, np.float32))
    cube = T(np.zeros((2, 2, 2), np.float32))
    reps = T(np.array([1, 2], np.int32))
    bad = [
        (lambda: wt.cat([]), RuntimeError, "non-empty"),
        (lambda: wt.cat(x), TypeError, "tuple or list"),
        (lambda: wt.cat([x, 3]), TypeError, "element 1"),
        (lambda: wt.cat([x, b], 1), RuntimeError, "Sizes of tensors must match"),
        (lambda: wt.cat([x, v3]), RuntimeError, "same number of dimensions"),
        (lambda: wt.cat([x, x], 2), IndexError, "Dimension out of range"),
        (lambda: wt.cat([s, s]), RuntimeError, "zero-dimensional"),
        (lambda: wt.stack([x, b]), RuntimeError, "equal size"),
        (lambda: wt.stack([x, x], 3), IndexError, "Dimension out of range"),
        (lambda: wt.stack([]), RuntimeError, "non-empty"),
        (lambda: x.transpose(0, 2), IndexError, "Dimension out of range"),
        (lambda: x.permute(0), RuntimeError, "number of dimensions"),
        (lambda: x.permute(0, 0), RuntimeError, "duplicate"),
        (lambda: x.permute(0, 1.0), TypeError, "ints"),
        (lambda: x.permute(0, dims=(1, 0)), TypeError, "positionally or as dims="),
        (lambda: cube.t(), RuntimeError, "<= 2 dimensions"),
        (lambda: v3.mT, RuntimeError, "matrices"),
        (lambda: x.movedim((0, 1), 0), RuntimeError, "same number of dims"),
        (lambda: x.movedim((0, 0), (0, 1)), RuntimeError, "repeated dim"),
        (lambda: x.unflatten(1, (2, 2)), RuntimeError, "don't multiply up"),
        (lambda: x.unflatten(1, (-1, -1)), RuntimeError, "only one dimension"),
        (lambda: s.unflatten(0, (1,)), IndexError, "no dimensions"),
        (lambda: x.diagonal(0, 1, 1), RuntimeError, "cannot be identical"),
        (lambda: x.diagonal(0, 0, 2), IndexError, "Dimension out of range"),
        (lambda: x.narrow(1, 2, 2), RuntimeError, "exceeds dimension size"),
        (lambda: x.narrow(1, 4, 0), IndexError, "start out of range"),
        (lambda: x.narrow(0, 0, -1), RuntimeError, "non-negative"),
        (lambda: s.narrow(0, 0, 1), RuntimeError, "0-dim"),
        (lambda: x.split(0), RuntimeError, "split_size can only be 0"),
        (lambda: x.split(-1), RuntimeError, "non-negative"),
        (lambda: x.split([1, 2]), RuntimeError, "sum exactly to 2"),
        (lambda: x.split(1.5), TypeError, "int or a list"),
        (lambda: s.split(1), RuntimeError, "at least a 1-dimensional"),
        (lambda: x.chunk(0), RuntimeError, "greater than 0"),
        (lambda: x.flip(0, 0), RuntimeError, "multiple times"),
        (lambda: x.flip(2), IndexError, "Dimension out of range"),
        (lambda: x.roll((1, 2), 0), RuntimeError, "must align"),
        (lambda: x.roll((1, 2)), RuntimeError, "must align"),
        (lambda: x.roll(1, 5), IndexError, "Dimension out of range"),
        (lambda: x.roll(1.5, 0), TypeError, "int"),
        (lambda: x.repeat_interleave(-1), RuntimeError, "negative"),
        (lambda: x.repeat_interleave(2, 2), IndexError, "Dimension out of range"),
        (lambda: x.repeat_interleave(2, 0, output_size=5), RuntimeError, "output_size"),
        (lambda: x.repeat_interleave(reps, 1), RuntimeError, "same size as input along dim"),
        (lambda: v3.tril(), ValueError, "at least 2 dimensions"),
    ]
    for f, exc, msg in bad:
        with no_gpu_work():
            with pytest.raises(exc, match=msg):
                f()


# ---------------------------------------------------------------- repeat_interleave with a tensor of repeats
def ri_ref(a, reps, dim):
    return np.repeat(a, reps.astype(np.int64), axis=dim)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 3, 63, 64, 65, 255, 256, 257, 1025, 3001])
def test_repeat_interleave_tensor_1d(rng, dtype, n):
    a = rand_np(rng, (n,), dtype)
    reps = rng.integers(0, 4, n).astype(np.int32)
    if n > 3:
        reps[:2] = 0                                           # runs that start together
        reps[-1] = 0                                           # a trailing empty run
    exp = ri_ref(a, reps, 0)
    x, r = T(a), T(reps)
    before = wt.sync_count()
    res = x.repeat_interleave(r)                               # reads the output size
    assert wt.sync_count() == before + (1 if n else 0)
    assert_same(res, exp)
    wt.set_sync_debug_mode("error")
    try:
        got = wt.repeat_interleave(x, T(reps.astype(np.uint32)), 0, output_size=len(exp))
        idx = wt.repeat_interleave(r, output_size=len(exp))
    finally:
        wt.set_sync_debug_mode("default")
    assert_same(got, exp)
    assert_same(idx, np.repeat(np.arange(n, dtype=np.int32), reps))


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_interleave_tensor_nd_strided(rng, dtype):
    for a, x in variants(rng, (4, 5, 3), dtype):
        for dim in (0, 1, -1):
            n = a.shape[dim]
            reps = rng.integers(0, 5, n).astype(np.int32)
            exp = ri_ref(a, reps, dim)
            wide = np.zeros(2 * n, np.int32)
            wide[::2] = reps
            assert_same(x.repeat_interleave(T(wide)[::2], dim, output_size=exp.shape[dim]), exp)
        reps = rng.integers(0, 3, a.size).astype(np.int32)
        assert_same(x.repeat_interleave(T(reps), output_size=int(reps.sum())), ri_ref(a.reshape(-1), reps, 0))
        one = T(np.array([3], np.int32))                       # a one-element repeats broadcasts
        assert_same(x.repeat_interleave(one, 1), np.repeat(a, 3, 1))
        assert_same(x.repeat_interleave(T(np.int32(2)), 0, output_size=8), np.repeat(a, 2, 0))
        big = T(np.array([7], np.int32)).expand(5)           # an expanded repeats tensor
        assert_same(x.repeat_interleave(big, 1), np.repeat(a, 7, 1))


def test_repeat_interleave_tensor_big_and_grid(rng):
    n = 5000
    a = rand_np(rng, (n,), wt.float16)
    reps = rng.integers(0, 7, n).astype(np.int32)
    exp = ri_ref(a, reps, 0)
    with override_limits(max_binding=65536, max_groups=3):
        assert_same(T(a).repeat_interleave(T(reps), output_size=len(exp)), exp)
    m = rand_np(rng, (70, 300), wt.bool)
    r2 = rng.integers(0, 9, 70).astype(np.int32)
    with override_limits(max_binding=8192, max_groups=2):
        assert_same(T(m).repeat_interleave(T(r2), 0), ri_ref(m, r2, 0))


def test_repeat_interleave_tensor_gradient(rng):
    reps = np.array([2, 0, 3, 1], np.int32)
    check_grad(rng, lambda x: x.repeat_interleave(T(reps), 1, output_size=6), lambda x: ri_ref(x, reps, 1), [(3, 4)])
    check_grad(rng, lambda x: x.T.repeat_interleave(T(reps), 0), lambda x: ri_ref(x.T, reps, 0), [(3, 4)])
    r2 = np.array([1, 0, 2, 2, 0, 1], np.int32)
    check_grad(rng, lambda x: x.repeat_interleave(T(r2)), lambda x: ri_ref(x.reshape(-1), r2, 0), [(2, 3)])


def test_repeat_interleave_tensor_bad_input():
    x = T(np.zeros((2, 3), np.float32))
    rf = T(np.ones(3, np.float32))
    r2 = T(np.ones((3, 1), np.int32))
    r4 = T(np.ones(4, np.int32))
    bad = [
        (lambda: x.repeat_interleave(rf, 1), TypeError, "int32 or uint32"),
        (lambda: x.repeat_interleave(r2, 1), RuntimeError, "0-dim or 1-dim"),
        (lambda: x.repeat_interleave(r4, 1, output_size=4), RuntimeError, "same size as input along dim"),
        (lambda: x.repeat_interleave(r4, 2, output_size=4), IndexError, "Dimension out of range"),
        (lambda: x.repeat_interleave(r4, 0, output_size=-1), RuntimeError, "same size"),
        (lambda: x.repeat_interleave(r4[:2], 0, output_size=-1),
         RuntimeError, "non-negative"),
    ]
    for f, exc, msg in bad:
        with no_gpu_work():
            with pytest.raises(exc, match=msg):
                f()
    with pytest.raises(RuntimeError, match="can not be negative"):   # a data check: after the read
        x.repeat_interleave(T(np.array([1, -1, 2], np.int32)), 1)


# ---------------------------------------------------------------- random chains of shape ops
@settings(max_examples=25)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=3), st.lists(st.integers(0, 10 ** 6), min_size=6,
                                                                   max_size=6))
def test_random_chains_match_numpy(shape, seeds):
    rng = np.random.default_rng(seeds[0])
    a = rand_np(rng, tuple(shape), wt.int32)
    x = T(a)
    nd = len(shape)
    for s in seeds[1:]:
        k, d = s % 5, (s // 5) % nd
        if k == 0:
            perm = list(np.random.default_rng(s).permutation(nd))
            a, x = a.transpose(perm), x.permute(*perm)
        elif k == 1:
            a, x = np.flip(a, d), x.flip(d)
        elif k == 2:
            sh = s % 7 - 3
            a, x = np.roll(a, sh, d), x.roll(sh, d)
        elif k == 3 and a.shape[d]:
            start = s % a.shape[d]
            n = (s // 7) % (a.shape[d] - start + 1)
            a, x = np.take(a, range(start, start + n), d), x.narrow(d, start, n)
        else:
            a, x = np.concatenate([a, a[..., ::-1]], d), wt.cat([x, x.flip(-1)], d)
        assert_same(x, a)

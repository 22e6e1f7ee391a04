"""Autograd: every differentiable op's gradient against hand-derived numpy values
(and one finite-difference check of a composite loss), on random data with
broadcasting; backward never reads from the GPU."""
import asyncio

import numpy as np
import pytest

import wgpu_tensor as wt

from conftest import assert_same


def leaf(a):
    return wt.tensor(np.asarray(a, np.float32), requires_grad=True)


def grad_of(t):
    assert t.grad is not None
    assert t.grad.shape == t.shape and t.grad.dtype is t.dtype
    return t.grad.numpy()


def sum_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


def close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- arithmetic with broadcasting
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_with_broadcasting(rng, op):
    a = rng.standard_normal((3, 1, 4)).astype(np.float32)
    b = (rng.random((5, 4)) + 0.5).astype(np.float32)
    w = rng.standard_normal((3, 5, 4)).astype(np.float32)
    x, y = leaf(a), leaf(b)
    out = {"add": x + y, "sub": x - y, "mul": x * y, "div": x / y}[op]
    before = wt.sync_count()
    (out * wt.tensor(w)).sum().backward()
    assert wt.sync_count() == before          # backward runs on the GPU only
    da, db = {"add": (1, 1), "sub": (1, -1), "mul": (b, a), "div": (1 / b, -a / (b * b))}[op]
    close(grad_of(x), sum_to(w * da, a.shape))
    close(grad_of(y), sum_to(w * db, b.shape))


def test_scalars_reflected_ops_neg_and_abs(rng):
    a = rng.standard_normal(50).astype(np.float32)
    a[:3] = 0.0
    w = rng.standard_normal(50).astype(np.float32)
    x = leaf(a)
    ((2.0 - x) * 3 + 1 / (x * x + 1) + (-x) + x.abs()).mul(wt.tensor(w)).sum().backward()
    expected = w * (-3 - 2 * a / (a * a + 1) ** 2 - 1 + np.sign(a))
    close(grad_of(x), expected)


# ---------------------------------------------------------------- where, masked_fill
def test_where_both_branches_broadcast(rng):
    a = rng.standard_normal((4, 1)).astype(np.float32)
    b = rng.standard_normal((4, 6)).astype(np.float32)
    c = rng.random((1, 6)) < 0.5
    w = rng.standard_normal((4, 6)).astype(np.float32)
    x, y = leaf(a), leaf(b)
    (wt.where(wt.tensor(c), x, y) * wt.tensor(w)).sum().backward()
    close(grad_of(x), sum_to(np.where(c, w, 0), a.shape))
    close(grad_of(y), np.where(c, 0, w))
    # a scalar branch gets no gradient, the tensor branch does
    z = leaf(b)
    (x.where(wt.tensor(c), 0.0) * z).sum().backward()
    close(grad_of(z), np.where(c, np.broadcast_to(a, b.shape), 0))


def test_masked_fill_grad_to_input_and_value(rng):
    a = rng.standard_normal((3, 5)).astype(np.float32)
    m = rng.random((1, 5)) < 0.5
    w = rng.standard_normal((3, 5)).astype(np.float32)
    x, v = leaf(a), wt.tensor(2.0, requires_grad=True)
    (x.masked_fill(wt.tensor(m), v) * wt.tensor(w)).sum().backward()
    close(grad_of(x), np.where(m, 0, w))
    close(grad_of(v), np.where(np.broadcast_to(m, w.shape), w, 0).sum())


# ---------------------------------------------------------------- masked_select and friends
def test_masked_select_fixed_size_grad_broadcast_mask(rng):
    a = rng.standard_normal((3, 1)).astype(np.float32)
    m = rng.random((3, 4)) < 0.5
    w = rng.standard_normal(12).astype(np.float32)
    x = leaf(a)
    sel = x.masked_select(wt.tensor(m))
    k = int(m.sum())
    # only the first count elements are meaningful: weigh the rest with 0
    w[k:] = 0
    before = wt.sync_count()
    (sel * wt.tensor(w)).sum().backward()
    assert wt.sync_count() == before
    g = np.zeros((3, 4), np.float32)
    g[m] = w[:k]
    close(grad_of(x), g.sum(1, keepdims=True))


def test_masked_select_async_and_index_mask_grads(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    m = rng.random((4, 3)) < 0.5
    x = leaf(a)
    exact = asyncio.run(x.masked_select_async(wt.tensor(m)))
    w = rng.standard_normal(exact.shape).astype(np.float32)
    (exact * wt.tensor(w)).sum().backward()
    g = np.zeros_like(a)
    g[m] = w
    close(grad_of(x), g)
    # x[mask] with a mask over the leading dim: whole rows
    rows = np.array([True, False, True, True])
    y = leaf(a)
    picked = y[wt.tensor(rows)]
    assert picked.shape == (3, 3)
    (picked * picked).sum().backward()
    close(grad_of(y), np.where(rows[:, None], 2 * a, 0))


def test_masked_scatter_grads_to_self_and_source(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    m = rng.random((3, 4)) < 0.5
    k = int(m.sum())
    for src_n in (k, 12, 20):                     # exactly enough, N, more than N
        s = rng.standard_normal(src_n).astype(np.float32)
        w = rng.standard_normal((3, 4)).astype(np.float32)
        x, src = leaf(a), leaf(s)
        (x.masked_scatter(wt.tensor(m), src) * wt.tensor(w)).sum().backward()
        close(grad_of(x), np.where(m, 0, w))
        gs = np.zeros(src_n, np.float32)
        gs[:k] = w[m]
        close(grad_of(src), gs)


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False),
                                         ((0, 2), True)])
def test_sum_and_mean_grads(rng, dim, keepdim):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    x, y = leaf(a), leaf(a)
    s, mn = x.sum(dim, keepdim), y.mean(dim, keepdim)
    w = rng.standard_normal(s.shape).astype(np.float32)
    (s * wt.tensor(w)).sum().backward()
    (mn * wt.tensor(w)).sum().backward()
    dims = tuple(range(3)) if dim is None else (dim if isinstance(dim, tuple) else (dim,))
    dims = tuple(d % 3 for d in dims)
    wk = w if keepdim else np.expand_dims(w, dims)
    close(grad_of(x), np.broadcast_to(wk, a.shape))
    count = np.prod([a.shape[d] for d in dims])
    close(grad_of(y), np.broadcast_to(wk, a.shape) / count)


# ---------------------------------------------------------------- views and indexing
def test_view_ops_grads(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x = leaf(a)
    y = x.reshape(6, 4).unsqueeze(0).squeeze(0).view(24).flatten().reshape(2, 12)
    z = y[:, None].expand(2, 3, 12)                     # each element used 3 times
    w = rng.standard_normal((2, 3, 12)).astype(np.float32)
    (z * wt.tensor(w)).sum().backward()
    close(grad_of(x), w.sum(1).reshape(a.shape))


def test_basic_indexing_grad(rng):
    a = rng.standard_normal((5, 6)).astype(np.float32)
    x = leaf(a)
    part = x[1:, ::2]
    w = rng.standard_normal(part.shape).astype(np.float32)
    (part * wt.tensor(w) + x[0, 1] * 3).sum().backward()
    g = np.zeros_like(a)
    g[1:, ::2] = w
    g[0, 1] += 3 * part.numel()  # the 0-d term is broadcast over part
    close(grad_of(x), g)


def test_integer_indexing_and_gather_grads_accumulate_duplicates(rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    idx = np.array([4, 0, 4, -1, 2])
    x = leaf(a)
    picked = x[wt.tensor(idx)]
    w = rng.standard_normal(picked.shape).astype(np.float32)
    loss = (picked * wt.tensor(w)).sum()
    before = wt.sync_count()
    loss.backward()                         # the forward pass checked the indices: no read here
    assert wt.sync_count() == before
    g = np.zeros_like(a)
    np.add.at(g, idx, w)
    close(grad_of(x), g)
    gi = rng.integers(0, 5, (4, 3))
    y = leaf(a)
    got = y.gather(0, wt.tensor(gi))
    w2 = rng.standard_normal(gi.shape).astype(np.float32)
    (got * wt.tensor(w2)).sum().backward()
    g2 = np.zeros_like(a)
    np.add.at(g2, (gi, np.arange(3)[None, :].repeat(4, 0)), w2)
    close(grad_of(y), g2)


# ---------------------------------------------------------------- a composite loss vs finite differences
def test_masked_loss_matches_finite_differences(rng):
    """Seed 001's conditional loss masking: mean squared error over real tokens."""
    logits = rng.standard_normal((2, 4, 3)).astype(np.float32)
    target = rng.standard_normal((2, 4, 3)).astype(np.float32)
    lengths = np.array([[3], [2]])
    pad = np.arange(4)[None, :] < lengths

    def loss_np(v):
        d = (v - target)[np.broadcast_to(pad[..., None], v.shape)]
        return float((d.astype(np.float64) ** 2).mean())

    x = leaf(logits)
    mask = (wt.arange(4).unsqueeze(0) < wt.tensor(lengths)).unsqueeze(-1)
    sel = asyncio.run((x - wt.tensor(target)).masked_select_async(mask))
    loss = (sel * sel).mean()
    assert abs(loss.item() - loss_np(logits)) < 1e-5
    loss.backward()
    eps = 1e-3
    num = np.zeros_like(logits, dtype=np.float64)
    for i in np.ndindex(logits.shape):        # host-side reference only
        p, q = logits.astype(np.float64).copy(), logits.astype(np.float64).copy()
        p[i] += eps
        q[i] -= eps
        num[i] = (loss_np(p) - loss_np(q)) / (2 * eps)
    np.testing.assert_allclose(grad_of(x), num, rtol=1e-2, atol=1e-3)


# ---------------------------------------------------------------- the tape's rules
def test_grad_accumulates_and_resets():
    x = leaf([1.0, 2.0, 3.0])
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    close(grad_of(x), [5, 5, 5])
    x.grad.zero_()
    close(grad_of(x), [0, 0, 0])
    x.grad = None
    (x * x).sum().backward()
    close(grad_of(x), [2, 4, 6])
    # a given gradient for a non-scalar output
    y = leaf([1.0, 2.0])
    (y * y).backward(wt.tensor([1.0, 10.0]))
    close(grad_of(y), [2, 40])


def test_detach_no_grad_and_flags():
    x = leaf([1.0, 2.0])
    assert x.requires_grad and x.is_leaf and x.grad_fn is None
    y = x * 2
    assert y.requires_grad and not y.is_leaf and "MulBackward0" in repr(y)
    assert "requires_grad=True" in repr(x)
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    with wt.no_grad():
        z = x * 2
    assert not z.requires_grad
    assert not (x > 1).requires_grad          # comparisons are not differentiable

    @wt.no_grad()
    def f(t):
        return t + 1
    assert not f(x).requires_grad
    assert wt.is_grad_enabled()
    i = wt.tensor([1, 2])
    assert not (i * 2).requires_grad


def test_autograd_errors():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="floating point"):
        wt.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        wt.tensor([True, False]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        x.masked_fill_(x > 1, 0.0)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 5.0
    assert_same(x.detach(), np.array([1, 2, 3], np.float32))
    with pytest.raises(RuntimeError, match="does not require grad"):
        wt.tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match="leaf variables"):
        (x * 2).requires_grad = False
    # a tensor saved for backward and then modified in place
    w = wt.tensor([1.0, 2.0, 3.0])
    y = (x * w).sum()
    w[0] = 100.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()
    # in place under no_grad is allowed (an optimizer step)
    with wt.no_grad():
        x.masked_fill_(x > 2, 0.0)
        x -= wt.tensor([0.5, 0.5, 0.5])       # in place: x stays the same leaf
    assert x.is_leaf and x.requires_grad
    close(x.detach().numpy(), [0.5, 1.5, -0.5])


def test_masked_scatter_with_broadcast_input_and_mask(rng):
    a = rng.standard_normal((3, 1)).astype(np.float32)
    m = rng.random((1, 4)) < 0.6
    full = np.broadcast_to(m, (3, 4))
    k = int(full.sum())
    s = rng.standard_normal(12).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    x, src = leaf(a), leaf(s)
    (x.masked_scatter(wt.tensor(m), src) * wt.tensor(w)).sum().backward()
    close(grad_of(x), np.where(full, 0, w).sum(1, keepdims=True))
    gs = np.zeros(12, np.float32)
    gs[:k] = w[full]
    close(grad_of(src), gs)


def test_float16_and_cast_grads(rng):
    a = rng.standard_normal(9).astype(np.float32)
    x = leaf(a)
    y = x.half()                             # float16 in the middle of the graph
    assert y.dtype is wt.float16 and y.requires_grad
    (y * 2).float().sum().backward()
    close(grad_of(x), np.full(9, 2, np.float32))
    h = wt.tensor(a.astype(np.float16), requires_grad=True)
    (h * h).sum().backward()
    assert h.grad.dtype is wt.float16
    np.testing.assert_allclose(h.grad.numpy(), 2 * a.astype(np.float16), rtol=2e-3)

"""Counted results: a fixed-size masked_select / nonzero result carries its valid length
(.count, on the GPU), and every op downstream honours it without reading it. Each op
is checked against numpy on the exact prefix (what PyTorch computes on x[mask]), at
counts 0, 1, N and random, for every dtype, with broadcast partners; and pipelines are
checked to make no read at all (sync debug mode "error")."""
import asyncio

import numpy as np
import pytest

import wgpu_tensor as wt
from conftest import DTYPES, assert_same, rand_np

COUNTS = ["none", "one", "all", "random"]


def keep_mask(rng, n, which):
    k = np.zeros(n, bool)
    if which == "one" and n:
        k[rng.integers(n)] = True
    elif which == "all":
        k[:] = True
    elif which == "random":
        k = rng.random(n) < 0.4
    return k


def counted(rng, n, dtype, which, special=False):
    """(counted tensor, its valid prefix as numpy) from a masked_select."""
    a = rand_np(rng, (n,), dtype, special=special)
    keep = keep_mask(rng, n, which)
    s = wt.tensor(a).masked_select(wt.tensor(keep))
    return s, a[keep]


def same_prefix(t, want):
    """t is counted and its valid rows (what the host reads) are ``want``: the same
    shape, dtype and values (NaN == NaN)."""
    assert t.count is not None, "the result lost its count"
    want = np.asarray(want)
    got = t.numpy()
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


@pytest.fixture
def no_reads():
    """From the test's start until it calls ``no_reads()``, nothing may be read from the
    GPU: an implicit read raises, and the number of reads must not move."""
    before = wt.sync_count()
    wt.set_sync_debug_mode("error")

    def stop():
        wt.set_sync_debug_mode("default")
        assert wt.sync_count() == before, "a read happened"
    yield stop
    wt.set_sync_debug_mode("default")


# ---------------------------------------------------------------- the snippets that were wrong
def test_the_four_snippets_give_pytorchs_numbers():
    x = wt.arange(-2500.0, 2500.0)
    assert x.masked_select(x > 0).sum().item() == 3123750.0
    y = wt.tensor([1.5, -2.0, 4.0, -1.0, 5.0])
    assert y[(y > 0).nonzero().squeeze(1)].tolist() == [1.5, 4.0, 5.0]
    pred = wt.tensor([1.0, 2.0, 3.0, 4.0])
    target = wt.tensor([0.5, 0.0, 2.0, 0.0])
    valid = wt.tensor([True, False, True, False])
    assert (pred - target).masked_select(valid).mean().item() == 0.75   # (0.5 + 1.0) / 2
    idx = (x > 0).nonzero()[:, 0]
    assert idx.tolist() == list(range(2501, 5000))
    assert x[idx].sum().item() == 3123750.0


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", COUNTS)
@pytest.mark.parametrize("n", [1, 5, 257, 4099])
def test_reductions_use_the_valid_prefix(rng, dtype, which, n):
    s, v = counted(rng, n, dtype, which)
    with np.errstate(all="ignore"):
        assert_same(s.any(), np.asarray(v.any()))
        assert_same(s.all(), np.asarray(v.all()))
        assert_same(s.count_nonzero(), np.asarray(np.count_nonzero(v), np.int32))
        if dtype is wt.bool:
            assert_same(s.sum(), np.asarray(v.sum(), np.int32))
        elif dtype.is_floating_point:
            want = v.astype(np.float64).sum()
            np.testing.assert_allclose(s.sum().item(), want, rtol=1e-3 if dtype is wt.float16 else 1e-6)
            got_mean = s.mean().item()
            if v.size:
                np.testing.assert_allclose(got_mean, v.astype(np.float64).mean(),
                                           rtol=1e-3 if dtype is wt.float16 else 1e-6)
            else:
                assert np.isnan(got_mean)                       # PyTorch: mean of nothing is nan
        else:
            assert_same(s.sum(), np.asarray(v.sum(dtype=np.int64).astype(dtype.np)))
        if v.size:
            assert_same(s.amax(), np.asarray(v.max()))
            assert_same(s.amin(), np.asarray(v.min()))


def test_reductions_of_an_empty_count_need_no_read(no_reads):
    x = wt.tensor([1.0, 2.0, 3.0])
    s = x.masked_select(x > 10)
    out = [s.sum(), s.mean(), s.any(), s.all(), s.amax(), s.amin(), s.count_nonzero()]
    no_reads()
    got = [t.item() for t in out]
    assert got[0] == 0.0 and np.isnan(got[1]) and got[2] is False and got[3] is True
    assert got[4] == -np.inf and got[5] == np.inf and got[6] == 0   # documented: the identities


def test_reduction_past_two_passes_and_over_the_counted_dim_of_rows(rng):
    """A long counted row (split into partial sums) and a counted [N, 3] (rows gathered
    through a nonzero index): reductions over dim 0, dim 1 (keeps the count) and all."""
    a = rng.standard_normal(300_001).astype(np.float32)
    keep = rng.random(a.size) < 0.3
    s = wt.tensor(a).masked_select(wt.tensor(keep))
    np.testing.assert_allclose(s.sum().item(), a[keep].astype(np.float64).sum(), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(s.mean().item(), a[keep].astype(np.float64).mean(), rtol=1e-4)
    m = rng.standard_normal((50, 3)).astype(np.float32)
    rows = m[:, 0] > 0
    x = wt.tensor(m)
    g = x[wt.tensor(rows).nonzero()[:, 0]]                     # [50, 3], count = rows.sum()
    same_prefix(g, m[rows])
    np.testing.assert_allclose(g.sum(0).numpy(), m[rows].sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g.mean(0).numpy(), m[rows].mean(0), rtol=1e-5, atol=1e-6)
    same_prefix(g.amax(1), m[rows].max(1))                    # dim 1: the count stays
    np.testing.assert_allclose(g.sum().item(), m[rows].sum(), rtol=1e-5, atol=1e-5)
    assert_same(g.amax(0), m[rows].max(0))
    gt = g[:, ::2]                                             # a strided view keeps the count
    same_prefix(gt, m[rows][:, ::2])
    np.testing.assert_allclose(gt.sum(0).numpy(), m[rows][:, ::2].sum(0), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- elementwise
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", COUNTS)
def test_elementwise_keeps_the_count(rng, dtype, which):
    n = 257
    s, v = counted(rng, n, dtype, which, special=True)
    with np.errstate(all="ignore"):
        if dtype is not wt.bool:
            same_prefix(-s, -v)
            same_prefix(s.abs(), np.abs(v))
            same_prefix(s * 2, (v * 2).astype(v.dtype))
            same_prefix(2 - s, (2 - v).astype(v.dtype) if dtype is not wt.uint32 else (np.uint32(2) - v))
        same_prefix(s > 1, v > 1)
        same_prefix(s == s, v == v)
        same_prefix(s.to(wt.float32), v.astype(np.float32))
        same_prefix(s.to(wt.bool), v.astype(bool))
        same_prefix(wt.where(s > 1, s, s), v)
        same_prefix(s.clone(), v)


def test_broadcast_partners_and_two_counts(rng, no_reads):
    a = rng.standard_normal(64).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    ka, kb = rng.random(64) < 0.6, rng.random(64) < 0.3
    sa = wt.tensor(a).masked_select(wt.tensor(ka))
    sb = wt.tensor(b).masked_select(wt.tensor(kb))
    full = wt.tensor(np.arange(64, dtype=np.float32))          # an uncounted [N] partner
    one = wt.tensor([3.0])
    res = [sa + full, sa * one, sa + sb, wt.where(sa > 0, sa, sb)]
    no_reads()
    va, vb = a[ka], b[kb]
    k = min(va.size, vb.size)
    same_prefix(res[0], va + np.arange(va.size, dtype=np.float32))
    same_prefix(res[1], va * np.float32(3))
    same_prefix(res[2], va[:k] + vb[:k])                       # the smaller count, on the GPU
    same_prefix(res[3], np.where(va[:k] > 0, va[:k], vb[:k]))


def test_rows_through_a_counted_leading_dim(rng):
    m = rng.standard_normal((40, 3)).astype(np.float32)
    rows = m[:, 1] > 0.2
    g = wt.tensor(m)[wt.tensor(rows).nonzero()[:, 0]]
    w = wt.tensor(np.array([1.0, -2.0, 0.5], np.float32))       # broadcast along the other dim
    same_prefix(g * w, m[rows] * np.array([1.0, -2.0, 0.5], np.float32))
    with pytest.raises(ValueError, match="counted"):
        g.reshape(-1, 4, 3)                                    # splits the counted dim


# ---------------------------------------------------------------- views
def test_views_that_keep_the_leading_dim_keep_the_count(rng):
    y = wt.tensor(rng.standard_normal(30).astype(np.float32))
    m = y > 0
    nz = m.nonzero()
    want = np.nonzero(m.numpy())[0].astype(np.int32)
    same_prefix(nz, want[:, None])
    same_prefix(nz[:, 0], want)
    same_prefix(nz.squeeze(1), want)
    same_prefix(nz[:, 0].unsqueeze(1), want[:, None])
    same_prefix(nz.flatten(), want)                            # [N, 1] -> [N]: count unchanged
    same_prefix(nz[...], want[:, None])
    same_prefix(nz[:, 0][2:], want[2:])                        # a slice from 2: count - 2, on the GPU
    same_prefix(nz[:, 0][:3], want[:3])
    two = (wt.tensor(rng.random((5, 6)) < 0.5)).nonzero()      # [N, 2]
    flat = two.flatten()                                       # [2N]: count * 2
    assert flat.count is not None and len(flat.tolist()) == 2 * two.count.item()
    assert two.uncounted().count is None and two.uncounted().shape == two.shape
    assert len(two.uncounted().numpy()) == 30                  # the whole fixed-size buffer


def test_views_that_would_move_the_count_raise(rng):
    s, _ = counted(rng, 10, wt.float32, "random")
    with pytest.raises(ValueError, match="uncounted"):
        s.unsqueeze(0)
    with pytest.raises(ValueError, match="uncounted"):
        s[None]
    with pytest.raises(ValueError, match="uncounted"):
        s.expand(2, 10)
    with pytest.raises(ValueError, match="uncounted"):
        s.reshape(2, 5)
    with pytest.raises(IndexError, match="capacity"):
        s[-1]
    with pytest.raises(ValueError, match="step 1"):
        s[::2]
    with pytest.raises(ValueError, match="leading"):
        s + wt.zeros(3, 10)                                    # its dim 0 would become dim 1
    assert s.uncounted().unsqueeze(0).shape == (1, 10)


# ---------------------------------------------------------------- indexing with a counted index
@pytest.mark.parametrize("dtype", DTYPES)
def test_indexing_with_a_counted_index(rng, dtype, no_reads):
    a = rand_np(rng, (50, 4), dtype)
    x = wt.tensor(a)
    rows = rng.random(50) < 0.3
    idx = wt.tensor(rows).nonzero()[:, 0]                      # bounds known: no range check, no read
    got = [x[idx], x.index_select(0, idx), x[:, 0][idx], wt.gather(x[:, 1], 0, idx)]
    no_reads()
    same_prefix(got[0], a[rows])
    same_prefix(got[1], a[rows])
    same_prefix(got[2], a[rows, 0])
    same_prefix(got[3], a[rows, 1])


def test_a_computed_counted_index_is_range_checked_on_its_valid_rows_only(rng):
    x = wt.tensor(np.arange(10, dtype=np.float32))
    sel = wt.tensor(np.array([3, 9, 0, 12345, -99999], np.int32)).masked_select(
        wt.tensor([True, True, True, False, False]))          # garbage past the count
    same_prefix(x[sel], np.array([3.0, 9.0, 0.0], np.float32))  # one range-check read, no error
    bad = wt.tensor(np.array([3, 10, 0], np.int32)).masked_select(wt.tensor([True, True, False]))
    with pytest.raises(IndexError, match="out of bounds"):
        x[bad]


# ---------------------------------------------------------------- sort, selection, scatter
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", COUNTS)
def test_sort_orders_the_valid_prefix(rng, dtype, which):
    s, v = counted(rng, 300, dtype, which, special=True)
    vals, idx = s.sort()
    order = np.argsort(v, kind="stable")
    same_prefix(vals, v[order])
    same_prefix(idx, order.astype(np.int32))
    vals, idx = s.sort(descending=True)
    want = -np.sort(-v.astype(np.float64)) if dtype is not wt.bool else np.sort(v)[::-1]
    if dtype.is_floating_point:   # NaN first, as PyTorch's descending sort
        nan = np.isnan(v)
        want = np.concatenate([v[nan], np.sort(v[~nan])[::-1]])
    same_prefix(vals, np.asarray(want).astype(v.dtype))
    if v.size:
        k = int(rng.integers(1, v.size + 1))
        kv = s.kthvalue(k).values
        srt = np.sort(v) if not dtype.is_floating_point else np.concatenate([np.sort(v[~np.isnan(v)]),
                                                                            v[np.isnan(v)]])
        assert_same(kv, np.asarray(srt[k - 1]))


@pytest.mark.parametrize("which", COUNTS)
def test_selecting_and_nonzero_of_a_counted_tensor(rng, which):
    s, v = counted(rng, 500, wt.float32, which)
    same_prefix(s.masked_select(s > 0), v[v > 0])              # only valid positions can be chosen
    assert s.masked_select(s > 0).count.item() == int((v > 0).sum())
    same_prefix((s > 0).nonzero(), np.argwhere(v > 0).astype(np.int32))
    same_prefix(s.masked_select(s == s), v[v == v])


# ---------------------------------------------------------------- host reads
def test_host_reads_give_the_valid_prefix_in_one_read(rng):
    x = wt.tensor([1, 5, 2, 6, 3, 4])
    s = x.masked_select(x > 3)
    before = wt.sync_count()
    assert s.numpy().tolist() == [5, 6, 4]
    assert wt.sync_count() == before + 1                       # the count came in the same round trip
    assert s.tolist() == [5, 6, 4]
    assert [int(t) for t in s] == [5, 6, 4]
    assert np.asarray(s).tolist() == [5, 6, 4]
    assert repr(s) == "tensor([5, 6, 4], count=3 of 6)" == str(s)
    assert asyncio.run(s.numpy_async()).tolist() == [5, 6, 4]
    one = x.masked_select(x == 6)
    assert one.item() == 6 and float(one) == 6.0
    assert repr(x.masked_select(x > 9)) == "tensor([], count=0 of 6)"
    big = wt.arange(0, 200_000).masked_select(wt.arange(0, 200_000) >= 100)
    assert repr(big) == "tensor([   100,    101,    102,  ..., 199997, 199998, 199999], count=199900 of 200000)"


# ---------------------------------------------------------------- autograd
def test_masked_loss_gradient_flows_only_to_valid_elements(rng, no_reads):
    a = rng.standard_normal(40).astype(np.float32)
    t = rng.standard_normal(40).astype(np.float32)
    keep = rng.random(40) < 0.5
    p = wt.tensor(a, requires_grad=True)
    d = (p - wt.tensor(t)).masked_select(wt.tensor(keep))
    loss = (d * d).mean() + d.sum() * 0.5
    loss.backward()
    no_reads()
    k = keep.sum()
    want = np.where(keep, 2 * (a - t) / k + 0.5, 0.0)
    np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.item(), ((a - t)[keep] ** 2).mean() + 0.5 * (a - t)[keep].sum(), rtol=1e-5)


def test_gradient_of_a_counted_reduction_is_zero_past_the_count(rng):
    a = rng.standard_normal(30).astype(np.float32)
    keep = rng.random(30) < 0.5
    counted_leaf = wt.tensor(a, requires_grad=True)
    sel = counted_leaf.masked_select(wt.tensor(keep))
    sel.sum().backward()
    assert_same(counted_leaf.grad, keep.astype(np.float32))
    sel2 = wt.tensor(a, requires_grad=True)
    sel2.masked_select(wt.tensor(keep)).mean().backward()
    np.testing.assert_allclose(sel2.grad.numpy(), keep / max(keep.sum(), 1), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", COUNTS)
def test_masked_scatter_with_a_counted_source_uses_its_count(rng, dtype, which, no_reads):
    a = rand_np(rng, (9, 7), dtype)
    m = rng.random((9, 7)) < 0.5
    src, v = counted(rng, 40, dtype, which)
    out = wt.tensor(a).masked_scatter(wt.tensor(m), src)
    no_reads()
    want = a.copy()
    pos = np.flatnonzero(m)[:v.size]                      # the first count selected positions
    want.reshape(-1)[pos] = v[:pos.size]
    assert out.count is None
    assert_same(out, want)


@pytest.mark.parametrize("which", ["one", "all", "random"])
@pytest.mark.parametrize("n", [5, 257, 9001])
def test_reductions_with_dim_use_the_valid_prefix(rng, which, n, no_reads):
    a = rng.standard_normal(n).astype(np.float32)
    keep = keep_mask(rng, n, which)
    keep[0] |= not keep.any()                                 # max of nothing raises in numpy
    s = wt.tensor(a).masked_select(wt.tensor(keep))
    got = {"max": s.max(), "min": s.min(), "argmax": s.argmax(), "argmin": s.argmin(),
           "max0": s.max(0).values, "argmax0": s.max(0).indices, "prod": (s * 0.0 + 1.0001).prod(),
           "nansum": s.nansum(), "nanmean": s.nanmean(), "logsumexp": s.logsumexp(0),
           "norm": s.norm(), "norm1": s.norm(1), "var": s.var(), "std": s.std(correction=0)}
    no_reads()
    v = a[keep].astype(np.float64)
    want = {"max": v.max(), "min": v.min(), "argmax": v.argmax(), "argmin": v.argmin(), "max0": v.max(),
            "argmax0": v.argmax(), "prod": 1.0001 ** v.size, "nansum": v.sum(), "nanmean": v.mean(),
            "logsumexp": np.log(np.exp(v).sum()), "norm": np.sqrt((v * v).sum()), "norm1": np.abs(v).sum(),
            "var": v.var(ddof=1) if v.size > 1 else np.nan, "std": v.std()}
    for k, t in got.items():
        np.testing.assert_allclose(t.item(), want[k], rtol=1e-4, atol=1e-4, err_msg=k)


def test_matmul_and_softmax_through_counts(rng, no_reads):
    a = rng.standard_normal((40, 5)).astype(np.float32)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    rows = a[:, 0] > 0
    x = wt.tensor(a)
    g = x[wt.tensor(rows).nonzero()[:, 0]]                     # counted rows [40, 5]
    v = wt.tensor(a[:, 1]).masked_select(wt.tensor(rows))      # counted vector [40]
    res = [g @ wt.tensor(w), wt.softmax(g, 1), wt.softmax(g, 0), v @ v, wt.ones(2, 40) @ v]
    no_reads()
    k = a[rows]
    np.testing.assert_allclose(res[0].numpy(), k @ w, rtol=1e-5, atol=1e-5)
    assert res[0].count is not None and res[1].count is not None and res[2].count is not None
    e1 = np.exp(k - k.max(1, keepdims=True))
    np.testing.assert_allclose(res[1].numpy(), e1 / e1.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    e0 = np.exp(k - k.max(0))
    np.testing.assert_allclose(res[2].numpy(), e0 / e0.sum(0), rtol=1e-5, atol=1e-6)   # over valid rows only
    np.testing.assert_allclose(res[3].item(), (a[rows, 1] ** 2).sum(), rtol=1e-5)       # contracted: zeros past the count
    np.testing.assert_allclose(res[4].numpy(), np.full(2, a[rows, 1].sum()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", COUNTS)
def test_scans_topk_unique_of_a_counted_tensor(rng, which, no_reads):
    a = rng.integers(-5, 6, 300).astype(np.float32)
    keep = keep_mask(rng, 300, which)
    s = wt.tensor(a).masked_select(wt.tensor(keep))
    res = {"cumsum": s.cumsum(0), "cummax": s.cummax(0).values, "top": s.topk(3 if keep.sum() >= 3 else 0),
           "low": s.topk(3 if keep.sum() >= 3 else 0, largest=False),
           "uniq": wt.unique(s, fixed_size=True, return_counts=True)}
    no_reads()
    v = a[keep]
    same_prefix(res["cumsum"], np.cumsum(v).astype(np.float32))
    same_prefix(res["cummax"], np.maximum.accumulate(v) if v.size else v)
    if keep.sum() >= 3:
        same_prefix(res["top"].values, np.sort(v)[::-1][:3])
        same_prefix(res["low"].values, np.sort(v)[:3])
    vals, counts = res["uniq"]
    u, c = np.unique(v, return_counts=True)
    same_prefix(vals, u)
    same_prefix(counts, c.astype(np.int32))

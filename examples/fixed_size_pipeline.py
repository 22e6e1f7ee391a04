"""Counted results: a masking pipeline that stays on the GPU until its final print.

masked_select and nonzero return fixed-size results (shape = every element that could
be selected) whose .count, on the GPU, says how many are valid. Every op downstream
honours that count without reading it: the statistics and the masked loss below give
PyTorch's numbers with zero GPU-to-CPU reads, beside the exact x[mask] form, which
reads the count once. Run: python examples/fixed_size_pipeline.py
"""
import numpy as np

import wgpu_tensor as wt


def show(label, value):
    print(f"{label:40s} {value}")


def statistics(values):
    """mean, standard deviation (correction 1) and max of a 1-D tensor, on the GPU."""
    mean = values.mean()
    d = values - mean
    n = values.count if values.count is not None else wt.tensor(values.numel())
    var = (d * d).sum() / (n.float() - 1)
    return mean, var, values.amax()


def main():
    x = wt.randn(100_000, seed=7)
    mask = (x > 0.5) & (x < 2.5)                     # a band of values

    # Fixed size: nothing is read back until .item() below.
    wt.set_sync_debug_mode("error")                  # an implicit read would raise
    before = wt.sync_count()
    sel = x.masked_select(mask)                      # shape [100000], sel.count on the GPU
    mean, var, top = statistics(sel)
    idx = mask.nonzero()[:, 0]                       # counted indices: their rows past the count are ignored
    same = x[idx].sum()                              # gather through a counted index: no range-check read
    fixed_reads = wt.sync_count() - before
    wt.set_sync_debug_mode("default")

    # Exact: x[mask] reads the count once to know its shape.
    before = wt.sync_count()
    exact = x[mask]
    exact_mean, exact_var, exact_top = statistics(exact)
    exact_reads = wt.sync_count() - before

    show("fixed-size result shape", list(sel.shape))
    show("reads while computing (fixed-size)", fixed_reads)
    show("reads while computing (x[mask])", exact_reads)
    show("selected", sel.count.item())
    show("mean, fixed-size / exact", f"{mean.item():.6f} / {exact_mean.item():.6f}")
    show("variance, fixed-size / exact", f"{var.item():.6f} / {exact_var.item():.6f}")
    show("max, fixed-size / exact", f"{top.item():.6f} / {exact_top.item():.6f}")
    show("sum through nonzero indices", f"{same.item():.3f}")

    # A masked loss and its gradient: mean squared error over the valid positions only.
    pred = wt.tensor(np.linspace(-1, 1, 12, dtype=np.float32), requires_grad=True)
    target = wt.zeros(12)
    valid = wt.arange(12) % 3 != 0
    wt.set_sync_debug_mode("error")
    before = wt.sync_count()
    err = (pred - target).masked_select(valid)       # counted: 8 of 12
    loss = (err * err).mean()
    loss.backward()
    loss_reads = wt.sync_count() - before
    wt.set_sync_debug_mode("default")
    show("masked loss, reads before printing", loss_reads)
    show("masked loss", f"{loss.item():.6f}")
    show("gradient (zero where not valid)", [round(float(g), 4) for g in pred.grad.numpy()])

    # The numbers a numpy (or PyTorch) user gets from the exact selection.
    xn, mn = x.numpy(), mask.numpy()
    v = xn[mn].astype(np.float64)
    assert sel.count.item() == v.size
    assert abs(mean.item() - v.mean()) < 1e-5 and abs(exact_mean.item() - v.mean()) < 1e-5
    assert abs(var.item() - v.var(ddof=1)) < 1e-4 and abs(exact_var.item() - v.var(ddof=1)) < 1e-4
    assert top.item() == exact_top.item() == np.float32(v.max())
    assert abs(same.item() - v.sum()) < 1e-2 * max(1.0, abs(v.sum())) ** 0.5
    p = np.linspace(-1, 1, 12, dtype=np.float32).astype(np.float64)
    keep = np.arange(12) % 3 != 0
    assert abs(loss.item() - (p[keep] ** 2).mean()) < 1e-6
    assert np.allclose(pred.grad.numpy(), np.where(keep, 2 * p / keep.sum(), 0), atol=1e-6)
    assert fixed_reads == 0 and loss_reads == 0 and exact_reads == 1


if __name__ == "__main__":
    main()

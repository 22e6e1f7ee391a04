"""Seed 001 (the masked_select API page), example by example, on the GPU.

Each block prints what it shows. Run: python examples/seed001_masked_select.py
"""
import asyncio

import numpy as np

import wgpu_tensor as wt


def show(label, value):
    print(f"{label:44s} {value}")


def main():
    # Filter values greater than threshold: the fixed-size result and its count.
    x = wt.tensor([[1, 2, 3], [4, 5, 6]])
    mask = x.gt(3)
    selected = x.masked_select(mask)
    k = selected.count.item()
    show("mask = x.gt(3)", mask.tolist())
    show("x.masked_select(mask) shape", list(selected.shape))
    show("  .count", k)
    raw = selected.uncounted().numpy()            # the whole fixed-size buffer
    show("  packed first (the seed's [4, 5, 6, ?, ?, ?])", raw[:k].tolist() + ["?"] * (raw.size - k))
    show("  the counted result", selected)
    show("  selected.sum() (valid elements only)", selected.sum().item())

    # The exact shape, awaiting only the 4-byte count.
    exact = asyncio.run(x.masked_select_async(mask))
    show("await x.masked_select_async(mask)", exact.tolist())

    # Extract non-zero elements, and their indices.
    y = wt.tensor([[0, 7, 0], [3, 0, 9]])
    nz = y.masked_select(y.ne(0))
    show("y.masked_select(y.ne(0)) first .count", nz.tolist())
    idx = asyncio.run(y.nonzero_async())
    show("await y.nonzero_async()", idx.tolist())

    # Conditional loss masking: zero out padding tokens. The seed builds the mask
    # with torch.ones (float); masks must be bool, so a float mask is refused...
    batch_size, seq_len, vocab_size = 2, 4, 3
    logits = wt.randn(batch_size, seq_len, vocab_size, seed=0)
    padding_mask = wt.ones(batch_size, seq_len)
    try:
        logits.masked_select(padding_mask.unsqueeze(-1))
    except TypeError as e:
        show("float padding mask", f"TypeError: {e}")
    # ...and the working form marks real tokens with a comparison.
    lengths = wt.tensor([[3], [2]])
    padding_mask = wt.arange(seq_len).unsqueeze(0) < lengths        # [2, 4] bool
    valid_logits = asyncio.run(logits.masked_select_async(padding_mask.unsqueeze(-1)))
    show("padding_mask (lengths 3 and 2)", padding_mask.tolist())
    show("valid logits kept (5 tokens x 3)", list(valid_logits.shape))
    expected = logits.numpy()[np.broadcast_to(padding_mask.numpy()[..., None], logits.shape)]
    assert np.array_equal(valid_logits.numpy(), expected)

    # Attention: keep the causal (lower-triangular) positions.
    batch, seq = 2, 4
    attention = wt.randn(batch, seq, seq, seed=1)
    future_mask = wt.tril(wt.ones(seq, seq, dtype=wt.bool))
    masked_attn = attention.masked_select(future_mask.unsqueeze(0))
    show("tril(ones(4, 4, dtype=bool)) true count", future_mask.numpy().sum())
    show("masked_attn.count (2 batches x 10)", masked_attn.count.item())

    # Outlier removal: keep values in the 5th to 95th percentile. kthvalue runs on
    # the GPU (a sort of the 1000 values) and its .values stay there as 0-d tensors,
    # so the comparisons and the selection need no sync either.
    data = wt.randn(1000, seed=2)
    q05 = wt.kthvalue(data, 50).values
    q95 = wt.kthvalue(data, 950).values
    inliers = data.masked_select(data.ge(q05).logical_and(data.le(q95)))
    d = np.sort(data.numpy())
    show("q05, q95 (kthvalue 50 and 950 of 1000)", [round(q05.item(), 4), round(q95.item(), 4)])
    show("inliers.count of 1000", inliers.count.item())
    assert q05.item() == d[49] and q95.item() == d[949]
    assert inliers.count.item() == 901


if __name__ == "__main__":
    main()

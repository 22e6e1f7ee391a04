"""Masked attention over padded sequences: padding masks from sequence lengths, a
causal mask from tril, attention through scaled_dot_product_attention and by hand
(masked_fill(-inf) then softmax), and masked mean pooling; all on the GPU.

Each block prints what it shows; tests/test_examples.py asserts the printed lines and
tests/test_attention.py checks the numbers of ``compute()`` against numpy.
Run: python examples/attention_masking.py
"""
import wgpu_tensor as wt
import wgpu_tensor.nn.functional as F


def show(label, value):
    print(f"{label:44s} {value}")


def rounded(t, nd=4):
    def r(v):
        return [r(x) for x in v] if isinstance(v, list) else round(v, nd)
    return r(t.tolist())


def compute():
    """Every tensor the example prints, by name (the test compares them with numpy)."""
    batch, seq, dim = 3, 5, 4
    lengths = wt.tensor([5, 3, 4])                               # real tokens per sequence
    x = wt.randn(batch, seq, dim, seed=7)                        # token features (padding too)
    wq, wk, wv = (wt.randn(dim, dim, seed=s) * 0.5 for s in (1, 2, 3))
    q, k, v = x @ wq, x @ wk, x @ wv                             # [3, 5, 4] projections (matmul)

    # Padding mask from the lengths: True where a token is real.
    pad = wt.arange(seq)[None, :] < lengths[:, None]             # [3, 5] bool
    # Causal mask: query i sees keys 0..i.
    causal = wt.tril(wt.ones(seq, seq, dtype=wt.bool))           # [5, 5] bool
    # Both: a query sees real keys at or before it ([3, 1, 5] & [5, 5] -> [3, 5, 5]).
    mask = pad[:, None, :] & causal

    # 1. scaled_dot_product_attention with the bool mask (True takes part).
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    # 2. The same by hand: scores = q k^T / sqrt(d) (as a broadcast product summed over
    #    the feature dim), masked_fill(-inf) where the mask is False, softmax, @ v.
    scores = (q[:, :, None, :] * k[:, None, :, :]).sum(-1) / dim ** 0.5   # [3, 5, 5]
    weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    by_hand = weights @ v

    # 3. Padding only (no causal part): the weight on padded keys is exactly 0.
    pad_out = F.scaled_dot_product_attention(q, k, v, attn_mask=pad[:, None, :])
    pad_weights = scores.masked_fill(~pad[:, None, :], float("-inf")).softmax(-1)
    on_padding = (pad_weights * (~pad)[:, None, :]).sum()

    # 4. is_causal=True is the tril mask.
    causal_out = F.scaled_dot_product_attention(q, k, v, is_causal=True)

    # 5. Masked mean pooling: the mean of the real tokens' outputs per sequence.
    real = pad[:, :, None]                                       # [3, 5, 1]
    pooled = (out * real).sum(1) / real.sum(1)                   # [3, 4]; int32 count -> float
    return dict(lengths=lengths, x=x, wq=wq, wk=wk, wv=wv, pad=pad, causal=causal, mask=mask, out=out,
                weights=weights, by_hand=by_hand, pad_out=pad_out, pad_weights=pad_weights,
                on_padding=on_padding, causal_out=causal_out, pooled=pooled)


def main():
    r = compute()
    show("padding mask (lengths 5, 3, 4)", r["pad"].tolist())
    show("causal mask row 2", r["causal"][2].tolist())
    show("combined mask of sequence 1", r["mask"][1].tolist())
    show("attention weights, sequence 1, query 4", rounded(r["weights"][1, 4]))
    show("sdpa output shape", list(r["out"].shape))
    diff = (r["out"] - r["by_hand"]).abs().amax().item()
    show("sdpa matches masked_fill + softmax", diff < 1e-5)
    show("weight on padded keys (padding mask only)", r["on_padding"].item())
    cdiff = (r["causal_out"] - F.scaled_dot_product_attention(
        *(r["x"] @ r[w] for w in ("wq", "wk", "wv")), attn_mask=r["causal"])).abs().amax().item()
    show("is_causal equals the tril mask", cdiff == 0.0)
    show("sequence 1 output, query 0", rounded(r["out"][1, 0]))
    show("masked mean pooling shape", list(r["pooled"].shape))
    show("pooled (mean of the real tokens)", rounded(r["pooled"]))


if __name__ == "__main__":
    main()

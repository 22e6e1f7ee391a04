"""Seed 001's conditional loss masking, trained: a masked loss over padded
sequences, its gradient on the GPU, and a few gradient steps.

Run: python examples/autograd_masked_loss.py
"""
import asyncio

import wgpu_tensor as wt


def main():
    batch, seq, vocab = 2, 6, 3
    features = wt.randn(batch, seq, vocab, seed=0)
    target = features * wt.tensor([0.5, -1.0, 2.0]) + 0.25        # what the model should learn
    lengths = wt.tensor([[4], [2]])                                # real tokens per sequence
    real = (wt.arange(seq).unsqueeze(0) < lengths).unsqueeze(-1)   # [2, 6, 1] padding mask
    target = target.masked_fill(~real, 1000.0)                     # padding holds garbage

    w = wt.zeros(vocab, requires_grad=True)
    b = wt.zeros(1, requires_grad=True)
    lr = 0.5
    losses = []
    for step in range(8):
        diff = features * w + b - target
        # Fixed-size selection with fill_value=0: no sync, and the zero tail adds
        # nothing to the sum; .count is the number of real entries, on the GPU.
        sel = diff.masked_select(real, fill_value=0.0)
        loss = (sel * sel).sum() / sel.count
        w.grad = b.grad = None
        loss.backward()
        with wt.no_grad():                                         # the gradient step, in place
            w -= lr * w.grad
            b -= lr * b.grad
        losses.append(loss.item())
        print(f"step {step}: masked loss {losses[-1]:.6f}")

    # The same loss with the exact selection (awaits the 4-byte count): same value.
    diff = features * w + b - target
    exact = asyncio.run(diff.masked_select_async(real))
    print(f"real entries selected: {exact.shape[0]} (of {diff.numel()})")
    print(f"loss went down: {losses[0] > losses[-1]}")
    print(f"learned w: {[round(v, 2) for v in w.detach().tolist()]}")


if __name__ == "__main__":
    main()

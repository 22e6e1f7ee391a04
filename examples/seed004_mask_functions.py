"""Seed 004 (mask functions from list values), example by example, on the GPU.

Each block prints what it shows; tests/test_examples.py asserts the printed values.
Run: python examples/seed004_mask_functions.py
"""
import asyncio

import wgpu_tensor as wt


def show(label, value):
    print(f"{label:44s} {value}")


def create_mask_from_lengths(tensor, sequence_lengths):
    """True where the position is inside the sequence: arange < lengths, broadcast."""
    batch_size, seq_len = tensor.shape
    arange_tensor = wt.arange(seq_len, device=tensor.device).unsqueeze(0).repeat(batch_size, 1)
    lengths_tensor = wt.tensor(sequence_lengths, device=tensor.device).unsqueeze(1)
    return arange_tensor < lengths_tensor


def create_mask_from_indices(tensor, mask_indices):
    """All True except at the given positions (integer-tensor assignment)."""
    seq_len = tensor.shape[0]
    mask = wt.ones(seq_len, dtype=wt.bool, device=tensor.device)
    mask[wt.tensor(mask_indices, device=tensor.device)] = False
    return mask


def create_mask_from_token_ids(tensor, mask_token_ids):
    """False where the token is one of the ids (isin, inverted with ~)."""
    return ~wt.isin(tensor, wt.tensor(mask_token_ids, device=tensor.device))


def main():
    # Example 1: sequence lengths. (The seed's randn is unseeded; seeded here so
    # that the printed values repeat.)
    data_tensor = wt.randn(3, 5, seed=0)
    seq_lens = [2, 4, 3]
    mask = create_mask_from_lengths(data_tensor, seq_lens)
    show("lengths mask", mask.tolist())
    masked_tensor = data_tensor * mask
    show("nonzeros per row of data * mask", (masked_tensor != 0).sum(dim=1).tolist())
    show("masked tensor equals where(mask, data, 0)",
         bool((masked_tensor == wt.where(mask, data_tensor, 0.0)).all()))

    # Example 2: explicit indices to mask.
    data_tensor = wt.arange(10, dtype=wt.float)
    mask = create_mask_from_indices(data_tensor, [2, 5, 7])
    show("indices mask", mask.tolist())
    show("indices masked tensor", (data_tensor * mask).tolist())

    # Example 3: token ids. PyTorch's int64 is int32 here (wgpu_tensor has no
    # 64-bit types); the ids are seeded so that the printed values repeat.
    data_tensor = wt.randint(0, 10, (12,), seed=3, dtype=wt.int32)
    tokens_to_mask = [2, 4, 7]
    mask = create_mask_from_token_ids(data_tensor, tokens_to_mask)
    show("token ids", data_tensor.tolist())
    show("token mask", mask.tolist())
    show("token masked tensor", (data_tensor * mask.float()).tolist())
    show("tokens kept (masked_select_async)", asyncio.run(data_tensor.masked_select_async(mask)).tolist())


if __name__ == "__main__":
    main()

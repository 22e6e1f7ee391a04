"""Seed 003 (assign values from one tensor to another through a mask), example by example.

Each block prints what it shows; tests/test_examples.py asserts the printed values.
Run: python examples/seed003_mask_assign.py
"""
import wgpu_tensor as wt


def show(label, value):
    print(f"{label:44s} {value}")


def main():
    # Example 1: 1-D. source[mask] reads the count once (the exact shape), and
    # dest[mask] = values checks it matches (one more 4-byte read); the int32
    # values are cast to the float32 target, as numpy and PyTorch do.
    source_mask = wt.tensor([10, 20, 30, 40, 50])
    dest_mask = wt.zeros(5)
    cond_mask = wt.tensor([True, False, True, False, True])
    show("1-D destination (before)", dest_mask.tolist())
    dest_mask[cond_mask] = source_mask[cond_mask]
    show("1-D destination (after)", dest_mask.tolist())

    # Example 2: 2-D masks select in row-major order.
    source_mask = wt.tensor([[1, 2], [3, 4]])
    dest_mask = wt.zeros((2, 2))
    cond_mask = wt.tensor([[True, False], [False, True]])
    dest_mask[cond_mask] = source_mask[cond_mask]
    show("2-D destination (after)", dest_mask.tolist())

    # Without any sync: where() keeps the unselected elements; masked_scatter
    # fed by the fixed-size masked_select result needs no count either.
    show("where(cond, source, dest)", wt.where(cond_mask, source_mask, wt.zeros((2, 2))).tolist())
    packed = source_mask.float().masked_select(cond_mask)
    show("masked_scatter(cond, masked_select)", wt.zeros((2, 2)).masked_scatter(cond_mask, packed).tolist())

    # Example 3 as printed: a (3, 1) source indexed with a (3, 2) mask. A mask
    # must match the indexed tensor's shape, so (like PyTorch) this is an IndexError.
    source_mask = wt.tensor([100, 200, 300])
    dest_mask = wt.zeros((3, 2))
    cond_mask = wt.tensor([[True, False], [False, True], [True, False]])
    source_mask = source_mask.unsqueeze(1)
    try:
        dest_mask[cond_mask] = source_mask[cond_mask]
    except IndexError as e:
        show("example 3 as printed", f"IndexError: {e}")
    show("destination untouched", dest_mask.tolist())
    # The working form: broadcast the source to the mask's shape first.
    dest_mask[cond_mask] = source_mask.expand_as(cond_mask)[cond_mask]
    show("example 3 with expand_as", dest_mask.tolist())
    # or, with no sync at all:
    show("where(cond, source, dest)", wt.where(cond_mask, source_mask, wt.zeros((3, 2))).tolist())


if __name__ == "__main__":
    main()

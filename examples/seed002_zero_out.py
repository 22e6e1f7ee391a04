"""Seed 002 (zero out elements based on another tensor's values), example by example, on the GPU.

Each block prints what it shows; tests/test_examples.py asserts the printed values.
Run: python examples/seed002_zero_out.py
"""
import wgpu_tensor as wt


def show(label, value):
    print(f"{label:44s} {value}")


def main():
    # Example 1: threshold-based zeroing. x[mask] = 0 is a masked_fill_: no sync.
    source_tensor = wt.tensor([1.5, 2.0, 0.8, 3.1, 1.2])
    target_tensor = wt.tensor([1.0, 3.0, 0.5, 4.0, 1.8])
    mask = target_tensor > source_tensor
    target_tensor[mask] = 0
    show("threshold mask", mask.tolist())
    # The seed's comment says tensor([0., 1., 0.5, 0., 0.]); 1.0 > 1.5 is false,
    # so the first element stays 1.0 (PyTorch prints the same as we do).
    show("threshold result", target_tensor.tolist())

    # Example 2: range-based zeroing. As printed, the seed compares a (5,) target
    # with (3,) bounds: the shapes do not broadcast, and (like PyTorch) that is an error.
    source_tensor = wt.tensor([[1.0, 3.0], [0.5, 2.5], [2.0, 4.0]])
    target_tensor = wt.tensor([1.5, 2.2, 3.8, 0.7, 1.2])
    try:
        mask = (target_tensor >= source_tensor[:, 0]) & (target_tensor <= source_tensor[:, 1])
    except ValueError as e:
        show("range example as printed", f"ValueError: {e}")
    # The working form: one row per range, one column per element ([3, 5]),
    # then zero the elements inside any range (mask.any(dim=0)).
    inside = (target_tensor[None, :] >= source_tensor[:, 0:1]) & (target_tensor[None, :] <= source_tensor[:, 1:2])
    show("range mask shape", list(inside.shape))
    show("inside any range", inside.any(dim=0).tolist())
    target_tensor[inside.any(dim=0)] = 0
    show("range result", target_tensor.tolist())
    # The same with ranges that leave some elements alone.
    narrow = wt.tensor([[1.4, 1.6], [3.5, 4.0]])
    t2 = wt.tensor([1.5, 2.2, 3.8, 0.7, 1.2])
    t2[((t2[None, :] >= narrow[:, 0:1]) & (t2[None, :] <= narrow[:, 1:2])).any(dim=0)] = 0
    show("narrow range result", t2.tolist())

    # Example 3: zero the elements whose value is in a set: isin (a GPU sort of the
    # set plus a binary search per element).
    source_tensor = wt.tensor([2, 5, 8])
    target_tensor = wt.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9])
    mask = wt.isin(target_tensor, source_tensor)
    target_tensor[mask] = 0
    show("isin result", target_tensor.tolist())


if __name__ == "__main__":
    main()

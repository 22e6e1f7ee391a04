"""wgpu_tensor in one page: a mask built on the GPU, and the three ways to select with it.

Run it with `bash scripts/run-example.sh` (sets everything up) or `python examples/quickstart.py`.
The example is the one on the masked_select API page (seed 001).
"""
import asyncio

import wgpu_tensor as wt


def main():
    info = wt.device_info()
    print(f"adapter:                 {info['name']} ({info['backend']}, {info['type']})")

    x = wt.tensor([[1, 2, 3], [4, 5, 6]])
    mask = x.gt(3)
    print(f"x:\n{x}")
    print(f"mask = x.gt(3):\n{mask}")

    # Fixed size, never syncs: shape [N] (N = 6 elements), the selected ones packed first;
    # .count is a 0-d int32 tensor on the GPU. The result is counted: reductions, ops and
    # host reads use the first .count elements only (.uncounted() gives the raw buffer,
    # whose elements past the count are unspecified).
    syncs = wt.sync_count()
    sel = x.masked_select(mask)
    assert wt.sync_count() == syncs, "masked_select must not read from the GPU"
    print(f"x.masked_select(mask):   shape {list(sel.shape)}, GPU reads while selecting: "
          f"{wt.sync_count() - syncs}")
    k = sel.count.item()                       # an explicit read of 4 bytes
    print(f"  .count:                {sel.count} -> {k}")
    print(f"  as a counted result:   {sel}")
    print(f"  sel.sum(), sel.mean(): {sel.sum().item()}, {sel.float().mean().item()} (no read until .item())")
    filled = wt.masked_select(x, mask, fill_value=0)
    print(f"  raw buffer, fill_value=0: {filled.uncounted().tolist()}")

    # Exact size: x[mask] blocks once for the count.
    print(f"x[mask]:                 {x[mask]}")

    # Exact size without blocking the event loop: awaits the 4-byte count only.
    async def select_async():
        return await x.masked_select_async(mask)

    exact = asyncio.run(select_async())
    print(f"await x.masked_select_async(mask): {exact}")

    assert exact.tolist() == x[mask].tolist() == sel.tolist() == [4, 5, 6] and k == 3
    assert sel.sum().item() == 15
    assert filled.uncounted().tolist() == [4, 5, 6, 0, 0, 0]


if __name__ == "__main__":
    main()

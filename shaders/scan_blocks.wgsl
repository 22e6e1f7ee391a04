// scan_blocks.wgsl: OFFSETS[b] = sum of COUNTS[0..b); COUNT[0] = sum of all.
// Bindings: 0 P, 1 COUNTS (u32), 2 OFFSETS (u32, rw), 3 COUNT (u32, rw: the result's .count).
// One workgroup walks the block counts in tiles of 4 * WG, carrying the running total.

@group(0) @binding(0) var<uniform> P: SelectParams;
@group(0) @binding(1) var<storage, read> COUNTS: array<u32>;
@group(0) @binding(2) var<storage, read_write> OFFSETS: array<u32>;
@group(0) @binding(3) var<storage, read_write> COUNT: array<u32>;

//@include select_common

fn count_at(i: u32) -> u32 {
    if (i < P.nblocks) {
        return COUNTS[i];
    }
    return 0u;
}

//@include select_entry
    var carry = 0u;
    let tiles = (P.nblocks + 4u * WG - 1u) / (4u * WG);
    for (var t = 0u; t < tiles; t = t + 1u) {
        let i = t * 4u * WG + li * 4u;
        let v = vec4<u32>(count_at(i), count_at(i + 1u), count_at(i + 2u), count_at(i + 3u));
        let own = v.x + v.y + v.z + v.w;
        let s = wg_scan4(vec4<u32>(own, 0u, 0u, 0u), li, sid, ssz);
        let base = carry + s.excl.x;
        let pre = vec4<u32>(base, base + v.x, base + v.x + v.y, base + v.x + v.y + v.z);
        for (var k = 0u; k < 4u; k = k + 1u) {
            if (i + k < P.nblocks) {
                OFFSETS[i + k] = pre[k];
            }
        }
        carry = carry + s.total.x;
    }
    if (li == 0u) {
        COUNT[0] = carry;
    }
}

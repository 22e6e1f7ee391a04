// count_blocks_sg.wgsl: COUNTS[blk0 + b] = true mask bytes in block b (subgroup path).
// Bindings: 0 P, 1 M (mask words as vec4, 16 bools each; absent when FUSED: the mask is a
// predicate evaluated from its tensors, select_pred.wgsl, bound from 3), 2 COUNTS (u32, rw).
// One subgroup counts one block (BLOCK_WORDS words) with subgroupAdd: no
// workgroup barriers; subgroups stride over the blocks, so any subgroup size works.

@group(0) @binding(0) var<uniform> P: SelectParams;
//@if !FUSED
@group(0) @binding(1) var<storage, read> M: array<vec4<u32>>;
//@endif
@group(0) @binding(2) var<storage, read_write> COUNTS: array<u32>;

//@include select_common
//@if FUSED
//@include select_pred
//@endif

//@include select_entry
    let n_sg = nwg.x * nwg.y * (WG / ssz);
    let nb = (P.n + BLOCK_WORDS * 4u - 1u) / (BLOCK_WORDS * 4u);
    for (var b = ((wid.x + wid.y * nwg.x) * WG + li) / ssz; b < nb; b = b + n_sg) {
        var c = 0u;
        for (var v = sid; v < BLOCK_WORDS / 4u; v = v + ssz) {
            let w = b * BLOCK_WORDS + v * 4u;
//@if FUSED
            let m = pred_words(w);
//@else
            let m = M[(P.m_off + w) / 4u];
//@endif
            c = c + countOneBits(m.x & valid_bits(w)) + countOneBits(m.y & valid_bits(w + 1u))
                  + countOneBits(m.z & valid_bits(w + 2u)) + countOneBits(m.w & valid_bits(w + 3u));
        }
        let total = subgroupAdd(c);
        if (sid == 0u) {
            COUNTS[P.blk0 + b] = total;
        }
    }
}

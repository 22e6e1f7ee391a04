// count_blocks.wgsl: COUNTS[blk0 + b] = number of true mask bytes in block b.
// Bindings: 0 P, 1 M (mask as u32 words, 4 bools each; absent when FUSED: the mask is a
// predicate evaluated from its tensors, select_pred.wgsl, bound from 3), 2 COUNTS (u32, rw).
// One invocation counts 4 mask words (16 elements) with countOneBits.

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
    let b = wid.x + wid.y * nwg.x;
    if (b * BLOCK_WORDS * 4u >= P.n) {
        return;
    }
    let w = b * BLOCK_WORDS + li * 4u;
//@if FUSED
    let m = pred_words(w);
//@else
    let m = M[(P.m_off + w) / 4u];
//@endif
    let c = countOneBits(m.x & valid_bits(w)) + countOneBits(m.y & valid_bits(w + 1u))
          + countOneBits(m.z & valid_bits(w + 2u)) + countOneBits(m.w & valid_bits(w + 3u));
    let s = wg_scan4(vec4<u32>(c, 0u, 0u, 0u), li, sid, ssz);
    if (li == 0u) {
        COUNTS[P.blk0 + b] = s.total.x;
    }
}

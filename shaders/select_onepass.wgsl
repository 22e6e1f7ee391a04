// select_onepass.wgsl: masked_select in one pass (count + scan + scatter fused):
// a single-pass scan with decoupled look-back and fallback (Smith, Levien,
// Owens, SPAA 2025), which reads the mask and x once.
// Bindings and tile states: select_onepass_common.wgsl (VALUES always here).
// One workgroup of WG threads takes the next block (BLOCK_WORDS words) from the tile
// counter, so blocks start in order; one invocation ranks 4 mask words (16
// elements) with one workgroup scan, publishes the block's count (AGG), looks back
// (select_lookback.wgsl) over its predecessors' states summing AGG values until it meets an inclusive
// prefix (INCL), and publishes its own INCL. A predecessor that has published
// nothing after a few polls is counted by this workgroup from its mask (the
// fallback) and published with atomicMax, so no workgroup ever waits on one
// that may not be scheduled: safe without forward-progress guarantees. States are
// one u32 (2 flag bits, 30 value bits): the runtime uses this path only below
// 2**30 elements. Then every element is written branch-free (emit_all).

//@include select_onepass_common
//@include select_lookback

var<workgroup> bcast: u32;

// v of invocation 0, in every invocation of the workgroup (look-back: the leader's).
fn share(v: u32, lead: bool) -> u32 {
    if (lead) {
        bcast = v;
    }
    return workgroupUniformLoad(&bcast);
}

// Bits of the 4 mask words of thread li in segment-relative block b.
fn block_bits(b: u32, li: u32) -> vec4<u32> {
    let w = b * BLOCK_WORDS + li * 4u;
//@if FUSED
    let mv = pred_words(w);
//@else
    let mv = M[(P.m_off + w) / 4u];
//@endif
    return vec4<u32>(mv.x & valid_bits(w), mv.y & valid_bits(w + 1u),
                     mv.z & valid_bits(w + 2u), mv.w & valid_bits(w + 3u));
}

fn sum4(c: vec4<u32>) -> u32 {
    return c.x + c.y + c.z + c.w;
}

// True elements of segment-relative block t, counted by the workgroup (look-back fallback).
fn tile_total(t: u32, li: u32, sid: u32, ssz: u32) -> u32 {
    return wg_scan4(vec4<u32>(sum4(countOneBits(block_bits(t, li))), 0u, 0u, 0u), li, sid, ssz).total.x;
}

//@include select_entry
    // Surplus workgroups of a 2-D grid leave before taking a tile, so the counter
    // ends each segment at the next segment's first block.
    if ((wid.x + wid.y * nwg.x) * BLOCK_WORDS * 4u >= P.n) {
        return;
    }
    let tile = next_tile(li == 0u);             // global block index
    let b = tile - P.blk0;                      // block in this segment
//@if FUSED
    // x's 16 words of this thread, loaded once: the predicate may read them, and they
    // are written out.
    let wb = b * BLOCK_WORDS + li * 4u;
    let xi = P.x_off / 4u + wb;
    let xs = array<vec4<u32>, 4>(X[xi], X[xi + 1u], X[xi + 2u], X[xi + 3u]);
    let bits = vec4<u32>(pred_word(wb, xs[0]) & valid_bits(wb), pred_word(wb + 1u, xs[1]) & valid_bits(wb + 1u),
                         pred_word(wb + 2u, xs[2]) & valid_bits(wb + 2u),
                         pred_word(wb + 3u, xs[3]) & valid_bits(wb + 3u));
//@else
    let bits = block_bits(b, li);
//@endif
    let cnt = countOneBits(bits);
    let s = wg_scan4(vec4<u32>(sum4(cnt), 0u, 0u, 0u), li, sid, ssz);
    let total = s.total.x;
    let prefix = look_back(tile, total, li == 0u, li, sid, ssz);
    let full = (b + 1u) * BLOCK_WORDS * 4u <= P.n;
    var pos = prefix + s.excl.x;
    let w = b * BLOCK_WORDS + li * 4u;
    for (var k = 0u; k < 4u; k = k + 1u) {
//@if FUSED
        if (full) {
            emit_xv(pos, w + k, bits[k], xs[k]);
        } else {
            emit_xv_tail(pos, w + k, bits[k], xs[k]);
        }
//@else
        if (full) {
            emit_all(pos, w + k, bits[k]);
        } else {
            emit_all_tail(pos, w + k, bits[k]);
        }
//@endif
        pos = pos + cnt[k];
    }
}

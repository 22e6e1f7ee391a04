// select_onepass.wgsl: masked_select in one pass (count + scan + scatter fused):
// a single-pass scan with decoupled look-back and fallback (Smith, Levien,
// Owens, SPAA 2025), which reads the mask and x once.
// Bindings and tile states: select_onepass_common.wgsl (VALUES always here).
// One workgroup of WG threads takes the next block (BLOCK_WORDS words) from the tile
// counter, so blocks start in order; one invocation ranks 4 mask words (16
// elements) with one workgroup scan, publishes the block's count (AGG), looks back
// over its predecessors' states summing AGG values until it meets an inclusive
// prefix (INCL), and publishes its own INCL. A predecessor that has published
// nothing after a few polls is counted by this workgroup from its mask (the
// fallback) and published with atomicMax, so no workgroup ever waits on one
// that may not be scheduled: safe without forward-progress guarantees. States are
// one u32 (2 flag bits, 30 value bits): the runtime uses this path only below
// 2**30 elements. Then every element is written branch-free (emit_all).

//@include select_onepass_common

var<workgroup> bcast: u32;

// Bits of the 4 mask words of thread li in segment-relative block b.
fn block_bits(b: u32, li: u32) -> vec4<u32> {
    let w = b * BLOCK_WORDS + li * 4u;
//@if NOT_FUSED
    let mv = M[(P.m_off + w) / 4u];
//@endif
//@if FUSED
    let mv = pred_words(w);
//@endif
    return vec4<u32>(mv.x & valid_bits(w), mv.y & valid_bits(w + 1u),
                     mv.z & valid_bits(w + 2u), mv.w & valid_bits(w + 3u));
}

fn sum4(c: vec4<u32>) -> u32 {
    return c.x + c.y + c.z + c.w;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
//@if SUBGROUPS
        @builtin(subgroup_invocation_id) sid: u32,
        @builtin(subgroup_size) ssz: u32,
//@endif
        @builtin(local_invocation_index) li: u32) {
//@if NO_SUBGROUPS
    let sid = 0u;
    let ssz = 1u;
//@endif
    // Surplus workgroups of a 2-D grid leave before taking a tile, so the counter
    // ends each segment at the next segment's first block.
    if ((wid.x + wid.y * nwg.x) * BLOCK_WORDS * 4u >= P.n) {
        return;
    }
    if (li == 0u) {
        bcast = atomicAdd(&FLAGS[0], 1u);
    }
    let tile = workgroupUniformLoad(&bcast);   // global block index
    let b = tile - P.blk0;                      // block in this segment
//@if NOT_FUSED
    let bits = block_bits(b, li);
//@endif
//@if FUSED
    // x's 16 words of this thread, loaded once: they give the mask and are written out.
    let wb = b * BLOCK_WORDS + li * 4u;
    let xi = P.x_off / 4u + wb;
    let xs = array<vec4<u32>, 4>(X[xi], X[xi + 1u], X[xi + 2u], X[xi + 3u]);
    let bits = vec4<u32>(pred_word(xs[0]) & valid_bits(wb), pred_word(xs[1]) & valid_bits(wb + 1u),
                         pred_word(xs[2]) & valid_bits(wb + 2u), pred_word(xs[3]) & valid_bits(wb + 3u));
    store_words(wb, bits);
//@endif
    let cnt = countOneBits(bits);
    let s = wg_scan4(vec4<u32>(sum4(cnt), 0u, 0u, 0u), li, sid, ssz);
    let total = s.total.x;
    if (li == 0u) {
        atomicMax(&FLAGS[1u + tile], select(AGG, INCL, tile == 0u) | total);
    }
    var prefix = 0u;
    if (tile != 0u) {
        var lb = tile - 1u;
        loop {
            if (li == 0u) {
                var f = 0u;
                // An earlier segment's block is complete: one poll finds it. SPINS = 0
                // (tests) falls back on every in-segment predecessor.
                let polls = select(SPINS, 1u, lb < P.blk0);
                for (var i = 0u; i < polls; i = i + 1u) {
                    f = atomicLoad(&FLAGS[1u + lb]);
                    if (f != 0u) {
                        break;
                    }
                }
                bcast = f;
            }
            let f = workgroupUniformLoad(&bcast);
            if ((f & INCL) != 0u) {
                prefix = prefix + (f & VALUE);
                break;
            }
            if (f != 0u) {
                prefix = prefix + (f & VALUE);
                lb = lb - 1u;
                continue;
            }
            if (lb < P.blk0) {
                continue;   // an earlier segment's block (complete): poll again
            }
            // Fallback: count block lb ourselves and publish it.
            let fc = wg_scan4(vec4<u32>(sum4(countOneBits(block_bits(lb - P.blk0, li))), 0u, 0u, 0u),
                              li, sid, ssz).total.x;
            if (li == 0u) {
                bcast = atomicMax(&FLAGS[1u + lb], select(AGG, INCL, lb == 0u) | fc);
            }
            let old = workgroupUniformLoad(&bcast);
            if ((old & INCL) != 0u) {
                prefix = prefix + (old & VALUE);
                break;
            }
            prefix = prefix + fc;
            if (lb == 0u) {
                break;
            }
            lb = lb - 1u;
        }
        if (li == 0u) {
            atomicMax(&FLAGS[1u + tile], INCL | (prefix + total));
        }
    }
    if (li == 0u && tile == P.nblocks - 1u) {
        COUNT[0] = prefix + total;
    }
    let full = (b + 1u) * BLOCK_WORDS * 4u <= P.n;
    var pos = prefix + s.excl.x;
    let w = b * BLOCK_WORDS + li * 4u;
    for (var k = 0u; k < 4u; k = k + 1u) {
//@if NOT_FUSED
        if (full) {
            emit_all(pos, w + k, bits[k]);
        } else {
            emit_all_tail(pos, w + k, bits[k]);
        }
//@endif
//@if FUSED
        if (full) {
            emit_xv(pos, w + k, bits[k], xs[k]);
        } else {
            emit_xv_tail(pos, w + k, bits[k], xs[k]);
        }
//@endif
        pos = pos + cnt[k];
    }
}

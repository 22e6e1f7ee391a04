// select_onepass_sg.wgsl: masked_select in one pass, subgroup path: the decoupled
// look-back with fallback of select_onepass.wgsl run by one subgroup per tile of
// TILE elements, with no workgroup barriers (cheap where barriers are costly, as on
// CPU drivers that run a workgroup's subgroups one after another).
// Bindings and tile states: select_onepass_common.wgsl.
// A subgroup takes the next tile from the tile counter; each lane owns a contiguous
// run of TILE / subgroup_size elements (the builtin size the pipeline runs with: no
// private array is sized from the runtime's start-up probe, so any subgroup size is
// exact): it counts the run's mask words, and one subgroupExclusiveAdd ranks the
// lanes. The subgroup publishes the tile's count (AGG), looks back
// (select_lookback.wgsl: lane 0 polls a predecessor's state a few times, then the
// subgroup counts that tile from its mask and publishes it with atomicMax: the
// fallback), publishes its inclusive prefix (INCL), and each lane reads its run again
// (still in the CPU's cache; FUSED_X evaluates the predicate again from x's words) to
// write its selected elements, and only those: sparse tiles (under SPARSE_LIM
// selected) word by word, skipping words without any; dense tiles (PACKED: VALUES,
// or 1-D nonzero) packed into aligned vec4 stores (select_out.wgsl's pack4, the
// windows bound as vec4 arrays with OUTV). Long runs matter on CPU adapters: a lane's
// stores are contiguous, and runs of a few KB store at the copy kernel's speed.
// VALUES writes x's words (binding 3: X); !VALUES (nonzero, no X) the selected
// elements' indices (PACKED, 1-D) or NDIM coordinates (sparse path only).
// Template: TILE (a power of two >= 16, dividing the segment length), SPINS, K,
// ONE_WINDOW, OUTV, PACKED, FULL (every tile of the dispatch is whole: no bound
// checks; the runtime launches a segment's partial last tile as its own !FULL
// dispatch after it), SPARSE_LIM (a tile with fewer selected elements takes the
// sparse path), FUSED, FUSED_X (FUSED and VALUES: the predicate reads x's words).

//@include select_onepass_common
//@include select_lookback
const TILE: u32 = {{TILE}}u;
const SPARSE_LIM: u32 = {{SPARSE_LIM}}u;  // tiles with fewer selected write only the selected elements
const TILE_V: u32 = TILE / 16u;   // mask vec4s (16 elements each) per tile

// v of the subgroup's first lane (the leader), in every lane.
fn share(v: u32, lead: bool) -> u32 {
    return subgroupBroadcastFirst(v);
}

// Mask bits of 4 words from w (segment-relative), 0 past the segment's end.
fn word_bits(w: u32) -> vec4<u32> {
//@if FUSED
    let mv = pred_words(w);
//@else
    let mv = M[(P.m_off + w) / 4u];
//@endif
//@if FULL
    return mv & vec4<u32>(0x01010101u);
//@else
    return vec4<u32>(mv.x & valid_bits(w), mv.y & valid_bits(w + 1u),
                     mv.z & valid_bits(w + 2u), mv.w & valid_bits(w + 3u));
//@endif
}

fn sum4(c: vec4<u32>) -> u32 {
    return c.x + c.y + c.z + c.w;
}

// True elements of segment-relative tile t, summed over the subgroup (look-back fallback).
fn tile_total(t: u32, li: u32, sid: u32, ssz: u32) -> u32 {
    var c = 0u;
    for (var v = sid; v < TILE_V; v = v + ssz) {
        c = c + sum4(countOneBits(word_bits(t * (TILE / 4u) + v * 4u)));
    }
    return subgroupAdd(c);
}

//@include select_entry
    // Subgroups take tiles from the counter until the segment's nt are taken, so the
    // counter ends each segment at the next segment's first tile. The launch is sized
    // for one tile per subgroup of the probed size; a GPU may run the pipeline with
    // larger subgroups (fewer of them: each takes several tiles) or smaller ones
    // (surplus subgroups take none).
    let nt = (P.n + TILE - 1u) / TILE;
    let n_sg = nwg.x * nwg.y * (WG / ssz);
    for (var j = ((wid.x + wid.y * nwg.x) * WG + li) / ssz; j < nt; j = j + n_sg) {
        one_tile(next_tile(sid == 0u), li, sid, ssz);   // global tile index
    }
}

// Global tile `tile`, by one subgroup.
fn one_tile(tile: u32, li: u32, sid: u32, ssz: u32) {
    let b = tile - P.blk0;                      // tile in this segment
    // This lane's run: mask vec4s [v0, v1) of the tile, from the subgroup size the
    // pipeline runs with (no private array is sized from the runtime's probe).
    let per = (TILE_V + ssz - 1u) / ssz;
    let v0 = min(sid * per, TILE_V);
    let v1 = min(v0 + per, TILE_V);
    let w0 = b * (TILE / 4u) + v0 * 4u;
    // Count the run (FUSED: the predicate from x's words).
    var c = 0u;
    for (var v = 0u; v < v1 - v0; v = v + 1u) {
        c = c + sum4(countOneBits(word_bits(w0 + v * 4u)));
    }
    let excl = subgroupExclusiveAdd(c);
    let total = subgroupAdd(c);
    let prefix = look_back(tile, total, sid == 0u, li, sid, ssz);
    let pos = prefix + excl;
    // The run is read again to write it (a lane's run, TILE / 16 / subgroup size mask
    // vec4s and their x words, is still in the CPU's cache).
    if (total < SPARSE_LIM) {
        // A sparse tile: only the selected elements are read and written (a
        // lane skips its words without any), the tail is left as it was.
        var p0 = pos;
        for (var v = 0u; v < v1 - v0; v = v + 1u) {
            let w = w0 + v * 4u;
            let bv = word_bits(w);
            let cnt = countOneBits(bv);
            if (any(bv != vec4<u32>(0u))) {
                var p = p0;
                for (var k = 0u; k < 4u; k = k + 1u) {
                    if (bv[k] != 0u) {
                        emit_word(p, w + k, bv[k]);
                    }
                    p = p + cnt[k];
                }
            }
            p0 = p0 + sum4(cnt);
        }
        return;
    }
//@if PACKED
    // A dense tile: the lane's c selected words (FLAT: their indices), packed in
    // registers and stored as whole aligned vec4s (select_out.wgsl's pack4). Rejected
    // elements are not written (the tail is left as it was, as in sparse tiles).
    var st = pack_start(P.out_off + pos, c);
    for (var v = 0u; v < v1 - v0; v = v + 1u) {
        let w = w0 + v * 4u;
//@if FUSED_X
        // x's words, each loaded once here: the predicate reads them, and they are written.
        for (var k = 0u; k < 4u; k = k + 1u) {
            let xv = X[P.x_off / 4u + w + k];
//@if FULL
            pack4(&st, pred_word(w + k, xv), xv);
//@else
            pack4(&st, pred_word(w + k, xv) & valid_bits(w + k), xv);
//@endif
        }
//@else
        let bv = word_bits(w);
        for (var k = 0u; k < 4u; k = k + 1u) {
//@if VALUES
            pack4(&st, bv[k], X[P.x_off / 4u + w + k]);
//@else
            pack4(&st, bv[k], vec4<u32>(P.g0 + (w + k) * 4u) + vec4<u32>(0u, 1u, 2u, 3u));
//@endif
        }
//@endif
    }
    pack_end(&st);
//@endif
}

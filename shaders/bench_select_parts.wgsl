// bench_select_parts.wgsl: benchmark only (benchmarks/bench_select_parts.py), never used by
// the package: the one-pass subgroup selection (select_onepass_sg.wgsl, whole tiles, one
// output window) with its parts switched off one at a time, so that their costs can be
// told apart by subtraction. Bindings: select_onepass_common.wgsl.
// Template: TILE, SPARSE_LIM, SPINS, OUTV, PACKED as there; RANK (subgroup scans of the lanes'
// counts; else each lane assumes the mean), LOOKBACK (decoupled look-back; else a
// tile's prefix is assumed: tile * TILE / 2), STORES (the output writes; else one
// write no lane takes keeps the loads and ranks alive; VALUES still loads x), FLAT
// (!VALUES, 1-D, every tile sparse: the index written directly instead of emit_word's
// coordinate loop; the nonzero path before packed stores).
// With RANK, LOOKBACK and STORES (and !FLAT) it is the real kernel's work and gives its
// output.

//@include select_onepass_common
//@include select_lookback
const TILE: u32 = {{TILE}}u;
const SPARSE_LIM: u32 = {{SPARSE_LIM}}u;
const TILE_V: u32 = TILE / 16u;

fn share(v: u32, lead: bool) -> u32 {
    return subgroupBroadcastFirst(v);
}

fn word_bits(w: u32) -> vec4<u32> {
    return M[(P.m_off + w) / 4u] & vec4<u32>(0x01010101u);
}

fn sum4(c: vec4<u32>) -> u32 {
    return c.x + c.y + c.z + c.w;
}

fn tile_total(t: u32, li: u32, sid: u32, ssz: u32) -> u32 {
    var c = 0u;
    for (var v = sid; v < TILE_V; v = v + ssz) {
        c = c + sum4(countOneBits(word_bits(t * (TILE / 4u) + v * 4u)));
    }
    return subgroupAdd(c);
}

//@include select_entry
    let nt = (P.n + TILE - 1u) / TILE;
    if (((wid.x + wid.y * nwg.x) * WG + li) / ssz >= nt) {
        return;
    }
    let tile = next_tile(sid == 0u);
    let b = tile - P.blk0;
    let per = (TILE_V + ssz - 1u) / ssz;
    let v0 = min(sid * per, TILE_V);
    let v1 = min(v0 + per, TILE_V);
    let w0 = b * (TILE / 4u) + v0 * 4u;
    var c = 0u;
    for (var v = 0u; v < v1 - v0; v = v + 1u) {
        c = c + sum4(countOneBits(word_bits(w0 + v * 4u)));
    }
//@if RANK
    let excl = subgroupExclusiveAdd(c);
    let total = subgroupAdd(c);
//@else
    let excl = sid * c;
    let total = ssz * c;
//@endif
//@if LOOKBACK
    let prefix = look_back(tile, total, sid == 0u, li, sid, ssz);
//@else
    let prefix = tile * (TILE / 2u);
//@endif
    let pos = prefix + excl;
//@if STORES
    if (total < SPARSE_LIM) {
        var p0 = pos;
        for (var v = 0u; v < v1 - v0; v = v + 1u) {
            let w = w0 + v * 4u;
            let bv = word_bits(w);
            let cnt = countOneBits(bv);
            if (any(bv != vec4<u32>(0u))) {
                var p = p0;
                for (var k = 0u; k < 4u; k = k + 1u) {
                    if (bv[k] != 0u) {
//@if FLAT
                        // 1-D nonzero: the index itself, no coordinate loop (no division)
                        var q = p;
                        for (var j = 0u; j < 4u; j = j + 1u) {
                            if (((bv[k] >> (8u * j)) & 1u) != 0u) {
                                put(q, P.g0 + (w + k) * 4u + j);
                                q = q + 1u;
                            }
                        }
//@else
                        emit_word(p, w + k, bv[k]);
//@endif
                    }
                    p = p + cnt[k];
                }
            }
            p0 = p0 + sum4(cnt);
        }
        return;
    }
//@if PACKED
    // dense tile: packed vec4 stores (select_out.wgsl's pack4), as the real kernel
    var st = pack_start(P.out_off + pos, c);
    for (var v = 0u; v < v1 - v0; v = v + 1u) {
        let w = w0 + v * 4u;
        let bv = word_bits(w);
        for (var k = 0u; k < 4u; k = k + 1u) {
//@if VALUES
            pack4(&st, bv[k], X[(P.x_off / 4u) + w + k]);
//@else
            pack4(&st, bv[k], vec4<u32>(P.g0 + (w + k) * 4u) + vec4<u32>(0u, 1u, 2u, 3u));
//@endif
        }
    }
    pack_end(&st);
//@endif
//@else
    // no output: a write that no lane takes (pos never reaches 2^32 - 1) keeps the
    // work, the second read of the run included (VALUES: x's words too)
    var keep = 0u;
    for (var v = 0u; v < v1 - v0; v = v + 1u) {
        let w = w0 + v * 4u;
        let bv = word_bits(w);
        keep = keep ^ bv.x ^ bv.w;
//@if VALUES
        for (var k = 0u; k < 4u; k = k + 1u) {
            let xv = X[(P.x_off / 4u) + w + k];
            keep = keep ^ xv.x ^ xv.y ^ xv.z ^ xv.w;
        }
//@endif
    }
    if (pos + keep == 0xffffffffu) {
        COUNT[0] = pos;
    }
//@endif
}

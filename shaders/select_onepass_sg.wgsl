// select_onepass_sg.wgsl: masked_select in one pass, subgroup path: the decoupled
// look-back with fallback of select_onepass.wgsl run by one subgroup per block, with
// subgroup scans and no workgroup barriers (cheap where barriers are costly, as on
// CPU drivers that run a workgroup's subgroups one after another).
// Bindings: 0 P, 1 M (mask words as vec4, 16 bools each), 2 FLAGS (atomic u32, rw:
// [0] tile counter, [1 + t] the state of block t; cleared before the first segment),
// 3 X (vec4 of u32 words), 4.. OUT0..OUT{K-1} (u32 windows of the output, rw),
// 4+K COUNT (u32, rw: the total, written by the last block).
// A subgroup takes the next block from the tile counter, counts it (rounds of 4
// mask words per lane, subgroupAdd), publishes the count (AGG), looks back (lane 0
// polls a predecessor's state a few times, then the subgroup counts that block
// itself and publishes it with atomicMax: the fallback), publishes its inclusive
// prefix (INCL), then walks the block again (its mask now in cache), ranking each
// round with subgroupExclusiveAdd, and writes every element branch-free (emit_all).

@group(0) @binding(0) var<uniform> P: SelParams;
@group(0) @binding(1) var<storage, read> M: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> FLAGS: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> X: array<vec4<u32>>;
//@repeat K
@group(0) @binding({{i}} + 4) var<storage, read_write> OUT{{i}}: array<u32>;
//@end
@group(0) @binding({{K}} + 4) var<storage, read_write> COUNT: array<u32>;

//@include select_common
//@include select_out

const AGG: u32 = 0x40000000u;
const INCL: u32 = 0x80000000u;
const VALUE: u32 = 0x3fffffffu;
const SPINS: u32 = {{SPINS}}u;

fn word_bits(w: u32) -> vec4<u32> {
    let mv = M[(P.m_off + w) / 4u];
    return vec4<u32>(mv.x & valid_bits(w), mv.y & valid_bits(w + 1u),
                     mv.z & valid_bits(w + 2u), mv.w & valid_bits(w + 3u));
}

// True elements of segment-relative block b, summed over the subgroup.
fn block_count(b: u32, sid: u32, ssz: u32) -> u32 {
    var c = 0u;
    for (var v = sid; v < BLOCK_WORDS / 4u; v = v + ssz) {
        let k = countOneBits(word_bits(b * BLOCK_WORDS + v * 4u));
        c = c + k.x + k.y + k.z + k.w;
    }
    return subgroupAdd(c);
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sid: u32,
        @builtin(subgroup_size) ssz: u32,
        @builtin(local_invocation_index) li: u32) {
    // Surplus subgroups leave before taking a tile, so the counter ends each
    // segment at the next segment's first block.
    let nb = (P.n + BLOCK_WORDS * 4u - 1u) / (BLOCK_WORDS * 4u);
    if (((wid.x + wid.y * nwg.x) * WG + li) / ssz >= nb) {
        return;
    }
    var t = 0u;
    if (sid == 0u) {
        t = atomicAdd(&FLAGS[0], 1u);
    }
    let tile = subgroupBroadcastFirst(t);       // global block index
    let b = tile - P.blk0;                      // block in this segment
    let total = block_count(b, sid, ssz);
    if (sid == 0u) {
        atomicMax(&FLAGS[1u + tile], select(AGG, INCL, tile == 0u) | total);
    }
    var prefix = 0u;
    if (tile != 0u) {
        var lb = tile - 1u;
        loop {
            var f = 0u;
            if (sid == 0u) {
                // An earlier segment's block is complete: one poll finds it. SPINS = 0
                // (tests) falls back on every in-segment predecessor.
                let polls = select(SPINS, 1u, lb < P.blk0);
                for (var i = 0u; i < polls; i = i + 1u) {
                    f = atomicLoad(&FLAGS[1u + lb]);
                    if (f != 0u) {
                        break;
                    }
                }
            }
            f = subgroupBroadcastFirst(f);
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
            let fc = block_count(lb - P.blk0, sid, ssz);
            var old = 0u;
            if (sid == 0u) {
                old = atomicMax(&FLAGS[1u + lb], select(AGG, INCL, lb == 0u) | fc);
            }
            old = subgroupBroadcastFirst(old);
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
        if (sid == 0u) {
            atomicMax(&FLAGS[1u + tile], INCL | (prefix + total));
        }
    }
    if (sid == 0u && tile == P.nblocks - 1u) {
        COUNT[0] = prefix + total;
    }
    var base = prefix;
    let w_end = min(BLOCK_WORDS, (P.n + 3u) / 4u - b * BLOCK_WORDS);
    for (var r = 0u; r < w_end; r = r + 4u * ssz) {
        let w = b * BLOCK_WORDS + r + sid * 4u;
        let bits = word_bits(w);
        let cnt = countOneBits(bits);
        let c = cnt.x + cnt.y + cnt.z + cnt.w;
        var pos = base + subgroupExclusiveAdd(c);
        base = base + subgroupAdd(c);
        let full = w * 4u + 16u <= P.n;
        for (var k = 0u; k < 4u; k = k + 1u) {
            emit_all(pos, w + k, bits[k], full);
            pos = pos + cnt[k];
        }
    }
}

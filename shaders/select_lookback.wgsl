// select_lookback.wgsl: the decoupled look-back with fallback of the one-pass selection
// kernels (bindings: select_onepass_common.wgsl). Run by one group of invocations per tile
// (a workgroup or a subgroup), whose leader (lead) alone touches FLAGS. The includer
// defines share(v, lead) (the leader's v, in every invocation of the group) and
// tile_total(t, li, sid, ssz) (the true elements of segment-relative tile t, counted by
// the whole group: the fallback), the only places the two kernels differ.

// The group's global tile index, taken from the tile counter (so tiles start in order).
fn next_tile(lead: bool) -> u32 {
    var t = 0u;
    if (lead) {
        t = atomicAdd(&FLAGS[0], 1u);
    }
    return share(t, lead);
}

// The exclusive prefix of global tile `tile`, whose own count is `total`: publishes the
// count (AGG), sums the predecessors' states back to an inclusive prefix (counting a
// silent predecessor itself and publishing it: the fallback), publishes its own
// inclusive prefix (INCL); the last tile writes the selection's total to COUNT.
fn look_back(tile: u32, total: u32, lead: bool, li: u32, sid: u32, ssz: u32) -> u32 {
    if (lead) {
        atomicMax(&FLAGS[1u + tile], select(AGG, INCL, tile == 0u) | total);
    }
    var prefix = 0u;
    if (tile != 0u) {
        var lb = tile - 1u;
        loop {
            var f = 0u;
            if (lead) {
                // An earlier segment's tile is complete: one poll finds it. SPINS = 0
                // (tests) falls back on every in-segment predecessor.
                let polls = select(SPINS, 1u, lb < P.blk0);
                for (var i = 0u; i < polls; i = i + 1u) {
                    f = atomicLoad(&FLAGS[1u + lb]);
                    if (f != 0u) {
                        break;
                    }
                }
            }
            f = share(f, lead);
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
                continue;   // an earlier segment's tile (complete): poll again
            }
            // Fallback: count tile lb ourselves and publish it.
            let fc = tile_total(lb - P.blk0, li, sid, ssz);
            var old = 0u;
            if (lead) {
                old = atomicMax(&FLAGS[1u + lb], select(AGG, INCL, lb == 0u) | fc);
            }
            old = share(old, lead);
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
        if (lead) {
            atomicMax(&FLAGS[1u + tile], INCL | (prefix + total));
        }
    }
    if (lead && tile == P.nblocks - 1u) {
        COUNT[0] = prefix + total;
    }
    return prefix;
}

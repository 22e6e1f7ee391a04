// scatter_selected_sg.wgsl: writes every selected element of block b at OFFSETS[b] + its rank
// (subgroup path). Bindings: 0 P, 1 M (mask words), 2 OFFSETS (u32), 3 X (vec4 of u32
// words; VALUES only; TAKE: XW, the target's u32 words, rw), 4.. OUT0..OUT{K-1}
// (output windows, rw; TAKE: source windows, read), 4+K.. (FUSED, no M) the predicate's
// tensors (select_pred.wgsl). One subgroup walks one block in rounds
// of 4 mask words (16 elements) per lane; subgroupExclusiveAdd ranks a round,
// subgroupAdd carries it to the next. VALUES writes every element branch-free
// (emit_all: rejected ones from the end); nonzero and TAKE only the selected ones.

@group(0) @binding(0) var<uniform> P: SelectParams;
//@if !FUSED
@group(0) @binding(1) var<storage, read> M: array<vec4<u32>>;
//@endif
@group(0) @binding(2) var<storage, read> OFFSETS: array<u32>;
//@if VALUES
@group(0) @binding(3) var<storage, read> X: array<vec4<u32>>;
//@endif
//@if TAKE
@group(0) @binding(3) var<storage, read_write> XW: array<u32>;
//@endif
//@repeat K
//@if TAKE
@group(0) @binding({{i}} + 4) var<storage, read> OUT{{i}}: array<u32>;
//@else
@group(0) @binding({{i}} + 4) var<storage, read_write> OUT{{i}}: array<u32>;
//@endif
//@end

//@include select_common
//@include select_out
//@if FUSED
//@include select_pred
//@endif

//@include select_entry
    let n_sg = nwg.x * nwg.y * (WG / ssz);
    let nb = (P.n + BLOCK_WORDS * 4u - 1u) / (BLOCK_WORDS * 4u);
    for (var b = ((wid.x + wid.y * nwg.x) * WG + li) / ssz; b < nb; b = b + n_sg) {
        var base = OFFSETS[P.blk0 + b];
        let w_end = min(BLOCK_WORDS, (P.n + 3u) / 4u - b * BLOCK_WORDS);
        for (var r = 0u; r < w_end; r = r + 4u * ssz) {
            let w = b * BLOCK_WORDS + r + sid * 4u;
//@if FUSED
            let mv = pred_words(w);
//@else
            let mv = M[(P.m_off + w) / 4u];
//@endif
            let bits = vec4<u32>(mv.x & valid_bits(w), mv.y & valid_bits(w + 1u),
                                 mv.z & valid_bits(w + 2u), mv.w & valid_bits(w + 3u));
            let cnt = countOneBits(bits);
            let c = cnt.x + cnt.y + cnt.z + cnt.w;
            let rank = subgroupExclusiveAdd(c);
            let round_total = subgroupAdd(c);
//@if VALUES
            let full = w * 4u + 16u <= P.n;
            for (var k = 0u; k < 4u; k = k + 1u) {
                let pos = base + rank + cnt.x * u32(k > 0u) + cnt.y * u32(k > 1u) + cnt.z * u32(k > 2u);
                if (full) {
                    emit_all(pos, w + k, bits[k]);
                } else {
                    emit_all_tail(pos, w + k, bits[k]);
                }
            }
//@else
            if (c != 0u) {
                var pos = base + rank;
                for (var k = 0u; k < 4u; k = k + 1u) {
                    if (bits[k] != 0u) {
                        emit_word(pos, w + k, bits[k]);
                        pos = pos + cnt[k];
                    }
                }
            }
//@endif
            base = base + round_total;
        }
    }
}

// scatter_selected.wgsl: writes every selected element of block b at OFFSETS[b] + its rank
// (workgroup-memory path; scatter_selected_sg.wgsl is the subgroup path).
// Bindings: 0 P, 1 M (mask words), 2 OFFSETS (u32), 3 X (vec4 of u32 words; VALUES only; TAKE: XW, the
// target's u32 words, rw), 4.. OUT0..OUT{K-1} (u32 windows of the output, rw; TAKE: of
// the source, read), 4+K.. (FUSED, no M) the predicate's tensors (select_pred.wgsl).
// One invocation handles one mask
// word (4 elements) in each of 4 rounds; one vec4 scan gives the ranks of all 4 rounds.
// VALUES writes x's 32-bit words; nonzero (no flag) writes the NDIM coordinates of each element;
// TAKE (masked_scatter) reads source element `rank` into the element's own place.
// VALUES writes every element branch-free (emit_all).

@group(0) @binding(0) var<uniform> P: SelectParams;
//@if !FUSED
@group(0) @binding(1) var<storage, read> M: array<u32>;
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
    let b = wid.x + wid.y * nwg.x;
    if (b * BLOCK_WORDS * 4u >= P.n) {
        return;
    }
    var m: array<u32, 4>;
    var c = vec4<u32>(0u);
    for (var k = 0u; k < 4u; k = k + 1u) {
        let w = b * BLOCK_WORDS + k * WG + li;
//@if FUSED
        let bits = pred_word_at(w) & valid_bits(w);
//@else
        let bits = M[P.m_off + w] & valid_bits(w);
//@endif
        m[k] = bits;
        c[k] = countOneBits(bits);
    }
    let s = wg_scan4(c, li, sid, ssz);
    let t = s.total;
    let round_base = vec4<u32>(0u, t.x, t.x + t.y, t.x + t.y + t.z);
    let base = OFFSETS[P.blk0 + b];
//@if VALUES
    let full = (b + 1u) * BLOCK_WORDS * 4u <= P.n;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let w = b * BLOCK_WORDS + k * WG + li;
        if (full) {
            emit_all(base + round_base[k] + s.excl[k], w, m[k]);
        } else {
            emit_all_tail(base + round_base[k] + s.excl[k], w, m[k]);
        }
    }
//@else
    for (var k = 0u; k < 4u; k = k + 1u) {
        let bits = m[k];
        if (bits == 0u) {
            continue;
        }
        let w = b * BLOCK_WORDS + k * WG + li;
        emit_word(base + round_base[k] + s.excl[k], w, bits);
    }
//@endif
}

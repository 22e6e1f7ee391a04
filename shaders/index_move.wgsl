// index_move.wgsl: DST[dst(g)] = SRC[src(g)] (raw element bits, ISZ bytes) for the g-th
// element of an iteration shape; an index value may replace one coordinate of the source
// (IDX_SRC: gather, index_select, x[idx]) or of the destination (IDX_DST: scatter, x[idx] = v).
// Bindings: 0 P, 1 IDX (int32/uint32 index words; HAS_IDX), 2.. SRC0..SRC{KS-1} (u32 windows
// of the source; SRC_TENSOR), then DST0..DST{KD-1} (u32 windows of the destination, rw).
// One invocation moves 4 consecutive elements. OUT_WORDS (a fresh contiguous output) packs
// them into whole words; otherwise each element is stored on its own: a plain store for
// 4-byte elements, else a compare-exchange loop on its word (CAS) that
// changes only the element's bits, so neighbours in a word never race and a duplicate target
// ends up holding one of the values. Accumulation (scatter_add_, index_add_) is CAS too, with
// `merge` adding instead of replacing.
//
// Template: WG, ISZ (1, 2 or 4), KS, KD, ONE_DIM, HAS_IDX, IDX_SIGNED, IDX_SRC, IDX_DST,
// SRC_TENSOR (else the scalar P.scal), OUT_WORDS, CAS, and with CAS one merge: REPLACE,
// ACC_F32, ACC_F16, ACC_INT, ACC_BOOL.

//@uniform MoveParams

@group(0) @binding(0) var<uniform> P: MoveParams;
//@if HAS_IDX
@group(0) @binding(1) var<storage, read> IDX: array<u32>;
//@endif
//@repeat KS
@group(0) @binding(2 + {{i}}) var<storage, read> SRC{{i}}: array<u32>;
//@end
//@repeat KD
//@if CAS
@group(0) @binding(2 + {{KS}} + {{i}}) var<storage, read_write> DST{{i}}: array<atomic<u32>>;
//@else
@group(0) @binding(2 + {{KS}} + {{i}}) var<storage, read_write> DST{{i}}: array<u32>;
//@endif
//@end

const WG: u32 = {{WG}}u;
const ISZ: u32 = {{ISZ}}u;
const KS: u32 = {{KS}}u;
const KD: u32 = {{KD}}u;
const ONE_DIM: bool = {{ONE_DIM}};   // ndim <= 1: a compile-time choice, the loop costs even untaken
// Bits of one element within its word.
const EMASK: u32 = select(select(0xffu, 0xffffu, ISZ == 2u), 0xffffffffu, ISZ == 4u);

// Element offsets of DST, SRC, IDX for global linear index g.
fn offsets(g: u32) -> vec3<u32> {
    if (ONE_DIM) {
        // At most one (merged) dimension: no division.
        return P.off.xyz + g * P.dims[0].yzw;
    }
    var o = P.off.xyz;
    var rem = g;
    for (var d = i32(P.ndim) - 1; d >= 0; d = d - 1) {
        let dd = P.dims[d];
        let i = rem % dd.x;
        rem = rem / dd.x;
        o = o + i * dd.yzw;
    }
    return o;
}

//@if SRC_TENSOR
fn src_word(w: u32) -> u32 {
    if (KS == 1u) {
        return SRC0[w];
    }
    let k = w / P.src_win;
    let o = w - k * P.src_win;
    var r = 0u;
    switch k {
//@repeat KS
        case {{i}}u: { r = SRC{{i}}[o]; }
//@end
        default: {}
    }
    return r;
}
//@endif

// The bits of source element e (relative to SRC0's start).
fn load(e: u32) -> u32 {
//@if SRC_TENSOR
    let b = e * ISZ;
    return (src_word(b >> 2u) >> ((b & 3u) * 8u)) & EMASK;
//@else
    return P.scal;
//@endif
}

//@if OUT_WORDS
// A whole-word store of word w of a fresh contiguous output.
fn store_word(w: u32, v: u32) {
    if (KD == 1u) {
        DST0[w] = v;
        return;
    }
    let k = w / P.dst_win;
    let o = w - k * P.dst_win;
    switch k {
//@repeat KD
        case {{i}}u: { DST{{i}}[o] = v; }
//@end
        default: {}
    }
}
//@else
//@if CAS
//@if REPLACE
// The word `old` with the element at bit `sh` replaced by v.
fn merge(old: u32, sh: u32, v: u32) -> u32 {
    return (old & ~(EMASK << sh)) | (v << sh);
}
//@endif
//@if ACC_F32
fn merge(old: u32, sh: u32, v: u32) -> u32 {
    return bitcast<u32>(bitcast<f32>(old) + bitcast<f32>(v));
}
//@endif
//@if ACC_F16
fn merge(old: u32, sh: u32, v: u32) -> u32 {
    let sum = unpack2x16float(old >> sh).x + unpack2x16float(v).x;
    return (old & ~(EMASK << sh)) | ((pack2x16float(vec2<f32>(sum, 0.0)) & EMASK) << sh);
}
//@endif
//@if ACC_INT
// int32 and uint32 add alike in wrapping u32 arithmetic.
fn merge(old: u32, sh: u32, v: u32) -> u32 {
    return old + v;
}
//@endif
//@if ACC_BOOL
fn merge(old: u32, sh: u32, v: u32) -> u32 {
    return old | (v << sh);
}
//@endif

// Word o of window i becomes merge(itself, sh, v), atomically: the other elements of the
// word (written by other invocations) are kept, and accumulations all land.
//@repeat KD
fn put{{i}}(o: u32, sh: u32, v: u32) {
    var old = atomicLoad(&DST{{i}}[o]);
    loop {
        let r = atomicCompareExchangeWeak(&DST{{i}}[o], old, merge(old, sh, v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
//@end

fn store(e: u32, v: u32) {
    let b = e * ISZ;
    let w = b >> 2u;
    let sh = (b & 3u) * 8u;
    var k = 0u;
    var o = w;
    if (KD > 1u) {
        k = w / P.dst_win;
        o = w - k * P.dst_win;
    }
    switch k {
//@repeat KD
        case {{i}}u: { put{{i}}(o, sh, v); }
//@end
        default: {}
    }
}
//@else
// A whole-word store of destination element e (relative to DST0's start): 4-byte
// elements share no word, so no other invocation races it.
fn store(e: u32, v: u32) {
    if (KD == 1u) {
        DST0[e] = v;
        return;
    }
    let k = e / P.dst_win;
    let o = e - k * P.dst_win;
    switch k {
//@repeat KD
        case {{i}}u: { DST{{i}}[o] = v; }
//@end
        default: {}
    }
}
//@endif
//@endif

//@if HAS_IDX
// The index value at index element ie, wrapped into [0, dim_size) if negative (the range
// was checked before the launch).
fn index_at(ie: u32) -> u32 {
    let raw = IDX[ie];
    if ({{IDX_SIGNED}} && bitcast<i32>(raw) < 0) {
        return raw + P.dim_size;
    }
    return raw;
}
//@endif

// (destination element, source bits) of global linear index g.
fn element(g: u32) -> vec2<u32> {
    var o = offsets(g);
//@if IDX_SRC
    o.y = o.y + index_at(o.z) * P.off.w;
//@endif
//@if IDX_DST
    o.x = o.x + index_at(o.z) * P.off.w;
//@endif
    return vec2<u32>(o.x, load(o.y));
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let l0 = ((wid.x + wid.y * nwg.x) * WG + li) * 4u;
    if (l0 >= P.n) {
        return;
    }
//@if OUT_WORDS
    // Launch element l0 is element P.out_off + l0 of DST0 (a multiple of 4): pack the
    // 4 elements' bits into their words. Bytes past n in the last word are padding.
    var v: array<u32, 4>;
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (l0 + k < P.n) {
            v[k] = element(P.start + l0 + k).y;
        }
    }
    let w0 = (P.out_off + l0) * ISZ / 4u;
    if (ISZ == 4u) {
        for (var k = 0u; k < 4u; k = k + 1u) {
            if (l0 + k < P.n) {
                store_word(w0 + k, v[k]);
            }
        }
    } else if (ISZ == 2u) {
        store_word(w0, v[0] | (v[1] << 16u));
        if (l0 + 2u < P.n) {
            store_word(w0 + 1u, v[2] | (v[3] << 16u));
        }
    } else {
        store_word(w0, v[0] | (v[1] << 8u) | (v[2] << 16u) | (v[3] << 24u));
    }
//@else
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (l0 + k < P.n) {
            let r = element(P.start + l0 + k);
            store(r.x, r.y);
        }
    }
//@endif
}

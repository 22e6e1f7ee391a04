// reduce.wgsl: OUT[item] = FINAL(COMBINE-fold of MAP(X[e]) over one chunk of one output's elements).
// Bindings: 0 P (params), 1 X (u32 words: a strided view, or the partials of a first pass),
// 2 OUT (u32 words, rw). T invocations fold one item, each every T-th element of the chunk,
// then tree-reduce their T values in workgroup memory; a workgroup holds WG / T items.
//
// An item is (row, split): row = one output element, split = which chunk of its reduced
// elements. With one split per row the pass is final and writes the output dtype (bool /
// float16 outputs packed 4 / 2 per word by one invocation, so no word is shared); with
// several it writes accumulator words that a second pass folds (OUT_W32 with FINAL = a).
//
// Template: WG, T (power of two, <= WG / 4), VT + LOAD (value of element e of X), LOAD4
// (array of the 4 values from element e, a multiple of 4), ACC (accumulator type), IDENT,
// MAP (v -> ACC), COMBINE (a, b -> ACC), RT + FINAL (a -> RT); SPLIT (several items per
// row, else one); KEPT_ND (several kept dims, else at most one); RED_1D / RED_ND (strided
// reduced dims, merged into one or not) / RED_CONTIG (contiguous: read 4 at a time, VEC4
// for 32-bit values; RUN: T = 1, one contiguous run 16 elements per iteration; STOP: the
// run ends once the fold is SAT, the COMBINE's absorbing value); FUSED (X holds a lazy
// mask's tensor; MAP evaluates its predicate, pred.wgsl, as pred(0u, v)); DIRECT (T = 1 and a 32-bit output: each invocation writes its own
// word, with BITS), else the tree and one of OUT_W32 (with BITS), OUT_BOOL, OUT_F16.

//@uniform ReduceParams

@group(0) @binding(0) var<uniform> P: ReduceParams;
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;
//@if VEC4
// The same window as X, as 16-byte words: 4 contiguous 32-bit elements in one load.
@group(0) @binding(3) var<storage, read> X4: array<vec4<u32>>;
//@endif
//@if COUNTED
// A counted source: only its first count rows of the (outermost reduced) leading dim
// take part. LIMIT (the pass that reads the source) stops each row there; a mean's
// final pass divides by the valid elements instead of all of them.
@group(0) @binding(4) var<storage, read> CNT: array<u32>;

fn valid_red() -> u32 {
    return u32(max(bitcast<i32>(CNT[P.cnt_off]), 0)) * P.cnt_inner;
}

fn denom() -> f32 {
    return min(P.denom, f32(valid_red()));
}
//@else
fn denom() -> f32 {
    return P.denom;
}
//@endif

const WG: u32 = {{WG}}u;
const T: u32 = {{T}}u;
const IPW: u32 = WG / T;

var<workgroup> SH: array<{{ACC}}, WG>;

// NaN test on the bits: a driver may assume finite math for x != x.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// max / min that propagate NaN (WGSL's max and min may drop it).
fn max_nan(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), b, is_nan(b)), a, is_nan(a));
}

fn min_nan(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), b, is_nan(b)), a, is_nan(a));
}

// float16 bits of x, rounded to nearest; past float16's range +-inf and NaN stay so
// (pack2x16float leaves values out of range indeterminate).
fn half_bits(x: f32) -> u32 {
    if (is_nan(x)) {
        return 0x7e00u;
    }
    if (abs(x) >= 65520.0) {
        return select(0x7c00u, 0xfc00u, x < 0.0);
    }
    return pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
}

// Round to float16 and back: the dtype= cast of a sum or mean to float16.
fn round_f16(x: f32) -> f32 {
    return unpack2x16float(half_bits(x)).x;
}

fn combine(a: {{ACC}}, b: {{ACC}}) -> {{ACC}} {
    return {{COMBINE}};
}

//@if FUSED
//@include pred
//@endif

fn map(v: {{VT}}) -> {{ACC}} {
    return {{MAP}};
}

fn final_value(a: {{ACC}}) -> {{RT}} {
    return {{RT}}({{FINAL}});
}

// (The uniform shape / stride arrays are indexed in place: passing one to a function
// copies it, which lavapipe does on every call.)

// Element offset (from the view's start) of row `row`'s first element.
fn kept_offset(row: u32) -> u32 {
//@if KEPT_ND
    var o = 0u;
    var rem = row;
    for (var d = P.kdim - 1u; d > 0u; d = d - 1u) {
        let size = P.kshape[d >> 2u][d & 3u];
        o = o + (rem % size) * P.kstride[d >> 2u][d & 3u];
        rem = rem / size;
    }
    return o + rem * P.kstride[0].x;
//@else
    return row * P.kstride[0].x;
//@endif
}

// Element offset of index `o` over the reduced dims but the innermost one.
fn outer_offset(o: u32) -> u32 {
    var off = 0u;
    var rem = o;
    for (var d = P.rdim - 2u; d > 0u; d = d - 1u) {
        let size = P.rshape[d >> 2u][d & 3u];
        off = off + (rem % size) * P.rstride[d >> 2u][d & 3u];
        rem = rem / size;
    }
    return off + rem * P.rstride[0].x;
}

fn load1(e: u32) -> {{ACC}} {
    return map({{VT}}({{LOAD}}));
}

//@if RED_CONTIG
// The fold of the 4 elements from element e (a multiple of 4).
fn group4(e: u32) -> {{ACC}} {
    let v = {{LOAD4}};
    return combine(combine(map(v[0]), map(v[1])), combine(map(v[2]), map(v[3])));
}
//@endif

// Lane `lane`'s fold of the reduced elements [r0, r1) of the row starting at element `base`.
fn fold(base: u32, r0: u32, r1: u32, lane: u32) -> {{ACC}} {
    var acc: {{ACC}} = {{IDENT}};
//@if RED_1D
    for (var r = r0 + lane; r < r1; r = r + T) {
        acc = combine(acc, load1(base + r * P.rstride[0].x));
    }
//@endif
//@if RED_ND
    // r = o * inner + i: step (o, i) by T without a division per element; the outer
    // dims' offset is recomputed only when o changes.
    let d = P.rdim - 1u;
    let inner = P.rshape[d >> 2u][d & 3u];
    let istride = P.rstride[d >> 2u][d & 3u];
    let so = T / inner;
    let si = T % inner;
    var o = (r0 + lane) / inner;
    var i = (r0 + lane) % inner;
    var at_o = o;
    var ooff = outer_offset(o);
    for (var r = r0 + lane; r < r1; r = r + T) {
        if (o != at_o) {
            ooff = outer_offset(o);
            at_o = o;
        }
        acc = combine(acc, load1(base + ooff + i * istride));
        i = i + si;
        o = o + so;
        if (i >= inner) {
            i = i - inner;
            o = o + 1u;
        }
    }
//@endif
//@if RED_CONTIG
    // Contiguous elements: groups of 4 starting at a multiple of 4 (whole words of
    // bools, pairs of halves), with a head and a tail of at most 3 single elements.
    let a0 = min(r1, r0 + ((4u - ((base + r0) & 3u)) & 3u));
    let groups = (r1 - a0) / 4u;
    let a1 = a0 + groups * 4u;
    for (var h = lane; h < a0 - r0; h = h + T) {
        acc = combine(acc, load1(base + r0 + h));
    }
    for (var h = lane; h < r1 - a1; h = h + T) {
        acc = combine(acc, load1(base + a1 + h));
    }
//@if RUN
    // T = 1: one contiguous run, 16 elements per iteration, then the last groups.
    let g16 = groups & ~3u;
    for (var g = 0u; g < g16; g = g + 4u) {
        let e = base + a0 + g * 4u;
        acc = combine(acc, combine(combine(group4(e), group4(e + 4u)), combine(group4(e + 8u), group4(e + 12u))));
//@if STOP
        // any / all: once the fold is SAT no later element changes it (exact).
        if (acc == {{SAT}}) {
            break;
        }
//@endif
    }
    for (var g = g16; g < groups; g = g + 1u) {
        acc = combine(acc, group4(base + a0 + g * 4u));
    }
//@else
    for (var g = lane; g < groups; g = g + T) {
        acc = combine(acc, group4(base + a0 + g * 4u));
    }
//@endif
//@endif
    return acc;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let first = (wid.x + wid.y * nwg.x) * IPW;   // this workgroup's first item in the launch
    if (first >= P.n_items) {
        return;
    }
    let it = first + li / T;
    let lane = li % T;
    var acc: {{ACC}} = {{IDENT}};
//@if COUNTED
//@if LIMIT
    let nred = min(P.nred, valid_red());
//@else
    let nred = P.nred;
//@endif
//@else
    let nred = P.nred;
//@endif
    if (it < P.n_items) {
        let item = P.item0 + it;
//@if SPLIT
        let row = item / P.splits;
        let r1 = min(nred, (item % P.splits) * P.chunk + P.chunk);
        acc = fold(P.x_off + kept_offset(row), min((item % P.splits) * P.chunk, r1), r1, lane);
//@else
        acc = fold(P.x_off + kept_offset(item), 0u, nred, lane);
//@endif
    }
//@if DIRECT
    // One invocation per item and a 32-bit output: no workgroup memory needed.
    if (it < P.n_items) {
        OUT[P.out_off + it] = {{BITS}}(final_value(acc));
    }
//@else
    SH[li] = acc;
    workgroupBarrier();
    for (var s = T / 2u; s > 0u; s = s >> 1u) {
        if (lane < s) {
            SH[li] = combine(SH[li], SH[li + s]);
        }
        workgroupBarrier();
    }
    // Item k of this workgroup has its result in SH[k * T].
//@if OUT_W32
    if (li < IPW && first + li < P.n_items) {
        OUT[P.out_off + first + li] = {{BITS}}(final_value(SH[li * T]));
    }
//@endif
//@if OUT_BOOL
    // out_off + first is a multiple of 4; bytes past n_items in the last word are padding.
    if (li < IPW / 4u && first + li * 4u < P.n_items) {
        var w = 0u;
        for (var k = 0u; k < 4u; k = k + 1u) {
            let j = li * 4u + k;
            if (first + j < P.n_items && final_value(SH[j * T])) {
                w = w | (1u << (8u * k));
            }
        }
        OUT[(P.out_off + first) / 4u + li] = w;
    }
//@endif
//@if OUT_F16
    if (li < IPW / 2u && first + li * 2u < P.n_items) {
        let j = li * 2u;
        var hi = 0.0;
        if (first + j + 1u < P.n_items) {
            hi = final_value(SH[(j + 1u) * T]);
        }
        OUT[(P.out_off + first) / 2u + li] = half_bits(final_value(SH[j * T])) | (half_bits(hi) << 16u);
    }
//@endif
//@endif
}

// elementwise.wgsl: OUT[l] = EXPR(a, b, c) for the l-th element of a broadcast shape.
// Bindings: 0 P (params), 1 OUT (u32 words), 2-4 A, B, C (u32 words, strided views).
// One invocation computes 4 consecutive output elements so that every output
// dtype (1-byte bool, 2-byte f16, 4-byte words) is written as whole u32 words.
//
// Template: WG; CT_A/B/C/D (WGSL type an operand is converted to), VAL_A/B/C/D
// (its loaded value: a load from the word array with element index ea/eb/ec,
// or a scalar decoded from P.scal; d is always a scalar, P.scal.w), EXPR (in
// a, b, c, d, gi = global index),
// RT (WGSL type of EXPR), ALL_CONTIG, MATH (EXPR calls an m_ helper of
// elementwise_math.wgsl; P.scal.w holds a fourth scalar for those that need
// one), and one of OUT_W32 (with BITS), OUT_BOOL,
// OUT_F16 (f32 results rounded to float16), OUT_H16 (u32 results holding float16 bits).

//@uniform ElementwiseParams

@group(0) @binding(0) var<uniform> P: ElementwiseParams;
@group(0) @binding(1) var<storage, read_write> OUT: array<u32>;
//@if HAS_A
@group(0) @binding(2) var<storage, read> A: array<u32>;
//@endif
//@if HAS_B
@group(0) @binding(3) var<storage, read> B: array<u32>;
//@endif
//@if HAS_C
@group(0) @binding(4) var<storage, read> C: array<u32>;
//@endif

const WG: u32 = {{WG}}u;
const ALL_CONTIG: bool = {{ALL_CONTIG}};

// NaN test on the bits: a driver may assume finite math for x != x.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Counter-based random numbers: a PCG hash of (index, seed), so results do not
// depend on how the work is split into launches.
fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

fn rand_bits(gi: u32, seed: u32, stream: u32) -> u32 {
    return pcg(pcg(gi ^ pcg(seed)) + stream * 0x9e3779b9u);
}

fn uniform01(gi: u32, seed: u32) -> f32 {
    return f32(rand_bits(gi, seed, 0u) >> 8u) * (1.0 / 16777216.0);
}

fn normal01(gi: u32, seed: u32) -> f32 {
    let u1 = (f32(rand_bits(gi, seed, 1u) >> 8u) + 1.0) * (1.0 / 16777216.0);
    let u2 = f32(rand_bits(gi, seed, 2u) >> 8u) * (1.0 / 16777216.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// An int32 or uint32 value as a (non-negative?, bits) key whose lexicographic
// order is the integers' order: compares int32 with uint32 exactly.
fn wide_i32(v: i32) -> vec2<u32> {
    return vec2<u32>(select(0u, 1u, v >= 0), bitcast<u32>(v));
}

fn wide_u32(v: u32) -> vec2<u32> {
    return vec2<u32>(1u, v);
}

fn cmp_wide(a: vec2<u32>, b: vec2<u32>) -> i32 {
    if (a.x != b.x) {
        return select(-1, 1, a.x > b.x);
    }
    if (a.y != b.y) {
        return select(-1, 1, a.y > b.y);
    }
    return 0;
}

//@if MATH
//@include elementwise_math
//@endif

// Element offsets of A, B, C for global linear index g.
fn offsets(g: u32) -> vec3<u32> {
    if (ALL_CONTIG) {
        return P.off.xyz + vec3<u32>(g);
    }
    var o = P.off.xyz;
    var rem = g;
    for (var d = i32(P.ndim) - 1; d >= 0; d = d - 1) {
        let ud = u32(d);
        let size = P.shape[ud >> 2u][ud & 3u];
        let i = rem % size;
        rem = rem / size;
        // P.sa[q][r] directly: passing the uniform arrays to a function by value
        // copies them per call (measured 5x slower on lavapipe).
        let q = ud >> 2u;
        let r = ud & 3u;
        o = o + i * vec3<u32>(P.sa[q][r], P.sb[q][r], P.sc[q][r]);
    }
    return o;
}

fn compute(gi: u32) -> {{RT}} {
    let o = offsets(gi);
    let ea = o.x;
    let eb = o.y;
    let ec = o.z;
    let a = {{CT_A}}({{VAL_A}});
    let b = {{CT_B}}({{VAL_B}});
    let c = {{CT_C}}({{VAL_C}});
    let d = {{CT_D}}({{VAL_D}});
    return {{RT}}({{EXPR}});
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let l0 = ((wid.x + wid.y * nwg.x) * WG + li) * 4u;
    if (l0 >= P.n) {
        return;
    }
//@if OUT_BOOL
    // Bools are collected as u32 0/1: a private array of bool crashes some drivers (zink).
    var r: array<u32, 4>;
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (l0 + k < P.n) {
            r[k] = select(0u, 1u, compute(P.start + l0 + k));
        }
    }
//@else
    var r: array<{{RT}}, 4>;
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (l0 + k < P.n) {
            r[k] = compute(P.start + l0 + k);
        }
    }
//@endif
//@if OUT_W32
    let o = P.out_off + l0;
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (l0 + k < P.n) {
            OUT[o + k] = {{BITS}}(r[k]);
        }
    }
//@endif
//@if OUT_BOOL
    // Bytes past n in the last word are the buffer's padding: zeros.
    OUT[(P.out_off + l0) >> 2u] = r[0] | (r[1] << 8u) | (r[2] << 16u) | (r[3] << 24u);
//@endif
//@if OUT_F16
    let o = (P.out_off + l0) >> 1u;
    OUT[o] = pack2x16float(vec2<f32>(r[0], r[1]));
    if (l0 + 2u < P.n) {
        OUT[o + 1u] = pack2x16float(vec2<f32>(r[2], r[3]));
    }
//@endif
//@if OUT_H16
    // Raw float16 bits (the low 16 of each u32), moved without a trip through f32.
    let o = (P.out_off + l0) >> 1u;
    OUT[o] = (r[0] & 0xffffu) | (r[1] << 16u);
    if (l0 + 2u < P.n) {
        OUT[o + 1u] = (r[2] & 0xffffu) | (r[3] << 16u);
    }
//@endif
}

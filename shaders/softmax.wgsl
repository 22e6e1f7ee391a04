// softmax.wgsl: softmax / log_softmax of each row of X along one dim, or their
// gradient. One workgroup of WG invocations per row; a row is P.len elements P.x_st
// apart, its start unravelled over the kept dims (P.kshape, strides P.xk / P.yk / P.ok).
// Bindings: 0 P (params), 1 X (u32 words: the input, or the incoming gradient g),
// 2 Y (BACKWARD: the forward's output), 3 OUT (u32 words of f32 values).
//
// Forward: m = row max (NaN if any NaN), s = sum exp(x - m); softmax = exp(x - m) / s,
// log_softmax = x - m - log(s). A row whose max is not finite (a NaN, +inf, or every
// element -inf) is NaN, as PyTorch gives; with SAFE (the attention's softmax, PyTorch's
// _safe_softmax) a row of only -inf gives zeros instead.
// Backward: softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
// Loops run P.len / WG times per invocation; the host keeps that under 65,535.
//
// Summation order, the same on every adapter: invocation t adds its elements t, t + WG,
// ... in turn, then the WG partial sums are added in invocation order 0, 1, ..., WG - 1
// (read from the other invocations with subgroupBroadcast where the workgroup is one
// subgroup, else through workgroup memory: the same additions in the same order).
//
// Template: WG (invocations per row; the host picks it from the row length alone),
// LOAD_X / LOAD_Y (f32 value of element e of X / Y), LOG, SAFE, BACKWARD; SUBGROUPS:
// the workgroup is one subgroup (lavapipe: one SIMD vector per row, no barriers);
// VEC4: contiguous f32 rows on 4-element boundaries, read as vec4; NV (VEC4 forward):
// 0, or the row's vec4s per invocation (a power of two, at most ~32): the row is read
// once into registers (x0, x1, ..., unrolled with //@repeat) and written once, instead of
// being read twice and written twice by the loops.

//@uniform SoftmaxParams

@group(0) @binding(0) var<uniform> P: SoftmaxParams;
//@if VEC4
// Contiguous f32 rows whose starts are multiples of 4 elements: 4 elements per load.
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
//@else
@group(0) @binding(1) var<storage, read> X: array<u32>;
//@endif
//@if BACKWARD
@group(0) @binding(2) var<storage, read> Y: array<u32>;
//@endif
//@if VEC4
@group(0) @binding(3) var<storage, read_write> OUT: array<vec4<f32>>;
//@else
@group(0) @binding(3) var<storage, read_write> OUT: array<u32>;
//@endif

const WG: u32 = {{WG}}u;

//@if !SUBGROUPS
var<workgroup> SH: array<f32, WG>;
//@endif

// NaN / finiteness tests on the bits: a driver may assume finite math.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn max_nan(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), b, is_nan(b)), a, is_nan(a));
}

//@if !VEC4
fn load_x(e: u32) -> f32 {
    return f32({{LOAD_X}});
}
//@endif

fn max4(v: vec4<f32>) -> f32 {
    return max_nan(max_nan(v.x, v.y), max_nan(v.z, v.w));
}

//@if BACKWARD
fn load_y(e: u32) -> f32 {
    return f32({{LOAD_Y}});
}
//@endif

// The WG partials of the workgroup combined in invocation order 0, 1, ..., WG - 1 (from
// -inf for the max, from -0.0 for the sum: -0.0 + p == p, bit for bit): every
// invocation gets the same value, on every adapter.
fn reduce_max(v: f32, lid: u32) -> f32 {
    var r = bitcast<f32>(0xff800000u);
//@if SUBGROUPS
//@repeat WG
    r = max_nan(r, subgroupBroadcast(v, {{i}}u));
//@end
//@else
    SH[lid] = v;
    workgroupBarrier();
    for (var t = 0u; t < WG; t = t + 1u) {
        r = max_nan(r, SH[t]);
    }
    workgroupBarrier();
//@endif
    return r;
}

fn reduce_sum(v: f32, lid: u32) -> f32 {
    var r = -0.0;
//@if SUBGROUPS
//@repeat WG
    r = r + subgroupBroadcast(v, {{i}}u);
//@end
//@else
    SH[lid] = v;
    workgroupBarrier();
    for (var t = 0u; t < WG; t = t + 1u) {
        r = r + SH[t];
    }
    workgroupBarrier();
//@endif
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid3: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= P.rows) {
        return;
    }
    let lid = lid3.x;
    let NEG_INF = bitcast<f32>(0xff800000u);
    let NAN = bitcast<f32>(0x7fc00000u);
    // Row starts of X, Y and OUT.
    var rem = P.row0 + g;
    var xo = P.x_off;
    var yo = P.y_off;
    var oo = P.o_off;
    for (var d = P.kdim; d > 0u; d = d - 1u) {
        let dd = d - 1u;
        let size = P.kshape[dd >> 2u][dd & 3u];
        let idx = rem % size;
        rem = rem / size;
        xo = xo + idx * P.xk[dd >> 2u][dd & 3u];
        yo = yo + idx * P.yk[dd >> 2u][dd & 3u];
        oo = oo + idx * P.ok[dd >> 2u][dd & 3u];
    }
//@if BACKWARD
    var part = 0.0;
    for (var j = lid; j < P.len; j = j + WG) {
//@if LOG
        part = part + load_x(xo + j * P.x_st);
//@else
        part = part + load_x(xo + j * P.x_st) * load_y(yo + j * P.y_st);
//@endif
    }
    let s = reduce_sum(part, lid);
    for (var j = lid; j < P.len; j = j + WG) {
        let gv = load_x(xo + j * P.x_st);
        let yv = load_y(yo + j * P.y_st);
//@if LOG
        let dx = gv - exp(yv) * s;
//@else
        let dx = yv * (gv - s);
//@endif
        OUT[oo + j * P.o_st] = bitcast<u32>(dx);
    }
//@else
//@if VEC4
    let xo4 = xo / 4u;
    let oo4 = oo / 4u;
    let len4 = P.len / 4u;
//@if REG
    // The row's vec4s j = lid + WG * i (i < NV), read once into x0, x1, ...; those past the
    // row are read clamped (len4 >= 1) and left out of the max, the sum and the writes.
//@repeat NV
    let j{{i}} = lid + WG * {{i}}u;
    let x{{i}} = X[xo4 + min(j{{i}}, len4 - 1u)];
//@end
    var mx = NEG_INF;
//@repeat NV
    mx = select(mx, max_nan(mx, max4(x{{i}})), j{{i}} < len4);
//@end
    let m = reduce_max(mx, lid);
    let ok = is_finite(m);
    let mm = select(0.0, m, ok);  // keeps exp() away from inf - inf
    var part = 0.0;
//@repeat NV
    let e{{i}} = exp(x{{i}} - vec4<f32>(mm));
    part = select(part, part + (e{{i}}.x + e{{i}}.y) + (e{{i}}.z + e{{i}}.w), j{{i}} < len4);
//@end
//@else
    var mx = NEG_INF;
    for (var j = lid; j < len4; j = j + WG) {
        mx = max_nan(mx, max4(X[xo4 + j]));
    }
    let m = reduce_max(mx, lid);
    let ok = is_finite(m);
    let mm = select(0.0, m, ok);
    var part = 0.0;
    for (var j = lid; j < len4; j = j + WG) {
        let e = exp(X[xo4 + j] - vec4<f32>(mm));
//@if !LOG
        OUT[oo4 + j] = e;  // scaled below by the same invocation: one exp per element
//@endif
        part = part + (e.x + e.y) + (e.z + e.w);
    }
//@endif
//@else
    var mx = NEG_INF;
    for (var j = lid; j < P.len; j = j + WG) {
        mx = max_nan(mx, load_x(xo + j * P.x_st));
    }
    let m = reduce_max(mx, lid);
    let ok = is_finite(m);
    let mm = select(0.0, m, ok);
    var part = 0.0;
    for (var j = lid; j < P.len; j = j + WG) {
        part = part + exp(load_x(xo + j * P.x_st) - mm);
    }
//@endif
    let s = reduce_sum(part, lid);
//@if LOG
    let ls = log(s);
//@else
    let inv = 1.0 / s;
//@endif
    var bad = NAN;
//@if SAFE
    bad = select(NAN, 0.0, m == NEG_INF);
//@endif
//@if VEC4
//@if REG
//@repeat NV
    if (j{{i}} < len4) {
//@if LOG
        OUT[oo4 + j{{i}}] = select(vec4<f32>(bad), x{{i}} - vec4<f32>(mm + ls), ok);
//@else
        OUT[oo4 + j{{i}}] = select(vec4<f32>(bad), e{{i}} * inv, ok);
//@endif
    }
//@end
//@else
    for (var j = lid; j < len4; j = j + WG) {
//@if LOG
        let y = X[xo4 + j] - vec4<f32>(mm + ls);
//@else
        let y = OUT[oo4 + j] * inv;
//@endif
        OUT[oo4 + j] = select(vec4<f32>(bad), y, ok);
    }
//@endif
//@else
    for (var j = lid; j < P.len; j = j + WG) {
        let x = load_x(xo + j * P.x_st);
//@if LOG
        var y = x - mm - ls;
//@else
        var y = exp(x - mm) * inv;
//@endif
        y = select(bad, y, ok);
        OUT[oo + j * P.o_st] = bitcast<u32>(y);
    }
//@endif
//@endif
}

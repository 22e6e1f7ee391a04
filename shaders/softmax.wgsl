// softmax.wgsl: softmax / log_softmax of each row of X along one dim, or their
// gradient. One workgroup per row; a row is P.len elements P.x_st apart, its start
// unravelled over the kept dims (P.kshape, strides P.xk / P.yk / P.ok).
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
// Template: WG (invocations per row), LOAD_X / LOAD_Y (f32 value of element e of X / Y),
// LOG, SAFE, BACKWARD; SUBGROUPS: the workgroup is one subgroup (WG = the adapter's
// subgroup size) and the row reductions are subgroupMax / subgroupAdd, without
// barriers (lavapipe: 8 lanes, one SIMD vector per row); else a tree in workgroup
// memory (the OpenGL adapter has no subgroups).

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

fn reduce_max(v: f32, lid: u32) -> f32 {
//@if SUBGROUPS
    // The workgroup is one subgroup: no barrier. subgroupMax may drop a NaN: flag it.
    return select(subgroupMax(v), bitcast<f32>(0x7fc00000u), subgroupAny(is_nan(v)));
//@else
    SH[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            SH[lid] = max_nan(SH[lid], SH[lid + s]);
        }
        workgroupBarrier();
    }
    let r = SH[0];
    workgroupBarrier();
    return r;
//@endif
}

fn reduce_sum(v: f32, lid: u32) -> f32 {
//@if SUBGROUPS
    return subgroupAdd(v);
//@else
    SH[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            SH[lid] = SH[lid] + SH[lid + s];
        }
        workgroupBarrier();
    }
    let r = SH[0];
    workgroupBarrier();
    return r;
//@endif
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
    for (var j = lid; j < len4; j = j + WG) {
//@if LOG
        let y = X[xo4 + j] - vec4<f32>(mm + ls);
//@else
        let y = OUT[oo4 + j] * inv;
//@endif
        OUT[oo4 + j] = select(vec4<f32>(bad), y, ok);
    }
//@else
    var mx = NEG_INF;
    for (var j = lid; j < P.len; j = j + WG) {
        mx = max_nan(mx, load_x(xo + j * P.x_st));
    }
    let m = reduce_max(mx, lid);
    let ok = is_finite(m);
    let mm = select(0.0, m, ok);  // keeps exp() away from inf - inf
    var part = 0.0;
    for (var j = lid; j < P.len; j = j + WG) {
        part = part + exp(load_x(xo + j * P.x_st) - mm);
    }
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

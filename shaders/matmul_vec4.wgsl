// matmul_vec4.wgsl: matmul.wgsl's product for float32 operands whose inner dim (A) and
// columns (B) are contiguous, with rows and offsets on 4-element boundaries (K % 4 == 0,
// N % 4 == 0): A and B are read as vec4 straight from their buffers, without workgroup
// memory or barriers (on a CPU adapter such as lavapipe, workgroup memory is no faster
// than the cached buffers, and a barrier splits the shader). 4 inner-dim steps per
// iteration of the K loop:
//   !SUBGROUPS: a workgroup of 16 x 4 invocations, a 16 x 64 tile; invocation (tx, ty)
//     rows 4 * ty + i x one vec4 of columns: 8 vec4 loads for 64 products.
//   SUBGROUPS: a workgroup of SG invocations, one subgroup (SG = the adapter's probed
//     subgroup size, >= 8; exact with any runtime subgroup size of at least 8), a 32 x 4 SG tile: every invocation the same 32 rows and its own vec4
//     of columns. Invocation i < 8 reads rows i, 8 + i, 16 + i, 24 + i of A and the
//     others take them by subgroupBroadcast: 8 vec4 loads for 512 products. lavapipe
//     runs each load as a loop over the lanes, so the time follows loads per product;
//     a broadcast is a register move there. (8 rows per invocation, the earlier shape,
//     read 5 vec4s for 128 products and ran ~2x slower; 32 x 8 per invocation, 12
//     loads for 1024 products, was at most ~1.2x faster than this one but took ~3x as
//     long to compile, ~8 s: compile time grows with the accumulators.)
// Both add the products of each output in the same order (k ascending, in f32, four at
// a time as acc + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3): the same bits either way.
// Same bindings and MatmulParams as matmul.wgsl (offsets and strides in elements).
//
// Template: SUBGROUPS (bool), SG (workgroup size with SUBGROUPS, else unused: 0),
// ROWS_SG (8 with SUBGROUPS: the repeat over the broadcast lanes).

//@uniform MatmulParams

@group(0) @binding(0) var<uniform> P: MatmulParams;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

//@if SUBGROUPS
const TM: u32 = 32u;
const TN: u32 = 4u * {{SG}}u;
//@else
const ROWS: u32 = 4u;
const TM: u32 = 16u;
const TN: u32 = 64u;
//@endif

//@include matmul_common

// The 4 rows of B at inner-dim steps 4 * k4 .. 4 * k4 + 3, the vec4 of columns at kb0
// (kb0: the columns' vec4 index in row 0; rows sbk4 vec4s apart).
struct B4 {
    b0: vec4<f32>,
    b1: vec4<f32>,
    b2: vec4<f32>,
    b3: vec4<f32>,
}

fn b_rows(kb0: u32, k4: u32, sbk4: u32) -> B4 {
    let kb = kb0 + 4u * k4 * sbk4;
    return B4(B[kb], B[kb + sbk4], B[kb + 2u * sbk4], B[kb + 3u * sbk4]);
}

// acc plus the 4 products of a (4 inner-dim steps of one row of A) with b, in the one
// order both variants use (so they give the same bits).
fn madd(acc: vec4<f32>, a: vec4<f32>, b: B4) -> vec4<f32> {
    return acc + a.x * b.b0 + a.y * b.b1 + a.z * b.b2 + a.w * b.b3;
}

// Row r of the launch's C (absolute row r, columns col .. col + 3) gets v (+ C when accum).
fn store4(c_base: u32, r: u32, col: u32, v: vec4<f32>) {
    if (r < P.m && col < P.n) {
        let e = c_base + (r - P.m0) * P.n + col;
        var w = v;
        if (P.accum != 0u) {
            w = w + vec4<f32>(C[e], C[e + 1u], C[e + 2u], C[e + 3u]);
        }
        C[e] = w.x;
        C[e + 1u] = w.y;
        C[e + 2u] = w.z;
        C[e + 3u] = w.w;
    }
}

//@if SUBGROUPS
@compute @workgroup_size({{SG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sid: u32, @builtin(local_invocation_index) li: u32) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= P.groups) {
        return;
    }
    let tile = tile_of(g, TM, TN);
    let row0 = tile.row0;
    // This invocation's vec4 of columns, from its place in the workgroup, not in its
    // subgroup: a pipeline may run with subgroups smaller than the probe that sized SG
    // (the workgroup is then several subgroups, each of >= 8 lanes reading the rows).
    let col = tile.col0 + li * 4u;
    // Rows and columns past the matrix read the last ones (in bounds), are not written.
    let last_r = P.m - 1u;
    let cb = (min(col, P.n - 4u) + tile.b_base) / 4u;
    let sbk4 = P.sbk / 4u;
    let k4_end = (P.k0 + P.kc) / 4u;
    // Invocation i < 8 reads rows i, 8 + i, 16 + i, 24 + i (the others the 8th again).
    let lr = row0 + min(sid, 7u);
    let ra0 = (min(lr, last_r) * P.sam + tile.a_base) / 4u;
    let ra1 = (min(lr + 8u, last_r) * P.sam + tile.a_base) / 4u;
    let ra2 = (min(lr + 16u, last_r) * P.sam + tile.a_base) / 4u;
    let ra3 = (min(lr + 24u, last_r) * P.sam + tile.a_base) / 4u;
    // acc{i}_{h}: row 8 * h + i.
//@repeat ROWS_SG
    var acc{{i}}_0 = vec4<f32>();
    var acc{{i}}_1 = vec4<f32>();
    var acc{{i}}_2 = vec4<f32>();
    var acc{{i}}_3 = vec4<f32>();
//@end
    for (var k4 = P.k0 / 4u; k4 < k4_end; k4 = k4 + 1u) {
        let b = b_rows(cb, k4, sbk4);
        let m0 = A[ra0 + k4];
        let m1 = A[ra1 + k4];
        let m2 = A[ra2 + k4];
        let m3 = A[ra3 + k4];
//@repeat ROWS_SG
        {
            let a0 = subgroupBroadcast(m0, {{i}}u);
            let a1 = subgroupBroadcast(m1, {{i}}u);
            let a2 = subgroupBroadcast(m2, {{i}}u);
            let a3 = subgroupBroadcast(m3, {{i}}u);
            acc{{i}}_0 = madd(acc{{i}}_0, a0, b);
            acc{{i}}_1 = madd(acc{{i}}_1, a1, b);
            acc{{i}}_2 = madd(acc{{i}}_2, a2, b);
            acc{{i}}_3 = madd(acc{{i}}_3, a3, b);
        }
//@end
    }
    let c_base = P.c_off + tile.bi * P.m * P.n;
//@repeat ROWS_SG
    store4(c_base, row0 + {{i}}u, col, acc{{i}}_0);
    store4(c_base, row0 + 8u + {{i}}u, col, acc{{i}}_1);
    store4(c_base, row0 + 16u + {{i}}u, col, acc{{i}}_2);
    store4(c_base, row0 + 24u + {{i}}u, col, acc{{i}}_3);
//@end
}
//@else
@compute @workgroup_size(16, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= P.groups) {
        return;
    }
    let tile = tile_of(g, TM, TN);
    let row0 = tile.row0 + lid.y * ROWS;
    let col = tile.col0 + lid.x * 4u;
    // Rows and columns past the matrix read the last ones (in bounds), are not written.
    let last_r = P.m - 1u;
    let cb = (min(col, P.n - 4u) + tile.b_base) / 4u;
    let sbk4 = P.sbk / 4u;
    let k4_end = (P.k0 + P.kc) / 4u;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
    let ra = (vec4<u32>(min(row0, last_r), min(row0 + 1u, last_r), min(row0 + 2u, last_r),
                        min(row0 + 3u, last_r)) * P.sam + vec4<u32>(tile.a_base)) / 4u;
    for (var k4 = P.k0 / 4u; k4 < k4_end; k4 = k4 + 1u) {
        let b = b_rows(cb, k4, sbk4);
        acc0 = madd(acc0, A[ra.x + k4], b);
        acc1 = madd(acc1, A[ra.y + k4], b);
        acc2 = madd(acc2, A[ra.z + k4], b);
        acc3 = madd(acc3, A[ra.w + k4], b);
    }
    let c_base = P.c_off + tile.bi * P.m * P.n;
    store4(c_base, row0, col, acc0);
    store4(c_base, row0 + 1u, col, acc1);
    store4(c_base, row0 + 2u, col, acc2);
    store4(c_base, row0 + 3u, col, acc3);
}
//@endif

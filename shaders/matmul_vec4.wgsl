// matmul_vec4.wgsl: matmul.wgsl's product for float32 operands whose inner dim (A) and
// columns (B) are contiguous, with rows and offsets on 4-element boundaries (K % 4 == 0,
// N % 4 == 0): A and B are read as vec4 straight from their buffers, without workgroup
// memory or barriers (on a CPU adapter such as lavapipe, workgroup memory is no faster
// than the cached buffers, and a barrier splits the shader). Each invocation computes
// ROWS rows x one vec4 of 4 columns of C, 4 inner-dim steps per iteration:
//   !SUBGROUPS: a workgroup of 16 x 4 invocations, a 16 x 64 tile; invocation (tx, ty)
//     rows 4 * ty + i (ROWS = 4): 8 vec4 loads for 64 products.
//   SUBGROUPS: a workgroup of SG invocations (SG = the adapter's probed subgroup size,
//     >= 8; exact with any runtime subgroup size of at least 8), an 8 x 4 SG tile: every invocation the same 8 rows (ROWS = 8) and its
//     own vec4 of columns. Invocation i < 8 reads row i's vec4 of A and the others take
//     it by subgroupBroadcast: 5 vec4 loads for 128 products (lavapipe charges per load
//     per invocation; a broadcast is a register move there).
// Both add the products of each output in the same order (k ascending, in f32, four at
// a time as acc + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3): the same bits either way.
// Same bindings and MatmulParams as matmul.wgsl (offsets and strides in elements).
//
// Template: SUBGROUPS (bool), SG (workgroup size with SUBGROUPS, else unused: 0).

//@uniform MatmulParams

@group(0) @binding(0) var<uniform> P: MatmulParams;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

//@if SUBGROUPS
const ROWS: u32 = 8u;
const TM: u32 = 8u;
const TN: u32 = 4u * {{SG}}u;
//@else
const ROWS: u32 = 4u;
const TM: u32 = 16u;
const TN: u32 = 64u;
//@endif

//@include matmul_common

//@if SUBGROUPS
@compute @workgroup_size({{SG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sid: u32, @builtin(local_invocation_index) li: u32) {
    // The column from the invocation's place in the workgroup, not in its subgroup: a
    // pipeline may run with subgroups smaller than the probe that sized SG (the
    // workgroup is then several subgroups, each of >= 8 lanes reading the 8 rows).
    let lx = li;
    let ly = 0u;
//@else
@compute @workgroup_size(16, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let lx = lid.x;
    let ly = lid.y;
//@endif
    let g = wid.x + wid.y * nwg.x;
    if (g >= P.groups) {
        return;
    }
    let tile = tile_of(g, TM, TN);
    let row0 = tile.row0 + ly * ROWS;
    let col = tile.col0 + lx * 4u;
    // Rows and columns past the matrix read the last ones (in bounds), are not written.
    let last_r = P.m - 1u;
    let cb = (min(col, P.n - 4u) + tile.b_base) / 4u;
    let sbk4 = P.sbk / 4u;
    let k4_end = (P.k0 + P.kc) / 4u;
    var acc: array<vec4<f32>, ROWS>;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
//@if SUBGROUPS
    var acc4 = vec4<f32>();
    var acc5 = vec4<f32>();
    var acc6 = vec4<f32>();
    var acc7 = vec4<f32>();
    // Invocation i < 8 reads row i of the 8 (the others row 7 again).
    let ra = (min(min(row0 + sid, row0 + 7u), last_r) * P.sam + tile.a_base) / 4u;
//@else
    let ra = (vec4<u32>(min(row0, last_r), min(row0 + 1u, last_r), min(row0 + 2u, last_r),
                        min(row0 + 3u, last_r)) * P.sam + vec4<u32>(tile.a_base)) / 4u;
//@endif
    for (var k4 = P.k0 / 4u; k4 < k4_end; k4 = k4 + 1u) {
        let kb = cb + 4u * k4 * sbk4;
        let b0 = B[kb];
        let b1 = B[kb + sbk4];
        let b2 = B[kb + 2u * sbk4];
        let b3 = B[kb + 3u * sbk4];
//@if SUBGROUPS
        let mine = A[ra + k4];
//@repeat ROWS_SG
        let a{{i}} = subgroupBroadcast(mine, {{i}}u);
        acc{{i}} = acc{{i}} + a{{i}}.x * b0 + a{{i}}.y * b1 + a{{i}}.z * b2 + a{{i}}.w * b3;
//@end
//@else
        let a0 = A[ra.x + k4];
        let a1 = A[ra.y + k4];
        let a2 = A[ra.z + k4];
        let a3 = A[ra.w + k4];
        acc0 = acc0 + a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
        acc1 = acc1 + a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
        acc2 = acc2 + a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
        acc3 = acc3 + a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
//@endif
    }
//@if SUBGROUPS
    acc = array<vec4<f32>, ROWS>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
//@else
    acc = array<vec4<f32>, ROWS>(acc0, acc1, acc2, acc3);
//@endif
    if (col >= P.n) {
        return;
    }
    let c_base = P.c_off + tile.bi * P.m * P.n;
    for (var i = 0u; i < ROWS; i = i + 1u) {
        let r = row0 + i;
        if (r < P.m) {
            let e = c_base + (r - P.m0) * P.n + col;
            var v = acc[i];
            if (P.accum != 0u) {
                v = v + vec4<f32>(C[e], C[e + 1u], C[e + 2u], C[e + 3u]);
            }
            C[e] = v.x;
            C[e + 1u] = v.y;
            C[e + 2u] = v.z;
            C[e + 3u] = v.w;
        }
    }
}

// matmul_vec4.wgsl: matmul.wgsl's product for float32 operands whose inner dim (A) and
// columns (B) are contiguous, with rows and offsets on 4-element boundaries (K % 4 == 0,
// N % 4 == 0): A and B are read as vec4 straight from their buffers, without workgroup
// memory or barriers (on a CPU adapter such as lavapipe, workgroup memory is no faster
// than the cached buffers, and a barrier splits the shader). A workgroup of 16 x 4
// invocations computes a 16 x 64 tile of C; each invocation 4 rows (4 * ty + i) x one
// vec4 of 4 columns, 4 inner-dim steps per iteration: 8 vec4 loads for 64 products.
// Same bindings and MatmulParams as matmul.wgsl (offsets and strides in elements).

//@uniform MatmulParams

@group(0) @binding(0) var<uniform> P: MatmulParams;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

const TM: u32 = 16u;
const TN: u32 = 64u;

//@include matmul_common

@compute @workgroup_size(16, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= P.groups) {
        return;
    }
    let tile = tile_of(g, TM, TN);
    let bi = tile.bi;
    let row0 = tile.row0 + lid.y * 4u;
    let col = tile.col0 + lid.x * 4u;
    let a_base = tile.a_base;
    let b_base = tile.b_base;
    // Rows and columns past the matrix read the last ones (in bounds), are not written.
    let last_r = P.m - 1u;
    let ra = (vec4<u32>(min(row0, last_r), min(row0 + 1u, last_r), min(row0 + 2u, last_r),
                        min(row0 + 3u, last_r)) * P.sam + vec4<u32>(a_base)) / 4u;
    let cb = (min(col, P.n - 4u) + b_base) / 4u;
    let sbk4 = P.sbk / 4u;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
    let k4_end = (P.k0 + P.kc) / 4u;
    for (var k4 = P.k0 / 4u; k4 < k4_end; k4 = k4 + 1u) {
        let kb = cb + 4u * k4 * sbk4;
        let b0 = B[kb];
        let b1 = B[kb + sbk4];
        let b2 = B[kb + 2u * sbk4];
        let b3 = B[kb + 3u * sbk4];
        let a0 = A[ra.x + k4];
        let a1 = A[ra.y + k4];
        let a2 = A[ra.z + k4];
        let a3 = A[ra.w + k4];
        acc0 = acc0 + a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
        acc1 = acc1 + a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
        acc2 = acc2 + a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
        acc3 = acc3 + a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
    }
    if (col >= P.n) {
        return;
    }
    var acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    let c_base = P.c_off + bi * P.m * P.n;
    for (var i = 0u; i < 4u; i = i + 1u) {
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

// matmul.wgsl: C[b, i, j] (+)= sum over k in [k0, k0 + kc) of A[b, i, k] * B[b, k, j].
// Bindings: 0 P (params), 1 A, 2 B (u32 words: strided views, batch strides 0 where
// broadcast), 3 C (u32 words of ACC values, a contiguous [batch, m, n] block).
// A workgroup of 16 x 16 invocations computes a 64 x 64 tile of C, each invocation
// 4 rows x 4 columns (rows 4 * ty + i, columns tx + 16 * j: neighbouring invocations
// read neighbouring columns of the B tile). The inner dim goes by tiles of TK through
// workgroup memory; the host cuts K into chunks (P.kc) so that no loop runs past
// llvmpipe's 65,535 iterations (P.accum adds a chunk to the earlier ones).
//
// Template: ACC (f32 or i32: the accumulator and C's type), LOAD_A / LOAD_B (value of
// element e of A / B, in a type ACC() converts).

//@uniform MatmulParams

@group(0) @binding(0) var<uniform> P: MatmulParams;
@group(0) @binding(1) var<storage, read> A: array<u32>;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<u32>;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = {{TK}}u;

//@include matmul_common

var<workgroup> AS: array<array<{{ACC}}, 64>, TK>;  // AS[k][row]
var<workgroup> BS: array<array<{{ACC}}, 64>, TK>;  // BS[k][column]

fn load_a(e: u32) -> {{ACC}} {
    return {{ACC}}({{LOAD_A}});
}

fn load_b(e: u32) -> {{ACC}} {
    return {{ACC}}({{LOAD_B}});
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= P.groups) {
        return;
    }
    let tile = tile_of(g, TM, TN);
    let bi = tile.bi;
    let row0 = tile.row0;
    let col0 = tile.col0;
    let a_base = tile.a_base;
    let b_base = tile.b_base;

    let tid = lid.y * 16u + lid.x;
    // acc{i}: row 4 * ty + i, columns tx + 16 * (0, 1, 2, 3).
    var acc0 = vec4<{{ACC}}>();
    var acc1 = vec4<{{ACC}}>();
    var acc2 = vec4<{{ACC}}>();
    var acc3 = vec4<{{ACC}}>();
    let ar0 = lid.y * 4u;
    let kend = P.k0 + P.kc;
    for (var k = P.k0; k < kend; k = k + TK) {
        // A tile: 64 rows x TK; B tile: TK x 64 columns; TK / 4 elements of each per invocation.
        for (var q = 0u; q < TK / 4u; q = q + 1u) {
            let t = tid + 256u * q;
            let ar = t / TK;
            let ak = t % TK;
            var av = {{ACC}}(0);
            if (row0 + ar < P.m && k + ak < kend) {
                av = load_a(a_base + (row0 + ar) * P.sam + (k + ak) * P.sak);
            }
            AS[ak][ar] = av;
            let bk = t / TN;
            let bc = t % TN;
            var bv = {{ACC}}(0);
            if (col0 + bc < P.n && k + bk < kend) {
                bv = load_b(b_base + (k + bk) * P.sbk + (col0 + bc) * P.sbn);
            }
            BS[bk][bc] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            let a = vec4<{{ACC}}>(AS[kk][ar0], AS[kk][ar0 + 1u], AS[kk][ar0 + 2u], AS[kk][ar0 + 3u]);
            let b = vec4<{{ACC}}>(BS[kk][lid.x], BS[kk][lid.x + 16u], BS[kk][lid.x + 32u],
                                  BS[kk][lid.x + 48u]);
            acc0 = acc0 + a.x * b;
            acc1 = acc1 + a.y * b;
            acc2 = acc2 + a.z * b;
            acc3 = acc3 + a.w * b;
        }
        workgroupBarrier();
    }
    var acc = array<vec4<{{ACC}}>, 4>(acc0, acc1, acc2, acc3);

    let c_base = P.c_off + bi * P.m * P.n;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + lid.y * 4u + i;
        if (r >= P.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let c = col0 + lid.x + 16u * j;
            if (c < P.n) {
                let e = c_base + (r - P.m0) * P.n + c;
                var v = acc[i][j];
                if (P.accum != 0u) {
                    v = v + bitcast<{{ACC}}>(C[e]);
                }
                C[e] = bitcast<u32>(v);
            }
        }
    }
}

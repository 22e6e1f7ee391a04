// fma_peak.wgsl (benchmark only): what multiply-adds alone reach on this adapter, the
// ceiling a matmul kernel could approach if its loads cost nothing. Each invocation
// runs P.n4 iterations of UNROLL rounds of acc = acc * m + c on two vec4 accumulators
// (the form of matmul's inner loop: a product added to a sum, no fma()), then writes
// their sum so that nothing is optimised away.
// Bindings: 0 P (n4 = loop iterations), 1 SRC (m and c: SRC[0].x and SRC[0].y, read so
// that they are not constants), 2 DST (one vec4 per invocation).

//@uniform CopyParams
@group(0) @binding(0) var<uniform> P: CopyParams;
@group(0) @binding(1) var<storage, read> SRC: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> DST: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = vec4<f32>(SRC[0].x);
    let c = vec4<f32>(SRC[0].y);
    var acc0 = vec4<f32>(f32(gid.x));
    var acc1 = vec4<f32>(f32(gid.x + 1u));
    for (var it = 0u; it < P.n4; it = it + 1u) {
//@repeat UNROLL
        acc0 = acc0 * m + c;
        acc1 = acc1 * m + c;
//@end
    }
    DST[gid.x] = acc0 + acc1;
}

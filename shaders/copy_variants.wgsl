// copy_variants.wgsl: the copy kernel with its store side varied, for
// benchmarks/bench_copy_variants.py (what a selection's stores cost on an adapter).
// One vec4 of u32 per invocation. Bindings: 0 P (n4 = vec4 count), 1 SRC (vec4<u32>),
// 2 DST (u32, rw), 3 DST4 (vec4<u32>, rw; a second buffer). Template: WG and one of
// VEC4 (DST4[i] = v), SCALAR (4 single-word stores to DST at 4i..4i+3), SCATTERED
// (4 single-word stores to the places masked_select's branch-free writes would
// choose with bit 0 of each word as the mask), LOAD_ONLY (no stores).

//@uniform CopyParams
@group(0) @binding(0) var<uniform> P: CopyParams;
@group(0) @binding(1) var<storage, read> SRC: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> DST: array<u32>;
@group(0) @binding(3) var<storage, read_write> DST4: array<vec4<u32>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + wid.y * nwg.x) * {{WG}}u + li;
    if (i >= P.n4) {
        return;
    }
    let v = SRC[i];
//@if VEC4
    DST4[i] = v;
//@endif
//@if SCALAR
    let o = i * 4u;
    DST[o] = v.x;
    DST[o + 1u] = v.y;
    DST[o + 2u] = v.z;
    DST[o + 3u] = v.w;
//@endif
//@if SCATTERED
    // Half the elements selected on average: the selected ones packed from the
    // front (about 2 per vec4), the rejected ones from the end backwards.
    let s = v & vec4<u32>(1u);
    let p = vec4<u32>(i * 2u) + vec4<u32>(0u, s.x, s.x + s.y, s.x + s.y + s.z);
    let r = vec4<u32>(P.n4 * 4u - 1u - i * 2u) - vec4<u32>(0u, 1u, 2u, 3u) + p;
    let d = min(select(r, p, s != vec4<u32>(0u)), vec4<u32>(P.n4 * 4u - 1u));
    DST[d.x] = v.x;
    DST[d.y] = v.y;
    DST[d.z] = v.z;
    DST[d.w] = v.w;
//@endif
//@if LOAD_ONLY
    if (v.x == 0xdeadbeefu && v.y == 3u) {
        DST[0] = 1u;   // keeps the load; never taken on the benchmark's data
    }
//@endif
}

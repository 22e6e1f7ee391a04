// isin_search.wgsl: OUT[e] = (key Q[e] is among the sorted keys T) != INVERT.
// Bindings: 0 P, 1 OUT (bool bytes as u32 words, rw), 2 Q (u32 element keys), 3 T (sorted (key, index) pairs).
// One invocation binary-searches 4 consecutive elements and writes their 4 bool bytes
// as one word. MISS(k) marks keys that can never be in the set (NaN; an int32/uint32
// value outside the other type's range).

//@uniform SearchParams

@group(0) @binding(0) var<uniform> P: SearchParams;
@group(0) @binding(1) var<storage, read_write> OUT: array<u32>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read> T: array<vec2<u32>>;

const WG: u32 = {{WG}}u;
const INVERT: bool = {{INVERT}};

fn found(k: u32) -> bool {
    if ({{MISS}}) {
        return false;
    }
    var lo = 0u;
    var hi = P.m;
    while (lo < hi) {
        let mid = (lo + hi) >> 1u;
        if (T[mid].x < k) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo < P.m && T[lo].x == k;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let l0 = ((wid.x + wid.y * nwg.x) * WG + li) * 4u;
    if (l0 >= P.n) {
        return;
    }
    var w = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (l0 + k < P.n && (found(Q[P.q_off + l0 + k]) != INVERT)) {
            w = w | (1u << (k * 8u));
        }
    }
    OUT[(P.out_off + l0) >> 2u] = w;
}

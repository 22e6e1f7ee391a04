// index_minmax.wgsl: the smallest and largest value of a contiguous int32/uint32 index tensor,
// to check its range before an index op writes anything.
// Bindings: 0 P, 1 IDX (index words), 2 OUT (2 atomic u32, cleared to 0 before the first
// launch: OUT[0] = max of key(v), OUT[1] = max of ~key(v), so that 0 is the neutral value;
// key orders int32 as u32 by flipping the sign bit). One invocation reads PER index values,
// a workgroup reduces through workgroup atomics and adds one atomicMax per word to OUT.
// Template: WG, PER, SIGNED.

//@uniform MinmaxParams

@group(0) @binding(0) var<uniform> P: MinmaxParams;
@group(0) @binding(1) var<storage, read> IDX: array<u32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<atomic<u32>, 2>;

const WG: u32 = {{WG}}u;
const PER: u32 = {{PER}}u;   // index values per invocation

var<workgroup> hi: atomic<u32>;
var<workgroup> lo: atomic<u32>;

fn key(v: u32) -> u32 {
    if ({{SIGNED}}) {
        return v ^ 0x80000000u;
    }
    return v;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    // No early return: every invocation reaches the barriers; invocations past n add 0.
    // Workgroup memory is cleared here: some drivers (lavapipe) keep the last dispatch's.
    if (li == 0u) {
        atomicStore(&hi, 0u);
        atomicStore(&lo, 0u);
    }
    workgroupBarrier();
    // The workgroup's PER * WG values, read WG apart (coalesced on a GPU).
    let base = (wid.x + wid.y * nwg.x) * WG * PER + li;
    var mx = 0u;
    var mn = 0u;
    for (var k = 0u; k < PER; k = k + 1u) {
        let l = base + k * WG;
        if (l < P.n) {
            let kv = key(IDX[P.off + l]);
            mx = max(mx, kv);
            mn = max(mn, ~kv);
        }
    }
    atomicMax(&hi, mx);
    atomicMax(&lo, mn);
    workgroupBarrier();
    if (li == 0u) {
        atomicMax(&OUT[0], atomicLoad(&hi));
        atomicMax(&OUT[1], atomicLoad(&lo));
    }
}

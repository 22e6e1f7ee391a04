// fill_tail.wgsl: OUT[e] = fill for every output element e at or past the selected count.
// Bindings: 0 P, 1 COUNT (u32), 2 OUT (u32 window, rw). One invocation per 32-bit element.

@group(0) @binding(0) var<uniform> P: SelectParams;
@group(0) @binding(1) var<storage, read> COUNT: array<u32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

//@include select_common

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + li;
    if (i >= P.n) {
        return;
    }
    if (P.g0 + i >= COUNT[0]) {
        OUT[P.out_off + i] = P.fill;
    }
}

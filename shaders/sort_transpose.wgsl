// sort_transpose.wgsl: OUT[o(s, i, j)] = IN[in(s, i, j)] over a box of 32-bit words.
// Bindings: 0 P, 1 OUT (u32 words, rw), 2 IN (u32 words).
// One invocation copies one word; in(s, i, j) and o(s, i, j) are strided offsets
// (relative to the bound windows), so the box moves words between x's layout and the
// sort's row layout (dim last) in both directions, one window-sized box per dispatch.

//@uniform TransposeParams

@group(0) @binding(0) var<uniform> P: TransposeParams;
@group(0) @binding(1) var<storage, read_write> OUT: array<u32>;
@group(0) @binding(2) var<storage, read> IN: array<u32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let g = P.base + (wid.x + wid.y * nwg.x) * {{WG}}u + li;
    let per_s = P.ni * P.nj;
    if (g >= P.ns * per_s) {
        return;
    }
    let s = g / per_s;
    let r = g - s * per_s;
    let i = r / P.nj;
    let j = r - i * P.nj;
    OUT[P.out_off + s * P.out_s + i * P.out_i + j * P.out_j] =
        IN[P.in_off + s * P.in_s + i * P.in_i + j * P.in_j];
}

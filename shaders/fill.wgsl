// fill.wgsl: every 16-byte word of OUT's window becomes vec4(P.word), P.word being an
// element's bits repeated to 32 bits (full/ones of any dtype).
// Bindings: 0 P, 1 OUT (vec4<u32> window, rw). One invocation per 16 bytes.

//@uniform FillParams
@group(0) @binding(0) var<uniform> P: FillParams;
@group(0) @binding(1) var<storage, read_write> OUT: array<vec4<u32>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + wid.y * nwg.x) * {{WG}}u + li;
    if (i < P.n) {
        OUT[i] = vec4<u32>(P.word);
    }
}

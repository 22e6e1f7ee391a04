// copy_vec4.wgsl: DST[i] = SRC[i], one vec4 (16 bytes) per invocation: the benchmark's floor.
// Bindings: 0 P (n4 = vec4 count), 1 SRC (vec4<u32>), 2 DST (vec4<u32>, rw).

//@uniform CopyParams
@group(0) @binding(0) var<uniform> P: CopyParams;
@group(0) @binding(1) var<storage, read> SRC: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> DST: array<vec4<u32>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + wid.y * nwg.x) * {{WG}}u + li;
    if (i < P.n4) {
        DST[i] = SRC[i];
    }
}

// subgroup_probe.wgsl: checks the subgroup layout the scans assume.
// Bindings: 0 P (unused), 1 OUT (u32, rw). One invocation checks that it sits at
// index li / size * size + subgroup_invocation_id; a failure clears OUT[0].

struct Unused { x: u32 }
@group(0) @binding(0) var<uniform> P: Unused;
@group(0) @binding(1) var<storage, read_write> OUT: array<atomic<u32>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(subgroup_invocation_id) sid: u32,
        @builtin(subgroup_size) ssz: u32,
        @builtin(local_invocation_index) li: u32) {
    let ok = (li / ssz) * ssz + sid == li && ({{WG}}u % ssz) == 0u && subgroupAdd(1u) == ssz;
    if (!ok) {
        atomicStore(&OUT[0], 0u);
    }
    if (li == 0u) {
        atomicStore(&OUT[1], ssz);
    }
}

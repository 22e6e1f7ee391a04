// select_entry.wgsl: the head of `fn main` of the selection kernels (no bindings of its own).
// Included where main begins; the includer writes the body and its closing brace. One
// invocation gets wid, nwg, li and, for wg_scan4 (select_common.wgsl), sid and ssz:
// the subgroup builtins with SUBGROUPS, else constants the workgroup-memory scan ignores.

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
//@if SUBGROUPS
        @builtin(subgroup_invocation_id) sid: u32,
        @builtin(subgroup_size) ssz: u32,
//@endif
        @builtin(local_invocation_index) li: u32) {
//@if !SUBGROUPS
    let sid = 0u;
    let ssz = 1u;
//@endif

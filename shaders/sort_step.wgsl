// sort_step.wgsl: up to S bitonic steps of distance >= TILE in one pass over memory.
// Bindings: 0 P, 1 W (pairs of (key, row index), rw).
// One invocation loads R pairs of one row (group bits dlog-S+1..dlog), runs the steps
// of distance 2^dlog down to 2^bot on them in registers and stores them back.

@group(0) @binding(0) var<uniform> P: SortParams;
@group(0) @binding(1) var<storage, read_write> W: array<vec4<u32>>;

//@include sort_common

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let q = P.base + (wid.x + wid.y * nwg.x) * WG + li;
    if (q >= P.count) {
        return;
    }
    // Groups of padding only never run: the first `real` groups of each row (their
    // lowest slots ascend with qq) are the ones holding elements.
    let row = P.w_off + (q / P.real) * P.w_row;
    let qq = q % P.real;
    let sh = P.dlog + 1u - S;
    let flip = P.dlog == P.blo - 1u;
    var ks: array<u32, G>;
    var xs: array<u32, G>;
//@repeat R
    {
        let c = pair_slot(qq, {{i}}u, sh, flip);
        var v = vec4<u32>(0xffffffffu, PAD, 0xffffffffu, PAD);
        if (c < P.n) {
            v = W[row + (c >> 1u)];
        }
        if (c + 1u >= P.n) {
            v.w = PAD;
        }
        unpack(&ks, &xs, {{i}}u, v, swapped({{i}}u, flip));
    }
//@end
    net(&ks, &xs, S, P.bot + 1u - sh, false, flip);
//@repeat R
    {
        let c = pair_slot(qq, {{i}}u, sh, flip);
        if (c < P.n) {
            W[row + (c >> 1u)] = pack(&ks, &xs, {{i}}u, swapped({{i}}u, flip));
        }
    }
//@end
}

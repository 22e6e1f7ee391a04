// sort_tile.wgsl: every bitonic step of distance < TILE, one tile per workgroup.
// Bindings: 0 P, 1 K (u32 keys, read by init), 2 W (pairs of (key, row index), rw).
// A workgroup of TILE / G invocations owns TILE slots (part of a row, or several
// short rows). The steps run as passes of up to S + 1 steps on slots held in
// registers; between passes they are exchanged through workgroup memory (one
// barrier each), so the tile is read once and written once. Entry init: sort each
// tile from K (stages 1..bhi, indices 0..n-1). Entry merge: finish stage blo, whose
// steps of distance >= TILE ran in sort_step.

@group(0) @binding(0) var<uniform> P: SortParams;
@group(0) @binding(1) var<storage, read> K: array<u32>;
@group(0) @binding(2) var<storage, read_write> W: array<vec4<u32>>;

//@include sort_common

const TILE_LOG: u32 = {{TILE_LOG}}u;

var<workgroup> SW: array<vec4<u32>, {{TILE_PAIRS}}>;

// Column and row of tile slot s, and whether it holds an element.
fn column(t0: u32, s: u32) -> u32 {
    return (t0 + s) & ((1u << P.p_log) - 1u);
}

fn in_rows(t0: u32, s: u32) -> bool {
    return column(t0, s) < P.n && ((t0 + s) >> P.p_log) < P.rows;
}

// W index (vec4) of the pair at even tile slot s.
fn w_pair(t0: u32, s: u32) -> u32 {
    return P.w_off + ((t0 + s) >> P.p_log) * P.w_row + (column(t0, s) >> 1u);
}

// The next pass: store the slots held (positions of the pass that ran: sh0, flip0),
// then, after the barrier, load the group at sh/flip and run levels top..1 (and 0
// when pair_on). Each invocation stores and loads only its own slots within a pass,
// so one barrier per pass suffices.
fn tile_pass(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, li: u32,
             sh0: u32, flip0: bool, sh: u32, top: u32, pair_on: bool, flip: bool) {
//@repeat R
    SW[pair_slot(li, {{i}}u, sh0, flip0) >> 1u] = pack(ks, xs, {{i}}u, swapped({{i}}u, flip0));
//@end
    workgroupBarrier();
//@repeat R
    unpack(ks, xs, {{i}}u, SW[pair_slot(li, {{i}}u, sh, flip) >> 1u], swapped({{i}}u, flip));
//@end
    net(ks, xs, top, 1u, pair_on, flip);
}

// Passes for the steps of stage b (block 2^b) from distance 2^h0 down to 1 (h0 <
// TILE_LOG). *sh_c / *flip_c: the positions of the slots held in registers.
fn stage(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, li: u32, b: u32,
         h0: u32, sh_c: ptr<function, u32>, flip_c: ptr<function, bool>) {
    var h = i32(h0);
    var flip = h0 == b - 1u;
    while (h >= 0) {
        let uh = u32(h);
        let sh = pass_sh(uh);
        tile_pass(ks, xs, li, *sh_c, *flip_c, sh, uh + 1u - sh, sh == 1u, flip);
        *sh_c = sh;
        *flip_c = flip;
        h = select(h - i32(S), -1, sh == 1u);
        flip = false;
    }
}

// Write the slots held in registers (positions sh/flip) to W.
fn store_group(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, t0: u32,
               li: u32, sh: u32, flip: bool) {
//@repeat R
    {
        let s = pair_slot(li, {{i}}u, sh, flip);
        if (in_rows(t0, s)) {
            W[w_pair(t0, s)] = pack(ks, xs, {{i}}u, swapped({{i}}u, flip));
        }
    }
//@end
}

@compute @workgroup_size({{WG}})
fn init(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let u = P.base + wid.x + wid.y * nwg.x;
    if (u >= P.count) {
        return;
    }
    let t = u / P.real * P.per_row + u % P.real;   // tiles of padding only never run
    let t0 = t * TILE;
    var ks: array<u32, G>;
    var xs: array<u32, G>;
//@repeat G
    {
        let s = li * G + {{i}}u;
        let ok = in_rows(t0, s);
        ks[{{i}}] = 0xffffffffu;
        if (ok) {
            ks[{{i}}] = K[P.k_off + ((t0 + s) >> P.p_log) * P.n + column(t0, s)];
        }
        xs[{{i}}] = select(PAD, column(t0, s), ok);
    }
//@end
    sort_group(&ks, &xs, min(S + 1u, P.bhi));
    var sh_c = 1u;
    var flip_c = false;
    for (var b = S + 2u; b <= P.bhi; b = b + 1u) {
        stage(&ks, &xs, li, b, b - 1u, &sh_c, &flip_c);
    }
    store_group(&ks, &xs, t0, li, sh_c, flip_c);
}

@compute @workgroup_size({{WG}})
fn merge(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let u = P.base + wid.x + wid.y * nwg.x;
    if (u >= P.count) {
        return;
    }
    let t = u / P.real * P.per_row + u % P.real;   // tiles of padding only never run
    let t0 = t * TILE;
    var ks: array<u32, G>;
    var xs: array<u32, G>;
    // The first pass (distances 2^(TILE_LOG-1) .. 2^(TILE_LOG-S)) reads W directly.
    var sh_c = TILE_LOG - S;
    var flip_c = false;
//@repeat R
    {
        let s = pair_slot(li, {{i}}u, sh_c, false);
        var v = vec4<u32>(0xffffffffu, PAD, 0xffffffffu, PAD);
        if (in_rows(t0, s)) {
            v = W[w_pair(t0, s)];
        }
        if (column(t0, s) + 1u >= P.n) {
            v.w = PAD;
        }
        unpack(&ks, &xs, {{i}}u, v, false);
    }
//@end
    net(&ks, &xs, S, 1u, false, false);
    stage(&ks, &xs, li, P.blo, TILE_LOG - 1u - S, &sh_c, &flip_c);
    store_group(&ks, &xs, t0, li, sh_c, flip_c);
}

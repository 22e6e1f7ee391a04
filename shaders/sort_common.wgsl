// sort_common.wgsl: parameters and the register network shared by sort_tile and sort_step.
// A row of n elements sorts as the first n slots of a bitonic network over P = 2^p_log
// slots; slots n..P-1 are virtual +infinity padding, never stored. Every
// compare-exchange of the merge steps puts the smaller pair at the lower slot, so
// padding (a suffix of each row) never moves; an exchange whose higher slot is
// padding is skipped.
// An invocation holds G = 2^(S+1) slots in registers: R = 2^S pairs of neighbour
// slots (2m, 2m+1), read and written as one vec4 (key, index, key, index), whose
// other S slot bits (sh..sh+S-1) are the group bits. It runs up to S + 1 steps per
// memory round trip: the steps of distance 2^sh..2^(sh+S-1) across the group and,
// when sh == 1, the step of distance 1 inside the pairs.
// Written for lavapipe too, where an `if` never skips its body (both sides run,
// masked) and every memory access is a loop over the SIMD lanes: the network is
// straight-line code whose steps are switched on and off with selects, and pairs
// halve the accesses.
// Template: S (3 or 4), G, R, WG, TILE, FLOAT (float keys), FLIP, LEVEL4 (S == 4).

//@uniform SortParams

const S: u32 = {{S}}u;
const G: u32 = {{G}}u;
const R: u32 = {{R}}u;         // pairs per invocation, G / 2
const WG: u32 = {{WG}}u;
const TILE: u32 = {{TILE}}u;
const FLIP: u32 = {{FLIP}}u;   // 0xffffffff for descending float keys (stored inverted)
const PAD: u32 = 0xffffffffu;  // index of a padding slot

// The order of a key. Integer and bool keys are already in order. Float keys are
// the IEEE bits mapped to a total order (exactly invertible, so values are decoded
// from them bit for bit); the order treats -0.0 as +0.0 and every NaN as one value
// above +inf, as PyTorch does.
fn ord(k: u32) -> u32 {
//@if FLOAT
    let u = k ^ FLIP;
    var c = select(u, 0x80000000u, u == 0x7fffffffu);
    c = select(c, 0xffffffffu, u > 0xff800000u || u < 0x007fffffu);
    return c ^ FLIP;
//@else
    return k;
//@endif
}

// Compare-exchange members a and b: the smaller goes to a (to b when rev). Pairs
// compare by key order, then original index (a total order: the sort is stable);
// padding (index PAD) is larger than everything. Skipped when !on.
fn cx(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, a: u32, b: u32,
      rev: bool, on: bool) {
    let ka = (*ks)[a];
    let kb = (*ks)[b];
    let ia = (*xs)[a];
    let ib = (*xs)[b];
    let ol = ord(select(ka, kb, rev));
    let oh = ord(select(kb, ka, rev));
    let il = select(ia, ib, rev);
    let ih = select(ib, ia, rev);
    let sw = on && ih != PAD && (il == PAD || ol > oh || (ol == oh && il > ih));
    (*ks)[a] = select(ka, kb, sw);
    (*ks)[b] = select(kb, ka, sw);
    (*xs)[a] = select(ia, ib, sw);
    (*xs)[b] = select(ib, ia, sw);
}

// One merge step at member level k (literal, so every index is a constant and the
// members stay in registers): level 0 pairs the two slots of each pair, level k >= 1
// group members 2^(k-1) apart. In a mirror pass (flip, see pair_slot) the upper half
// of the group holds slots in descending order.
fn lvl(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, k: u32, on: bool,
       flip: bool) {
    let up = flip && k < S;
//@repeat R
    {
        let a = (({{i}}u >> k) << (k + 1u)) | ({{i}}u & ((1u << k) - 1u));
        cx(ks, xs, a, a | (1u << k), up && a >= G / 2u, on);
    }
//@end
}

// A pass: member levels top down to 1 (distances 2^(sh+top-1) .. 2^sh), then level 0
// (distance 1) when pair_on.
fn net(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, top: u32, bot: u32,
       pair_on: bool, flip: bool) {
//@if LEVEL4
    lvl(ks, xs, 4u, bot <= 4u && 4u <= top, flip);
//@endif
    lvl(ks, xs, 3u, bot <= 3u && 3u <= top, flip);
    lvl(ks, xs, 2u, bot <= 2u && 2u <= top, flip);
    lvl(ks, xs, 1u, bot <= 1u && 1u <= top, flip);
    lvl(ks, xs, 0u, pair_on, flip);
}

// Step k of stage b of an alternating bitonic sort of G contiguous slots: blocks of
// 2^b whose bit b is set run descending, except in the last stage, lim.
fn sort_lvl(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, k: u32, b: u32,
            lim: u32) {
//@repeat R
    {
        let a = (({{i}}u >> k) << (k + 1u)) | ({{i}}u & ((1u << k) - 1u));
        cx(ks, xs, a, a | (1u << k), b < lim && ((a >> b) & 1u) == 1u, b <= lim);
    }
//@end
}

// Sort G contiguous slots ascending: stages 1..lim (lim = min(S + 1, bhi)).
fn sort_group(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, lim: u32) {
    sort_lvl(ks, xs, 0u, 1u, lim);
    sort_lvl(ks, xs, 1u, 2u, lim);
    sort_lvl(ks, xs, 0u, 2u, lim);
    sort_lvl(ks, xs, 2u, 3u, lim);
    sort_lvl(ks, xs, 1u, 3u, lim);
    sort_lvl(ks, xs, 0u, 3u, lim);
    sort_lvl(ks, xs, 3u, 4u, lim);
    sort_lvl(ks, xs, 2u, 4u, lim);
    sort_lvl(ks, xs, 1u, 4u, lim);
    sort_lvl(ks, xs, 0u, 4u, lim);
//@if LEVEL4
    sort_lvl(ks, xs, 4u, 5u, lim);
    sort_lvl(ks, xs, 3u, 5u, lim);
    sort_lvl(ks, xs, 2u, 5u, lim);
    sort_lvl(ks, xs, 1u, 5u, lim);
    sort_lvl(ks, xs, 0u, 5u, lim);
//@endif
}

// The even slot of pair j of group q in a pass with group bits sh..sh+S-1 (sh >= 1):
// bit 0 and the group bits are clear in q's part. A mirror pass (flip: the first
// step of stage sh+S, pairing each slot of a block with its mirror image) takes the
// lower half's pairs and, as pairs R/2 + j, their mirror images, whose two slots
// are swapped (see swapped): its first step pairs member m with m + G/2.
fn pair_slot(q: u32, j: u32, sh: u32, flip: bool) -> u32 {
    let q2 = q << 1u;
    let lo = ((q2 >> sh) << (sh + S)) | (q2 & ((1u << sh) - 1u));
    let mirrored = ((lo | ((j - R / 2u) << sh)) ^ ((1u << (sh + S)) - 1u)) ^ 1u;
    return select(lo | (j << sh), mirrored, flip && j >= R / 2u);
}

fn swapped(j: u32, flip: bool) -> bool {
    return flip && j >= R / 2u;
}

// Members 2j, 2j+1 from a vec4 (key, index, key, index) of slots (2m, 2m+1).
fn unpack(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, j: u32,
          v: vec4<u32>, swap: bool) {
    (*ks)[2u * j] = select(v.x, v.z, swap);
    (*xs)[2u * j] = select(v.y, v.w, swap);
    (*ks)[2u * j + 1u] = select(v.z, v.x, swap);
    (*xs)[2u * j + 1u] = select(v.w, v.y, swap);
}

fn pack(ks: ptr<function, array<u32, G>>, xs: ptr<function, array<u32, G>>, j: u32,
        swap: bool) -> vec4<u32> {
    let a = vec2<u32>((*ks)[2u * j], (*xs)[2u * j]);
    let b = vec2<u32>((*ks)[2u * j + 1u], (*xs)[2u * j + 1u]);
    return select(vec4<u32>(a, b), vec4<u32>(b, a), swap);
}

// Pass plan for the steps of a stage from distance 2^h: group bits from sh, member
// levels top..1, and whether level 0 (distance 1) is included.
fn pass_sh(h: u32) -> u32 {
    return max(1u, h + 1u - min(h + 1u, S));
}

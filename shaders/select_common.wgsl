// select_common.wgsl: parameters and workgroup scans shared by the selection kernels
// (included by count_blocks*, scan_blocks, scatter_selected*, fill_tail and, through
// select_onepass_common, the one-pass kernels).
// A block is BLOCK_WORDS mask words (4 bool bytes each): on the workgroup-memory
// path one workgroup of BLOCK_WORDS / 4 threads does 4 rounds of one word per
// thread; on the subgroup path one subgroup walks it. Template: WG, BLOCK_WORDS,
// SUBGROUPS (the adapter's subgroups are used).

//@uniform SelectParams

const WG: u32 = {{WG}}u;
const BLOCK_WORDS: u32 = {{BLOCK_WORDS}}u;

struct Scan4 {
    excl: vec4<u32>,   // exclusive prefix of this thread, per component
    total: vec4<u32>,  // workgroup total, per component
}

var<workgroup> sh: array<vec4<u32>, WG>;

// Bytes of mask word `w` (segment-relative) that are inside the segment: 0x01 each.
fn valid_bits(w: u32) -> u32 {
    let first = w * 4u;
    if (first + 4u <= P.n) {
        return 0x01010101u;
    }
    if (first >= P.n) {
        return 0u;
    }
    return 0x01010101u & ((1u << ((P.n - first) * 8u)) - 1u);
}

// Exclusive scan of one vec4 per thread across the workgroup, in thread order.
//@if SUBGROUPS
// Subgroup scans, then the subgroup totals through workgroup memory. Assumes
// subgroups are consecutive runs of local_invocation_index (checked on the
// adapter by the runtime's probe before this path is chosen).
fn wg_scan4(v: vec4<u32>, li: u32, sid: u32, ssz: u32) -> Scan4 {
    let incl = subgroupInclusiveAdd(v);
    let sg = li / ssz;
    if (sid == ssz - 1u) {
        sh[sg] = incl;
    }
    workgroupBarrier();
    var before = vec4<u32>(0u);
    var total = vec4<u32>(0u);
    let nsg = WG / ssz;
    for (var i = 0u; i < nsg; i = i + 1u) {
        let t = sh[i];
        if (i < sg) {
            before = before + t;
        }
        total = total + t;
    }
    workgroupBarrier();
    return Scan4(before + incl - v, total);
}
//@else
// Hillis-Steele scan in workgroup memory (adapters without subgroups).
fn wg_scan4(v: vec4<u32>, li: u32, sid: u32, ssz: u32) -> Scan4 {
    sh[li] = v;
    workgroupBarrier();
    var off = 1u;
    loop {
        if (off >= WG) {
            break;
        }
        var add = vec4<u32>(0u);
        if (li >= off) {
            add = sh[li - off];
        }
        workgroupBarrier();
        sh[li] = sh[li] + add;
        workgroupBarrier();
        off = off * 2u;
    }
    let incl = sh[li];
    let total = sh[WG - 1u];
    workgroupBarrier();
    return Scan4(incl - v, total);
}
//@endif

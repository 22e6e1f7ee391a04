// scan_rows.wgsl: inclusive scans (cumsum, cumprod, cummax/cummin) along the rows of a
// contiguous [rows, n] tensor, by tiles of TILE = WG * R elements of one row.
// Bindings: 0 P, 1 X (values), 2 XI (i32 indices: IDX_IN), 3 Y (rw: scanned values, or
// with TOTALS the run totals), 4 YI (rw, i32: INDEXED), 5 PV (HAS_PRE: the inclusive
// scan of the run totals, [rows, tpr * WG]), 6 PI (its indices: HAS_PRE and INDEXED).
//
// One workgroup per tile (tile g: row g / tpr, tile g % tpr of the row); invocation li
// owns the run of R consecutive elements from column (g % tpr) * TILE + li * R.
//   TOTALS   each invocation writes its run's total to Y[(row, (g % tpr) * WG + li)]
//            (the first pass of a row longer than one tile; no barrier);
//   HAS_PRE  each invocation starts from the inclusive scan of the runs before its
//            own (PV, one word: the runs' totals scanned as rows of tpr * WG) and
//            walks its run once, writing every element (no barrier);
//   neither  (a row of one tile) each invocation reduces its run, invocation 0 scans
//            the WG run totals serially through workgroup memory (two barriers, none
//            in a loop), and each walks its run again from its prefix.
// Every loop has a fixed trip count (R / 4 or WG), far under llvmpipe's 65,535.
//
// Template: WG, R (multiple of 4), T (f32, i32 or u32), IDENT (the identity, of T),
// COMBINE (sum/prod: the combination of a and b, earlier a), BETTER (INDEXED: whether
// b, the later element, replaces a: cummax ties go to the later one, as in PyTorch),
// INDEXED (cummax/cummin: values travel with their indices), IDX_IN (the indices come
// from XI, else they are the columns), HAS_PRE, TOTALS, VEC4 (rows and offsets are
// multiples of 4: vec4 accesses of X and Y), REV (the row is scanned from its end: the
// reverse cumsum of the gradient; scalar accesses).

//@uniform ScanParams

@group(0) @binding(0) var<uniform> P: ScanParams;
//@if VEC4
@group(0) @binding(1) var<storage, read> X: array<vec4<{{T}}>>;
//@else
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
//@endif
//@if IDX_IN
@group(0) @binding(2) var<storage, read> XI: array<i32>;
//@endif
//@if VEC4
//@if TOTALS
@group(0) @binding(3) var<storage, read_write> Y: array<{{T}}>;
//@else
@group(0) @binding(3) var<storage, read_write> Y: array<vec4<{{T}}>>;
//@endif
//@else
@group(0) @binding(3) var<storage, read_write> Y: array<{{T}}>;
//@endif
//@if INDEXED
@group(0) @binding(4) var<storage, read_write> YI: array<i32>;
//@endif
//@if HAS_PRE
@group(0) @binding(5) var<storage, read> PV: array<{{T}}>;
//@if INDEXED
@group(0) @binding(6) var<storage, read> PI: array<i32>;
//@endif
//@endif

const WG: u32 = {{WG}}u;
const R: u32 = {{R}}u;
const TILE: u32 = {{WG}}u * {{R}}u;

struct Acc {
    v: {{T}},
    i: i32,
}

var<workgroup> shv: array<{{T}}, WG>;
var<workgroup> shi: array<i32, WG>;

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// acc followed by (b, bi), when `valid`.
fn comb(acc: Acc, b: {{T}}, bi: i32, valid: bool) -> Acc {
//@if INDEXED
    let a = acc.v;
    let take = valid && ({{BETTER}});
    return Acc(select(acc.v, b, take), select(acc.i, bi, take));
//@else
    let a = acc.v;
    return Acc(select(acc.v, {{COMBINE}}, valid), 0);
//@endif
}

// Word address (window-relative) of column `c` of row `row`.
fn addr(off: u32, row: u32, c: u32) -> u32 {
//@if REV
    return off + (row - P.row0) * P.n + (P.n - 1u - c);
//@else
    return off + (row - P.row0) * P.n + c;
//@endif
}

// Index of run (row, tile t, invocation li) in the [rows, tpr * WG] run totals (Y with
// TOTALS, PV with HAS_PRE), from the window offset `off`.
fn run_at(off: u32, row: u32, t: u32, li: u32) -> u32 {
    return off + (row - P.row0) * P.tpr * WG + t * WG + li;
}

fn load4(row: u32, c: u32) -> vec4<{{T}}> {
//@if VEC4
    return X[addr(P.x_off, row, c) / 4u];
//@else
    // Columns past the row end are clamped to its last element (never stored).
    let last = P.n - 1u;
    return vec4<{{T}}>(X[addr(P.x_off, row, min(c, last))], X[addr(P.x_off, row, min(c + 1u, last))],
                       X[addr(P.x_off, row, min(c + 2u, last))], X[addr(P.x_off, row, min(c + 3u, last))]);
//@endif
}

fn idx4(row: u32, c: u32) -> vec4<i32> {
//@if IDX_IN
    let last = P.n - 1u;
    return vec4<i32>(XI[addr(P.xi_off, row, min(c, last))], XI[addr(P.xi_off, row, min(c + 1u, last))],
                     XI[addr(P.xi_off, row, min(c + 2u, last))], XI[addr(P.xi_off, row, min(c + 3u, last))]);
//@else
    return vec4<i32>(i32(c), i32(c + 1u), i32(c + 2u), i32(c + 3u));
//@endif
}

//@if !TOTALS
fn store4(row: u32, c: u32, v: vec4<{{T}}>, vi: vec4<i32>) {
//@if VEC4
    if (c < P.n) {
        Y[addr(P.y_off, row, c) / 4u] = v;
    }
//@else
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (c + k < P.n) {
            Y[addr(P.y_off, row, c + k)] = v[k];
        }
    }
//@endif
//@if INDEXED
    for (var k = 0u; k < 4u; k = k + 1u) {
        if (c + k < P.n) {
            YI[addr(P.yi_off, row, c + k)] = vi[k];
        }
    }
//@endif
}
//@endif

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let local = wid.x + wid.y * nwg.x;
    if (local >= P.ntiles) {
        return;  // the whole workgroup: before any barrier
    }
    let g = P.g0 + local;
    let row = g / P.tpr;
    let t = g % P.tpr;
    let c0 = t * TILE + li * R;

//@if TOTALS
    // The total of this invocation's run.
    var acc = Acc({{IDENT}}, -1);
    for (var j = 0u; j < R; j = j + 4u) {
        let c = c0 + j;
        let v = load4(row, c);
        let vi = idx4(row, c);
        acc = comb(acc, v.x, vi.x, c < P.n);
        acc = comb(acc, v.y, vi.y, c + 1u < P.n);
        acc = comb(acc, v.z, vi.z, c + 2u < P.n);
        acc = comb(acc, v.w, vi.w, c + 3u < P.n);
    }
    Y[run_at(P.y_off, row, t, li)] = acc.v;
//@if INDEXED
    YI[run_at(P.yi_off, row, t, li)] = acc.i;
//@endif
//@else
//@if HAS_PRE
    // The inclusive scan of the earlier runs of the row (none for the row's first).
    var s = Acc({{IDENT}}, -1);
    if (t * WG + li > 0u) {
        let p = run_at(P.p_off, row, t, li) - 1u;
//@if INDEXED
        s = Acc(PV[p], PI[p]);
//@else
        s = Acc(PV[p], 0);
//@endif
    }
//@else
    // 1. The total of this invocation's run.
    var acc = Acc({{IDENT}}, -1);
    for (var j = 0u; j < R; j = j + 4u) {
        let c = c0 + j;
        let v = load4(row, c);
        let vi = idx4(row, c);
        acc = comb(acc, v.x, vi.x, c < P.n);
        acc = comb(acc, v.y, vi.y, c + 1u < P.n);
        acc = comb(acc, v.z, vi.z, c + 2u < P.n);
        acc = comb(acc, v.w, vi.w, c + 3u < P.n);
    }
    shv[li] = acc.v;
    shi[li] = acc.i;
    workgroupBarrier();
    // 2. Invocation 0: the exclusive prefix of every run.
    if (li == 0u) {
        var run = Acc({{IDENT}}, -1);
        for (var i = 0u; i < WG; i = i + 1u) {
            let tv = shv[i];
            let ti = shi[i];
            shv[i] = run.v;
            shi[i] = run.i;
            run = comb(run, tv, ti, i * R < P.n);
        }
    }
    workgroupBarrier();
    var s = Acc(shv[li], shi[li]);
//@endif

    // 3. The run, from its prefix, writing every element.
    for (var j = 0u; j < R; j = j + 4u) {
        let c = c0 + j;
        let v = load4(row, c);
        let vi = idx4(row, c);
        let s0 = comb(s, v.x, vi.x, true);
        let s1 = comb(s0, v.y, vi.y, true);
        let s2 = comb(s1, v.z, vi.z, true);
        let s3 = comb(s2, v.w, vi.w, true);
        store4(row, c, vec4<{{T}}>(s0.v, s1.v, s2.v, s3.v), vec4<i32>(s0.i, s1.i, s2.i, s3.i));
        s = s3;
    }
//@endif
}

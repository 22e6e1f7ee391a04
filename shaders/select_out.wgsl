// select_out.wgsl: put(i, v) writes element i of the packed output (VALUES; nonzero's
// coordinates: neither VALUES nor TAKE), source_at(i) reads element i of the packed
// source (TAKE: masked_scatter). Either lives in one of K windows of its buffer when it
// is bigger than one binding (included by the scatter kernels, which declare
// OUT0..OUT{K-1}). Template: K, ONE_WINDOW (K == 1: no window arithmetic), VALUES, TAKE.

//@if TAKE
//@if ONE_WINDOW
fn source_at(i: u32) -> u32 {
    return OUT0[P.out_off + i];
}
//@else
fn source_at(i: u32) -> u32 {
    let e = P.out_off + i;
    let w = e / P.out_win;
    let o = e - w * P.out_win;
    var v = 0u;
    switch w {
//@repeat K
        case {{i}}u: { v = OUT{{i}}[o]; }
//@end
        default: {}
    }
    return v;
}
//@endif
//@else
//@if ONE_WINDOW
fn put(i: u32, v: u32) {
    OUT0[P.out_off + i] = v;
}
//@else
fn put(i: u32, v: u32) {
    let e = P.out_off + i;
    let w = e / P.out_win;
    let o = e - w * P.out_win;
    switch w {
//@repeat K
        case {{i}}u: { OUT{{i}}[o] = v; }
//@end
        default: {}
    }
}
//@endif
//@endif

// The selected elements of mask word w (segment-relative), set bits in `bits`,
// have ranks pos0, pos0+1, ...: VALUES writes x's words at those output
// positions, TAKE writes source element `rank` into the element's own place in
// XW (masked_scatter), nonzero (neither) each element's NDIM coordinates.
fn emit_word(pos0: u32, w: u32, bits: u32) {
    var pos = pos0;
//@if VALUES
    let xv = X[(P.x_off / 4u) + w];
//@endif
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (((bits >> (8u * j)) & 1u) != 0u) {
//@if VALUES
            put(pos, xv[j]);
//@else
//@if TAKE
            XW[P.x_off + w * 4u + j] = source_at(pos);
//@else
            var g = P.g0 + w * 4u + j;
            if (P.ndim == 1u) {
                // 1-D: the flat index is the coordinate (no per-lane divisions,
                // which CPU adapters run as a loop over the lanes)
                put(pos, g);
            } else {
                for (var d = i32(P.ndim) - 1; d >= 0; d = d - 1) {
                    let ud = u32(d);
                    let size = P.shape[ud >> 2u][ud & 3u];
                    put(pos * P.ndim + ud, g % size);
                    g = g / size;
                }
            }
//@endif
//@endif
            pos = pos + 1u;
        }
    }
}

//@if VALUES
// Branch-free VALUES (no per-element store branch diverging inside SIMD lanes):
// every element of mask word w is written, a selected one at its rank, a
// rejected one from the end of the output backwards, at n_all - 1 - (its index
// - its rank): the positions past .count hold the rejected elements (in
// reverse order), which needs no total, so the one-pass kernels can use it too.
// emit_all: the word lies inside the segment; emit_all_tail checks each element.
// Destinations of the 4 elements of mask word w, the first selected one (if any) at pos0.
fn dests(pos0: u32, w: u32, bits: u32) -> vec4<u32> {
    let s = (vec4<u32>(bits) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(1u);
    let p = vec4<u32>(pos0) + vec4<u32>(0u, s.x, s.x + s.y, s.x + s.y + s.z);
    let rej = vec4<u32>(P.n_all - 1u - P.g0 - w * 4u) - vec4<u32>(0u, 1u, 2u, 3u) + p;
    return select(rej, p, s != vec4<u32>(0u));
}

fn emit_all(pos0: u32, w: u32, bits: u32) {
    emit_xv(pos0, w, bits, X[(P.x_off / 4u) + w]);
}

fn emit_all_tail(pos0: u32, w: u32, bits: u32) {
    emit_xv_tail(pos0, w, bits, X[(P.x_off / 4u) + w]);
}

// The same with x's words of mask word w already loaded (xv).
fn emit_xv(pos0: u32, w: u32, bits: u32, xv: vec4<u32>) {
    let d = dests(pos0, w, bits);
    put(d.x, xv.x);
    put(d.y, xv.y);
    put(d.z, xv.z);
    put(d.w, xv.w);
}

fn emit_xv_tail(pos0: u32, w: u32, bits: u32, xv: vec4<u32>) {
    let d = dests(pos0, w, bits);
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (w * 4u + j < P.n) {
            put(d[j], xv[j]);
        }
    }
}
//@endif

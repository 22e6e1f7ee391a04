// select_out.wgsl: put(i, v) writes output element i, which lives in one of K
// windows of the output buffer when the output is bigger than one binding
// (included by the scatter kernels, which declare OUT0..OUT{K-1}).

fn put(i: u32, v: u32) {
    let e = P.out_off + i;
//@if ONE_OUT
    OUT0[e] = v;
//@endif
//@if MULTI_OUT
    let w = e / P.out_win;
    let o = e - w * P.out_win;
    switch w {
//@repeat K
        case {{i}}u: { OUT{{i}}[o] = v; }
//@end
        default: {}
    }
//@endif
}


// Writes the selected elements of mask word w (segment-relative), set bits in
// `bits`, at output positions pos, pos+1, ...: x's words (VALUES) or each
// element's NDIM coordinates (INDICES).
fn emit_word(pos0: u32, w: u32, bits: u32) {
    var pos = pos0;
//@if VALUES
    let xv = X[(P.x_off / 4u) + w];
//@endif
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (((bits >> (8u * j)) & 1u) != 0u) {
//@if VALUES
            put(pos, xv[j]);
//@endif
//@if INDICES
            var g = P.g0 + w * 4u + j;
            for (var d = i32(P.ndim) - 1; d >= 0; d = d - 1) {
                let ud = u32(d);
                let size = P.shape[ud >> 2u][ud & 3u];
                put(pos * P.ndim + ud, g % size);
                g = g / size;
            }
//@endif
            pos = pos + 1u;
        }
    }
}

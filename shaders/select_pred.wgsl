// select_pred.wgsl: the fused predicate of masked_select(x, x OP t) when the mask is
// a fresh compare of x with a scalar whose dispatch the runtime held back (see
// select.py): the one-pass kernels compute the mask words from x's words instead
// of reading them, and store them into the mask tensor, so that it holds exactly
// what the compare kernel would have written (same expression, same types).
// Included inside //@if FUSED by select_onepass*.wgsl, which declare X (vec4 of x's
// u32 words) and MW (the mask's u32 words, rw). Template: XVAL (x's word v as the
// compare's type), SVAL (the scalar from P.scal as that type), PRED (an expression
// over a and b, as in elementwise.wgsl).

fn pred(v: u32) -> bool {
    let a = {{XVAL}};
    let b = {{SVAL}};
    return {{PRED}};
}

// The mask word (4 bool bytes) of x's vec4 xv.
fn pred_word(xv: vec4<u32>) -> u32 {
    return select(0u, 0x1u, pred(xv.x)) | select(0u, 0x100u, pred(xv.y))
         | select(0u, 0x10000u, pred(xv.z)) | select(0u, 0x1000000u, pred(xv.w));
}

// Mask words w .. w + 3 (segment-relative): 16 elements of x. Elements past the
// segment's end are cleared by the caller. (The kernels' own runs keep the x words
// they load for writing; this serves the look-back fallback.)
fn pred_words(w: u32) -> vec4<u32> {
    let i = P.x_off / 4u + w;
    return vec4<u32>(pred_word(X[i]), pred_word(X[i + 1u]), pred_word(X[i + 2u]), pred_word(X[i + 3u]));
}

// Store mask words w .. w + 3 (those inside the segment) into the mask tensor.
fn store_words(w: u32, bv: vec4<u32>) {
    for (var k = 0u; k < 4u; k = k + 1u) {
        if ((w + k) * 4u < P.n) {
            MW[P.m_off + w + k] = bv[k];
        }
    }
}

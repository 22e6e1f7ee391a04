// select_pred.wgsl: the mask words of a fused selection (a lazy mask's predicate,
// pred.wgsl, evaluated from its tensors: no mask is read or written). Included under
// FUSED by select_onepass*.wgsl, count_blocks*.wgsl and scatter_selected*.wgsl after
// their bindings (X: vec4 of x's u32 words, VALUES). Template: VALUES.

//@include pred

// The mask word (4 bool bytes) of segment-relative word w; xv: x's words there
// (VALUES; the predicate may read x's own values from them).
fn pred_word(w: u32, xv: vec4<u32>) -> u32 {
    let e = w * 4u;
    return select(0u, 0x1u, pred(e, xv.x)) | select(0u, 0x100u, pred(e + 1u, xv.y))
         | select(0u, 0x10000u, pred(e + 2u, xv.z)) | select(0u, 0x1000000u, pred(e + 3u, xv.w));
}

// Mask words w .. w + 3 (segment-relative): 16 elements. Elements past the segment's
// end are cleared by the caller.
fn pred_words(w: u32) -> vec4<u32> {
//@if VALUES
    let i = P.x_off / 4u + w;
    return vec4<u32>(pred_word(w, X[i]), pred_word(w + 1u, X[i + 1u]), pred_word(w + 2u, X[i + 2u]),
                     pred_word(w + 3u, X[i + 3u]));
//@else
    let z = vec4<u32>(0u);
    return vec4<u32>(pred_word(w, z), pred_word(w + 1u, z), pred_word(w + 2u, z), pred_word(w + 3u, z));
//@endif
}

// The mask word of segment-relative word w (scatter_selected.wgsl, one word a round).
fn pred_word_at(w: u32) -> u32 {
//@if VALUES
    return pred_word(w, X[P.x_off / 4u + w]);
//@else
    return pred_word(w, vec4<u32>(0u));
//@endif
}

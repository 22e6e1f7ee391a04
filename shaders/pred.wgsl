// pred.wgsl: a lazy mask's predicate, evaluated where the mask is used (fused) instead
// of being written and read back. Included under FUSED by the selection kernels
// (select_onepass*.wgsl) and reduce.wgsl. Bindings: A, B, C (read-only u32 words of
// the predicate's tensors, HAS_A/B/C, at binding LEAF_A/B/C; element e of the
// includer's range is element ea = P.off.x + e of A, eb, ec likewise).
// Operands: slots a, b, c (those tensors or scalars from P.scal.x/y/z) and d (a
// scalar, P.scal.w), of types CT_A..CT_D with values VAL_A..VAL_D, written by
// ops/elementwise.py's slot_params (the elementwise kernel's generator; VAL_x may
// name v, a value the includer loaded already, of type PV). PRED: a bool expression
// over a..d.

//@if HAS_A
@group(0) @binding({{LEAF_A}}) var<storage, read> A: array<u32>;
//@endif
//@if HAS_B
@group(0) @binding({{LEAF_B}}) var<storage, read> B: array<u32>;
//@endif
//@if HAS_C
@group(0) @binding({{LEAF_C}}) var<storage, read> C: array<u32>;
//@endif

fn pred(e: u32, v: {{PV}}) -> bool {
//@if HAS_A
    let ea = P.off.x + e;
//@endif
//@if HAS_B
    let eb = P.off.y + e;
//@endif
//@if HAS_C
    let ec = P.off.z + e;
//@endif
    let a = {{CT_A}}({{VAL_A}});
    let b = {{CT_B}}({{VAL_B}});
    let c = {{CT_C}}({{VAL_C}});
    let d = {{CT_D}}({{VAL_D}});
    return {{PRED}};
}

// matmul_common.wgsl: included by matmul.wgsl and matmul_vec4.wgsl after their bindings
// (P: MatmulParams). The output tile of linear workgroup g: its batch, first row and
// first column, and the batch's element offsets in A and B (the batch index unravelled
// over the coalesced batch dims P.bshape, strides P.abst / P.bbst, 0 where broadcast).

struct Tile {
    bi: u32,      // batch index within this launch
    row0: u32,    // first row of C (absolute, from P.m0)
    col0: u32,    // first column of C
    a_base: u32,  // element offset of the batch's A matrix
    b_base: u32,  // ... and of its B matrix
}

fn tile_of(g: u32, tm: u32, tn: u32) -> Tile {
    let tiles_n = (P.n + tn - 1u) / tn;
    let per_batch = P.tiles_m * tiles_n;
    let bi = g / per_batch;
    let rem = g % per_batch;
    var a_base = P.a_off;
    var b_base = P.b_off;
    var bq = P.batch0 + bi;
    for (var d = 0u; d < P.nbd; d = d + 1u) {
        let dd = P.nbd - 1u - d;
        let size = P.bshape[dd];
        let idx = bq % size;
        bq = bq / size;
        a_base = a_base + idx * P.abst[dd];
        b_base = b_base + idx * P.bbst[dd];
    }
    return Tile(bi, P.m0 + (rem / tiles_n) * tm, (rem % tiles_n) * tn, a_base, b_base);
}

// select_out.wgsl: put(i, v) writes element i of the packed output (VALUES; nonzero's
// coordinates: neither VALUES nor TAKE), source_at(i) reads element i of the packed
// source (TAKE: masked_scatter). Either lives in one of K windows of its buffer when it
// is bigger than one binding (included by the scatter kernels, which declare
// OUT0..OUT{K-1}). Template: K, ONE_WINDOW (K == 1: no window arithmetic), VALUES, TAKE, OUTV.

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
// put_at(e, v): element e of the windows' concatenation (e = P.out_off + i);
// put4(a, v): elements a .. a + 3 (a % 4 == 0), one vec4 store with OUTV (the
// windows bound as vec4 arrays; the host makes every window a multiple of 4 words,
// so an aligned vec4 never straddles two), else four word stores.
//@if ONE_WINDOW
fn put_at(e: u32, v: u32) {
//@if OUTV
    OUT0[e >> 2u][e & 3u] = v;
//@else
    OUT0[e] = v;
//@endif
}
//@if OUTV
fn put4(a: u32, v: vec4<u32>) {
    OUT0[a >> 2u] = v;
}
//@endif
//@else
fn put_at(e: u32, v: u32) {
    let w = e / P.out_win;
    let o = e - w * P.out_win;
    switch w {
//@repeat K
//@if OUTV
        case {{i}}u: { OUT{{i}}[o >> 2u][o & 3u] = v; }
//@else
        case {{i}}u: { OUT{{i}}[o] = v; }
//@endif
//@end
        default: {}
    }
}
//@if OUTV
fn put4(a: u32, v: vec4<u32>) {
    let w = a / P.out_win;
    let o = (a - w * P.out_win) >> 2u;
    switch w {
//@repeat K
        case {{i}}u: { OUT{{i}}[o] = v; }
//@end
        default: {}
    }
}
//@endif
//@endif

//@if !OUTV
fn put4(a: u32, v: vec4<u32>) {
    put_at(a, v.x);
    put_at(a + 1u, v.y);
    put_at(a + 2u, v.z);
    put_at(a + 3u, v.w);
}
//@endif

fn put(i: u32, v: u32) {
    put_at(P.out_off + i, v);
}

// Packed stores (select_onepass_sg's dense tiles): one lane writes its c selected words
// to output elements [es, es + c) (windows' concatenation), walking its run 4 words at
// a time: pack4 merges a mask word's 0-4 selected words into `acc`, the aligned vec4
// being filled (its slots below q % 4 hold earlier words; the words past it start the
// next one), and stores it with put4 whenever that vec4 lies wholly inside [es, ee):
// slots not filled yet are stored again, by this lane, once they are, so every lane
// stores at almost every step and no branch depends on the data. The partial first
// and last vec4s, shared with neighbouring lanes, are written word by word by
// pack_end. No store ever touches an element outside [es, ee).
struct Pack {
    es: u32,          // first element
    ee: u32,          // past the last
    q: u32,           // the next selected word's element
    acc: vec4<u32>,   // the aligned vec4 holding q being filled
    head: vec4<u32>,  // the aligned vec4 holding es (when es % 4 != 0)
}

fn pack_start(es: u32, c: u32) -> Pack {
    return Pack(es, es + c, es, vec4<u32>(0u), vec4<u32>(0u));
}

// Mask word `bits` (4 bool bytes) over x's words xv.
fn pack4(st: ptr<function, Pack>, bits: u32, xv: vec4<u32>) {
    let slot = vec4<u32>(0u, 1u, 2u, 3u);
    let s = (vec4<u32>(bits) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(1u);
    let q = (*st).q;
    let r = q & 3u;
    // the slot (0-7: this vec4 or the next) of each selected word, 9 for a rejected one
    let d = select(vec4<u32>(9u), vec4<u32>(r) + vec4<u32>(0u, s.x, s.x + s.y, s.x + s.y + s.z),
                   s != vec4<u32>(0u));
    var lo = (*st).acc;
    var hi = lo;
    lo = select(lo, vec4<u32>(xv.x), slot == vec4<u32>(d.x));
    hi = select(hi, vec4<u32>(xv.x), slot + 4u == vec4<u32>(d.x));
    lo = select(lo, vec4<u32>(xv.y), slot == vec4<u32>(d.y));
    hi = select(hi, vec4<u32>(xv.y), slot + 4u == vec4<u32>(d.y));
    lo = select(lo, vec4<u32>(xv.z), slot == vec4<u32>(d.z));
    hi = select(hi, vec4<u32>(xv.z), slot + 4u == vec4<u32>(d.z));
    lo = select(lo, vec4<u32>(xv.w), slot == vec4<u32>(d.w));
    hi = select(hi, vec4<u32>(xv.w), slot + 4u == vec4<u32>(d.w));
    let a = q - r;
    if (a >= (*st).es && a + 4u <= (*st).ee) {
        put4(a, lo);
    }
    (*st).head = select((*st).head, lo, a < (*st).es);
    let kept = s.x + s.y + s.z + s.w;
    (*st).acc = select(lo, hi, r + kept >= 4u);
    (*st).q = q + kept;
}

// The partial first vec4 (from es; below it a lower lane's) and last one (up to ee).
fn pack_end(st: ptr<function, Pack>) {
    let es = (*st).es;
    let ee = (*st).ee;
    let ha = es & ~3u;
    if (ha != es) {
        for (var j = es - ha; j < 4u; j = j + 1u) {
            if (ha + j < ee) {
                put_at(ha + j, (*st).head[j]);
            }
        }
    }
    let ta = ee & ~3u;
    if (ta != ee && ta >= es) {
        for (var j = 0u; j < ee - ta; j = j + 1u) {
            put_at(ta + j, (*st).acc[j]);
        }
    }
}
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

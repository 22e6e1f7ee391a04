// fill.wgsl: every word of OUT's window becomes P.word, an element's bits repeated to
// 32 bits (full/ones of any dtype). Bindings: 0 P, 1 OUT (rw window). One invocation per
// 16-byte word; with WORDS, per 4-byte word (the last 4-12 bytes of a buffer whose size
// is not a multiple of 16).

//@uniform FillParams
@group(0) @binding(0) var<uniform> P: FillParams;
//@if WORDS
@group(0) @binding(1) var<storage, read_write> OUT: array<u32>;
//@else
@group(0) @binding(1) var<storage, read_write> OUT: array<vec4<u32>>;
//@endif

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + wid.y * nwg.x) * {{WG}}u + li;
    if (i < P.n) {
//@if WORDS
        OUT[i] = P.word;
//@else
        OUT[i] = vec4<u32>(P.word);
//@endif
    }
}

// select_onepass_common.wgsl: the bindings, includes and state constants of the two
// one-pass selection kernels (select_onepass.wgsl, select_onepass_sg.wgsl).
// Bindings: 0 P, 1 M (mask words as vec4, 16 bools each; absent when FUSED: the mask
// is a predicate evaluated from its tensors, select_pred.wgsl), 2 FLAGS (atomic u32, rw: [0] tile
// counter, [1 + t] the state of tile t; cleared before the first segment), 3 X (vec4
// of x's u32 words; VALUES), 4.. OUT0..OUT{K-1} (u32 windows of the output, rw; OUTV:
// as vec4<u32>, select_out.wgsl), 4+K
// COUNT (u32, rw: the total, written by the last tile), 5+K.. (FUSED) the
// predicate's tensors (pred.wgsl). A state is one u32: 2 flag
// bits (AGG: the tile's own count is published; INCL: its inclusive prefix is) and
// 30 value bits.

@group(0) @binding(0) var<uniform> P: SelectParams;
//@if !FUSED
@group(0) @binding(1) var<storage, read> M: array<vec4<u32>>;
//@endif
@group(0) @binding(2) var<storage, read_write> FLAGS: array<atomic<u32>>;
//@if VALUES
@group(0) @binding(3) var<storage, read> X: array<vec4<u32>>;
//@endif
//@repeat K
//@if OUTV
@group(0) @binding({{i}} + 4) var<storage, read_write> OUT{{i}}: array<vec4<u32>>;
//@else
@group(0) @binding({{i}} + 4) var<storage, read_write> OUT{{i}}: array<u32>;
//@endif
//@end
@group(0) @binding({{K}} + 4) var<storage, read_write> COUNT: array<u32>;

//@include select_common
//@include select_out
//@if FUSED
//@include select_pred
//@endif

const AGG: u32 = 0x40000000u;
const INCL: u32 = 0x80000000u;
const VALUE: u32 = 0x3fffffffu;
const SPINS: u32 = {{SPINS}}u;

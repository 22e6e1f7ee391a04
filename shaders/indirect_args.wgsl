// indirect_args.wgsl: from a count on the GPU, the arguments of a caller's indirect dispatch
// over that many elements (and, with DRAW, of an indirect draw of them), without a CPU read.
// Bindings: 0 P, 1 COUNT (the count's words, read), 2 OUT (u32 words, rw). One invocation
// writes them all: OUT[0..3] = dispatch (x, y, 1); with DRAW, OUT[3..7] = draw (vertex_count,
// instance_count, first_vertex = 0, first_instance = 0). Template: SIGNED (an int32 count:
// a negative one counts as 0), DRAW.
//
// x = ceil(count / wg) while that fits P.max_x; past it the grid is 2-D, as the runtime's own
// launches: y = ceil(groups / max_x), x = ceil(groups / y), so x * y >= groups and the caller's
// kernel rebuilds its id as (wid.x + wid.y * nwg.x) * wg + lid and returns at or past count.
// y is clamped to max_x (reached only when groups > max_x ** 2: the kernel must then loop).

//@uniform IndirectParams

@group(0) @binding(0) var<uniform> P: IndirectParams;
@group(0) @binding(1) var<storage, read> COUNT: array<u32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

@compute @workgroup_size(1)
fn main() {
    let raw = COUNT[P.count_off];
//@if SIGNED
    let n = select(raw, 0u, (raw >> 31u) != 0u);
//@else
    let n = raw;
//@endif
    let groups = n / P.wg + select(0u, 1u, n % P.wg != 0u);   // ceil, without overflow
    var x = groups;
    var y = 1u;
    if (groups > P.max_x) {
        y = groups / P.max_x + select(0u, 1u, groups % P.max_x != 0u);
        x = groups / y + select(0u, 1u, groups % y != 0u);
        y = min(y, P.max_x);
    }
    let o = P.out_off;
    OUT[o] = x;
    OUT[o + 1u] = y;
    OUT[o + 2u] = 1u;
//@if DRAW
    if (P.per_instance == 0u) {
        OUT[o + 3u] = n;
        OUT[o + 4u] = 1u;
    } else {
        OUT[o + 3u] = P.per_instance;
        OUT[o + 4u] = n;
    }
    OUT[o + 5u] = 0u;
    OUT[o + 6u] = 0u;
//@endif
}

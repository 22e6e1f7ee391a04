"""The uniform parameter blocks of the kernels (binding 0), each declared once.

A block is a list of fields. From it come the WGSL struct, which a shader
inserts with ``//@uniform NAME`` (see shaders.py), the Python packer ``pack``
(a bound ``struct.Struct.pack``: positional, the fields in order with arrays
flattened and padding left out, so hot paths pay nothing for it) and ``size``,
the byte size ``Device.kernel`` binds. The field comments are emitted into the
WGSL text, so a shader's reader sees them where the struct used to be.

Layout follows WGSL's uniform rules, kept simple: a 16-byte field (vec4 or an
array of vec4) must start at a multiple of 16 bytes; the block says so with
explicit padding fields rather than relying on WGSL's implicit padding, which
the Python packer would have to reproduce.
"""
from __future__ import annotations

import struct


class Field:
    """One member of a block: WGSL type, 32-bit words, struct code per word
    ("I", "f", or "x" for padding), byte alignment, comment (may span lines)."""

    __slots__ = ("name", "wgsl", "words", "code", "align", "comment")

    def __init__(self, name, wgsl, words, code, align, comment):
        self.name, self.wgsl, self.words, self.code = name, wgsl, words, code
        self.align, self.comment = align, comment


def u32(name, comment=""):
    return Field(name, "u32", 1, "I", 4, comment)


def f32(name, comment=""):
    return Field(name, "f32", 1, "f", 4, comment)


def vec4u(name, comment=""):
    return Field(name, "vec4<u32>", 4, "I", 16, comment)


def vec4u_array(name, n, comment=""):
    return Field(name, f"array<vec4<u32>, {n}>", 4 * n, "I", 16, comment)


def pad(name):
    """A u32 the shader never reads: zero bytes, not an argument of ``pack``."""
    return Field(name, "u32", 1, "x", 4, "")


class Block:
    """A uniform block: ``wgsl`` (the struct text), ``pack`` (positional packer of
    ``size`` bytes), ``offsets`` (byte offset of each field)."""

    def __init__(self, name, fields):
        self.name = name
        self.fields = tuple(fields)
        offsets, pos, align = [], 0, 4
        for f in self.fields:
            if pos % f.align:
                raise ValueError(f"uniform block {name}: field {f.name} starts at byte {pos}, not a "
                                 f"multiple of {f.align}: add padding fields before it")
            offsets.append(pos)
            pos += 4 * f.words
            align = max(align, f.align)
        self.offsets = tuple(offsets)
        self.size = -(-pos // align) * align
        runs = []  # (code, words), neighbours of one code merged: "<44I", not 44 codes
        for f in self.fields:
            if runs and runs[-1][0] == f.code:
                runs[-1][1] += f.words
            else:
                runs.append([f.code, f.words])
        fmt = "".join(f"{4 * n}x" if c == "x" else f"{n}{c}" for c, n in runs)
        if self.size > pos:
            fmt += f"{self.size - pos}x"
        self.struct = struct.Struct("<" + fmt)
        self.pack = self.struct.pack
        self.wgsl = self._wgsl()

    def _wgsl(self):
        decls = [f"{f.name}: {f.wgsl}," for f in self.fields]
        width = max([len(d) for d, f in zip(decls, self.fields) if f.comment] or [0]) + 1
        lines = [f"struct {self.name} {{"]
        for d, f in zip(decls, self.fields):
            if not f.comment:
                lines.append(f"    {d}")
                continue
            first, *more = f.comment.split("\n")
            lines.append(f"    {d.ljust(width)}// {first}")
            lines.extend(f"    {' ' * width}// {c}" for c in more)
        lines.append("}")
        return "\n".join(lines) + "\n"


# Shapes and strides of up to 8 dimensions (ops/launch.py's MAX_DIMS) travel as
# two vec4s, innermost dimension last.
ELEMENTWISE = Block("ElementwiseParams", [
    u32("n", "output elements in this launch"),
    u32("start", "global linear index of this launch's element 0"),
    u32("ndim"),
    u32("out_off", "element offset of the output in its window (multiple of 4)"),
    vec4u_array("shape", 2, "innermost dim last"),
    vec4u("off", "element offsets of A, B, C in their windows (mod 2^32)"),
    vec4u_array("sa", 2, "element strides of A (sb, sc: of B, C), innermost dim last"),
    vec4u_array("sb", 2),
    vec4u_array("sc", 2),
    vec4u("scal", "bits of scalar operands and op constants"),
])

SELECT = Block("SelectParams", [
    u32("n", "elements in this segment"),
    u32("blk0", "index of the segment's first block in COUNTS/OFFSETS"),
    u32("g0", "global linear index of the segment's first element"),
    u32("x_off", "element offset of x in its window (multiple of 4)"),
    u32("m_off", "word offset of the mask in its window (multiple of 4)"),
    u32("nblocks", "scan: number of blocks"),
    u32("ndim", "nonzero: coordinates written per selected element"),
    u32("out_off", "element offset of the output in its first window"),
    u32("out_win", "elements per output window (several windows: output > one binding)"),
    u32("fill", "bits of fill_value"),
    u32("n_all", "elements of the whole selection (all segments)"),
    pad("pad0"),
    vec4u_array("shape", 2, "nonzero: shape of the input, innermost last"),
    vec4u("off", "FUSED: element offsets of the predicate's tensors A, B, C in their windows"),
    vec4u("scal", "FUSED: bits of the predicate's scalars (slots a..d)"),
])

REDUCE = Block("ReduceParams", [
    u32("n_items", "items in this launch"),
    u32("item0", "global index of the launch's first item"),
    u32("splits", "items per row"),
    u32("chunk", "reduced elements per item (the last one of a row may have fewer)"),
    u32("nred", "reduced elements per row"),
    u32("x_off", "element offset of the view in X's window (mod 2^32)"),
    u32("out_off", "element offset of item0's result in OUT's window"),
    u32("kdim", "kept dims (rows), innermost last"),
    u32("rdim", "reduced dims, innermost last"),
    f32("denom", "mean: elements per row"),
    u32("cnt_inner", "COUNTED: reduced elements per valid row of the counted leading dim"),
    u32("cnt_off", "COUNTED: word offset of the count in CNT"),
    vec4u_array("kshape", 2),
    vec4u_array("kstride", 2),
    vec4u_array("rshape", 2),
    vec4u_array("rstride", 2),
    vec4u("scal", "FUSED: bits of the predicate's scalars (slots a..d)"),
])

MOVE = Block("MoveParams", [
    u32("n", "elements in this launch"),
    u32("start", "global linear index of this launch's element 0"),
    u32("ndim"),
    u32("dim_size", "size of the indexed dimension (negative indices wrap by it)"),
    vec4u("off", "element offsets of DST, SRC, IDX from their first window (mod 2^32),\n"
                 "and w: the stride of the indexed dimension on the indexed side"),
    vec4u_array("dims", 8, "per dimension, innermost last: (size, DST stride, SRC stride,\n"
                           "IDX stride); one vec4 so that a dynamic index does not copy\n"
                           "arrays (slow on lavapipe)"),
    u32("dst_win", "u32 words per DST window (several windows)"),
    u32("src_win", "u32 words per SRC window"),
    u32("scal", "the element bits of a scalar source (!SRC_TENSOR)"),
    u32("out_off", "OUT_WORDS: element offset of this launch's element 0 in DST0 (multiple of 4)"),
])

MINMAX = Block("MinmaxParams", [
    u32("n", "index values in this launch"),
    u32("off", "word offset of the launch's first value in the IDX window"),
    pad("_pad0"),
    pad("_pad1"),
])

SORT = Block("SortParams", [
    u32("n", "row length (real slots per row)"),
    u32("p_log", "log2 of the padded row length P (>= 1)"),
    u32("rows", "rows bound in this dispatch"),
    u32("base", "first tile (sort_tile) or group (sort_step) of this dispatch"),
    u32("count", "tiles or groups in the whole group of rows"),
    u32("k_off", "element offset of the group's first key in the K window"),
    u32("w_off", "vec4 offset of the group's first pair in the W window"),
    u32("w_row", "vec4s per row of W (rows are padded to an even length)"),
    u32("blo", "sort_tile merge and sort_step: the stage (log2 of its block size)"),
    u32("bhi", "sort_tile init: the last stage"),
    u32("dlog", "sort_step: log2 of the distance of the pass's first step"),
    u32("bot", "sort_step: log2 of the distance of its last step"),
    u32("real", "tiles (or groups) per row that hold any element: only those run"),
    u32("per_row", "tiles (or groups) per row in all (sort_tile: 1 when rows share tiles)"),
    pad("_pad0"),
    pad("_pad1"),
])

TRANSPOSE = Block("TransposeParams", [
    u32("ns", "box size: s"),
    u32("ni", "i"),
    u32("nj", "j"),
    u32("base", "first linear index of this dispatch"),
    u32("in_off", "IN's word offset of (0, 0, 0) in its window"),
    u32("in_s", "IN's strides of s, i, j"),
    u32("in_i"),
    u32("in_j"),
    u32("out_off", "the same for OUT"),
    u32("out_s"),
    u32("out_i"),
    u32("out_j"),
])

SEARCH = Block("SearchParams", [
    u32("n", "elements in this launch"),
    u32("q_off", "element offset of Q in its window"),
    u32("out_off", "element offset of OUT in its window (multiple of 4)"),
    u32("m", "number of sorted keys"),
])

COPY = Block("CopyParams", [
    u32("n4", "vec4s to copy"),
    pad("_pad0"),
    pad("_pad1"),
    pad("_pad2"),
])

FILL = Block("FillParams", [
    u32("n", "16-byte words in this launch's window"),
    u32("word", "the 32 bits every word gets"),
    pad("_pad0"),
    pad("_pad1"),
])

INDIRECT = Block("IndirectParams", [
    u32("count_off", "word offset of the count in its COUNT window"),
    u32("out_off", "word offset of the arguments in the OUT window"),
    u32("wg", "invocations per workgroup of the caller's kernel (>= 1)"),
    u32("max_x", "workgroups per dimension the caller's dispatch may have (>= 1)"),
    u32("per_instance", "DRAW: vertices per instance (count instances), or 0: count vertices, 1 instance"),
    pad("_pad0"),
    pad("_pad1"),
    pad("_pad2"),
])

# ---------------------------------------------------------------- blocks of the reductions with dim, scans

# Scans along rows (ops/scan.py, shaders/scan_rows.wgsl).
SCAN = Block("ScanParams", [
    u32("n", "row length"),
    u32("tpr", "tiles per row"),
    u32("g0", "global index of this dispatch's first tile"),
    u32("ntiles", "tiles in this dispatch"),
    u32("row0", "first row of this dispatch's group of rows (the windows start there)"),
    u32("x_off", "element offset of row row0 in the X window"),
    u32("y_off", "the same in the Y window (rows of n, or of tpr * WG run totals)"),
    u32("xi_off", "the same in the XI window"),
    u32("yi_off", "the same in the YI window"),
    u32("p_off", "the same in the PV and PI windows (rows of tpr * WG)"),
    pad("_pad0"),
    pad("_pad1"),
])


# ---------------------------------------------------------------- blocks of linear algebra and attention
MATMUL = Block("MatmulParams", [
    u32("m", "rows of each product (A's rows, C's rows)"),
    u32("n", "columns of each product"),
    u32("kc", "inner-dim elements of this launch's chunk of K"),
    u32("k0", "first inner-dim index of the chunk"),
    u32("m0", "first row of this launch"),
    u32("tiles_m", "row tiles in this launch"),
    u32("groups", "workgroups in this launch (the grid may have more)"),
    u32("a_off", "element offset of A's (batch0, 0, 0) in its window (mod 2^32)"),
    u32("b_off", "the same for B"),
    u32("c_off", "element offset of C's (batch0, m0, 0) in its window"),
    u32("sam", "A's element strides along rows and the inner dim"),
    u32("sak"),
    u32("sbk", "B's element strides along the inner dim and columns"),
    u32("sbn"),
    u32("nbd", "batch dims (coalesced, <= 4)"),
    u32("batch0", "first batch of this launch"),
    u32("accum", "1: add to C (a later chunk of K), 0: write C"),
    pad("_pad0"),
    pad("_pad1"),
    pad("_pad2"),
    vec4u("bshape", "batch dims' sizes, innermost last"),
    vec4u("abst", "A's batch strides (0 where broadcast)"),
    vec4u("bbst", "B's batch strides"),
])

SOFTMAX = Block("SoftmaxParams", [
    u32("rows", "rows in this launch"),
    u32("row0", "global index of the launch's first row"),
    u32("len", "elements per row (the softmax dim)"),
    u32("kdim", "kept dims (coalesced), innermost last"),
    u32("x_off", "element offsets of X, Y, OUT in their windows (mod 2^32)"),
    u32("y_off"),
    u32("o_off"),
    u32("x_st", "strides of X, Y, OUT along the softmax dim"),
    u32("y_st"),
    u32("o_st"),
    pad("_pad0"),
    pad("_pad1"),
    vec4u_array("kshape", 2, "kept dims' sizes"),
    vec4u_array("xk", 2, "X's strides over the kept dims"),
    vec4u_array("yk", 2, "Y's strides over the kept dims"),
    vec4u_array("ok", 2, "OUT's strides over the kept dims"),
])


# ---------------------------------------------------------------- blocks of shape ops


BLOCKS = {b.name: b for b in list(globals().values()) if isinstance(b, Block)}

// elementwise_math.wgsl: math helpers of the elementwise ops (included by
// elementwise.wgsl when an expression calls one; every name starts with m_).
// Where WGSL leaves a result indeterminate (log of a negative, pow of a negative
// base, integer division by zero, shifts past the width) the helpers decide it
// explicitly, following PyTorch (C++ std:: semantics), so every adapter agrees.

fn m_nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn m_inf() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

fn m_is_inf(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}

fn m_is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn m_copysign(x: f32, s: f32) -> f32 {
    return bitcast<f32>((bitcast<u32>(x) & 0x7fffffffu) | (bitcast<u32>(s) & 0x80000000u));
}

// exp: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, Cephes' expf polynomial
// (about 1 ulp), scaled by 2^k in two steps so that subnormal results survive.
fn m_exp(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    if (x > 88.72284) {
        return m_inf();
    }
    if (x < -103.97282) {
        return 0.0;
    }
    let k = round(x * 1.44269504088896341);
    let r = (x - k * 0.693359375) + k * 2.12194440e-4;
    let z = r * r;
    let p = ((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r
        + 4.1665795894e-2) * r + 1.6666665459e-1) * r + 5.0000001201e-1;
    let y = p * z + r + 1.0;
    let ki = i32(k);
    let k1 = ki / 2;
    return ldexp(ldexp(y, k1), ki - k1);
}

// log: frexp reduction to [sqrt(1/2), sqrt(2)), Cephes' logf polynomial (about 1 ulp
// where lavapipe's log is off by up to 2^-24 absolute near 1). Subnormals are
// scaled up first (frexp flushes them on some drivers).
fn m_log(x: f32) -> f32 {
    if (is_nan(x) || x < 0.0) {
        return m_nan();
    }
    if (x == 0.0) {
        return -m_inf();
    }
    if (m_is_inf(x)) {
        return x;
    }
    let tiny = x < 1.17549435e-38;
    let fr = frexp(select(x, x * 8388608.0, tiny));
    var m = fr.fract;
    var e = f32(fr.exp) - select(0.0, 23.0, tiny);
    if (m < 0.707106781186547524) {
        e = e - 1.0;
        m = m + m - 1.0;
    } else {
        m = m - 1.0;
    }
    return m_log_core(m, e);
}

// log(1 + m) + e ln 2 for m in [sqrt(1/2) - 1, sqrt(2) - 1).
fn m_log_core(m: f32, e: f32) -> f32 {
    let z = m * m;
    var y = ((((((((7.0376836292e-2 * m - 1.1514610310e-1) * m + 1.1676998740e-1) * m
        - 1.2420140846e-1) * m + 1.4249322787e-1) * m - 1.6668057665e-1) * m
        + 2.0000714765e-1) * m - 2.4999993993e-1) * m + 3.3333331174e-1) * m * z;
    y = y - 2.12194440e-4 * e;
    y = y - 0.5 * z;
    return (m + y) + 0.693359375 * e;
}

// log1p and expm1, accurate to a few ulp near 0.
fn m_log1p(x: f32) -> f32 {
    if (is_nan(x) || x < -1.0) {
        return m_nan();
    }
    if (x == -1.0) {
        return -m_inf();
    }
    if (m_is_inf(x)) {
        return x;
    }
    // Near 0 the polynomial of log(1 + m) takes x itself (1 + x would round);
    // Goldberg's log(u) * x / (u - 1) correction is folded away by the compiler.
    if (x >= -0.2928932 && x < 0.4142135) {
        return m_log_core(x, 0.0);
    }
    return m_log(1.0 + x);
}

fn m_expm1(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    if (x > 88.72284) {
        return m_inf();
    }
    if (x < -17.5) {
        return -1.0;
    }
    let u = m_exp(x);
    if (u == 1.0) {
        return x;
    }
    let um1 = u - 1.0;
    if (um1 == -1.0) {
        return -1.0;
    }
    return um1 * (x / m_log(u));
}

fn m_tanh(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    let ax = abs(x);
    if (ax > 9.1) {
        return m_copysign(1.0, x);
    }
    let t = m_expm1(2.0 * ax);
    return m_copysign(t / (t + 2.0), x);
}

fn m_sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + m_exp(-x));
}

fn m_sqrt(x: f32) -> f32 {
    if (x < 0.0) {
        return m_nan();
    }
    return sqrt(x);
}

// erfc(x + xl) (Numerical Recipes' erfcc: relative error under 1.2e-7 in exact
// arithmetic; xl is a small correction to x). exp(-z^2) is taken as exp(-zh^2) times
// exp((zh - z)(zh + z) - 2 z zl) with zh = z cut to 12 bits, so that z^2 does not round:
// erfc's relative error is 2 z^2 times its argument's, so each rounding costs z^2 ulps.
fn m_erfc2(x: f32, xl: f32) -> f32 {
    let z = abs(x);
    let zl = select(-xl, xl, x >= 0.0);
    let t = 1.0 / (1.0 + 0.5 * z);
    let zh = bitcast<f32>(bitcast<u32>(z) & 0xfffff000u);
    let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * m_exp(-zh * zh) * m_exp((zh - z) * (zh + z) - 2.0 * z * zl + p);
    return select(2.0 - r, r, x >= 0.0);
}

// Phi(x) * 2 = erfc(-x / sqrt 2), with -x / sqrt 2 carried to about 48 bits (fma).
fn m_erfc_gelu(x: f32) -> f32 {
    let c = 0.70710677;
    let z = -x * c;
    let zl = fma(-x, c, -z) - x * 1.2101617e-08;
    return m_erfc2(z, zl);
}

fn m_gelu(x: f32) -> f32 {
    // +inf gives inf, -inf NaN (-inf * 0), as PyTorch's 0.5 x (1 + erf(x / sqrt 2))
    if (is_nan(x) || x == m_inf()) {
        return x;
    }
    return 0.5 * x * m_erfc_gelu(x);
}

fn m_gelu_grad(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return 0.5 * m_erfc_gelu(x) + x * m_exp(-0.5 * x * x) * 0.398942280401432678;
}

fn m_gelu_tanh(x: f32) -> f32 {
    let inner = 0.797884560802865356 * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + m_tanh(inner));
}

fn m_gelu_tanh_grad(x: f32) -> f32 {
    let x2 = x * x;
    let t = m_tanh(0.797884560802865356 * (x + 0.044715 * x2 * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.797884560802865356 * (1.0 + 3.0 * 0.044715 * x2);
}

// sign as PyTorch computes it, (0 < x) - (x < 0): NaN and -0.0 give 0.0.
fn m_sign(x: f32) -> f32 {
    if (is_nan(x)) {
        return 0.0;
    }
    return select(0.0, 1.0, x > 0.0) - select(0.0, 1.0, x < 0.0);
}

// maximum / minimum: NaN propagates; otherwise numpy's (a >= b ? a : b).
fn m_max(a: f32, b: f32) -> f32 {
    if (is_nan(a)) {
        return a;
    }
    if (is_nan(b)) {
        return b;
    }
    return select(b, a, a >= b);
}

fn m_min(a: f32, b: f32) -> f32 {
    if (is_nan(a)) {
        return a;
    }
    if (is_nan(b)) {
        return b;
    }
    return select(b, a, a <= b);
}

// fmod, exact (the remainder of two floats is representable): musl's fmodf, a
// long division on the significands, at most 277 steps.
fn m_fmod(x: f32, y: f32) -> f32 {
    var ux = bitcast<u32>(x);
    var uy = bitcast<u32>(y);
    var ex = i32((ux >> 23u) & 0xffu);
    var ey = i32((uy >> 23u) & 0xffu);
    let sx = ux & 0x80000000u;
    if ((uy << 1u) == 0u || is_nan(y) || ex == 0xff) {
        return m_nan();
    }
    if ((ux << 1u) <= (uy << 1u)) {
        if ((ux << 1u) == (uy << 1u)) {
            return bitcast<f32>(sx);
        }
        return x;
    }
    if (ex == 0) {
        let s = i32(countLeadingZeros(ux << 9u));
        ex = -s;
        ux = ux << u32(s + 1);
    } else {
        ux = (ux & 0x7fffffu) | 0x800000u;
    }
    if (ey == 0) {
        let s = i32(countLeadingZeros(uy << 9u));
        ey = -s;
        uy = uy << u32(s + 1);
    } else {
        uy = (uy & 0x7fffffu) | 0x800000u;
    }
    for (var k = 0; k < 300; k = k + 1) {
        if (ex <= ey) {
            break;
        }
        let i = ux - uy;
        if ((i >> 31u) == 0u) {
            if (i == 0u) {
                return bitcast<f32>(sx);
            }
            ux = i;
        }
        ux = ux << 1u;
        ex = ex - 1;
    }
    let i = ux - uy;
    if ((i >> 31u) == 0u) {
        if (i == 0u) {
            return bitcast<f32>(sx);
        }
        ux = i;
    }
    let s = i32(countLeadingZeros(ux)) - 8;
    ux = ux << u32(s);
    ex = ex - s;
    if (ex > 0) {
        ux = (ux - 0x800000u) | (u32(ex) << 23u);
    } else {
        ux = ux >> u32(1 - ex);
    }
    return bitcast<f32>(ux | sx);
}

// remainder (Python's sign rule), as PyTorch: fmod, then add b when the signs differ.
fn m_rem_f32(a: f32, b: f32) -> f32 {
    var m = m_fmod(a, b);
    if (m != 0.0 && ((b < 0.0) != (m < 0.0))) {
        m = m + b;
    }
    return m;
}

// floor division as PyTorch (and Python, numpy): from the exact fmod.
fn m_floordiv_f32(a: f32, b: f32) -> f32 {
    if (b == 0.0) {
        if (is_nan(a) || a == 0.0) {
            return m_nan();
        }
        return m_copysign(m_inf(), bitcast<f32>(bitcast<u32>(a) ^ (bitcast<u32>(b) & 0x80000000u)));
    }
    let m = m_fmod(a, b);
    var d = (a - m) / b;
    if (m != 0.0 && ((b < 0.0) != (m < 0.0))) {
        d = d - 1.0;
    }
    if (!(d == 0.0)) {
        var f = floor(d);
        if (d - f > 0.5) {
            f = f + 1.0;
        }
        return f;
    }
    return m_copysign(0.0, bitcast<f32>(bitcast<u32>(a) ^ (bitcast<u32>(b) & 0x80000000u)));
}

// Integer division and remainder; x // 0, x % 0 and fmod(x, 0) give 0 (numpy's
// choice; PyTorch raises on the CPU, which a GPU kernel cannot do without a read).
// Computed on magnitudes in u32: GLSL (the GL backend) leaves signed / and % of
// negative operands undefined.
fn m_tdiv_i32(a: i32, b: i32) -> i32 {
    let ua = select(bitcast<u32>(a), 0u - bitcast<u32>(a), a < 0);
    let ub = select(bitcast<u32>(b), 0u - bitcast<u32>(b), b < 0);
    let q = bitcast<i32>(ua / ub);
    return select(q, 0 - q, (a < 0) != (b < 0));
}

fn m_floordiv_i32(a: i32, b: i32) -> i32 {
    if (b == 0) {
        return 0;
    }
    if (b == -1) {
        return 0 - a;
    }
    let q = m_tdiv_i32(a, b);
    return select(q, q - 1, (a - q * b) != 0 && ((a < 0) != (b < 0)));
}

fn m_fmod_i32(a: i32, b: i32) -> i32 {
    if (b == 0 || b == -1) {
        return 0;
    }
    return a - m_tdiv_i32(a, b) * b;
}

fn m_rem_i32(a: i32, b: i32) -> i32 {
    let r = m_fmod_i32(a, b);
    return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}

fn m_floordiv_u32(a: u32, b: u32) -> u32 {
    return select(a / max(b, 1u), 0u, b == 0u);
}

fn m_rem_u32(a: u32, b: u32) -> u32 {
    return select(a % max(b, 1u), 0u, b == 0u);
}

fn m_fmod_u32(a: u32, b: u32) -> u32 {
    return m_rem_u32(a, b);
}

// Shifts as PyTorch: a left shift by a negative amount or >= 32 gives 0; a right
// shift by a negative amount or >= 31 (int32: fills with the sign) or >= 32 (uint32) too.
fn m_shl_i32(a: i32, b: i32) -> i32 {
    return select(a << u32(b), 0, b < 0 || b >= 32);
}

fn m_shl_u32(a: u32, b: u32) -> u32 {
    return select(a << b, 0u, b >= 32u);
}

fn m_shr_i32(a: i32, b: i32) -> i32 {
    return select(a >> u32(b), a >> 31u, b < 0 || b >= 31);
}

fn m_shr_u32(a: u32, b: u32) -> u32 {
    return select(a >> b, 0u, b >= 32u);
}

// Integer powers as PyTorch: wrapping products; a negative exponent gives 0
// except for bases 1 and -1.
fn m_pow_i32(a: i32, b: i32) -> i32 {
    if (b < 0) {
        if (a == 1) {
            return 1;
        }
        if (a == -1) {
            return select(1, -1, (b & 1) != 0);
        }
        return 0;
    }
    var r = 1;
    var base = a;
    var e = b;
    for (var k = 0; k < 32; k = k + 1) {
        if (e == 0) {
            break;
        }
        if ((e & 1) != 0) {
            r = r * base;
        }
        base = base * base;
        e = e >> 1u;
    }
    return r;
}

fn m_pow_u32(a: u32, b: u32) -> u32 {
    var r = 1u;
    var base = a;
    var e = b;
    for (var k = 0; k < 32; k = k + 1) {
        if (e == 0u) {
            break;
        }
        if ((e & 1u) != 0u) {
            r = r * base;
        }
        base = base * base;
        e = e >> 1u;
    }
    return r;
}

// Float powers with C's special cases (pow(x, 0) = 1, pow(1, y) = 1, negative
// bases with integer exponents, zeros and infinities); exponents 1, 2, 3, -1, -2,
// 0.5 and -0.5 are computed as PyTorch's scalar-exponent kernel does (x, x*x, x*x*x,
// 1/x, 1/(x*x), sqrt(x), 1/sqrt(x)); others are exp(y log|x|), relative error about
// (|y log x| + 2) * 2^-23.
fn m_pow(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) {
        return 1.0;
    }
    if (is_nan(x) || is_nan(y)) {
        return m_nan();
    }
    let ax = abs(x);
    if (m_is_inf(y)) {
        if (ax == 1.0) {
            return 1.0;
        }
        return select(0.0, m_inf(), (ax > 1.0) == (y > 0.0));
    }
    let ay = abs(y);
    let yint = floor(y) == y;
    let yodd = yint && ay < 16777216.0 && (u32(ay) & 1u) == 1u;
    if (x == 0.0 || m_is_inf(x)) {
        // |x|^y is 0 or inf; the sign is x's for an odd integer y.
        let big = (x == 0.0) != (y > 0.0);
        let mag = select(0.0, m_inf(), big);
        return select(mag, m_copysign(mag, x), yodd);
    }
    if (x < 0.0 && !yint) {
        return m_nan();
    }
    var r: f32;
    if (y == 1.0) {
        r = ax;
    } else if (y == 2.0) {
        r = ax * ax;
    } else if (y == -1.0) {
        r = 1.0 / ax;
    } else if (y == 0.5) {
        r = sqrt(ax);
    } else if (y == 3.0) {
        r = ax * ax * ax;
    } else if (y == -2.0) {
        r = 1.0 / (ax * ax);
    } else if (y == -0.5) {
        r = 1.0 / sqrt(ax);
    } else {
        r = m_exp(y * m_log(ax));
    }
    return select(r, -r, x < 0.0 && yodd);
}

fn m_nan_to_num(x: f32, nan: f32, posinf: f32, neginf: f32) -> f32 {
    if (is_nan(x)) {
        return nan;
    }
    if (m_is_inf(x)) {
        return select(neginf, posinf, x > 0.0);
    }
    return x;
}

// relu: NaN stays NaN (the GL backend's a < 0.0 is not IEEE for NaN).
fn m_relu(x: f32) -> f32 {
    return select(x, 0.0, x < 0.0 && !is_nan(x));
}

// lerp as PyTorch: weight < 0.5 ? start + w (end - start) : end - (end - start)(1 - w).
fn m_lerp(s: f32, e: f32, w: f32) -> f32 {
    let d = e - s;
    return select(e - d * (1.0 - w), s + w * d, abs(w) < 0.5);
}

// sin and cos: the driver's builtins are accurate on [-pi, pi] only (14 ulp at 1e3,
// +-1 for anything past 1e8 on lavapipe), so from |x| >= 4 on the argument is reduced
// exactly (Payne-Hanek): x (2/pi) mod 4 from 96 bits of 2/pi at x's exponent, in u32
// arithmetic (24 x 32-bit products built from 12 x 16-bit ones), then the builtin on
// |r| <= pi/4. Straight-line code, no loop.
// Word i of 2/pi in binary (word 0: the bits before the point, all 0); a select chain
// rather than an indexed constant array, which drivers spill to scratch memory.
fn m_two_over_pi(i: u32) -> u32 {
    var w = 0xB7246E3Au;
    w = select(w, 0xDEBBC561u, i == 8u);
    w = select(w, 0xFE5163ABu, i == 7u);
    w = select(w, 0x3C439041u, i == 6u);
    w = select(w, 0xDB629599u, i == 5u);
    w = select(w, 0xF534DDC0u, i == 4u);
    w = select(w, 0xFC2757D1u, i == 3u);
    w = select(w, 0x4E441529u, i == 2u);
    w = select(w, 0xA2F9836Eu, i == 1u);
    return select(w, 0u, i == 0u);
}

// (hi, lo) of the 64-bit sum of (h, l) and v << sh, v < 2^28, sh < 32.
fn m_acc(acc: vec2<u32>, v: u32, sh: u32) -> vec2<u32> {
    let vl = v << sh;
    let vh = select(v >> (32u - sh), 0u, sh == 0u);
    let lo = acc.y + vl;
    return vec2<u32>(acc.x + vh + select(0u, 1u, lo < vl), lo);
}

// (hi, lo) of m * w for m < 2^24.
fn m_mul24x32(m: u32, w: u32) -> vec2<u32> {
    let a = m & 0xfffu;
    let b = m >> 12u;
    let wl = w & 0xffffu;
    let wh = w >> 16u;
    var acc = vec2<u32>(0u, a * wl);
    acc = m_acc(acc, a * wh, 16u);
    acc = m_acc(acc, b * wl, 12u);
    acc = m_acc(acc, b * wh, 28u);
    return acc;
}

fn m_window(g: u32, k: u32) -> u32 {
    let q = g / 32u + k;
    let r = g % 32u;
    let hi = m_two_over_pi(q);
    return select((hi << r) | (m_two_over_pi(q + 1u) >> (32u - r)), hi, r == 0u);
}

// (quadrant, r) with |x| = quadrant * pi/2 + r, |r| <= pi/4, for finite |x| >= 2^-7.
fn m_reduce_big(ax: f32) -> vec2<f32> {
    let bits = bitcast<u32>(ax);
    let m = (bits & 0x7fffffu) | 0x800000u;
    let e = i32(bits >> 23u) - 150;  // ax = m 2^e, e >= -30 here
    let g = u32(e - 1 + 31);  // table bit of 2/pi's bit e - 1 (bits <= 0 of 2/pi: word 0)
    let w0 = m_window(g, 0u);
    let w1 = m_window(g, 1u);
    let w2 = m_window(g, 2u);
    let p2w = m_mul24x32(m, w2);
    let p1w = m_mul24x32(m, w1);
    let p0w = m_mul24x32(m, w0);
    let p0 = p2w.y;
    let p1 = p2w.x + p1w.y;
    let c1 = select(0u, 1u, p1 < p1w.y);
    var p2 = p1w.x + p0w.y + c1;  // P mod 2^96 = (p2, p1, p0); x (2/pi) mod 4 = P / 2^94
    var quad = p2 >> 30u;
    var f2 = p2 & 0x3fffffffu;
    var f1 = p1;
    var f0 = p0;
    var sgn = 1.0;
    if ((f2 & 0x20000000u) != 0u) {
        // fraction >= 1/2: take 1 - fraction (a 94-bit negation) and the next quadrant
        f0 = ~f0 + 1u;
        let b0 = select(0u, 1u, f0 == 0u);
        f1 = ~f1 + b0;
        let b1 = select(0u, 1u, b0 == 1u && f1 == 0u);
        f2 = (~f2 + b1) & 0x3fffffffu;
        quad = quad + 1u;
        sgn = -1.0;
    }
    let f = (f32(f2) * 9.313225746154785e-10 + f32(f1) * 2.168404344971009e-19)
        + f32(f0) * 5.048709793414476e-29;
    let r = sgn * (f * 1.5707963705062866 - f * 4.371139000186241e-08);
    return vec2<f32>(f32(quad & 3u), r);
}

fn m_sin(x: f32) -> f32 {
    let ax = abs(x);
    if (!(ax >= 4.0) || !m_is_finite(x)) {
        return sin(x);
    }
    let qr = m_reduce_big(ax);
    let q = u32(qr.x);
    var v = select(sin(qr.y), cos(qr.y), (q & 1u) == 1u);
    v = select(v, -v, q >= 2u);
    return select(v, -v, x < 0.0);
}

fn m_cos(x: f32) -> f32 {
    let ax = abs(x);
    if (!(ax >= 4.0) || !m_is_finite(x)) {
        return cos(x);
    }
    let qr = m_reduce_big(ax);
    let q = u32(qr.x);
    var v = select(cos(qr.y), -sin(qr.y), (q & 1u) == 1u);
    return select(v, -v, q == 2u || q == 3u);
}

// float16 bits (low 16 of h) -> the f32 bits of the same value, in integer arithmetic
// (exact on every adapter: NaN payloads and subnormals survive; unpack2x16float
// may quiet a NaN or flush a subnormal). Sort keys of float16 use it.
fn m_f16_bits_to_f32(h: u32) -> u32 {
    let s = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0x1fu) {
        return s | 0x7f800000u | (m << 13u);
    }
    if (e != 0u) {
        return s | ((e + 112u) << 23u) | (m << 13u);
    }
    if (m == 0u) {
        return s;
    }
    let z = countLeadingZeros(m) - 21u;  // shift that brings m's top bit to bit 10
    return s | ((113u - z) << 23u) | (((m << z) & 0x3ffu) << 13u);
}

// The inverse, for f32 bits of a value that float16 holds exactly.
fn m_f32_bits_to_f16(u: u32) -> u32 {
    let s = (u >> 16u) & 0x8000u;
    let e = (u >> 23u) & 0xffu;
    let m = u & 0x7fffffu;
    if (e == 0xffu) {
        return s | 0x7c00u | (m >> 13u);
    }
    if (e >= 113u) {
        return s | ((e - 112u) << 10u) | (m >> 13u);
    }
    if (e < 103u) {
        return s;
    }
    return s | ((0x800000u | m) >> (126u - e));
}

/*
 * exp, log, tanh, erf, sin and cos of float without libm: each reduces its argument
 * exactly (or with a known, tiny error), evaluates a fixed polynomial by Horner's rule
 * and rebuilds the result, all in float arithmetic and integer bit manipulation. No
 * step depends on the platform's libm, FPU rounding mode (round to nearest is assumed)
 * or FMA, so the bits are those of xdeeploy/interp/float_math.py, which mirrors every
 * operation here in the same order: change both together.
 *
 * The polynomial coefficients are near-minimax fits (Lawson's iteratively reweighted
 * least squares in float64 against the float64 function), rounded to float.
 */
#include <stdint.h>
#include <string.h>

#include "xd_math.h"

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define SIGN_BIT 0x80000000u
#define INF_BITS 0x7f800000u
#define NAN_BITS 0x7fc00000u

/* 2^k for -126 <= k <= 127, built from the exponent bits. */
static float pow2i(int32_t k)
{
    return float_of((uint32_t)(k + 127) << 23);
}

/* c[0] + x * (c[1] + x * (... + x * c[n - 1])). */
static float horner(const float *c, int32_t n, float x)
{
    float p = c[n - 1];
    int32_t k;

    for (k = n - 2; k >= 0; --k)
        p = p * x + c[k];
    return p;
}

/* ---- exp ----------------------------------------------------------------------------- */

/* ln 2 = LN2_HI + LN2_LO, LN2_HI rounded to a multiple of 2^-16 (15 significant bits):
 * n * LN2_HI is exact for the |n| <= 150 that occur here and in log (Cody and Waite). */
static const float LN2_HI = 0.693145752f;
static const float LN2_LO = 1.42860677e-06f;
static const float INV_LN2 = 1.44269502f;
/* 1.5 * 2^23: adding it rounds a float of magnitude < 2^22 to an integer. */
static const float ROUNDER = 12582912.0f;
/* (e^r - 1 - r) / r^2 on |r| <= 0.35 */
static const float EXP_Q[5] = {0.49999994f, 0.166665152f, 0.041668456f, 0.00836942438f,
                               0.00138131308f};

float xd_expf(float x)
{
    float nf, r, p;
    int32_t n, half;

    if (x != x)
        return x + x;
    if (x > 89.0f) /* e^88.73 > FLT_MAX already */
        return float_of(INF_BITS);
    if (x < -104.0f) /* e^-103.98 < 2^-150, half the smallest denormal */
        return 0.0f;
    /* x = n ln2 + r with |r| <= ln2 / 2; x - nf * LN2_HI is exact. */
    nf = (x * INV_LN2 + ROUNDER) - ROUNDER;
    n = (int32_t)nf;
    r = (x - nf * LN2_HI) - nf * LN2_LO;
    p = 1.0f + (r + r * r * horner(EXP_Q, 5, r));
    /* p * 2^n in two exact halves, n in [-150, 128]: the first product stays normal, so
     * only the second rounds (once, also into the denormals) or overflows. */
    half = (n + 200) / 2 - 100;
    return (p * pow2i(half)) * pow2i(n - half);
}

/* ---- log ----------------------------------------------------------------------------- */

static const float SQRT2 = 1.41421354f;
/* R(z) / z with log((1 + s) / (1 - s)) = 2s + s R(z), z = s^2 <= 0.0295 */
static const float LOG_R[4] = {0.666666627f, 0.400003552f, 0.285358816f, 0.236106679f};

float xd_logf(float x)
{
    uint32_t ix = bits_of(x);
    int32_t e = 0;
    float m, f, s, z, hfsq, r, ef;

    if (x != x)
        return x + x;
    if (x < 0.0f)
        return float_of(NAN_BITS);
    if (x == 0.0f)
        return float_of(INF_BITS | SIGN_BIT);
    if (ix == INF_BITS)
        return x;
    if (ix < 0x00800000u) { /* denormal: scale into the normal range, exactly */
        ix = bits_of(x * 8388608.0f);
        e = -23;
    }
    /* x = 2^e m with m in (sqrt(2)/2, sqrt(2)]; f = m - 1 is exact. */
    e += (int32_t)(ix >> 23) - 127;
    m = float_of((ix & 0x007fffffu) | 0x3f800000u);
    if (m > SQRT2) {
        m *= 0.5f;
        e += 1;
    }
    f = m - 1.0f;
    /* log(1 + f) = f - f^2/2 + s (f^2/2 + R) with s = f / (2 + f): f is exact and the
     * rounding errors only touch the small correction terms. */
    s = f / (2.0f + f);
    z = s * s;
    hfsq = 0.5f * f * f;
    r = z * horner(LOG_R, 4, z);
    ef = (float)e;
    return ef * LN2_HI - ((hfsq - (s * (hfsq + r) + ef * LN2_LO)) - f);
}

/* ---- tanh ---------------------------------------------------------------------------- */

/* Below this |x| a polynomial; above, 1 - 2 / (e^2|x| + 1), whose error grows as |x|
 * shrinks. */
static const float TANH_POLY_MAX = 1.0f;
/* (tanh(x) / x - 1) / z with z = x^2, on |x| <= 1 */
static const float TANH_P[8] = {-0.333333284f, 0.133332103f, -0.0539539307f, 0.0217881165f,
                                -0.00860249717f, 0.00308744819f, -0.000846642535f,
                                0.000122857644f};

float xd_tanhf(float x)
{
    const uint32_t sign = bits_of(x) & SIGN_BIT;
    const float a = float_of(bits_of(x) & ~SIGN_BIT);
    float t, z;

    if (x != x)
        return x + x;
    if (a < TANH_POLY_MAX) {
        z = a * a;
        t = a + a * (z * horner(TANH_P, 8, z));
    } else {
        /* e^2|x| overflows to inf from |x| = 44.4 on: then t is exactly 1. */
        t = 1.0f - 2.0f / (xd_expf(a + a) + 1.0f);
    }
    return float_of(bits_of(t) | sign);
}

/* ---- erf ----------------------------------------------------------------------------- */

/* erf(x) / x - 1 as a polynomial in z = x^2, on |x| < 1 */
static const float ERF_P[8] = {0.128379166f, -0.376126379f, 0.112837829f, -0.0268654451f,
                               0.00522107491f, -0.000848471129f, 0.000112705449f,
                               -9.68013683e-06f};
/* erfc(x) e^(x^2) as polynomials in u = x - 1.5 on [1, 2) and u = x - 3 on [2, 4) */
static const float ERFC_NEAR[9] = {0.321585417f, -0.163622916f, 0.0761509389f,
                                   -0.0329311192f, 0.0133797629f, -0.00514090015f,
                                   0.00186776288f, -0.000697184354f, 0.000270560879f};
static const float ERFC_FAR[7] = {0.179001108f, -0.054375995f, 0.0158653054f,
                                  -0.00449455669f, 0.00129608449f, -0.000154301611f,
                                  0.000208317462f};

float xd_erff(float x)
{
    const uint32_t sign = bits_of(x) & SIGN_BIT;
    const float a = float_of(bits_of(x) & ~SIGN_BIT);
    float t;

    if (x != x)
        return x + x;
    if (a < 1.0f) {
        t = a + a * horner(ERF_P, 8, a * a);
    } else if (a < 4.0f) {
        /* erf = 1 - erfc; erfc only needs a small relative accuracy here. */
        const float h = a < 2.0f ? horner(ERFC_NEAR, 9, a - 1.5f) : horner(ERFC_FAR, 7, a - 3.0f);
        t = 1.0f - xd_expf(-(a * a)) * h;
    } else {
        t = 1.0f; /* erfc(4) = 1.5e-8 < 2^-25: erf rounds to 1 */
    }
    return float_of(bits_of(t) | sign);
}

/* ---- sin and cos --------------------------------------------------------------------- */

/* 2/pi in binary, after 26 zero bits (2/pi = 0.101000101111...b): the bit at index
 * j >= 26 of this string is the bit of weight 2^-(j - 25) of 2/pi. */
static const uint32_t TWO_OVER_PI[8] = {0x00000028u, 0xbe60db93u, 0x91054a7fu, 0x09d5f47du,
                                        0x4d377036u, 0xd8a5664fu, 0x10e4107fu, 0x9458eaf7u};
/* pi/2 = PIO2_HI + PIO2_LO, PIO2_HI with 12 significant bits: the product of a 12-bit
 * float and PIO2_HI is exact. */
static const float PIO2_HI = 1.57080078f;
static const float PIO2_LO = -4.45445494e-06f;
static const float PIO2 = 1.57079637f;
static const float PIO4 = 0.785398185f;
/* (sin(r) / r - 1) / z and (cos(r) - 1 + z / 2) / z^2, z = r^2, on |r| <= pi/4 */
static const float SIN_S[4] = {-0.166666672f, 0.00833332911f, -0.000198393274f,
                               2.71823728e-06f};
static const float COS_C[4] = {0.0416666679f, -0.00138888834f, 2.47994521e-05f,
                               -2.72050443e-07f};

/*
 * a = q pi/2 + (r + y) for finite a >= PIO4, |r + y| <= pi/4 and |y| <= ulp(r) / 2;
 * returns q mod 4. Exact integer arithmetic (Payne and Hanek) instead of float Cody and
 * Waite, so that the result is accurate for every a up to FLT_MAX:
 *
 * a = m 2^(E - 23) with the 24-bit integer m. The bits of 2/pi of weight 2^(25-E) and
 * more contribute multiples of 4 to a * 2/pi, which the quadrant ignores; the next 96
 * bits W give a * 2/pi mod 4 = m W / 2^94 (mod 4) to within 2^-70. r + y is the
 * fraction (to the nearest quadrant) times pi/2; for float inputs it is never smaller
 * than about 2^-30, so that hi + lo below keeps over 40 significant bits.
 */
static int32_t reduce_pio2(float a, float *r, float *y)
{
    const uint32_t ia = bits_of(a);
    const int32_t j = (int32_t)(ia >> 23) - 126; /* E + 1, the index of W in TWO_OVER_PI */
    const uint64_t m = (ia & 0x007fffffu) | 0x00800000u;
    const int32_t word = j / 32, shift = j % 32;
    uint64_t w[3], p0, p1, p2, g0, g1, g2;
    uint32_t q, negative;
    int32_t k;
    float f0, f1, f2, hi, lo, hh, hl, ph, pm, pl, s, e, t;

    for (k = 0; k < 3; ++k) {
        const uint64_t pair =
            ((uint64_t)TWO_OVER_PI[word + k] << 32) | TWO_OVER_PI[word + k + 1];
        w[k] = (pair << shift) >> 32;
    }
    /* m W mod 2^96 in three 32-bit limbs: the top 2 bits are q, the other 94 the
     * fraction. */
    p0 = m * w[2];
    p1 = m * w[1] + (p0 >> 32);
    p2 = m * w[0] + (p1 >> 32);
    g0 = p0 & 0xffffffffu;
    g1 = p1 & 0xffffffffu;
    g2 = p2 & 0x3fffffffu;
    q = (uint32_t)(p2 >> 30) & 3u;
    /* A fraction >= 1/2 belongs to the next quadrant: take 1 - fraction, negated. */
    negative = (uint32_t)(g2 >> 29) & 1u;
    if (negative) {
        g0 = 0xffffffffu - g0 + 1u;
        g1 = 0xffffffffu - g1 + (g0 >> 32);
        g2 = 0x3fffffffu - g2 + (g1 >> 32);
        g0 &= 0xffffffffu;
        g1 &= 0xffffffffu;
        q += 1u;
    }
    /* The fraction's top 72 bits as three exact floats of 24 bits each, then as a
     * float pair hi + lo (hi + f1 = hi exactly and lo catches what hi rounded away). */
    f0 = (float)(g2 >> 6) * 0x1p-24f;
    f1 = (float)(((g2 & 0x3fu) << 18) | (g1 >> 14)) * 0x1p-48f;
    f2 = (float)(((g1 & 0x3fffu) << 10) | (g0 >> 22)) * 0x1p-72f;
    hi = f0 + f1;
    lo = (f1 - (hi - f0)) + f2;
    /* (hi + lo) pi/2: hi split into two 12-bit halves makes hi * PIO2_HI exact. */
    hh = float_of(bits_of(hi) & 0xfffff000u);
    hl = hi - hh;
    ph = hh * PIO2_HI;
    pm = hl * PIO2_HI;
    pl = hi * PIO2_LO + lo * PIO2;
    s = ph + pm;
    e = pm - (s - ph);
    t = e + pl;
    *r = s + t;
    *y = t - (*r - s);
    if (negative) {
        *r = -*r;
        *y = -*y;
    }
    return (int32_t)(q & 3u);
}

/* sin(r + y) = sin r + y cos r, to first order in y. */
static float sin_kernel(float r, float y)
{
    const float z = r * r;
    return r + (r * (z * horner(SIN_S, 4, z)) + (y - (0.5f * z) * y));
}

/* cos(r + y) = cos r - y sin r; 1 - z/2 is rounded and its error put back. */
static float cos_kernel(float r, float y)
{
    const float z = r * r;
    const float hz = 0.5f * z;
    const float w = 1.0f - hz;
    return w + (((1.0f - w) - hz) + (z * z * horner(COS_C, 4, z) - r * y));
}

/* The quadrant of |x| and the reduced argument; x must be finite. */
static int32_t reduce(float x, float *r, float *y)
{
    const float a = float_of(bits_of(x) & ~SIGN_BIT);

    if (a < PIO4) {
        *r = a;
        *y = 0.0f;
        return 0;
    }
    return reduce_pio2(a, r, y);
}

float xd_sinf(float x)
{
    float r, y, s;

    if ((bits_of(x) & INF_BITS) == INF_BITS) /* inf or NaN */
        return x != x ? x + x : float_of(NAN_BITS);
    switch (reduce(x, &r, &y)) {
    case 0: s = sin_kernel(r, y); break;
    case 1: s = cos_kernel(r, y); break;
    case 2: s = -sin_kernel(r, y); break;
    default: s = -cos_kernel(r, y); break;
    }
    return float_of(bits_of(s) ^ (bits_of(x) & SIGN_BIT)); /* sin(-x) = -sin(x) */
}

float xd_cosf(float x)
{
    float r, y;

    if ((bits_of(x) & INF_BITS) == INF_BITS)
        return x != x ? x + x : float_of(NAN_BITS);
    switch (reduce(x, &r, &y)) {
    case 0: return cos_kernel(r, y);
    case 1: return -sin_kernel(r, y);
    case 2: return -cos_kernel(r, y);
    default: return sin_kernel(r, y);
    }
}

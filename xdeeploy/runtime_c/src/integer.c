/*
 * Deeploy's integer operators (RequantShift, integer MatMul/Gemm/Conv/MaxPool, iSoftmax,
 * ITAMax, iRMSNorm, iLayerNorm, iGELU, iHardswish, TrueIntegerDiv, IntegerMean), bit for
 * bit as xdeeploy/interp/integer_reference.py and integer_norms.py define them.
 *
 * Arithmetic that may exceed its type is done on unsigned integers (wrapping, never
 * undefined) and reinterpreted; right shifts of signed values go through asr64 (floor),
 * so nothing here depends on implementation-defined signed shifts.
 */
#include <stddef.h>

#include "xd_kernels.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* Typed element access for the generic paths. Loads and stores go through a table of
 * small functions rather than a switch: a switch inlined into every generic loop lets
 * the compiler clone each loop per type combination (slow to build, for no gain on
 * paths the common types do not take). */
typedef int64_t (*load_fn)(const void *base, ptrdiff_t i);
typedef void (*store_fn)(void *base, ptrdiff_t i, uint64_t v);

static int64_t ld_i8(const void *p, ptrdiff_t i) { return ((const int8_t *)p)[i]; }
static int64_t ld_u8(const void *p, ptrdiff_t i) { return ((const uint8_t *)p)[i]; }
static int64_t ld_i16(const void *p, ptrdiff_t i) { return ((const int16_t *)p)[i]; }
static int64_t ld_u16(const void *p, ptrdiff_t i) { return ((const uint16_t *)p)[i]; }
static int64_t ld_i32(const void *p, ptrdiff_t i) { return ((const int32_t *)p)[i]; }
static int64_t ld_u32(const void *p, ptrdiff_t i) { return ((const uint32_t *)p)[i]; }
static int64_t ld_i64(const void *p, ptrdiff_t i) { return ((const int64_t *)p)[i]; }

static void st_8(void *p, ptrdiff_t i, uint64_t v) { ((uint8_t *)p)[i] = (uint8_t)v; }
static void st_16(void *p, ptrdiff_t i, uint64_t v) { ((uint16_t *)p)[i] = (uint16_t)v; }
static void st_32(void *p, ptrdiff_t i, uint64_t v) { ((uint32_t *)p)[i] = (uint32_t)v; }
static void st_64(void *p, ptrdiff_t i, uint64_t v) { ((uint64_t *)p)[i] = v; }

/* Indexed by xd_type (F32 and F64 have no integer meaning: read as 64-bit). */
static const load_fn LOADS[] = {ld_i64, ld_i8, ld_u8, ld_i16, ld_u16, ld_i32,
                                ld_u32, ld_i64, ld_i64, ld_u8, ld_i64};
static const store_fn STORES[] = {st_64, st_8, st_8, st_16, st_16, st_32,
                                  st_32, st_64, st_64, st_8, st_64};

/* Element i of an integer buffer as int64_t (a uint64_t is reinterpreted; BOOL is a byte). */
static int64_t ld(const void *base, xd_type t, ptrdiff_t i)
{
    return ((unsigned)t <= (unsigned)XD_T_F64 ? LOADS[t] : ld_i64)(base, i);
}

/* Stores the low bits of v (two's complement truncation, as a C cast does: the signed
 * and unsigned types of one width share the representation). */
static void st(void *base, xd_type t, ptrdiff_t i, uint64_t v)
{
    ((unsigned)t <= (unsigned)XD_T_F64 ? STORES[t] : st_64)(base, i, v);
}

/* uint64_t -> int64_t modulo 2^64, without implementation-defined conversions. */
static int64_t to_i64(uint64_t u)
{
    const uint64_t half = (uint64_t)1 << 63;
    return u < half ? (int64_t)u : (int64_t)(u - half) - INT64_MAX - 1;
}

/* The low `bits` bits of v, sign-extended: the value of a cast to int{bits}_t. */
static int64_t sext(int64_t v, int32_t bits)
{
    const uint64_t sign = (uint64_t)1 << (bits - 1);
    const uint64_t mask = (sign << 1) - 1; /* all ones for bits = 64 */
    return to_i64((((uint64_t)v & mask) ^ sign) - sign);
}

/* floor(v / 2^s) for 0 <= s <= 63 (an arithmetic right shift). */
static int64_t asr64(int64_t v, int32_t s)
{
    return v < 0 ? ~(~v >> s) : v >> s;
}

/* C division truncating toward zero; x / 0 = 0 (the reference leaves it undefined). */
static int64_t cdiv(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    if (b == -1)
        return to_i64(0 - (uint64_t)a);
    return a / b;
}

/* floor(sqrt(n)) for n > 0, 0 for n <= 0 (digit-by-digit, exact). */
static int64_t isqrt(int64_t n)
{
    uint64_t x, r = 0, bit = (uint64_t)1 << 62;

    if (n <= 0)
        return 0;
    x = (uint64_t)n;
    while (bit > x)
        bit >>= 2;
    while (bit != 0) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return (int64_t)r;
}

static int32_t clamp_shift(int32_t s)
{
    return s < 0 ? 0 : s > 63 ? 63 : s;
}

/* The positions o in [0, count) with 0 <= off + o * step < size, as [*lo, *hi). */
static void inside_range(int32_t off, int32_t step, int32_t size, int32_t count, int32_t *lo,
                         int32_t *hi)
{
    int32_t l = off >= 0 ? 0 : (-off + step - 1) / step;
    int32_t h = off > size - 1 ? 0 : (size - 1 - off) / step + 1;
    if (h > count)
        h = count;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* ---- RequantShift ------------------------------------------------------------------- */

static void requant_row(const void *x, xd_type xt, ptrdiff_t xo, int32_t sx, const void *mul,
                        xd_type mt, ptrdiff_t mo, int32_t sm, const void *add, xd_type at,
                        ptrdiff_t ao, int32_t sa, void *y, xd_type yt, ptrdiff_t yo,
                        int32_t len, int32_t s, int64_t lo, int64_t hi)
{
    const uint64_t round = s > 0 ? (uint64_t)1 << (s - 1) : 0;
    int32_t i;

    /* Per-tensor or per-channel (constant along the row) int32 accumulators into 8 bits:
     * the common case, without per-element type dispatch. */
    if (sm == 0 && sa == 0 && xt == XD_T_I32 && (yt == XD_T_I8 || yt == XD_T_U8)) {
        const int32_t *xp = (const int32_t *)x + xo;
        const uint64_t m = (uint64_t)ld(mul, mt, mo);
        const uint64_t b = (uint64_t)ld(add, at, ao) + round;
        if (yt == XD_T_I8) {
            int8_t *yp = (int8_t *)y + yo;
            for (i = 0; i < len; ++i) {
                int64_t v = asr64(to_i64((uint64_t)xp[(ptrdiff_t)i * sx] * m + b), s);
                v = v < lo ? lo : v > hi ? hi : v;
                yp[i] = (int8_t)(uint8_t)(uint64_t)v;
            }
        } else {
            uint8_t *yp = (uint8_t *)y + yo;
            for (i = 0; i < len; ++i) {
                int64_t v = asr64(to_i64((uint64_t)xp[(ptrdiff_t)i * sx] * m + b), s);
                v = v < lo ? lo : v > hi ? hi : v;
                yp[i] = (uint8_t)(uint64_t)v;
            }
        }
        return;
    }
    /* Any types; a mul or add constant along the row is loaded once. */
    const uint64_t m0 = sm == 0 ? (uint64_t)ld(mul, mt, mo) : 0;
    const uint64_t b0 = sa == 0 ? (uint64_t)ld(add, at, ao) : 0;
    for (i = 0; i < len; ++i) {
        const uint64_t xv = (uint64_t)ld(x, xt, xo + (ptrdiff_t)i * sx);
        const uint64_t m = sm == 0 ? m0 : (uint64_t)ld(mul, mt, mo + (ptrdiff_t)i * sm);
        const uint64_t b = sa == 0 ? b0 : (uint64_t)ld(add, at, ao + (ptrdiff_t)i * sa);
        int64_t v = asr64(to_i64(xv * m + b + round), s);
        v = v < lo ? lo : v > hi ? hi : v;
        st(y, yt, yo + i, (uint64_t)v);
    }
}

void xd_requant_shift(const void *x, xd_type x_type, const void *mul, xd_type mul_type,
                      const void *add, xd_type add_type, void *y, xd_type y_type, int32_t rank,
                      const int32_t *out_dims, const int32_t *x_strides,
                      const int32_t *mul_strides, const int32_t *add_strides, int32_t log2_div,
                      int32_t lo, int32_t hi)
{
    int32_t idx[XD_MAX_RANK];
    ptrdiff_t xo = 0, mo = 0, ao = 0, yo = 0;
    const int32_t last = rank - 1;
    const int32_t len = out_dims[last];
    const int32_t s = clamp_shift(log2_div);
    int32_t d;

    for (d = 0; d < rank; ++d) {
        if (out_dims[d] == 0)
            return;
        idx[d] = 0;
    }
    for (;;) {
        requant_row(x, x_type, xo, x_strides[last], mul, mul_type, mo, mul_strides[last], add,
                    add_type, ao, add_strides[last], y, y_type, yo, len, s, lo, hi);
        yo += len;
        /* Odometer over the outer dimensions, innermost fastest. */
        for (d = last - 1; d >= 0; --d) {
            xo += x_strides[d];
            mo += mul_strides[d];
            ao += add_strides[d];
            if (++idx[d] < out_dims[d])
                break;
            xo -= (ptrdiff_t)x_strides[d] * out_dims[d];
            mo -= (ptrdiff_t)mul_strides[d] * out_dims[d];
            ao -= (ptrdiff_t)add_strides[d] * out_dims[d];
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

/* ---- matrix products ---------------------------------------------------------------- */

/* out (m x n, dense, uint32 accumulators) = a @ b with a typed b (8 or 32 bits), a of any
 * type (one load per a[i][p]), a addressed as a[i * a_rs + p * a_cs] and b as
 * b[p * b_rs + j * b_cs]. Products and sums wrap modulo 2^32: exact for a 32-bit output. */
#define XD_MATMUL_B(NAME, TB)                                                              \
    static void NAME(const void *a, xd_type at, ptrdiff_t a_off, int32_t a_rs, int32_t a_cs, \
                     const TB *b, int32_t b_rs, int32_t b_cs, uint32_t *out, int32_t m,     \
                     int32_t k, int32_t n)                                                  \
    {                                                                                       \
        int32_t i, j, p;                                                                    \
        for (i = 0; i < m; ++i) {                                                           \
            uint32_t *row = out + (ptrdiff_t)i * n;                                         \
            for (j = 0; j < n; ++j)                                                         \
                row[j] = 0;                                                                 \
            for (p = 0; p < k; ++p) {                                                       \
                const uint32_t aip = (uint32_t)ld(                                          \
                    a, at, a_off + (ptrdiff_t)i * a_rs + (ptrdiff_t)p * a_cs);              \
                const TB *brow = b + (ptrdiff_t)p * b_rs;                                   \
                if (b_cs == 1)                                                              \
                    for (j = 0; j < n; ++j)                                                 \
                        row[j] += aip * (uint32_t)(int32_t)brow[j];                         \
                else                                                                        \
                    for (j = 0; j < n; ++j)                                                 \
                        row[j] += aip * (uint32_t)(int32_t)brow[(ptrdiff_t)j * b_cs];       \
            }                                                                               \
        }                                                                                   \
    }

XD_MATMUL_B(matmul_b_i8, int8_t)
XD_MATMUL_B(matmul_b_u8, uint8_t)
XD_MATMUL_B(matmul_b_i32, int32_t)

/* One product with element offsets into a, b and out. Any operand and output types: int64
 * loads, sums modulo 2^64, stored truncated (equal, after truncation, to the exact sum);
 * an int8, uint8 or int32 b into a 32-bit output takes the typed loops above. */
static void matmul_int(const void *a, xd_type at, ptrdiff_t a_off, int32_t a_rs, int32_t a_cs,
                       const void *b, xd_type bt, ptrdiff_t b_off, int32_t b_rs, int32_t b_cs,
                       void *out, xd_type ot, ptrdiff_t o_off, int32_t m, int32_t k, int32_t n)
{
    int32_t i, j, p;

    if ((bt == XD_T_I8 || bt == XD_T_U8 || bt == XD_T_I32) &&
        (ot == XD_T_I32 || ot == XD_T_U32)) {
        /* int32_t and uint32_t may alias: the accumulators are the output itself. */
        uint32_t *o = (uint32_t *)out + o_off;
        if (bt == XD_T_I8)
            matmul_b_i8(a, at, a_off, a_rs, a_cs, (const int8_t *)b + b_off, b_rs, b_cs, o, m,
                        k, n);
        else if (bt == XD_T_U8)
            matmul_b_u8(a, at, a_off, a_rs, a_cs, (const uint8_t *)b + b_off, b_rs, b_cs, o,
                        m, k, n);
        else
            matmul_b_i32(a, at, a_off, a_rs, a_cs, (const int32_t *)b + b_off, b_rs, b_cs, o,
                         m, k, n);
        return;
    }
    for (i = 0; i < m; ++i)
        for (j = 0; j < n; ++j) {
            uint64_t acc = 0;
            for (p = 0; p < k; ++p)
                acc += (uint64_t)ld(a, at, a_off + (ptrdiff_t)i * a_rs + (ptrdiff_t)p * a_cs) *
                       (uint64_t)ld(b, bt, b_off + (ptrdiff_t)p * b_rs + (ptrdiff_t)j * b_cs);
            st(out, ot, o_off + (ptrdiff_t)i * n + j, acc);
        }
}

void xd_matmul_int(const void *a, xd_type a_type, const void *b, xd_type b_type, void *out,
                   xd_type out_type, int32_t m, int32_t k, int32_t n, int32_t batch_rank,
                   const int32_t *batch_dims, const int32_t *a_batch_strides,
                   const int32_t *b_batch_strides)
{
    int32_t idx[XD_MAX_RANK];
    ptrdiff_t a_off = 0, b_off = 0, o_off = 0;
    const ptrdiff_t out_step = (ptrdiff_t)m * n;
    int32_t d;

    for (d = 0; d < batch_rank; ++d) {
        if (batch_dims[d] == 0)
            return;
        idx[d] = 0;
    }
    for (;;) {
        matmul_int(a, a_type, a_off, k, 1, b, b_type, b_off, n, 1, out, out_type, o_off, m, k,
                   n);
        o_off += out_step;
        /* Odometer over the batch dimensions, innermost fastest. */
        for (d = batch_rank - 1; d >= 0; --d) {
            a_off += a_batch_strides[d];
            b_off += b_batch_strides[d];
            if (++idx[d] < batch_dims[d])
                break;
            a_off -= (ptrdiff_t)a_batch_strides[d] * batch_dims[d];
            b_off -= (ptrdiff_t)b_batch_strides[d] * batch_dims[d];
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

void xd_gemv_int(const void *a, xd_type a_type, const void *b, xd_type b_type, void *out,
                 xd_type out_type, int32_t k, int32_t n, int32_t b_row_stride)
{
    matmul_int(a, a_type, 0, k, 1, b, b_type, 0, b_row_stride, 1, out, out_type, 0, 1, k, n);
}

void xd_gemm_int(const void *a, xd_type a_type, const void *b, xd_type b_type, const void *c,
                 xd_type c_type, void *out, xd_type out_type, int32_t m, int32_t k, int32_t n,
                 int32_t trans_a, int32_t trans_b, int32_t alpha, int32_t beta,
                 int32_t c_row_stride, int32_t c_col_stride)
{
    const uint64_t al = (uint64_t)(int64_t)alpha, be = (uint64_t)(int64_t)beta;
    int32_t i, j;

    matmul_int(a, a_type, 0, trans_a ? 1 : k, trans_a ? m : 1, b, b_type, 0, trans_b ? 1 : n,
               trans_b ? k : 1, out, out_type, 0, m, k, n);
    if (alpha == 1 && c == NULL)
        return;
    /* The stored product is exact modulo 2^width(out), which is all the rest needs. */
    for (i = 0; i < m; ++i)
        for (j = 0; j < n; ++j) {
            const ptrdiff_t o = (ptrdiff_t)i * n + j;
            uint64_t v = (uint64_t)ld(out, out_type, o) * al;
            if (c != NULL)
                v += (uint64_t)ld(c, c_type,
                                  (ptrdiff_t)i * c_row_stride + (ptrdiff_t)j * c_col_stride) *
                     be;
            st(out, out_type, o, v);
        }
}

/* ---- convolution and max pooling ---------------------------------------------------- */

/* One output plane (oh x ow uint32 accumulators, already holding the bias) += the
 * kernels of one filter over its group's input channels, for a typed input (8 or 32
 * bits); the weights (any type) are loaded once per tap. As xd_conv2d_f32: one tap at a
 * time over the plane, no bounds checks in the inner loop. */
#define XD_CONV_X(NAME, TX)                                                                \
    static void NAME(const TX *xg, const void *w, xd_type wt, ptrdiff_t w_off, uint32_t *yp, \
                     int32_t icg, int32_t h, int32_t wd, int32_t kh, int32_t kw, int32_t oh, \
                     int32_t ow, int32_t sh, int32_t sw, int32_t ph, int32_t pw, int32_t dh,  \
                     int32_t dw)                                                            \
    {                                                                                       \
        const ptrdiff_t plane = (ptrdiff_t)h * wd;                                          \
        int32_t ic, ky, kx, oy, ox;                                                         \
        for (ic = 0; ic < icg; ++ic) {                                                      \
            const TX *xp = xg + (ptrdiff_t)ic * plane;                                      \
            for (ky = 0; ky < kh; ++ky) {                                                   \
                const int32_t yoff = ky * dh - ph;                                          \
                int32_t oy0, oy1;                                                           \
                inside_range(yoff, sh, h, oh, &oy0, &oy1);                                  \
                for (kx = 0; kx < kw; ++kx) {                                               \
                    const uint32_t wv =                                                     \
                        (uint32_t)ld(w, wt, w_off + ((ptrdiff_t)ic * kh + ky) * kw + kx);   \
                    const int32_t xoff = kx * dw - pw;                                      \
                    int32_t ox0, ox1;                                                       \
                    inside_range(xoff, sw, wd, ow, &ox0, &ox1);                             \
                    for (oy = oy0; oy < oy1; ++oy) {                                        \
                        const TX *xrow = xp + (ptrdiff_t)(oy * sh + yoff) * wd + xoff;      \
                        uint32_t *yrow = yp + (ptrdiff_t)oy * ow;                           \
                        for (ox = ox0; ox < ox1; ++ox)                                      \
                            yrow[ox] += wv * (uint32_t)(int32_t)xrow[(ptrdiff_t)ox * sw];   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

XD_CONV_X(conv_x_i8, int8_t)
XD_CONV_X(conv_x_u8, uint8_t)
XD_CONV_X(conv_x_i32, int32_t)

void xd_conv2d_int(const void *x, xd_type x_type, const void *w, xd_type w_type,
                   const void *bias, xd_type bias_type, void *y, xd_type y_type, int32_t n,
                   int32_t c, int32_t h, int32_t wd, int32_t oc, int32_t kh, int32_t kw,
                   int32_t oh, int32_t ow, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                   int32_t dh, int32_t dw, int32_t group)
{
    const int32_t icg = c / group;
    const int32_t ocg = oc / group;
    const ptrdiff_t plane = (ptrdiff_t)h * wd;
    const ptrdiff_t oplane = (ptrdiff_t)oh * ow;
    const ptrdiff_t wsize = (ptrdiff_t)icg * kh * kw;
    const int fast = (x_type == XD_T_I8 || x_type == XD_T_U8 || x_type == XD_T_I32) &&
                     (y_type == XD_T_I32 || y_type == XD_T_U32);
    int32_t b, o, ic, ky, kx, oy, ox;

    for (b = 0; b < n; ++b) {
        for (o = 0; o < oc; ++o) {
            const int32_t g = o / ocg;
            const ptrdiff_t x_off = ((ptrdiff_t)b * c + (ptrdiff_t)g * icg) * plane;
            const ptrdiff_t w_off = (ptrdiff_t)o * wsize;
            const ptrdiff_t y_off = ((ptrdiff_t)b * oc + o) * oplane;
            const uint64_t b0 = bias != NULL ? (uint64_t)ld(bias, bias_type, o) : 0;
            ptrdiff_t q;

            if (fast) {
                uint32_t *yp = (uint32_t *)y + y_off;
                for (q = 0; q < oplane; ++q)
                    yp[q] = (uint32_t)b0;
                if (x_type == XD_T_I8)
                    conv_x_i8((const int8_t *)x + x_off, w, w_type, w_off, yp, icg, h, wd, kh,
                              kw, oh, ow, sh, sw, ph, pw, dh, dw);
                else if (x_type == XD_T_U8)
                    conv_x_u8((const uint8_t *)x + x_off, w, w_type, w_off, yp, icg, h, wd, kh,
                              kw, oh, ow, sh, sw, ph, pw, dh, dw);
                else
                    conv_x_i32((const int32_t *)x + x_off, w, w_type, w_off, yp, icg, h, wd,
                               kh, kw, oh, ow, sh, sw, ph, pw, dh, dw);
                continue;
            }
            /* Any types: one exact (modulo 2^64) sum per output position. */
            for (oy = 0; oy < oh; ++oy)
                for (ox = 0; ox < ow; ++ox) {
                    const int32_t iy0 = oy * sh - ph, ix0 = ox * sw - pw;
                    int32_t ky0, ky1, kx0, kx1;
                    uint64_t acc = b0;
                    inside_range(iy0, dh, h, kh, &ky0, &ky1);
                    inside_range(ix0, dw, wd, kw, &kx0, &kx1);
                    for (ic = 0; ic < icg; ++ic)
                        for (ky = ky0; ky < ky1; ++ky)
                            for (kx = kx0; kx < kx1; ++kx)
                                acc += (uint64_t)ld(x, x_type,
                                                    x_off + (ptrdiff_t)ic * plane +
                                                        (ptrdiff_t)(iy0 + ky * dh) * wd +
                                                        ix0 + kx * dw) *
                                       (uint64_t)ld(w, w_type,
                                                    w_off + ((ptrdiff_t)ic * kh + ky) * kw + kx);
                    st(y, y_type, y_off + (ptrdiff_t)oy * ow + ox, acc);
                }
        }
    }
}

/* Max pooling with elements compared as `key` (int64_t) values: the element itself, or
 * for uint64_t the element with its top bit flipped (the same order). `lowest` is the
 * key of the type's minimum, the padding value: a window entirely in the padding gives
 * it. The 8-bit types take typed copies of the loop. */
#define XD_MAXPOOL(NAME, T, LOAD, STORE)                                                    \
    static void NAME(const T *x, T *y, int32_t planes, int32_t h, int32_t wd, int32_t oh,   \
                     int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph, \
                     int32_t pw, int32_t dh, int32_t dw, xd_type t, uint64_t flip,          \
                     int64_t lowest)                                                        \
    {                                                                                       \
        int32_t p, oy, ox, ky, kx;                                                          \
        (void)t;                                                                            \
        (void)flip;                                                                         \
        for (p = 0; p < planes; ++p) {                                                      \
            const ptrdiff_t xp = (ptrdiff_t)p * h * wd;                                     \
            const ptrdiff_t yp = (ptrdiff_t)p * oh * ow;                                    \
            for (oy = 0; oy < oh; ++oy) {                                                   \
                const int32_t iy0 = oy * sh - ph;                                           \
                int32_t ky0, ky1;                                                           \
                inside_range(iy0, dh, h, kh, &ky0, &ky1);                                   \
                for (ox = 0; ox < ow; ++ox) {                                               \
                    const int32_t ix0 = ox * sw - pw;                                       \
                    int32_t kx0, kx1;                                                       \
                    int64_t mx = lowest;                                                    \
                    inside_range(ix0, dw, wd, kw, &kx0, &kx1);                              \
                    for (ky = ky0; ky < ky1; ++ky) {                                        \
                        const ptrdiff_t row = xp + (ptrdiff_t)(iy0 + ky * dh) * wd + ix0;   \
                        for (kx = kx0; kx < kx1; ++kx) {                                    \
                            const int64_t v = LOAD(x, row + (ptrdiff_t)kx * dw);            \
                            if (v > mx)                                                     \
                                mx = v;                                                     \
                        }                                                                   \
                    }                                                                       \
                    STORE(y, yp + (ptrdiff_t)oy * ow + ox, mx);                             \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

#define XD_LOAD_TYPED(base, i) ((int64_t)(base)[i])
#define XD_LOAD_KEY(base, i) to_i64((uint64_t)ld(base, t, i) ^ flip)
#define XD_STORE_I8(base, i, v) ((base)[i] = (int8_t)(v))
#define XD_STORE_U8(base, i, v) ((base)[i] = (uint8_t)(v))
#define XD_STORE_KEY(base, i, v) st(base, t, i, (uint64_t)(v) ^ flip)

XD_MAXPOOL(maxpool_i8, int8_t, XD_LOAD_TYPED, XD_STORE_I8)
XD_MAXPOOL(maxpool_u8, uint8_t, XD_LOAD_TYPED, XD_STORE_U8)
XD_MAXPOOL(maxpool_any, void, XD_LOAD_KEY, XD_STORE_KEY)

void xd_maxpool2d_int(const void *x, void *y, xd_type type, int32_t planes, int32_t h,
                      int32_t wd, int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh,
                      int32_t sw, int32_t ph, int32_t pw, int32_t dh, int32_t dw)
{
    const uint64_t top = (uint64_t)1 << 63;
    switch (type) {
    case XD_T_I8:
        maxpool_i8((const int8_t *)x, (int8_t *)y, planes, h, wd, oh, ow, kh, kw, sh, sw, ph,
                   pw, dh, dw, type, 0, INT8_MIN);
        break;
    case XD_T_U8: case XD_T_BOOL:
        maxpool_u8((const uint8_t *)x, (uint8_t *)y, planes, h, wd, oh, ow, kh, kw, sh, sw, ph,
                   pw, dh, dw, type, 0, 0);
        break;
    default: {
        /* The key of each type's minimum; uint64_t compares with its top bit flipped. */
        const int64_t lowest = type == XD_T_I16   ? INT16_MIN
                               : type == XD_T_I32 ? INT32_MIN
                               : type == XD_T_I64 ? INT64_MIN
                               : type == XD_T_U64 ? INT64_MIN
                                                  : 0;
        maxpool_any(x, y, planes, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, type,
                    type == XD_T_U64 ? top : 0, lowest);
        break;
    }
    }
}

/* ---- softmax approximations (rows of `len` elements) -------------------------------- */

/* a - b without overflow (wrapping, for inputs beyond the 8-bit contract). */
static int64_t diff64(int64_t a, int64_t b)
{
    return to_i64((uint64_t)a - (uint64_t)b);
}

static int64_t row_max(const void *x, xd_type t, ptrdiff_t base, int32_t len)
{
    int64_t mx = INT64_MIN;
    int32_t i;
    for (i = 0; i < len; ++i) {
        const int64_t v = ld(x, t, base + i);
        if (v > mx)
            mx = v;
    }
    return mx;
}

/* iSoftmax's integer exponential of x_tilde = x - max <= 0 (Generic Softmax_s8_s8). */
static uint32_t isoftmax_exp(int64_t xt, int32_t coeff_a, int32_t coeff_b, int32_t coeff_c,
                             int32_t log2)
{
    int64_t z = sext(to_i64(0 - (uint64_t)cdiv(xt, log2)), 8); /* stored in an int8_t */
    int64_t p, pb, sq, poly;

    z = z < 0 ? 0 : z > 31 ? 31 : z;
    p = sext(to_i64((uint64_t)xt + (uint64_t)z * (uint64_t)(int64_t)log2), 16);
    pb = p + coeff_b;
    sq = sext(to_i64((uint64_t)pb * (uint64_t)pb), 32);
    poly = sext(to_i64((uint64_t)(int64_t)coeff_a * (uint64_t)sq), 32) + coeff_c;
    return (uint32_t)((uint64_t)poly >> z);
}

void xd_isoftmax(const void *x, xd_type x_type, void *y, int32_t rows, int32_t len,
                 int32_t coeff_a, int32_t coeff_b, int32_t coeff_c, int32_t log2,
                 int32_t n_levels)
{
    uint8_t *out = (uint8_t *)y;
    const uint32_t scale = (uint32_t)(n_levels - 1);
    const uint32_t offset = 128u - (uint32_t)(n_levels / 2);
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const ptrdiff_t base = (ptrdiff_t)r * len;
        const int64_t mx = row_max(x, x_type, base, len);
        uint32_t sum = 0;
        for (i = 0; i < len; ++i)
            sum += isoftmax_exp(diff64(ld(x, x_type, base + i), mx), coeff_a, coeff_b, coeff_c,
                                log2);
        /* The exponentials are recomputed rather than kept: no scratch memory. */
        for (i = 0; i < len; ++i) {
            const uint32_t e =
                isoftmax_exp(diff64(ld(x, x_type, base + i), mx), coeff_a, coeff_b, coeff_c, log2);
            const uint32_t q = sum != 0 ? (e * scale) / sum : 0;
            out[base + i] = (uint8_t)(q + offset);
        }
    }
}

/* ITA's exponent: round((max - x) / 32) as a uint8_t. */
static int32_t ita_shift(int64_t diff)
{
    return (int32_t)(uint8_t)(uint64_t)asr64(to_i64((uint64_t)diff + 16u), 5);
}

void xd_ita_max(const void *x, xd_type x_type, void *y, int32_t rows, int32_t len,
                int32_t n_levels)
{
    uint8_t *out = (uint8_t *)y;
    const uint32_t top = (uint32_t)(n_levels - 1) * 256u;
    const uint32_t offset = 128u - (uint32_t)(n_levels / 2);
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const ptrdiff_t base = (ptrdiff_t)r * len;
        const int64_t mx = row_max(x, x_type, base, len);
        uint32_t sum = 0, inv;
        for (i = 0; i < len; ++i) {
            const int32_t s = ita_shift(diff64(mx, ld(x, x_type, base + i)));
            sum += s < 32 ? 256u >> s : 0u;
        }
        inv = sum != 0 ? top / sum : 0;
        for (i = 0; i < len; ++i) {
            const int32_t s = ita_shift(diff64(mx, ld(x, x_type, base + i)));
            out[base + i] = (uint8_t)((s < 32 ? inv >> s : 0u) + offset);
        }
    }
}

/* ---- integer normalisations (rows of `len` elements) -------------------------------- */

void xd_irmsnorm(const void *x, xd_type x_type, const void *weight, xd_type w_type, void *y,
                 int32_t rows, int32_t len, int32_t log2_d)
{
    int8_t *out = (int8_t *)y;
    const int32_t s = clamp_shift(log2_d);
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const ptrdiff_t base = (ptrdiff_t)r * len;
        uint32_t total = 0;
        int64_t ms, std;
        for (i = 0; i < len; ++i) {
            const int64_t t = sext(ld(x, x_type, base + i), 16);
            total += (uint32_t)(uint64_t)(t * t);
        }
        ms = sext(cdiv(sext((int64_t)total, 32), len) + 1, 32);
        std = isqrt(ms);
        for (i = 0; i < len; ++i) {
            const int64_t prod = sext(
                to_i64((uint64_t)ld(x, x_type, base + i) * (uint64_t)ld(weight, w_type, i)), 32);
            int64_t v = asr64(cdiv(prod, std), s);
            v = v < -128 ? -128 : v > 127 ? 127 : v;
            out[base + i] = (int8_t)v;
        }
    }
}

void xd_ilayernorm(const void *x, xd_type x_type, const void *weight, xd_type w_type,
                   const void *bias, xd_type b_type, void *y, int32_t rows, int32_t len,
                   int32_t log2_d)
{
    int8_t *out = (int8_t *)y;
    const int32_t s = clamp_shift(log2_d);
    int32_t r, i;

    for (r = 0; r < rows; ++r) {
        const ptrdiff_t base = (ptrdiff_t)r * len;
        uint64_t total = 0;
        uint32_t sq = 0;
        int64_t mean, var, std;
        for (i = 0; i < len; ++i)
            total += (uint64_t)ld(x, x_type, base + i);
        mean = cdiv(sext(to_i64(total), 32), len);
        for (i = 0; i < len; ++i) {
            const int64_t t = sext(to_i64((uint64_t)ld(x, x_type, base + i) - (uint64_t)mean), 16);
            sq += (uint32_t)(uint64_t)(t * t);
        }
        var = sext(cdiv(sext((int64_t)sq, 32), len) + 1, 32);
        std = isqrt(var);
        for (i = 0; i < len; ++i) {
            const uint64_t centred = (uint64_t)ld(x, x_type, base + i) - (uint64_t)mean;
            const int64_t num = to_i64(centred * (uint64_t)ld(weight, w_type, i));
            const int64_t v = to_i64((uint64_t)cdiv(num, std) + (uint64_t)ld(bias, b_type, i));
            /* The final cast wraps (no clamping), as Deeploy's kernel stores it. */
            out[base + i] = (int8_t)(uint8_t)(uint64_t)asr64(v, s);
        }
    }
}

/* ---- elementwise integer activations ------------------------------------------------ */

void xd_igelu(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n, int32_t b,
              int32_t one)
{
    const int64_t nb = -(int64_t)b, o = one;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int64_t a = ld(x, x_type, i);
        /* q = min(|a|, -b), |a| only formed when it is below -b (no overflow). */
        const int64_t q = (a >= nb || a <= -nb) ? nb : (a < 0 ? -a : a);
        const int64_t d = q + b;
        const int64_t l = o - d * d;
        const int64_t sl = a > 0 ? l : a < 0 ? -l : 0;
        st(y, y_type, i, (uint64_t)a * (uint64_t)asr64(o + sl, 1));
    }
}

void xd_ihardswish(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n,
                   int32_t one_over_six, int32_t six, int32_t three)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int64_t a = ld(x, x_type, i);
        int64_t c = to_i64((uint64_t)a + (uint64_t)(int64_t)three);
        c = c < 0 ? 0 : c;
        c = c > six ? six : c;
        st(y, y_type, i, (uint64_t)a * ((uint64_t)c * (uint64_t)(int64_t)one_over_six));
    }
}

void xd_true_integer_div(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n,
                         int32_t coeff)
{
    const uint64_t k = (uint64_t)(int64_t)coeff;
    int32_t i;
    for (i = 0; i < n; ++i)
        st(y, y_type, i, (uint64_t)ld(x, x_type, i) * k);
}

/* ---- IntegerMean -------------------------------------------------------------------- */

void xd_integer_mean(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t outer,
                     int32_t len, int32_t inner, int32_t round_shift)
{
    const int64_t half = len >> 1;
    int32_t o, r, i;

    for (o = 0; o < outer; ++o)
        for (i = 0; i < inner; ++i) {
            const ptrdiff_t base = (ptrdiff_t)o * len * inner + i;
            uint64_t sum = 0;
            int64_t s, v;
            for (r = 0; r < len; ++r)
                sum += (uint64_t)ld(x, x_type, base + (ptrdiff_t)r * inner);
            s = to_i64(sum);
            if (round_shift >= 0)
                v = asr64(to_i64((uint64_t)s + (uint64_t)half), clamp_shift(round_shift));
            else
                v = cdiv(to_i64((uint64_t)s + (uint64_t)(s >= 0 ? half : -half)), len);
            st(y, y_type, (ptrdiff_t)o * inner + i, (uint64_t)v);
        }
}

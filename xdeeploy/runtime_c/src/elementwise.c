/*
 * Elementwise kernels: broadcasting binary ops, comparisons, where, unary ops.
 *
 * NaN handling follows numpy (the interpreter's reference): max/min/relu/clip and
 * hardsigmoid propagate a NaN operand instead of dropping it as fmaxf/fminf would.
 * exp, log, tanh, erf, sin and cos are xd_math.h's, not libm's: the interpreter computes
 * the same bits. From libm come only powf and the exactly rounded sqrtf, fabsf, floorf,
 * ceilf, fmodf and copysignf.
 */
#include <math.h>
#include <stddef.h>

#include "xd_kernels.h"
#include "xd_math.h"

/* ---- broadcasting binary ops, comparisons and where -------------------------------- */

static float max_f32(float a, float b)
{
    return (a > b || a != a) ? a : b;
}

static float min_f32(float a, float b)
{
    return (a < b || a != a) ? a : b;
}

/* The switch sits outside the loops so that each inner loop is a tight, single-op loop. */
static void binary_row(xd_binary_op op, const float *a, int32_t sa, const float *b,
                       int32_t sb, float *out, int32_t len)
{
    int32_t i;
    switch (op) {
    case XD_ADD:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] + b[i * sb];
        break;
    case XD_SUB:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] - b[i * sb];
        break;
    case XD_MUL:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] * b[i * sb];
        break;
    case XD_DIV:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] / b[i * sb];
        break;
    case XD_POW:
        for (i = 0; i < len; ++i)
            out[i] = powf(a[i * sa], b[i * sb]);
        break;
    case XD_MAX:
        for (i = 0; i < len; ++i)
            out[i] = max_f32(a[i * sa], b[i * sb]);
        break;
    case XD_MIN:
        for (i = 0; i < len; ++i)
            out[i] = min_f32(a[i * sa], b[i * sb]);
        break;
    }
}

static void compare_row(xd_compare_op op, const float *a, int32_t sa, const float *b,
                        int32_t sb, uint8_t *out, int32_t len)
{
    int32_t i;
    switch (op) {
    case XD_EQUAL:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] == b[i * sb];
        break;
    case XD_LESS:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] < b[i * sb];
        break;
    case XD_GREATER:
        for (i = 0; i < len; ++i)
            out[i] = a[i * sa] > b[i * sb];
        break;
    }
}

static void where_row(const uint8_t *c, int32_t sc, const float *a, int32_t sa, const float *b,
                      int32_t sb, float *out, int32_t len)
{
    int32_t i;
    for (i = 0; i < len; ++i)
        out[i] = c[i * sc] ? a[i * sa] : b[i * sb];
}

/* Integer rows: every integer type goes through int64_t, so one loop serves all widths;
 * the store truncates back to the element type, which gives wraparound. */
static int64_t load_int(const void *base, xd_type t, ptrdiff_t i)
{
    switch (t) {
    case XD_T_I8: return ((const int8_t *)base)[i];
    case XD_T_U8: case XD_T_BOOL: return ((const uint8_t *)base)[i];
    case XD_T_I16: return ((const int16_t *)base)[i];
    case XD_T_U16: return ((const uint16_t *)base)[i];
    case XD_T_I32: return ((const int32_t *)base)[i];
    case XD_T_U32: return ((const uint32_t *)base)[i];
    default: return ((const int64_t *)base)[i];
    }
}

static void store_int(void *base, xd_type t, ptrdiff_t i, uint64_t v)
{
    switch (t) {
    case XD_T_I8: ((int8_t *)base)[i] = (int8_t)(uint8_t)v; break;
    case XD_T_U8: case XD_T_BOOL: ((uint8_t *)base)[i] = (uint8_t)v; break;
    case XD_T_I16: ((int16_t *)base)[i] = (int16_t)(uint16_t)v; break;
    case XD_T_U16: ((uint16_t *)base)[i] = (uint16_t)v; break;
    case XD_T_I32: ((int32_t *)base)[i] = (int32_t)(uint32_t)v; break;
    case XD_T_U32: ((uint32_t *)base)[i] = (uint32_t)v; break;
    default: ((int64_t *)base)[i] = (int64_t)v; break;
    }
}

static int64_t int_pow(int64_t base, int64_t e)
{
    uint64_t result = 1, b = (uint64_t)base;
    if (e < 0) /* C's truncated pow: only |base| = 1 survives a negative exponent */
        return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    while (e > 0) {
        if (e & 1)
            result *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)result;
}

static uint64_t int_binary(xd_binary_op op, int64_t a, int64_t b)
{
    switch (op) {
    case XD_ADD: return (uint64_t)a + (uint64_t)b;
    case XD_SUB: return (uint64_t)a - (uint64_t)b;
    case XD_MUL: return (uint64_t)a * (uint64_t)b;
    case XD_DIV: /* truncation toward zero as in C; x / 0 is undefined in ONNX: 0 here */
        if (b == 0)
            return 0;
        if (b == -1)
            return (uint64_t)0 - (uint64_t)a; /* avoids INT64_MIN / -1 */
        return (uint64_t)(a / b);
    case XD_POW: return (uint64_t)int_pow(a, b);
    case XD_MAX: return (uint64_t)(a > b ? a : b);
    case XD_MIN: return (uint64_t)(a < b ? a : b);
    }
    return 0;
}

static void int_row(int compare, int op, xd_type t, void *out, const void *a, ptrdiff_t oa,
                    int32_t sa, const void *b, ptrdiff_t ob, int32_t sb, ptrdiff_t oo,
                    int32_t len)
{
    int32_t i;
    for (i = 0; i < len; ++i) {
        int64_t x = load_int(a, t, oa + (ptrdiff_t)i * sa);
        int64_t y = load_int(b, t, ob + (ptrdiff_t)i * sb);
        if (compare) {
            int r = op == XD_EQUAL ? x == y : op == XD_LESS ? x < y : x > y;
            ((uint8_t *)out)[oo + i] = (uint8_t)r;
        } else {
            store_int(out, t, oo + i, int_binary((xd_binary_op)op, x, y));
        }
    }
}

typedef enum { ROWS_BINARY, ROWS_COMPARE, ROWS_WHERE, ROWS_INT_BINARY, ROWS_INT_COMPARE } rows_kind;

/* Operand 0 is the dense output; at most three inputs follow. */
#define XD_MAX_OPS 4

/*
 * Walks out_dims and hands each innermost row to the row kernel of `kind`. `in` and
 * `in_strides` have nops - 1 entries.
 *
 * The iteration space is coalesced first: size-1 dimensions are dropped and neighbouring
 * dimensions merged wherever every operand walks them as one, so that a same-shape or
 * scalar-broadcast operation becomes a single long row.
 *
 * All iteration state stays local to this one function on purpose: GCC 12.2 -O2
 * miscompiled an earlier version whose odometer lived in a struct advanced by a helper
 * function (its late modref pass took an ivopts-rewritten address for a NULL dereference
 * and dropped the helper's stores, so every row was computed at offset 0).
 */
static void broadcast_rows(rows_kind kind, int op, xd_type type, void *out,
                           const void *const *in, int32_t nops, int32_t rank,
                           const int32_t *out_dims, const int32_t *const *in_strides)
{
    int32_t dims[XD_MAX_RANK], idx[XD_MAX_RANK];
    /* Zeroed in full: unused operand slots are then defined for every nops. */
    int32_t strides[XD_MAX_OPS][XD_MAX_RANK] = {{0}};
    ptrdiff_t off[XD_MAX_OPS] = {0};
    int32_t dense[XD_MAX_RANK];
    int32_t r = 0, d, k, last, running = 1;

    for (d = rank - 1; d >= 0; --d) {
        if (out_dims[d] == 0)
            return;
        dense[d] = running;
        running *= out_dims[d];
    }
    for (d = 0; d < rank; ++d) {
        int mergeable = r > 0;
        if (out_dims[d] == 1)
            continue;
        for (k = 0; k < nops && mergeable; ++k) {
            int32_t s = k == 0 ? dense[d] : in_strides[k - 1][d];
            mergeable = strides[k][r - 1] == s * out_dims[d];
        }
        if (!mergeable)
            dims[r++] = 1;
        dims[r - 1] *= out_dims[d];
        for (k = 0; k < nops; ++k)
            strides[k][r - 1] = k == 0 ? dense[d] : in_strides[k - 1][d];
    }
    if (r == 0) { /* rank 0, or every dimension 1: a single element */
        dims[0] = 1;
        for (k = 0; k < nops; ++k)
            strides[k][0] = 0;
        r = 1;
    }
    for (d = 0; d < r; ++d)
        idx[d] = 0;
    last = r - 1;

    for (;;) {
        switch (kind) {
        case ROWS_BINARY:
            binary_row((xd_binary_op)op, (const float *)in[0] + off[1], strides[1][last],
                       (const float *)in[1] + off[2], strides[2][last],
                       (float *)out + off[0], dims[last]);
            break;
        case ROWS_COMPARE:
            compare_row((xd_compare_op)op, (const float *)in[0] + off[1], strides[1][last],
                        (const float *)in[1] + off[2], strides[2][last],
                        (uint8_t *)out + off[0], dims[last]);
            break;
        case ROWS_INT_BINARY:
        case ROWS_INT_COMPARE:
            int_row(kind == ROWS_INT_COMPARE, op, type, out, in[0], off[1], strides[1][last],
                    in[1], off[2], strides[2][last], off[0], dims[last]);
            break;
        case ROWS_WHERE:
            where_row((const uint8_t *)in[0] + off[1], strides[1][last],
                      (const float *)in[1] + off[2], strides[2][last],
                      (const float *)in[2] + off[3], strides[3][last], (float *)out + off[0],
                      dims[last]);
            break;
        }
        /* Odometer over all but the innermost dimension. */
        for (d = last - 1; d >= 0; --d) {
            for (k = 0; k < nops; ++k)
                off[k] += strides[k][d];
            if (++idx[d] < dims[d])
                break;
            for (k = 0; k < nops; ++k)
                off[k] -= (ptrdiff_t)strides[k][d] * dims[d];
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

void xd_binary_f32(xd_binary_op op, const float *a, const float *b, float *out, int32_t rank,
                   const int32_t *out_dims, const int32_t *a_strides, const int32_t *b_strides)
{
    const void *in[2];
    const int32_t *in_strides[2];

    in[0] = a;
    in[1] = b;
    in_strides[0] = a_strides;
    in_strides[1] = b_strides;
    broadcast_rows(ROWS_BINARY, (int)op, XD_T_F32, out, in, 3, rank, out_dims, in_strides);
}

void xd_compare_f32(xd_compare_op op, const float *a, const float *b, uint8_t *out,
                    int32_t rank, const int32_t *out_dims, const int32_t *a_strides,
                    const int32_t *b_strides)
{
    const void *in[2];
    const int32_t *in_strides[2];

    in[0] = a;
    in[1] = b;
    in_strides[0] = a_strides;
    in_strides[1] = b_strides;
    broadcast_rows(ROWS_COMPARE, (int)op, XD_T_F32, out, in, 3, rank, out_dims, in_strides);
}

void xd_where_f32(const uint8_t *cond, const float *a, const float *b, float *out,
                  int32_t rank, const int32_t *out_dims, const int32_t *cond_strides,
                  const int32_t *a_strides, const int32_t *b_strides)
{
    const void *in[3];
    const int32_t *in_strides[3];

    in[0] = cond;
    in[1] = a;
    in[2] = b;
    in_strides[0] = cond_strides;
    in_strides[1] = a_strides;
    in_strides[2] = b_strides;
    broadcast_rows(ROWS_WHERE, 0, XD_T_F32, out, in, 4, rank, out_dims, in_strides);
}

/* ---- unary -------------------------------------------------------------------------- */

/* Written with exp(-|x|) so that it never overflows (as the reference does). */
void xd_binary_int(xd_binary_op op, xd_type type, const void *a, const void *b, void *out,
                   int32_t rank, const int32_t *out_dims, const int32_t *a_strides,
                   const int32_t *b_strides)
{
    const void *in[2];
    const int32_t *in_strides[2];

    in[0] = a;
    in[1] = b;
    in_strides[0] = a_strides;
    in_strides[1] = b_strides;
    broadcast_rows(ROWS_INT_BINARY, (int)op, type, out, in, 3, rank, out_dims, in_strides);
}

void xd_compare_int(xd_compare_op op, xd_type type, const void *a, const void *b, uint8_t *out,
                    int32_t rank, const int32_t *out_dims, const int32_t *a_strides,
                    const int32_t *b_strides)
{
    const void *in[2];
    const int32_t *in_strides[2];

    in[0] = a;
    in[1] = b;
    in_strides[0] = a_strides;
    in_strides[1] = b_strides;
    broadcast_rows(ROWS_INT_COMPARE, (int)op, type, out, in, 3, rank, out_dims, in_strides);
}

static float sigmoid_f32(float x)
{
    float e = xd_expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* Round half to even without depending on the FPU rounding mode (rintf would), and
 * exactly: for a >= 0, a - floorf(a) is always representable. */
static float round_half_even_f32(float x)
{
    float a = fabsf(x);
    float r = floorf(a);
    float frac = a - r;
    if (frac > 0.5f || (frac == 0.5f && fmodf(r, 2.0f) != 0.0f))
        r += 1.0f;
    return copysignf(r, x); /* keeps -0 for -0.4, and NaN stays NaN */
}

/* NaN-propagating clamp, the order numpy's clip uses (lower bound first). */
static float clamp_f32(float x, float lo, float hi)
{
    float y = x < lo ? lo : x;
    return y > hi ? hi : y;
}

void xd_unary_f32(xd_unary_op op, const float *x, float *y, int32_t n, float alpha, float beta)
{
    /* 1/sqrt(2) and sqrt(2/pi), rounded to float as the reference rounds them. */
    const float inv_sqrt2 = 0.70710678118654752f;
    const float sqrt_2_over_pi = 0.79788456080286536f;
    int32_t i;

    switch (op) {
    case XD_SQRT:
        for (i = 0; i < n; ++i)
            y[i] = sqrtf(x[i]);
        break;
    case XD_NEG:
        for (i = 0; i < n; ++i)
            y[i] = -x[i];
        break;
    case XD_ABS:
        for (i = 0; i < n; ++i)
            y[i] = fabsf(x[i]);
        break;
    case XD_EXP:
        for (i = 0; i < n; ++i)
            y[i] = xd_expf(x[i]);
        break;
    case XD_LOG:
        for (i = 0; i < n; ++i)
            y[i] = xd_logf(x[i]);
        break;
    case XD_ERF:
        for (i = 0; i < n; ++i)
            y[i] = xd_erff(x[i]);
        break;
    case XD_TANH:
        for (i = 0; i < n; ++i)
            y[i] = xd_tanhf(x[i]);
        break;
    case XD_RELU:
        for (i = 0; i < n; ++i)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case XD_SIGMOID:
        for (i = 0; i < n; ++i)
            y[i] = sigmoid_f32(x[i]);
        break;
    case XD_SILU:
        for (i = 0; i < n; ++i)
            y[i] = x[i] * sigmoid_f32(x[i]);
        break;
    case XD_RECIPROCAL:
        for (i = 0; i < n; ++i)
            y[i] = 1.0f / x[i];
        break;
    case XD_COS:
        for (i = 0; i < n; ++i)
            y[i] = xd_cosf(x[i]);
        break;
    case XD_SIN:
        for (i = 0; i < n; ++i)
            y[i] = xd_sinf(x[i]);
        break;
    case XD_FLOOR:
        for (i = 0; i < n; ++i)
            y[i] = floorf(x[i]);
        break;
    case XD_CEIL:
        for (i = 0; i < n; ++i)
            y[i] = ceilf(x[i]);
        break;
    case XD_ROUND:
        for (i = 0; i < n; ++i)
            y[i] = round_half_even_f32(x[i]);
        break;
    case XD_HARDSWISH:
        for (i = 0; i < n; ++i) {
            float v = x[i];
            y[i] = v * clamp_f32((1.0f / 6.0f) * v + 0.5f, 0.0f, 1.0f);
        }
        break;
    case XD_GELU:
        for (i = 0; i < n; ++i) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + xd_erff(v * inv_sqrt2));
        }
        break;
    case XD_GELU_TANH:
        for (i = 0; i < n; ++i) {
            float v = x[i];
            float inner = sqrt_2_over_pi * (v + 0.044715f * v * v * v);
            y[i] = 0.5f * v * (1.0f + xd_tanhf(inner));
        }
        break;
    case XD_HARDSIGMOID:
        for (i = 0; i < n; ++i)
            y[i] = clamp_f32(alpha * x[i] + beta, 0.0f, 1.0f);
        break;
    case XD_LEAKY_RELU:
        for (i = 0; i < n; ++i)
            y[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
        break;
    case XD_CLIP:
        for (i = 0; i < n; ++i)
            y[i] = clamp_f32(x[i], alpha, beta);
        break;
    }
}

/*
 * ONNX Cast between the xd_type element types.
 *
 * Every element goes through one of three carriers: double for floating sources, int64
 * for signed integers and bool, uint64 for unsigned ones. Each conversion out of a
 * carrier is then a single C conversion, so int64 -> float rounds once (a detour through
 * double would round twice), and integer narrowing wraps modulo 2^bits as numpy does.
 */
#include <string.h>

#include "xd_kernels.h"

typedef enum { CARRY_F, CARRY_I, CARRY_U } carry_kind;

typedef struct {
    carry_kind kind;
    double f;
    int64_t i;
    uint64_t u;
} carrier;

static carrier load(const unsigned char *p, xd_type t)
{
    carrier c;
    c.kind = CARRY_I;
    c.f = 0.0;
    c.i = 0;
    c.u = 0;
    /* memcpy: the buffer is untyped, and this keeps strict aliasing intact. */
    switch (t) {
    case XD_T_F32: {
        float v;
        memcpy(&v, p, sizeof v);
        c.kind = CARRY_F;
        c.f = v;
        break;
    }
    case XD_T_F64:
        c.kind = CARRY_F;
        memcpy(&c.f, p, sizeof c.f);
        break;
    case XD_T_I8: {
        int8_t v;
        memcpy(&v, p, sizeof v);
        c.i = v;
        break;
    }
    case XD_T_I16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        c.i = v;
        break;
    }
    case XD_T_I32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        c.i = v;
        break;
    }
    case XD_T_I64:
        memcpy(&c.i, p, sizeof c.i);
        break;
    case XD_T_BOOL:
        c.i = p[0] != 0;
        break;
    case XD_T_U8:
        c.kind = CARRY_U;
        c.u = p[0];
        break;
    case XD_T_U16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        c.kind = CARRY_U;
        c.u = v;
        break;
    }
    case XD_T_U32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        c.kind = CARRY_U;
        c.u = v;
        break;
    }
    case XD_T_U64:
        c.kind = CARRY_U;
        memcpy(&c.u, p, sizeof c.u);
        break;
    }
    return c;
}

/* Float -> integer truncates toward zero. Out-of-range values are undefined in ONNX and
 * in C; here they are made defined rather than left to the target: NaN -> 0, saturation
 * at the 64-bit limits, then wrapping like an integer cast (300.7f -> int8 gives 44, as
 * numpy does on x86-64). */
static void float_to_ints(double f, int64_t *i, uint64_t *u)
{
    const double two63 = 9223372036854775808.0;
    if (f != f) {
        *i = 0;
        *u = 0;
    } else if (f >= two63) {
        *u = f >= 2.0 * two63 ? UINT64_MAX : (uint64_t)f;
        *i = INT64_MAX;
    } else if (f < -two63) {
        *i = INT64_MIN;
        *u = (uint64_t)*i;
    } else {
        *i = (int64_t)f;
        *u = (uint64_t)*i;
    }
}

static void store(unsigned char *p, xd_type t, carrier c)
{
    int64_t i = c.i;
    uint64_t u = c.u;

    switch (t) {
    case XD_T_F32: {
        float v = c.kind == CARRY_F ? (float)c.f : c.kind == CARRY_I ? (float)c.i : (float)c.u;
        memcpy(p, &v, sizeof v);
        return;
    }
    case XD_T_F64: {
        double v = c.kind == CARRY_F ? c.f : c.kind == CARRY_I ? (double)c.i : (double)c.u;
        memcpy(p, &v, sizeof v);
        return;
    }
    case XD_T_BOOL:
        p[0] = c.kind == CARRY_F ? c.f != 0.0 : c.kind == CARRY_I ? c.i != 0 : c.u != 0;
        return;
    default:
        break;
    }
    /* Integer destinations: bring the value into both integer forms, then narrow. */
    if (c.kind == CARRY_F)
        float_to_ints(c.f, &i, &u);
    else if (c.kind == CARRY_I)
        u = (uint64_t)i;
    else
        i = (int64_t)u; /* modular on every two's-complement target we build for */

    switch (t) {
    case XD_T_I8: {
        int8_t v = (int8_t)i;
        memcpy(p, &v, sizeof v);
        break;
    }
    case XD_T_U8:
        p[0] = (uint8_t)u;
        break;
    case XD_T_I16: {
        int16_t v = (int16_t)i;
        memcpy(p, &v, sizeof v);
        break;
    }
    case XD_T_U16: {
        uint16_t v = (uint16_t)u;
        memcpy(p, &v, sizeof v);
        break;
    }
    case XD_T_I32: {
        int32_t v = (int32_t)i;
        memcpy(p, &v, sizeof v);
        break;
    }
    case XD_T_U32: {
        uint32_t v = (uint32_t)u;
        memcpy(p, &v, sizeof v);
        break;
    }
    case XD_T_I64:
        memcpy(p, &i, sizeof i);
        break;
    case XD_T_U64:
        memcpy(p, &u, sizeof u);
        break;
    default:
        break;
    }
}

static size_t type_size(xd_type t)
{
    switch (t) {
    case XD_T_I8:
    case XD_T_U8:
    case XD_T_BOOL:
        return 1;
    case XD_T_I16:
    case XD_T_U16:
        return 2;
    case XD_T_F32:
    case XD_T_I32:
    case XD_T_U32:
        return 4;
    case XD_T_I64:
    case XD_T_U64:
    case XD_T_F64:
        return 8;
    }
    return 0;
}

/* Typed loops for the casts quantised graphs and index arithmetic use most; each gives
 * exactly what the general path gives. Returns 0 when the pair has no fast path. */
static int cast_fast(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n)
{
    int32_t i;

    if (x_type == y_type) {
        memcpy(y, x, (size_t)n * type_size(x_type));
        return 1;
    }
    if (y_type == XD_T_F32) {
        float *out = (float *)y;
        if (x_type == XD_T_I8) {
            const int8_t *in = (const int8_t *)x;
            for (i = 0; i < n; ++i)
                out[i] = (float)in[i];
            return 1;
        }
        if (x_type == XD_T_U8) {
            const uint8_t *in = (const uint8_t *)x;
            for (i = 0; i < n; ++i)
                out[i] = (float)in[i];
            return 1;
        }
        if (x_type == XD_T_I32) {
            const int32_t *in = (const int32_t *)x;
            for (i = 0; i < n; ++i)
                out[i] = (float)in[i];
            return 1;
        }
    }
    if (x_type == XD_T_I32 && y_type == XD_T_I64) {
        const int32_t *in = (const int32_t *)x;
        int64_t *out = (int64_t *)y;
        for (i = 0; i < n; ++i)
            out[i] = in[i];
        return 1;
    }
    if (x_type == XD_T_I64 && y_type == XD_T_I32) {
        const int64_t *in = (const int64_t *)x;
        int32_t *out = (int32_t *)y;
        for (i = 0; i < n; ++i)
            out[i] = (int32_t)in[i];
        return 1;
    }
    return 0;
}

void xd_cast(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n)
{
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    size_t xs = type_size(x_type), ys = type_size(y_type);
    int32_t i;

    if (n <= 0 || cast_fast(x, x_type, y, y_type, n))
        return;
    for (i = 0; i < n; ++i)
        store(dst + (size_t)i * ys, y_type, load(src + (size_t)i * xs, x_type));
}

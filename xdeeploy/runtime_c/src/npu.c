/*
 * The NPU's functional model: what an N-EUREKA-like engine computes for `npu.conv2d` and
 * `npu.matmul` (xdeeploy/dialects/npu.py), bit for bit as xdeeploy/interp/npu.py, for
 * every platform without a real engine. Weights arrive packed in the engine's layout
 * (zero-padded to its subtiles); the requantization is exact in 64 bits.
 */
#include <stddef.h>

#include "xd_kernels.h"

/* v >> s rounding toward minus infinity, without relying on signed right shifts. */
static int64_t floor_shift(int64_t v, int32_t s)
{
    return v >= 0 ? v >> s : -((-(v + 1)) >> s) - 1;
}

static int64_t load8(const void *p, xd_type t, ptrdiff_t i)
{
    return t == XD_T_U8 ? (int64_t)((const uint8_t *)p)[i] : (int64_t)((const int8_t *)p)[i];
}

/* One output element: the accumulator as int32, or requantized into 8 bits. */
static void store(void *y, xd_type t, ptrdiff_t i, int64_t acc, const uint8_t *scale,
                  const int32_t *bias, int32_t c, int32_t shift)
{
    int64_t v;

    if (scale == NULL || bias == NULL) {
        ((int32_t *)y)[i] = (int32_t)acc;
        return;
    }
    v = floor_shift(acc * (int64_t)scale[c] + (int64_t)bias[c], shift);
    if (t == XD_T_U8) {
        ((uint8_t *)y)[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    } else {
        v = v < -128 ? -128 : v > 127 ? 127 : v;
        ((int8_t *)y)[i] = (int8_t)(uint8_t)(uint64_t)(v & 0xFF);
    }
}

void xd_npu_conv2d(const void *x, xd_type x_type, const int8_t *w, const uint8_t *scale,
                   const int32_t *bias, void *y, xd_type y_type, int32_t kind, int32_t h,
                   int32_t wd, int32_t cin, int32_t cout, int32_t cin_p, int32_t stride,
                   int32_t pad_top, int32_t pad_left, int32_t oh, int32_t ow, int32_t shift)
{
    const int32_t taps = kind == XD_NPU_POINTWISE ? 1 : 3;
    int32_t oy, ox, co, ky, kx, ci;

    for (oy = 0; oy < oh; ++oy)
        for (ox = 0; ox < ow; ++ox)
            for (co = 0; co < cout; ++co) {
                int64_t acc = 0;
                for (ky = 0; ky < taps; ++ky) {
                    const int32_t iy = oy * stride + ky - pad_top;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (kx = 0; kx < taps; ++kx) {
                        const int32_t ix = ox * stride + kx - pad_left;
                        const ptrdiff_t pixel = ((ptrdiff_t)iy * wd + ix) * cin;
                        const int32_t tap = ky * taps + kx;
                        if (ix < 0 || ix >= wd)
                            continue;
                        if (kind == XD_NPU_DEPTHWISE3X3) {
                            acc += load8(x, x_type, pixel + co) * w[(ptrdiff_t)co * 9 + tap];
                            continue;
                        }
                        for (ci = 0; ci < cin; ++ci)
                            acc += load8(x, x_type, pixel + ci) *
                                   w[((ptrdiff_t)co * taps * taps + tap) * cin_p + ci];
                    }
                }
                store(y, y_type, ((ptrdiff_t)oy * ow + ox) * cout + co, acc, scale, bias, co,
                      shift);
            }
}

void xd_npu_matmul(const void *a, xd_type a_type, const int8_t *w, const uint8_t *scale,
                   const int32_t *bias, void *y, xd_type y_type, int32_t m, int32_t k, int32_t n,
                   int32_t k_p, int32_t shift)
{
    int32_t i, j, p;

    for (i = 0; i < m; ++i)
        for (j = 0; j < n; ++j) {
            int64_t acc = 0;
            for (p = 0; p < k; ++p)
                acc += load8(a, a_type, (ptrdiff_t)i * k + p) * w[(ptrdiff_t)j * k_p + p];
            store(y, y_type, (ptrdiff_t)i * n + j, acc, scale, bias, j, shift);
        }
}

void xd_npu_load_weights(const int8_t *b, int8_t *w, int32_t k, int32_t n, int32_t k_p,
                         int32_t n_p)
{
    int32_t j, p;

    for (j = 0; j < n_p; ++j)
        for (p = 0; p < k_p; ++p)
            w[(ptrdiff_t)j * k_p + p] = j < n && p < k ? b[(ptrdiff_t)p * n + j] : 0;
}

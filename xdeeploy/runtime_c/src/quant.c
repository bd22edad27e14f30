/*
 * ONNX QuantizeLinear / DequantizeLinear, computed in float32 exactly as onnxruntime
 * does (x / scale rounded half to even, plus the zero point, saturated; and
 * (q - zero_point) * scale). Parameters are per tensor (channels = 1) or per channel of
 * the `channels` axis of x viewed as outer x channels x inner.
 */
#include <math.h>
#include <stddef.h>

#include "xd_kernels.h"

static int64_t load_zp(const void *zp, xd_type t, int32_t c)
{
    switch (t) {
    case XD_T_I8: return ((const int8_t *)zp)[c];
    case XD_T_U8: return ((const uint8_t *)zp)[c];
    case XD_T_I16: return ((const int16_t *)zp)[c];
    case XD_T_U16: return ((const uint16_t *)zp)[c];
    case XD_T_I32: return ((const int32_t *)zp)[c];
    default: return 0;
    }
}

/* Half to even without depending on the floating-point rounding mode. */
static float round_half_even(float v)
{
    float r = floorf(v);
    float d = v - r;
    if (d > 0.5f || (d == 0.5f && fmodf(r, 2.0f) != 0.0f))
        r += 1.0f;
    return r;
}

void xd_quantize_linear(const float *x, const float *scale, const void *zero_point,
                        xd_type type, void *y, int32_t outer, int32_t channels, int32_t inner)
{
    float lo, hi;
    int32_t o, c, i;

    switch (type) {
    case XD_T_I8: lo = -128.0f; hi = 127.0f; break;
    case XD_T_U8: lo = 0.0f; hi = 255.0f; break;
    case XD_T_I16: lo = -32768.0f; hi = 32767.0f; break;
    case XD_T_U16: lo = 0.0f; hi = 65535.0f; break;
    default: return;
    }
    for (o = 0; o < outer; ++o)
        for (c = 0; c < channels; ++c) {
            const float s = scale[c];
            const float zp = (float)load_zp(zero_point, type, c);
            ptrdiff_t base = ((ptrdiff_t)o * channels + c) * inner;
            for (i = 0; i < inner; ++i) {
                float q = round_half_even(x[base + i] / s) + zp;
                q = q < lo ? lo : q > hi ? hi : q;
                switch (type) {
                case XD_T_I8: ((int8_t *)y)[base + i] = (int8_t)q; break;
                case XD_T_U8: ((uint8_t *)y)[base + i] = (uint8_t)q; break;
                case XD_T_I16: ((int16_t *)y)[base + i] = (int16_t)q; break;
                default: ((uint16_t *)y)[base + i] = (uint16_t)q; break;
                }
            }
        }
}

void xd_dequantize_linear(const void *x, xd_type type, const float *scale,
                          const void *zero_point, float *y, int32_t outer, int32_t channels,
                          int32_t inner)
{
    int32_t o, c, i;

    for (o = 0; o < outer; ++o)
        for (c = 0; c < channels; ++c) {
            const float s = scale[c];
            const int64_t zp = load_zp(zero_point, type, c);
            ptrdiff_t base = ((ptrdiff_t)o * channels + c) * inner;
            for (i = 0; i < inner; ++i)
                y[base + i] = (float)(int32_t)(load_zp(x, type, (int32_t)(base + i)) - zp) * s;
        }
}

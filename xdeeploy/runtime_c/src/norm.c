/*
 * Softmax, LayerNorm, RMSNorm and reductions. All accumulate in float, sequentially from
 * 0.0f, and evaluate each formula in a fixed order (e.g. d / sqrt(var + eps) * scale):
 * the interpreter's reference mirrors these orders to give the same bits.
 */
#include <math.h>
#include <stddef.h>

#include "xd_kernels.h"
#include "xd_math.h"

/* `take_log` is the header's `log`, renamed so that it does not shadow <math.h>'s log(). */
void xd_softmax_f32(const float *x, float *y, int32_t outer, int32_t len, int32_t inner,
                    int32_t take_log)
{
    int32_t o, i, r;

    for (o = 0; o < outer; ++o) {
        for (i = 0; i < inner; ++i) {
            const ptrdiff_t base = (ptrdiff_t)o * len * inner + i;
            const float *xs = x + base;
            float *ys = y + base;
            float mx = -INFINITY;
            float sum = 0.0f;

            /* Subtracting the maximum keeps the exponential from overflowing. */
            for (r = 0; r < len; ++r) {
                const float v = xs[(ptrdiff_t)r * inner];
                if (v > mx || v != v)
                    mx = v;
            }
            if (take_log) {
                float lse;
                for (r = 0; r < len; ++r)
                    sum += xd_expf(xs[(ptrdiff_t)r * inner] - mx);
                lse = xd_logf(sum);
                for (r = 0; r < len; ++r)
                    ys[(ptrdiff_t)r * inner] = (xs[(ptrdiff_t)r * inner] - mx) - lse;
            } else {
                /* y holds the exponentials until the sum is known. */
                for (r = 0; r < len; ++r) {
                    const float e = xd_expf(xs[(ptrdiff_t)r * inner] - mx);
                    ys[(ptrdiff_t)r * inner] = e;
                    sum += e;
                }
                for (r = 0; r < len; ++r)
                    ys[(ptrdiff_t)r * inner] /= sum;
            }
        }
    }
}

void xd_layernorm_f32(const float *x, const float *scale, const float *bias, float *y,
                      int32_t outer, int32_t inner, float eps)
{
    int32_t o, i;

    for (o = 0; o < outer; ++o) {
        const float *xr = x + (ptrdiff_t)o * inner;
        float *yr = y + (ptrdiff_t)o * inner;
        float mean = 0.0f, var = 0.0f, denom;

        for (i = 0; i < inner; ++i)
            mean += xr[i];
        mean /= (float)inner;
        /* Two passes: the variance of the centred values, not E[x^2] - E[x]^2, which
         * cancels catastrophically in float. */
        for (i = 0; i < inner; ++i) {
            const float d = xr[i] - mean;
            var += d * d;
        }
        var /= (float)inner;
        denom = sqrtf(var + eps);
        if (bias != NULL)
            for (i = 0; i < inner; ++i)
                yr[i] = (xr[i] - mean) / denom * scale[i] + bias[i];
        else
            for (i = 0; i < inner; ++i)
                yr[i] = (xr[i] - mean) / denom * scale[i];
    }
}

void xd_rmsnorm_f32(const float *x, const float *scale, float *y, int32_t outer,
                    int32_t inner, float eps)
{
    int32_t o, i;

    for (o = 0; o < outer; ++o) {
        const float *xr = x + (ptrdiff_t)o * inner;
        float *yr = y + (ptrdiff_t)o * inner;
        float ms = 0.0f, denom;

        for (i = 0; i < inner; ++i)
            ms += xr[i] * xr[i];
        ms /= (float)inner;
        denom = sqrtf(ms + eps);
        if (scale != NULL)
            for (i = 0; i < inner; ++i)
                yr[i] = xr[i] / denom * scale[i];
        else
            for (i = 0; i < inner; ++i)
                yr[i] = xr[i] / denom;
    }
}

void xd_reduce_f32(xd_reduce_op op, const float *x, float *y, int32_t outer, int32_t len,
                   int32_t inner)
{
    int32_t o, r, i;

    for (o = 0; o < outer; ++o) {
        const float *xo = x + (ptrdiff_t)o * len * inner;
        float *yo = y + (ptrdiff_t)o * inner;
        /* Empty reductions give the identity: 0, NaN (0/0) for the mean, -inf / +inf. */
        const float init = op == XD_RMAX ? -INFINITY : op == XD_RMIN ? INFINITY : 0.0f;

        for (i = 0; i < inner; ++i)
            yo[i] = init;
        /* r outside i: the inner loop runs over contiguous memory in x and y. */
        for (r = 0; r < len; ++r) {
            const float *xr = xo + (ptrdiff_t)r * inner;
            switch (op) {
            case XD_RSUM:
            case XD_RMEAN:
                for (i = 0; i < inner; ++i)
                    yo[i] += xr[i];
                break;
            case XD_RMAX:
                for (i = 0; i < inner; ++i)
                    if (xr[i] > yo[i] || xr[i] != xr[i])
                        yo[i] = xr[i];
                break;
            case XD_RMIN:
                for (i = 0; i < inner; ++i)
                    if (xr[i] < yo[i] || xr[i] != xr[i])
                        yo[i] = xr[i];
                break;
            }
        }
        if (op == XD_RMEAN)
            for (i = 0; i < inner; ++i)
                yo[i] /= (float)len;
    }
}

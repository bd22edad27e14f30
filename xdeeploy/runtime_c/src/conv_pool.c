/*
 * Direct convolution and pooling over NCHW planes.
 *
 * Padding is never materialised: each loop computes up front the range of output (or
 * kernel) positions whose input position lies inside the plane, so the inner loops
 * carry no bounds checks.
 */
#include <math.h>
#include <stddef.h>

#include "xd_kernels.h"

/* The positions o in [0, count) with 0 <= off + o * step < size, as [*lo, *hi).
 * step > 0. */
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

void xd_conv2d_f32(const float *x, const float *w, const float *bias, float *y, int32_t n,
                   int32_t c, int32_t h, int32_t wd, int32_t oc, int32_t kh, int32_t kw,
                   int32_t oh, int32_t ow, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                   int32_t dh, int32_t dw, int32_t group)
{
    const int32_t icg = c / group;
    const int32_t ocg = oc / group;
    const ptrdiff_t plane = (ptrdiff_t)h * wd;
    const ptrdiff_t oplane = (ptrdiff_t)oh * ow;
    int32_t b, o, ic, ky, kx, oy, ox;

    for (b = 0; b < n; ++b) {
        for (o = 0; o < oc; ++o) {
            const int32_t g = o / ocg;
            const float *xg = x + ((ptrdiff_t)b * c + (ptrdiff_t)g * icg) * plane;
            const float *wo = w + (ptrdiff_t)o * icg * kh * kw;
            float *yp = y + ((ptrdiff_t)b * oc + o) * oplane;
            const float b0 = bias != NULL ? bias[o] : 0.0f;
            ptrdiff_t q;

            for (q = 0; q < oplane; ++q)
                yp[q] = b0;
            /* One kernel tap at a time over the whole output plane: the inner loop walks
             * an output row contiguously and an input row with stride sw. */
            for (ic = 0; ic < icg; ++ic) {
                const float *xp = xg + (ptrdiff_t)ic * plane;
                for (ky = 0; ky < kh; ++ky) {
                    const int32_t yoff = ky * dh - ph;
                    int32_t oy0, oy1;
                    inside_range(yoff, sh, h, oh, &oy0, &oy1);
                    for (kx = 0; kx < kw; ++kx) {
                        const float wv = wo[((ptrdiff_t)ic * kh + ky) * kw + kx];
                        const int32_t xoff = kx * dw - pw;
                        int32_t ox0, ox1;
                        inside_range(xoff, sw, wd, ow, &ox0, &ox1);
                        for (oy = oy0; oy < oy1; ++oy) {
                            const float *xrow = xp + (ptrdiff_t)(oy * sh + yoff) * wd + xoff;
                            float *yrow = yp + (ptrdiff_t)oy * ow;
                            for (ox = ox0; ox < ox1; ++ox)
                                yrow[ox] += wv * xrow[(ptrdiff_t)ox * sw];
                        }
                    }
                }
            }
        }
    }
}

void xd_maxpool2d_f32(const float *x, float *y, int32_t planes, int32_t h, int32_t wd,
                      int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                      int32_t ph, int32_t pw, int32_t dh, int32_t dw)
{
    int32_t p, oy, ox, ky, kx;

    for (p = 0; p < planes; ++p) {
        const float *xp = x + (ptrdiff_t)p * h * wd;
        float *yp = y + (ptrdiff_t)p * oh * ow;
        for (oy = 0; oy < oh; ++oy) {
            const int32_t iy0 = oy * sh - ph;
            int32_t ky0, ky1;
            inside_range(iy0, dh, h, kh, &ky0, &ky1);
            for (ox = 0; ox < ow; ++ox) {
                const int32_t ix0 = ox * sw - pw;
                int32_t kx0, kx1;
                /* Padding never wins: a window entirely in padding yields -inf, as the
                 * reference's -inf padding does. NaN propagates like numpy's max. */
                float m = -INFINITY;
                inside_range(ix0, dw, wd, kw, &kx0, &kx1);
                for (ky = ky0; ky < ky1; ++ky) {
                    const float *xrow = xp + (ptrdiff_t)(iy0 + ky * dh) * wd + ix0;
                    for (kx = kx0; kx < kx1; ++kx) {
                        const float v = xrow[(ptrdiff_t)kx * dw];
                        if (v > m || v != v)
                            m = v;
                    }
                }
                yp[(ptrdiff_t)oy * ow + ox] = m;
            }
        }
    }
}

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

void xd_avgpool2d_f32(const float *x, float *y, int32_t planes, int32_t h, int32_t wd,
                      int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                      int32_t ph, int32_t pw, int32_t ph_end, int32_t pw_end,
                      int32_t count_include_pad)
{
    int32_t p, oy, ox, iy, ix;

    for (p = 0; p < planes; ++p) {
        const float *xp = x + (ptrdiff_t)p * h * wd;
        float *yp = y + (ptrdiff_t)p * oh * ow;
        for (oy = 0; oy < oh; ++oy) {
            const int32_t y0 = oy * sh - ph;
            const int32_t iy0 = max_i32(y0, 0), iy1 = min_i32(y0 + kh, h);
            /* The divisor's rows: the window clipped to the input, or to the padded
             * input when padding counts (never past the end padding). */
            const int32_t ny = count_include_pad
                                   ? min_i32(y0 + kh, h + ph_end) - max_i32(y0, -ph)
                                   : iy1 - iy0;
            for (ox = 0; ox < ow; ++ox) {
                const int32_t x0 = ox * sw - pw;
                const int32_t ix0 = max_i32(x0, 0), ix1 = min_i32(x0 + kw, wd);
                const int32_t nx = count_include_pad
                                       ? min_i32(x0 + kw, wd + pw_end) - max_i32(x0, -pw)
                                       : ix1 - ix0;
                float sum = 0.0f;
                for (iy = iy0; iy < iy1; ++iy) {
                    const float *xrow = xp + (ptrdiff_t)iy * wd;
                    for (ix = ix0; ix < ix1; ++ix)
                        sum += xrow[ix];
                }
                yp[(ptrdiff_t)oy * ow + ox] = sum / (float)(ny * nx);
            }
        }
    }
}

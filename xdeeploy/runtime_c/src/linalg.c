/*
 * Matrix products. Accumulation is in float, in the fixed order of each loop below; the
 * interpreter's reference follows the same orders, so that both give the same bits.
 */
#include <stddef.h>

#include "xd_kernels.h"

/* sum(x[p] * y[p]) over contiguous vectors, as eight interleaved partial sums added
 * pairwise at the end: a fixed order (the same at any optimisation level, no fast-math
 * needed) that compilers turn into SIMD, unlike a single running sum. */
static float dot(const float *x, const float *y, int32_t k)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    float sum;
    int32_t p = 0, q;

    for (; p + 8 <= k; p += 8)
        for (q = 0; q < 8; ++q)
            acc[q] += x[p + q] * y[p + q];
    sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; p < k; ++p)
        sum += x[p] * y[p];
    return sum;
}

/* out (m x n, dense) = a @ b with a addressed as a[i * a_rs + p * a_cs] and b as
 * b[p * b_rs + j * b_cs]. */
static void matmul_strided(const float *a, int32_t a_rs, int32_t a_cs, const float *b,
                           int32_t b_rs, int32_t b_cs, float *out, int32_t m, int32_t k,
                           int32_t n)
{
    int32_t i, j, p;

    if (b_cs == 1) {
        /* i-k-j: the output row is the accumulator and the inner loop streams a row of b,
         * both contiguous. */
        for (i = 0; i < m; ++i) {
            float *row = out + (ptrdiff_t)i * n;
            const float *arow = a + (ptrdiff_t)i * a_rs;
            for (j = 0; j < n; ++j)
                row[j] = 0.0f;
            for (p = 0; p < k; ++p) {
                const float aip = arow[(ptrdiff_t)p * a_cs];
                const float *brow = b + (ptrdiff_t)p * b_rs;
                for (j = 0; j < n; ++j)
                    row[j] += aip * brow[j];
            }
        }
        return;
    }
    /* b transposed (its columns are contiguous): one dot product per output. */
    if (a_cs == 1 && b_rs == 1) {
        for (i = 0; i < m; ++i)
            for (j = 0; j < n; ++j)
                out[(ptrdiff_t)i * n + j] =
                    dot(a + (ptrdiff_t)i * a_rs, b + (ptrdiff_t)j * b_cs, k);
        return;
    }
    for (i = 0; i < m; ++i) {
        const float *arow = a + (ptrdiff_t)i * a_rs;
        for (j = 0; j < n; ++j) {
            const float *bcol = b + (ptrdiff_t)j * b_cs;
            float acc = 0.0f;
            for (p = 0; p < k; ++p)
                acc += arow[(ptrdiff_t)p * a_cs] * bcol[(ptrdiff_t)p * b_rs];
            out[(ptrdiff_t)i * n + j] = acc;
        }
    }
}

void xd_matmul_f32(const float *a, const float *b, float *out, int32_t m, int32_t k,
                   int32_t n, int32_t batch_rank, const int32_t *batch_dims,
                   const int32_t *a_batch_strides, const int32_t *b_batch_strides)
{
    int32_t idx[XD_MAX_RANK];
    ptrdiff_t a_off = 0, b_off = 0;
    ptrdiff_t out_step = (ptrdiff_t)m * n;
    int32_t d;

    for (d = 0; d < batch_rank; ++d) {
        if (batch_dims[d] == 0)
            return;
        idx[d] = 0;
    }
    for (;;) {
        matmul_strided(a + a_off, k, 1, b + b_off, n, 1, out, m, k, n);
        out += out_step;
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

void xd_gemv_f32(const float *a, const float *b, float *out, int32_t k, int32_t n,
                 int32_t b_row_stride)
{
    matmul_strided(a, k, 1, b, b_row_stride, 1, out, 1, k, n);
}

void xd_gemm_f32(const float *a, const float *b, const float *c, float *out, int32_t m,
                 int32_t k, int32_t n, int32_t trans_a, int32_t trans_b, float alpha,
                 float beta, int32_t c_row_stride, int32_t c_col_stride)
{
    int32_t i, j;

    matmul_strided(a, trans_a ? 1 : k, trans_a ? m : 1, b, trans_b ? 1 : n, trans_b ? k : 1,
                   out, m, k, n);
    /* Same rounding steps as the reference: (alpha * AB) + (beta * C); skipping the
     * factors of 1 changes nothing numerically but saves the multiplies. */
    for (i = 0; i < m; ++i) {
        float *row = out + (ptrdiff_t)i * n;
        if (alpha != 1.0f)
            for (j = 0; j < n; ++j)
                row[j] *= alpha;
        if (c != NULL) {
            const float *crow = c + (ptrdiff_t)i * c_row_stride;
            if (beta == 1.0f)
                for (j = 0; j < n; ++j)
                    row[j] += crow[(ptrdiff_t)j * c_col_stride];
            else
                for (j = 0; j < n; ++j)
                    row[j] += beta * crow[(ptrdiff_t)j * c_col_stride];
        }
    }
}

/*
 * Type-agnostic data movement: elements are elem_size bytes and are moved with memcpy,
 * which keeps the kernels free of strict-aliasing problems whatever the element type.
 * Fixed-size memcpy calls (2, 4, 8 bytes) compile to plain loads and stores.
 */
#include <stddef.h>
#include <string.h>

#include "xd_kernels.h"

void xd_copy(const void *x, void *y, int32_t elem_size, int32_t n)
{
    /* x == y is how a caller updates a KV cache in place (present passed as past):
     * then there is nothing to copy, and memcpy onto itself would be undefined. */
    if (n > 0 && x != y)
        memcpy(y, x, (size_t)elem_size * (size_t)n);
}

/* count elements from src, src_step bytes apart, to consecutive elements of dst. */
static void gather_row(unsigned char *dst, const unsigned char *src, size_t es, int32_t count,
                       ptrdiff_t src_step)
{
    int32_t i;

    if (src_step == (ptrdiff_t)es) {
        memcpy(dst, src, es * (size_t)count);
        return;
    }
    /* A switch outside the loop so that each case copies with a constant size. */
    switch (es) {
    case 1:
        for (i = 0; i < count; ++i)
            dst[i] = src[i * src_step];
        break;
    case 2:
        for (i = 0; i < count; ++i)
            memcpy(dst + 2 * i, src + i * src_step, 2);
        break;
    case 4:
        for (i = 0; i < count; ++i)
            memcpy(dst + 4 * i, src + i * src_step, 4);
        break;
    case 8:
        for (i = 0; i < count; ++i)
            memcpy(dst + 8 * i, src + i * src_step, 8);
        break;
    default:
        for (i = 0; i < count; ++i)
            memcpy(dst + (size_t)i * es, src + i * src_step, es);
        break;
    }
}

void xd_strided_copy(const void *x, void *y, int32_t elem_size, int32_t rank,
                     const int32_t *out_dims, const int32_t *x_strides)
{
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    const size_t es = (size_t)elem_size;
    int32_t dims[XD_MAX_RANK], strides[XD_MAX_RANK], idx[XD_MAX_RANK];
    int32_t r = 0, d;
    ptrdiff_t off = 0, row_bytes;

    /* Drop size-1 dimensions and merge neighbours that x walks as one (the output is
     * dense, so it always does): a slice of whole rows then becomes a single memcpy. */
    for (d = 0; d < rank; ++d) {
        if (out_dims[d] == 0)
            return;
        if (out_dims[d] == 1)
            continue;
        if (r > 0 && strides[r - 1] == x_strides[d] * out_dims[d]) {
            dims[r - 1] *= out_dims[d];
            strides[r - 1] = x_strides[d];
        } else {
            dims[r] = out_dims[d];
            strides[r] = x_strides[d];
            ++r;
        }
    }
    if (r == 0) {
        memcpy(dst, src, es);
        return;
    }
    for (d = 0; d < r; ++d)
        idx[d] = 0;
    row_bytes = (ptrdiff_t)dims[r - 1] * (ptrdiff_t)es;
    for (;;) {
        gather_row(dst, src + off * (ptrdiff_t)es, es, dims[r - 1],
                   (ptrdiff_t)strides[r - 1] * (ptrdiff_t)es);
        dst += row_bytes;
        for (d = r - 2; d >= 0; --d) {
            off += strides[d];
            if (++idx[d] < dims[d])
                break;
            off -= (ptrdiff_t)strides[d] * dims[d];
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

void xd_copy_rows(const void *x, void *y, int32_t elem_size, int32_t rows, int32_t row_len,
                  int32_t x_row_stride, int32_t y_row_stride)
{
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    const size_t es = (size_t)elem_size;
    int32_t r;

    if (row_len <= 0)
        return;
    for (r = 0; r < rows; ++r)
        memcpy(dst + (size_t)r * (size_t)y_row_stride * es,
               src + (size_t)r * (size_t)x_row_stride * es, (size_t)row_len * es);
}

void xd_gather(const void *data, const void *idx, void *out, int32_t elem_size,
               int32_t idx_size, int32_t outer, int32_t axis_len, int32_t inner,
               int32_t n_idx)
{
    const unsigned char *src = (const unsigned char *)data;
    unsigned char *dst = (unsigned char *)out;
    const size_t slice = (size_t)inner * (size_t)elem_size;
    int32_t o, j;

    if (slice == 0)
        return;
    for (o = 0; o < outer; ++o) {
        const unsigned char *block = src + (size_t)o * (size_t)axis_len * slice;
        for (j = 0; j < n_idx; ++j) {
            /* Indices are in range (the ONNX contract); only the sign is normalised. */
            int64_t k = idx_size == 8 ? ((const int64_t *)idx)[j] : ((const int32_t *)idx)[j];
            if (k < 0)
                k += axis_len;
            memcpy(dst, block + (size_t)k * slice, slice);
            dst += slice;
        }
    }
}

void xd_pad(const void *x, void *y, int32_t elem_size, int32_t rank, const int32_t *in_dims,
            const int32_t *pads_begin, const int32_t *out_dims, const void *value)
{
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    const size_t es = (size_t)elem_size;
    int32_t lo[XD_MAX_RANK], hi[XD_MAX_RANK], idx[XD_MAX_RANK];
    ptrdiff_t in_stride[XD_MAX_RANK], out_stride[XD_MAX_RANK];
    ptrdiff_t in_off = 0, out_off = 0, in_total = 1, out_total = 1;
    size_t filled, total_bytes;
    int32_t d, last = rank - 1;

    for (d = rank - 1; d >= 0; --d) {
        in_stride[d] = in_total;
        out_stride[d] = out_total;
        in_total *= in_dims[d];
        out_total *= out_dims[d];
    }
    if (out_total == 0)
        return;
    /* Fill with the value by doubling the filled prefix: O(log n) memcpy calls. */
    total_bytes = (size_t)out_total * es;
    memcpy(dst, value, es);
    for (filled = es; filled < total_bytes; filled *= 2) {
        size_t chunk = filled < total_bytes - filled ? filled : total_bytes - filled;
        memcpy(dst + filled, dst, chunk);
    }
    if (rank == 0) {
        memcpy(dst, src, es);
        return;
    }
    /* The part of x that lands inside y: negative pads crop, as ONNX Pad allows. */
    for (d = 0; d < rank; ++d) {
        lo[d] = pads_begin[d] < 0 ? -pads_begin[d] : 0;
        hi[d] = out_dims[d] - pads_begin[d] < in_dims[d] ? out_dims[d] - pads_begin[d]
                                                         : in_dims[d];
        if (lo[d] >= hi[d])
            return;
        idx[d] = lo[d];
        in_off += lo[d] * in_stride[d];
        out_off += (lo[d] + pads_begin[d]) * out_stride[d];
    }
    for (;;) {
        memcpy(dst + out_off * (ptrdiff_t)es, src + in_off * (ptrdiff_t)es,
               (size_t)(hi[last] - lo[last]) * es);
        for (d = last - 1; d >= 0; --d) {
            in_off += in_stride[d];
            out_off += out_stride[d];
            if (++idx[d] < hi[d])
                break;
            in_off -= (hi[d] - lo[d]) * in_stride[d];
            out_off -= (hi[d] - lo[d]) * out_stride[d];
            idx[d] = lo[d];
        }
        if (d < 0)
            return;
    }
}

void xd_scatter_nd(void *out, const int64_t *indices, const void *updates, int32_t elem_size,
                   int32_t n, int32_t q, const int32_t *data_dims, int32_t slice_elems)
{
    unsigned char *dst = (unsigned char *)out;
    const unsigned char *src = (const unsigned char *)updates;
    const size_t slice = (size_t)slice_elems * (size_t)elem_size;
    int32_t t, j;

    if (slice == 0)
        return;
    /* Tuples are applied in order, so with duplicate indices the last update wins. */
    for (t = 0; t < n; ++t) {
        const int64_t *tuple = indices + (ptrdiff_t)t * q;
        int64_t pos = 0;
        for (j = 0; j < q; ++j) {
            int64_t k = tuple[j];
            if (k < 0)
                k += data_dims[j];
            pos = pos * data_dims[j] + k;
        }
        memcpy(dst + (size_t)pos * slice, src + (size_t)t * slice, slice);
    }
}

void xd_im2col(const void *x, void *col, int32_t elem_size, int32_t c, int32_t h, int32_t wd,
               int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t dh, int32_t dw,
               int32_t pad_top, int32_t pad_left, int32_t oh, int32_t ow)
{
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)col;
    const size_t es = (size_t)elem_size;
    int32_t oy, ox, ci, ky, kx;

    for (oy = 0; oy < oh; ++oy)
        for (ox = 0; ox < ow; ++ox)
            for (ci = 0; ci < c; ++ci)
                for (ky = 0; ky < kh; ++ky) {
                    const int32_t iy = oy * sh + ky * dh - pad_top;
                    for (kx = 0; kx < kw; ++kx) {
                        const int32_t ix = ox * sw + kx * dw - pad_left;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                            memset(dst, 0, es);
                        else
                            memcpy(dst, src + (((size_t)ci * (size_t)h + (size_t)iy) *
                                                   (size_t)wd + (size_t)ix) * es,
                                   es);
                        dst += es;
                    }
                }
}

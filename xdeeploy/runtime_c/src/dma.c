/*
 * The host ("generic" platform) DMA: the copy happens at start, the wait only retires
 * the token. See xd_dma.h.
 */
#include <stddef.h>
#include <string.h>

#include "xd_dma.h"

/* Bit t set: token t is in flight. */
static uint32_t in_flight;

/* Copies dims [0, rank) of the transfer, each innermost run of `run` bytes with memcpy. */
static void copy(unsigned char *dst, const unsigned char *src, size_t run, int32_t rank,
                 const int32_t *sizes, const ptrdiff_t *dst_step, const ptrdiff_t *src_step)
{
    int32_t idx[XD_MAX_RANK] = {0};
    int32_t d;

    for (;;) {
        memcpy(dst, src, run);
        /* Odometer over the outer dimensions, moving the pointers along. */
        for (d = rank - 1; d >= 0; --d) {
            dst += dst_step[d];
            src += src_step[d];
            if (++idx[d] < sizes[d])
                break;
            dst -= dst_step[d] * sizes[d];
            src -= src_step[d] * sizes[d];
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

xd_dma_token xd_dma_start(void *dst, const void *src, int32_t elem_size, int32_t rank,
                          const int32_t *sizes, const int32_t *dst_strides,
                          const int32_t *src_strides)
{
    ptrdiff_t dst_step[XD_MAX_RANK], src_step[XD_MAX_RANK];
    int32_t outer[XD_MAX_RANK];
    int32_t run = 1, n = 0, d;
    xd_dma_token token = 0;

    while (token < XD_DMA_MAX_IN_FLIGHT && ((in_flight >> token) & 1u))
        ++token;
    if (token == XD_DMA_MAX_IN_FLIGHT)
        XD_DMA_TRAP();
    in_flight |= 1u << token;
    for (d = 0; d < rank; ++d)
        if (sizes[d] == 0)
            return token;
    /* The innermost dimensions that are contiguous on both sides form one run (a
     * dimension of size 1 never breaks it: its stride is never taken). */
    d = rank;
    while (d > 0 && (sizes[d - 1] == 1 ||
                     (dst_strides[d - 1] == run && src_strides[d - 1] == run))) {
        run *= sizes[d - 1];
        --d;
    }
    for (int32_t k = 0; k < d; ++k) {
        if (sizes[k] == 1)
            continue;
        outer[n] = sizes[k];
        dst_step[n] = (ptrdiff_t)dst_strides[k] * elem_size;
        src_step[n] = (ptrdiff_t)src_strides[k] * elem_size;
        ++n;
    }
    copy((unsigned char *)dst, (const unsigned char *)src, (size_t)run * (size_t)elem_size, n,
         outer, dst_step, src_step);
    return token;
}

void xd_dma_wait(xd_dma_token token)
{
    if (token < 0 || token >= XD_DMA_MAX_IN_FLIGHT || !((in_flight >> token) & 1u))
        XD_DMA_TRAP();
    in_flight &= ~(1u << token);
}

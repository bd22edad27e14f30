/*
 * The DMA of the platforms without a DMA engine (the host, QEMU virt): the copy happens
 * at start, the wait only retires the token. See xd_dma.h. On RV32 with several harts,
 * a large copy is shared by the cluster's cores, as a multi-channel engine would move it
 * while they wait: the copy is not charged to one hart as if it computed.
 */
#include <stddef.h>
#include <string.h>

#include "xd_cluster.h"
#include "xd_dma.h"

/* Bit t set: token t is in flight. */
static uint32_t in_flight;

#if defined(__riscv)
/* picolibc's memcpy moves one byte at a time (about 6 instructions a byte): aligned runs
 * go a word at a time. may_alias: the words are floats or int8s in the caller's eyes. */
typedef uint32_t __attribute__((may_alias)) xd_word;

static void move(unsigned char *dst, const unsigned char *src, size_t n)
{
    if ((((uintptr_t)dst | (uintptr_t)src | n) & 3u) == 0) {
        xd_word *d = (xd_word *)(void *)dst;
        const xd_word *s = (const xd_word *)(const void *)src;
        for (n /= 4; n > 0; --n)
            *d++ = *s++;
        return;
    }
    memcpy(dst, src, n);
}
#else
#define move memcpy
#endif

/* Copies dims [0, rank) of the transfer, each innermost run of `run` bytes at once. */
static void copy(unsigned char *dst, const unsigned char *src, size_t run, int32_t rank,
                 const int32_t *sizes, const ptrdiff_t *dst_step, const ptrdiff_t *src_step)
{
    int32_t idx[XD_MAX_RANK] = {0};
    int32_t d;

    for (;;) {
        move(dst, src, run);
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

#if defined(__riscv) && defined(XD_HARTS) && XD_HARTS > 1
/* Bytes below which one hart copies alone (a fork costs about a hundred instructions). */
#define XD_DMA_SHARED_BYTES 512

struct shared_copy {
    unsigned char *dst;
    const unsigned char *src;
    size_t run;
    int32_t rank;
    const int32_t *sizes;
    const ptrdiff_t *dst_step, *src_step;
    int32_t cores;
};

/* Core c copies its share of the outermost dimension (or of the single run). */
static void copy_part(int32_t core, void *arg)
{
    const struct shared_copy *t = (const struct shared_copy *)arg;
    if (t->rank == 0) {
        /* Whole words per core keep the word copy (the run's ends are aligned). */
        const size_t share = ((t->run + (size_t)t->cores - 1) / (size_t)t->cores + 3u) & ~(size_t)3u;
        const size_t lo = share * (size_t)core;
        if (lo < t->run)
            move(t->dst + lo, t->src + lo, lo + share <= t->run ? share : t->run - lo);
        return;
    }
    {
        int32_t sizes[XD_MAX_RANK], d;
        const int32_t share = (t->sizes[0] + t->cores - 1) / t->cores;
        const int32_t lo = share * core;
        if (lo >= t->sizes[0])
            return;
        for (d = 0; d < t->rank; ++d)
            sizes[d] = t->sizes[d];
        sizes[0] = lo + share <= t->sizes[0] ? share : t->sizes[0] - lo;
        copy(t->dst + lo * t->dst_step[0], t->src + lo * t->src_step[0], t->run, t->rank,
             sizes, t->dst_step, t->src_step);
    }
}
#endif

static void copy_shared(unsigned char *dst, const unsigned char *src, size_t run, int32_t rank,
                        const int32_t *sizes, const ptrdiff_t *dst_step,
                        const ptrdiff_t *src_step)
{
#if defined(__riscv) && defined(XD_HARTS) && XD_HARTS > 1
    size_t bytes = run;
    int32_t d;
    for (d = 0; d < rank; ++d)
        bytes *= (size_t)sizes[d];
    if (bytes >= XD_DMA_SHARED_BYTES && xd_cluster_cores() == 1) {
        struct shared_copy t = {dst, src, run, rank, sizes, dst_step, src_step, XD_HARTS};
        xd_cluster_fork(XD_HARTS, copy_part, &t);
        return;
    }
#endif
    copy(dst, src, run, rank, sizes, dst_step, src_step);
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
    copy_shared((unsigned char *)dst, (const unsigned char *)src,
                (size_t)run * (size_t)elem_size, n, outer, dst_step, src_step);
    return token;
}

void xd_dma_wait(xd_dma_token token)
{
    if (token < 0 || token >= XD_DMA_MAX_IN_FLIGHT || !((in_flight >> token) & 1u))
        XD_DMA_TRAP();
    in_flight &= ~(1u << token);
}

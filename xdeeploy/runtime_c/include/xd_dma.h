/*
 * xdeeploy DMA runtime: asynchronous strided copies between memory levels (the `dma`
 * dialect's `dma.start` / `dma.wait`).
 *
 * A transfer copies `rank`-dimensional `sizes` elements of `elem_size` bytes; element
 * (i_0, ..., i_{rank-1}) is at src + sum(i_k * src_strides[k]) and goes to
 * dst + sum(i_k * dst_strides[k]) (strides in elements, rank <= XD_MAX_RANK). Neither
 * buffer may be touched between the start and the wait on its token.
 *
 * A token is a small integer naming one transfer in flight, as a DMA engine's transfer
 * id does: a platform with an engine programs it at start and polls it at wait. The
 * host version (dma.c) copies at start (innermost contiguous runs with memcpy) and only
 * checks the token at wait. The set of transfers in flight is global state: like the
 * static arenas of the generated code, it makes the network non-reentrant.
 */
#ifndef XD_DMA_H
#define XD_DMA_H

#include <stdint.h>

#include "xd_kernels.h"

typedef int32_t xd_dma_token;

/* Transfers in flight at once; starting one more is an error. */
#define XD_DMA_MAX_IN_FLIGHT 32

/* What a misuse (a wait on a token not in flight, too many transfers) runs: a trap
 * instruction by default (the runtime needs no libc beyond string.h and math.h); a
 * platform may define its own. */
#ifndef XD_DMA_TRAP
#define XD_DMA_TRAP() __builtin_trap()
#endif

xd_dma_token xd_dma_start(void *dst, const void *src, int32_t elem_size, int32_t rank,
                          const int32_t *sizes, const int32_t *dst_strides,
                          const int32_t *src_strides);
/* Returns once the transfer is complete; each token is waited for exactly once. */
void xd_dma_wait(xd_dma_token token);

#endif

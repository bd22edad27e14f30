/*
 * xdeeploy cluster runtime: fork-join parallelism over up to XD_MAX_CORES cores (the
 * `cluster` dialect's `cluster.fork` / `cluster.barrier`).
 *
 * The host version (cluster.c without __riscv) runs the cores on a pool of POSIX
 * threads created on the first fork that needs them and kept for the process's life.
 * The bare-metal RV32 version runs core k on hart k: the harts 1..7 wait in `wfi` and
 * are woken through the CLINT's software interrupts; the ELF must start at
 * runtime/rv32/start.S (xd_rv32_start), which parks them before crt0 runs. A fork over
 * more cores than the machine has harts (QEMU's -smp) stops the program with a message.
 *
 * Like the static arenas of the generated code, the fork state is global: the network
 * is not reentrant, and forks do not nest.
 */
#ifndef XD_CLUSTER_H
#define XD_CLUSTER_H

#include <stdint.h>

#define XD_MAX_CORES 8

typedef void (*xd_core_fn)(int32_t core, void *ctx);

/* Runs fn(core, ctx) for core = 0..cores-1 (1 <= cores <= XD_MAX_CORES), core 0 on the
 * calling thread or hart, and returns when all have returned: what they wrote is visible
 * afterwards. With cores == 1 it is a plain call. */
void xd_cluster_fork(int32_t cores, xd_core_fn fn, void *ctx);

/* Inside a fork: no core proceeds until all cores of the current fork have arrived
 * (what each wrote before is visible to all after). Outside a fork it does nothing. */
void xd_cluster_barrier(void);

/* The cores of the fork running now (1 outside a fork). */
int32_t xd_cluster_cores(void);

/* Does nothing, in its own function that is never inlined: an instruction-counting
 * profiler (scripts/xd_count_plugin.c) snapshots every hart's count whenever it runs. */
void xd_cluster_mark(void);

#endif

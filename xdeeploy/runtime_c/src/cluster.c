/* Fork-join for the generated C: POSIX threads on the host, harts on bare-metal RV32. */
#if !defined(__riscv)
#define _POSIX_C_SOURCE 200809L
#endif
#include "xd_cluster.h"

#include <stddef.h>

__attribute__((noinline)) void xd_cluster_mark(void)
{
    /* The asm keeps the call from being optimised away (a profiler watches its entry). */
    __asm__ volatile("" ::: "memory");
}

#if defined(__riscv)

/* ---- bare metal: QEMU virt, harts parked by rv32/start.S ---------------------------- */
#include <stdio.h>
#include <stdlib.h>

#define XD_CLINT_MSIP ((volatile uint32_t *)0x2000000u)
/* The high words of the harts' timer compare registers (mtimecmp, 64-bit). */
#define XD_CLINT_MTIMECMP_HI ((volatile uint32_t *)0x2004004u)
#define XD_MIP_MSIP 8u

static xd_core_fn job_fn;
static void *job_ctx;
static int32_t job_cores = 1;
static int32_t job_done;
static uint32_t job_generation;          /* forks so far */
static uint32_t seen[XD_MAX_CORES];      /* the last fork each hart ran */
static int32_t barrier_count;
static int32_t barrier_sense;

static uint32_t hart_id(void)
{
    uint32_t id;
    __asm__ volatile("csrr %0, mhartid" : "=r"(id));
    return id;
}

/* Sleeps until the next software interrupt (none is taken: mstatus.MIE stays off). */
static void sleep_once(uint32_t hart)
{
    __asm__ volatile("wfi");
    XD_CLINT_MSIP[hart] = 0;
}

/* Called by a worker hart woken from its wfi (start.S), on its own stack. A wake-up
 * left over from a barrier finds no new fork and goes back to sleep. */
void xd_rv32_worker(uint32_t hart);
void xd_rv32_worker(uint32_t hart)
{
    const uint32_t generation = __atomic_load_n(&job_generation, __ATOMIC_ACQUIRE);
    if (generation == seen[hart])
        return;
    seen[hart] = generation;
    if ((int32_t)hart >= job_cores)
        return;
    job_fn((int32_t)hart, job_ctx);
    /* The last worker to finish wakes hart 0, which sleeps rather than spins: a
     * waiting hart executes nothing, so instruction counts are work. */
    if (__atomic_add_fetch(&job_done, 1, __ATOMIC_ACQ_REL) == job_cores - 1)
        XD_CLINT_MSIP[0] = 1;
}

/* The harts QEMU started (-smp), counted at the first fork: a fork waiting for a hart
 * that does not exist would sleep forever. QEMU's CLINT ignores writes to the timer
 * compare register of a hart it does not have and reads it as 0; all ones in the high
 * word is also what leaves a hart's timer interrupt off. */
static int32_t harts_present(void)
{
    static int32_t harts;

    if (harts == 0) {
        harts = 1;
        while (harts < XD_MAX_CORES) {
            XD_CLINT_MTIMECMP_HI[2 * harts] = 0xffffffffu;
            if (XD_CLINT_MTIMECMP_HI[2 * harts] != 0xffffffffu)
                break;
            ++harts;
        }
    }
    return harts;
}

/* A trap on a worker hart (start.S points mtvec here): say so and fail the run. */
void xd_rv32_worker_trap(uint32_t hart, uint32_t mcause, uint32_t mepc);
void xd_rv32_worker_trap(uint32_t hart, uint32_t mcause, uint32_t mepc)
{
    printf("trap on hart %lu: mcause 0x%lx, mepc 0x%lx\n", (unsigned long)hart,
           (unsigned long)mcause, (unsigned long)mepc);
    exit(4);
}

void xd_cluster_fork(int32_t cores, xd_core_fn fn, void *ctx)
{
    int32_t h;

    if (cores <= 1) {
        fn(0, ctx);
        return;
    }
    if (cores > harts_present()) {
        printf("xd_cluster_fork: %ld cores but the machine has %ld harts (qemu -smp)\n",
               (long)cores, (long)harts_present());
        exit(3);
    }
    job_fn = fn;
    job_ctx = ctx;
    job_done = 0;
    job_cores = cores;
    __atomic_add_fetch(&job_generation, 1, __ATOMIC_RELEASE);
    __asm__ volatile("csrs mie, %0" ::"r"(XD_MIP_MSIP));
    for (h = 1; h < cores; ++h)
        XD_CLINT_MSIP[h] = 1;
    fn(0, ctx);
    while (__atomic_load_n(&job_done, __ATOMIC_ACQUIRE) != cores - 1)
        sleep_once(0);
    job_cores = 1;
}

/* Sense-reversing; waiting harts sleep and the last to arrive wakes them. */
void xd_cluster_barrier(void)
{
    const int32_t sense = __atomic_load_n(&barrier_sense, __ATOMIC_ACQUIRE);
    const int32_t cores = job_cores;
    const uint32_t me = hart_id();
    int32_t h;

    if (cores <= 1)
        return;
    if (__atomic_add_fetch(&barrier_count, 1, __ATOMIC_ACQ_REL) == cores) {
        __atomic_store_n(&barrier_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&barrier_sense, !sense, __ATOMIC_RELEASE);
        for (h = 0; h < cores; ++h)
            if ((uint32_t)h != me)
                XD_CLINT_MSIP[h] = 1;
        return;
    }
    while (__atomic_load_n(&barrier_sense, __ATOMIC_ACQUIRE) == sense)
        sleep_once(me);
}

int32_t xd_cluster_cores(void)
{
    return job_cores;
}

#elif !__STDC_HOSTED__

/* ---- freestanding, not RV32: no threads, so one core only --------------------------- */
void xd_cluster_fork(int32_t cores, xd_core_fn fn, void *ctx)
{
    if (cores > 1)
        __builtin_trap();
    fn(0, ctx);
}

void xd_cluster_barrier(void)
{
}

int32_t xd_cluster_cores(void)
{
    return 1;
}

#else

/* ---- host: a lazily started pool of threads ----------------------------------------- */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t barrier_cv = PTHREAD_COND_INITIALIZER;
static int32_t workers;           /* threads started: cores 1..workers */
static unsigned long generation;  /* forks so far: a worker runs each new one once */
static xd_core_fn job_fn;
static void *job_ctx;
static int32_t job_cores = 1;
static int32_t pending;           /* workers of the current fork still running */
static int32_t barrier_waiting;
static unsigned long barrier_generation;

static void *worker(void *arg)
{
    const int32_t core = (int32_t)(intptr_t)arg;
    unsigned long seen = 0;

    pthread_mutex_lock(&lock);
    for (;;) {
        while (generation == seen)
            pthread_cond_wait(&start_cv, &lock);
        seen = generation;
        if (core < job_cores) {
            xd_core_fn fn = job_fn;
            void *ctx = job_ctx;
            pthread_mutex_unlock(&lock);
            fn(core, ctx);
            pthread_mutex_lock(&lock);
            if (--pending == 0)
                pthread_cond_signal(&done_cv);
        }
    }
    return NULL;
}

void xd_cluster_fork(int32_t cores, xd_core_fn fn, void *ctx)
{
    if (cores <= 1) {
        fn(0, ctx);
        return;
    }
    pthread_mutex_lock(&lock);
    while (workers < cores - 1) {
        pthread_t thread;
        /* Running the missing cores one after the other on the caller would deadlock
         * at their first barrier. */
        if (pthread_create(&thread, NULL, worker, (void *)(intptr_t)(workers + 1)) != 0) {
            fprintf(stderr, "xd_cluster_fork: cannot start a thread for core %ld\n",
                    (long)(workers + 1));
            abort();
        }
        pthread_detach(thread);
        ++workers;
    }
    job_fn = fn;
    job_ctx = ctx;
    job_cores = cores;
    pending = cores - 1;
    ++generation;
    pthread_cond_broadcast(&start_cv);
    pthread_mutex_unlock(&lock);
    fn(0, ctx);
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&done_cv, &lock);
    job_cores = 1;
    pthread_mutex_unlock(&lock);
}

void xd_cluster_barrier(void)
{
    pthread_mutex_lock(&lock);
    {
        const unsigned long gen = barrier_generation;
        if (++barrier_waiting >= job_cores) {
            barrier_waiting = 0;
            ++barrier_generation;
            pthread_cond_broadcast(&barrier_cv);
        } else {
            while (gen == barrier_generation)
                pthread_cond_wait(&barrier_cv, &lock);
        }
    }
    pthread_mutex_unlock(&lock);
}

int32_t xd_cluster_cores(void)
{
    int32_t cores;
    pthread_mutex_lock(&lock);
    cores = job_cores;
    pthread_mutex_unlock(&lock);
    return cores;
}

#endif

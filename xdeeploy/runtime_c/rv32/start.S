/* Entry of the bare-metal RV32 build on QEMU virt (`-bios none`: every hart starts
 * here). Hart 0 runs picolibc's crt0 (_start: stack, .data/.bss, main, exit through
 * semihosting). Harts 1..7 touch no memory until crt0 is long done: they sleep in wfi
 * until hart 0 sets their CLINT msip bit (xd_cluster_fork), then run the fork's
 * function on their own stack (xd_rv32_worker) and go back to sleep. */

#define CLINT_MSIP 0x2000000
#define MIE_MSIE 8
#define MSTATUS_FS_INITIAL 0x2000
#define STACK_BYTES 16384

    .section .text.init.enter, "ax"
    .globl xd_rv32_start
xd_rv32_start:
    csrr t0, mhartid
    bnez t0, worker
    j _start

worker:
    la t1, worker_trap
    csrw mtvec, t1
    li t1, MSTATUS_FS_INITIAL       /* the kernels use the FPU */
    csrs mstatus, t1
    li t1, MIE_MSIE                 /* wfi wakes on it; mstatus.MIE stays off: no trap */
    csrw mie, t1
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
sleep:
    wfi
    csrr t1, mip
    andi t1, t1, MIE_MSIE
    beqz t1, sleep
    csrr t0, mhartid
    li t1, CLINT_MSIP
    slli t2, t0, 2
    add t1, t1, t2
    sw zero, 0(t1)                  /* acknowledge the wake-up */
    la sp, xd_rv32_stacks           /* hart h: the top of the (h-1)-th stack */
    li t2, STACK_BYTES
    mul t2, t2, t0
    add sp, sp, t2
    mv a0, t0
    call xd_rv32_worker
    j sleep

    .balign 4                       /* mtvec ignores a base with bit 1 set (a mode) */
worker_trap:
    la sp, xd_rv32_stacks
    li t2, STACK_BYTES
    csrr a0, mhartid
    mul t2, t2, a0
    add sp, sp, t2
    csrr a1, mcause
    csrr a2, mepc
    call xd_rv32_worker_trap
1:  j 1b

    /* Not in .bss: picolibc's crt0 clears .bss a byte at a time, 450k instructions for
     * these stacks in every run. picolibc.ld's .preserve is neither loaded nor cleared. */
    .section .preserve.xd_stacks, "aw", @nobits
    .balign 16
    .globl xd_rv32_stacks
xd_rv32_stacks:
    .space STACK_BYTES * 7

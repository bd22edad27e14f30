// riscv_mem: byte and halfword loads and stores, as xDSL's riscv.lb … riscv.sh but printed
// in the GNU assembler's syntax (`lb rd, imm(rs1)`); the IR round-trips.
// RUN: deeploy-opt %s | deeploy-opt | filecheck %s
// RUN: deeploy-opt %s -t riscv-asm | filecheck %s --check-prefix=ASM

%p = rv32.get_register : !riscv.reg<a0>
%b = riscv_mem.lb %p, 3 : (!riscv.reg<a0>) -> !riscv.reg<t0>
%u = riscv_mem.lbu %p, -1 : (!riscv.reg<a0>) -> !riscv.reg<t1>
%h = riscv_mem.lh %p, 2 : (!riscv.reg<a0>) -> !riscv.reg<t2>
%v = riscv_mem.lhu %p, 0 : (!riscv.reg<a0>) -> !riscv.reg<t3>
riscv_mem.sb %p, %b, 7 : (!riscv.reg<a0>, !riscv.reg<t0>) -> ()
riscv_mem.sh %p, %h, 4 {comment = "store a half"} : (!riscv.reg<a0>, !riscv.reg<t2>) -> ()

// CHECK:      %b = riscv_mem.lb %p, 3 : (!riscv.reg<a0>) -> !riscv.reg<t0>
// CHECK-NEXT: %u = riscv_mem.lbu %p, -1 : (!riscv.reg<a0>) -> !riscv.reg<t1>
// CHECK-NEXT: %h = riscv_mem.lh %p, 2 : (!riscv.reg<a0>) -> !riscv.reg<t2>
// CHECK-NEXT: %v = riscv_mem.lhu %p, 0 : (!riscv.reg<a0>) -> !riscv.reg<t3>
// CHECK-NEXT: riscv_mem.sb %p, %b, 7 : (!riscv.reg<a0>, !riscv.reg<t0>) -> ()
// CHECK-NEXT: riscv_mem.sh %p, %h, 4 {comment = "store a half"} : (!riscv.reg<a0>, !riscv.reg<t2>) -> ()

// ASM:      lb t0, 3(a0)
// ASM-NEXT: lbu t1, -1(a0)
// ASM-NEXT: lh t2, 2(a0)
// ASM-NEXT: lhu t3, 0(a0)
// ASM-NEXT: sb t0, 7(a0)
// ASM-NEXT: sh t2, 4(a0){{ *}} # store a half

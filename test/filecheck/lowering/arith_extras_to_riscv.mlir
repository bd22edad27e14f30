// convert-arith-extras-to-riscv: what xDSL's convert-arith-to-riscv rejects or gets
// wrong, for integers in one register. select is branch-free, b ^ ((a ^ b) & (0 - c)),
// its condition masked to bit 0 unless a comparison made it; min/max compare, then
// select; the widening multiplies are mul + mulh/mulhu; cmpi follows MLIR's predicate
// numbers; narrow operands of comparisons are sign-extended first.
// RUN: deeploy-opt %s -p convert-arith-extras-to-riscv | filecheck %s
// RUN: deeploy-opt %s -p convert-narrow-memref-to-riscv,convert-arith-extras-to-riscv | filecheck %s --check-prefix=LOADED

func.func @select(%c: i1, %a: i32, %b: i32) -> (i32, i32, i32, i32, i32) {
  %lt = arith.cmpi slt, %a, %b : i32
  %s = arith.select %lt, %a, %b : i32
  %t = arith.select %c, %a, %b : i32
  %true = arith.constant true
  %k = arith.select %true, %a, %b : i32
  %c7 = arith.constant 7 : i32
  %i = arith.select %lt, %c7, %b : i32
  %c0 = arith.constant 0 : i32
  %z = arith.select %lt, %a, %c0 : i32
  func.return %s, %t, %k, %i, %z : i32, i32, i32, i32, i32
}

// A comparison's i1 is 0 or 1: its negation is the mask.
// CHECK-LABEL: func.func @select
// CHECK:         %[[LT:.*]] = riscv.slt
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[ZERO:.*]] = rv32.get_register : !riscv.reg<zero>
// CHECK-NEXT:    %[[MASK:.*]] = riscv.sub %[[ZERO]], %{{.*}}
// CHECK-NEXT:    %[[DIFF:.*]] = riscv.xor %[[A]], %[[B]]
// CHECK-NEXT:    %[[PICK:.*]] = riscv.and %[[DIFF]], %[[MASK]]
// CHECK-NEXT:    %[[S:.*]] = riscv.xor %[[B]], %[[PICK]]
// CHECK-NEXT:    %[[SI:.*]] = builtin.unrealized_conversion_cast %[[S]] : !riscv.reg to i32
// Any other i1 may be -1 (`li -1` is xDSL's true): bit 0 first.
// CHECK:         %[[C:.*]] = builtin.unrealized_conversion_cast %c : i1 to !riscv.reg
// CHECK:         %[[BIT:.*]] = riscv.andi %[[C]], 1
// CHECK-NEXT:    %[[ZERO2:.*]] = rv32.get_register : !riscv.reg<zero>
// CHECK-NEXT:    riscv.sub %[[ZERO2]], %[[BIT]]
// CHECK-NEXT:    riscv.xor
// CHECK-NEXT:    riscv.and
// CHECK-NEXT:    %[[T:.*]] = riscv.xor
// CHECK-NEXT:    %[[TI:.*]] = builtin.unrealized_conversion_cast %[[T]] : !riscv.reg to i32
// A constant true value is an xori immediate; a zero false value needs no xor at all.
// CHECK:         riscv.sub
// CHECK-NEXT:    %[[D7:.*]] = riscv.xori %{{.*}}, 7
// CHECK-NEXT:    %[[P7:.*]] = riscv.and %[[D7]], %{{.*}}
// CHECK-NEXT:    %[[I:.*]] = riscv.xor %{{.*}}, %[[P7]]
// CHECK:         %[[MZ:.*]] = riscv.sub
// CHECK-NEXT:    %[[Z:.*]] = riscv.and %{{.*}}, %[[MZ]]
// CHECK-NEXT:    %[[ZI:.*]] = builtin.unrealized_conversion_cast %[[Z]] : !riscv.reg to i32
// A constant condition picks its operand: %k is %a.
// CHECK-NEXT:    func.return %[[SI]], %[[TI]], %a, %{{.*}}, %[[ZI]] :
// CHECK-NOT:     arith.select

func.func @minmax(%a: i32, %b: i32) -> (i32, i32, i32, i32, i32) {
  %1 = arith.maxsi %a, %b : i32
  %2 = arith.minsi %a, %b : i32
  %3 = arith.maxui %a, %b : i32
  %4 = arith.minui %a, %b : i32
  %c100 = arith.constant 100 : i32
  %5 = arith.minsi %c100, %a : i32
  func.return %1, %2, %3, %4, %5 : i32, i32, i32, i32, i32
}

// max: a < b picks b; min: a < b picks a.
// CHECK-LABEL: func.func @minmax
// CHECK:         %[[A1:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B1:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[L1:.*]] = riscv.slt %[[A1]], %[[B1]]
// CHECK-NEXT:    %[[Z1:.*]] = rv32.get_register : !riscv.reg<zero>
// CHECK-NEXT:    %[[M1:.*]] = riscv.sub %[[Z1]], %[[L1]]
// CHECK-NEXT:    %[[D1:.*]] = riscv.xor %[[B1]], %[[A1]]
// CHECK-NEXT:    %[[P1:.*]] = riscv.and %[[D1]], %[[M1]]
// CHECK-NEXT:    riscv.xor %[[A1]], %[[P1]]
// CHECK:         %[[A2:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B2:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    riscv.slt %[[A2]], %[[B2]]
// CHECK-NEXT:    rv32.get_register
// CHECK-NEXT:    riscv.sub
// CHECK-NEXT:    riscv.xor %[[A2]], %[[B2]]
// CHECK-NEXT:    riscv.and
// CHECK-NEXT:    riscv.xor %[[B2]], %{{.*}}
// CHECK:         riscv.sltu
// CHECK:         riscv.sltu
// A clamp's constant bound moves right and is an immediate: slti, and two xori.
// CHECK:         %[[A5:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[L5:.*]] = riscv.slti %[[A5]], 100
// CHECK-NEXT:    rv32.get_register
// CHECK-NEXT:    %[[M5:.*]] = riscv.sub %{{.*}}, %[[L5]]
// CHECK-NEXT:    %[[D5:.*]] = riscv.xori %[[A5]], 100
// CHECK-NEXT:    %[[P5:.*]] = riscv.and %[[D5]], %[[M5]]
// CHECK-NEXT:    riscv.xori %[[P5]], 100
// CHECK-NOT:     arith.m

func.func @multiply(%a: i32, %b: i32) -> (i32, i32, i32, i32) {
  %lo, %hi = arith.mulsi_extended %a, %b : i32
  %ulo, %uhi = arith.mului_extended %a, %b : i32
  func.return %lo, %hi, %ulo, %uhi : i32, i32, i32, i32
}

// CHECK-LABEL: func.func @multiply
// CHECK:         %[[MA:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[MB:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[LO:.*]] = riscv.mul %[[MA]], %[[MB]]
// CHECK-NEXT:    %[[HI:.*]] = riscv.mulh %[[MA]], %[[MB]]
// CHECK-NEXT:    builtin.unrealized_conversion_cast %[[LO]] : !riscv.reg to i32
// CHECK-NEXT:    builtin.unrealized_conversion_cast %[[HI]] : !riscv.reg to i32
// CHECK:         riscv.mul
// CHECK-NEXT:    riscv.mulhu
// CHECK-NOT:     arith.

func.func @compares(%a: i32, %b: i32) -> (i1, i1, i1, i1, i1, i1, i1, i1, i1, i1, i1, i1) {
  %eq = arith.cmpi eq, %a, %b : i32
  %ne = arith.cmpi ne, %a, %b : i32
  %slt = arith.cmpi slt, %a, %b : i32
  %sle = arith.cmpi sle, %a, %b : i32
  %sgt = arith.cmpi sgt, %a, %b : i32
  %sge = arith.cmpi sge, %a, %b : i32
  %ult = arith.cmpi ult, %a, %b : i32
  %ule = arith.cmpi ule, %a, %b : i32
  %ugt = arith.cmpi ugt, %a, %b : i32
  %uge = arith.cmpi uge, %a, %b : i32
  %c127 = arith.constant 127 : i32
  %gt = arith.cmpi sgt, %a, %c127 : i32
  %lt = arith.cmpi slt, %a, %c127 : i32
  func.return %eq, %ne, %slt, %sle, %sgt, %sge, %ult, %ule, %ugt, %uge, %gt, %lt : i1, i1, i1, i1, i1, i1, i1, i1, i1, i1, i1, i1
}

// a <= b is !(b < a), a >= b is !(a < b) (xDSL 0.74: sgt as ult, sle as sge).
// CHECK-LABEL: func.func @compares
// CHECK:         %[[X:.*]] = riscv.xor
// CHECK-NEXT:    riscv.sltiu %[[X]], 1
// CHECK:         %[[Y:.*]] = riscv.xor
// CHECK-NEXT:    %[[Z0:.*]] = rv32.get_register : !riscv.reg<zero>
// CHECK-NEXT:    riscv.sltu %[[Z0]], %[[Y]]
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    riscv.slt %[[A]], %[[B]]
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[LE:.*]] = riscv.slt %[[B]], %[[A]]
// CHECK-NEXT:    riscv.xori %[[LE]], 1
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    riscv.slt %[[B]], %[[A]]
// CHECK-NEXT:    builtin.unrealized_conversion_cast
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[GE:.*]] = riscv.slt %[[A]], %[[B]]
// CHECK-NEXT:    riscv.xori %[[GE]], 1
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    riscv.sltu %[[A]], %[[B]]
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[ULE:.*]] = riscv.sltu %[[B]], %[[A]]
// CHECK-NEXT:    riscv.xori %[[ULE]], 1
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    riscv.sltu %[[B]], %[[A]]
// CHECK-NEXT:    builtin.unrealized_conversion_cast
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i32 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i32 to !riscv.reg
// CHECK-NEXT:    %[[UGE:.*]] = riscv.sltu %[[A]], %[[B]]
// CHECK-NEXT:    riscv.xori %[[UGE]], 1
// a > 127 is !(a < 128); a < 127 one slti.
// CHECK:         %[[GT:.*]] = riscv.slti %{{.*}}, 128
// CHECK-NEXT:    riscv.xori %[[GT]], 1
// CHECK:         riscv.slti %{{.*}}, 127
// CHECK-NOT:     arith.cmpi

func.func @narrow(%a: i8, %b: i8, %p: memref<2xi8>) -> (i8, i1, i8) {
  %m = arith.maxsi %a, %b : i8
  %lt = arith.cmpi ult, %a, %b : i8
  %c0 = arith.constant 0 : index
  %v = memref.load %p[%c0] : memref<2xi8>
  %c1 = arith.constant 1 : index
  %w = memref.load %p[%c1] : memref<2xi8>
  %n = arith.minsi %v, %w : i8
  func.return %m, %lt, %n : i8, i1, i8
}

// An i8's bits above 8 are unspecified: compared sign-extended (which keeps the
// unsigned order too), but picked as they were.
// CHECK-LABEL: func.func @narrow
// CHECK:         %[[A:.*]] = builtin.unrealized_conversion_cast %a : i8 to !riscv.reg
// CHECK-NEXT:    %[[B:.*]] = builtin.unrealized_conversion_cast %b : i8 to !riscv.reg
// CHECK-NEXT:    %[[AU:.*]] = rv32.slli %[[A]], 24
// CHECK-NEXT:    %[[AS:.*]] = rv32.srai %[[AU]], 24
// CHECK-NEXT:    %[[BU:.*]] = rv32.slli %[[B]], 24
// CHECK-NEXT:    %[[BS:.*]] = rv32.srai %[[BU]], 24
// CHECK-NEXT:    riscv.slt %[[AS]], %[[BS]]
// CHECK-NEXT:    rv32.get_register
// CHECK-NEXT:    riscv.sub
// CHECK-NEXT:    riscv.xor %[[B]], %[[A]]
// CHECK:         rv32.slli
// CHECK-NEXT:    rv32.srai
// CHECK-NEXT:    rv32.slli
// CHECK-NEXT:    rv32.srai
// CHECK-NEXT:    riscv.sltu

// lb sign-extends already: nothing before the comparison.
// LOADED-LABEL: func.func @narrow
// LOADED:         riscv_mem.lb
// LOADED:         riscv_mem.lb
// LOADED:         %[[V:.*]] = builtin.unrealized_conversion_cast %{{.*}} : i8 to !riscv.reg
// LOADED-NEXT:    %[[W:.*]] = builtin.unrealized_conversion_cast %{{.*}} : i8 to !riscv.reg
// LOADED-NEXT:    riscv.slt %[[V]], %[[W]]

func.func @shifts(%a: i32) -> (i32, i32, i32, i32) {
  %c3 = arith.constant 3 : i32
  %l = arith.shli %a, %c3 : i32
  %r = arith.shrui %a, %c3 : i32
  %s = arith.shrsi %a, %c3 : i32
  %c32 = arith.constant 32 : i32
  %x = arith.shli %a, %c32 : i32
  func.return %l, %r, %s, %x : i32, i32, i32, i32
}

// By 3: immediates; by 32 (poison in MLIR) left to xDSL.
// CHECK-LABEL: func.func @shifts
// CHECK:         rv32.slli %{{.*}}, 3
// CHECK:         rv32.srli %{{.*}}, 3
// CHECK:         rv32.srai %{{.*}}, 3
// CHECK:         arith.shli %a, %c32

func.func @bitwise_immediates(%a: i32) -> (i32, i32, i32) {
  %m1 = arith.constant -1 : i32
  %c255 = arith.constant 255 : i32
  %x = arith.xori %a, %m1 : i32
  %n = arith.andi %c255, %a : i32
  %o = arith.ori %a, %c255 : i32
  func.return %x, %n, %o : i32, i32, i32
}

// CHECK-LABEL: func.func @bitwise_immediates
// CHECK:         riscv.xori %{{.*}}, -1
// CHECK:         riscv.andi %{{.*}}, 255
// CHECK:         riscv.ori %{{.*}}, 255

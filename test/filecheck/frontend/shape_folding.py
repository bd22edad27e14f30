# Shape arithmetic is computed at import: Shape -> Gather -> Concat -> Reshape becomes
# one dnn.reshape with a static result type; Constant and Identity nodes vanish; a
# Slice's constant bounds become full-rank, normalised properties.
# RUN: %python %s %t.onnx && deeploy-opt %t.onnx | filecheck %s
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

def const(name, values):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype=np.int64)))

graph = helper.make_graph(
    [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        const("zero", 0),
        helper.make_node("Gather", ["s", "zero"], ["batch"], name="batch", axis=0),
        const("minus_one", [-1]),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"], name="unsq"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], name="cat", axis=0),
        helper.make_node("Identity", ["x"], ["x_id"], name="id"),
        helper.make_node("Reshape", ["x_id", "target"], ["flat"], name="flatten"),
        const("starts", [-1, 1]),
        const("ends", [-100, 100]),
        const("axes", [0, 1]),
        const("steps", [-1, 2]),
        helper.make_node("Slice", ["flat", "starts", "ends", "axes", "steps"], ["y"], name="slice"),
    ],
    "folding",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 10])],
    [numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0")],
)
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])

# CHECK:      func.func @main(%x: tensor<3x4x5xf32> {dnn.name = "x"}) -> (tensor<3x10xf32> {dnn.name = "y"}) {
# CHECK-NEXT:   %flat = dnn.reshape %x {dnn.node = "flatten"} : tensor<3x4x5xf32> -> tensor<3x20xf32>
# CHECK-NEXT:   %y = dnn.slice %flat {dnn.node = "slice", starts = array<i64: 2, 1>, ends = array<i64: -4, 20>, steps = array<i64: -1, 2>} : tensor<3x20xf32> -> tensor<3x10xf32>
# CHECK-NEXT:   func.return %y : tensor<3x10xf32>

# A small dense layer: graph inputs become @main's arguments (ONNX names kept in
# dnn.name), small initializers print inline, large ones as #dnn.weights digests,
# and every op carries its ONNX node name.
# RUN: %python %s %t.onnx && deeploy-opt %t.onnx | filecheck %s
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

rng = np.random.default_rng(0)
w = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "fc.weight")
b = numpy_helper.from_array(np.arange(16, dtype=np.float32), "fc.bias")
graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["x", "fc.weight"], ["h"], name="fc/MatMul"),
        helper.make_node("Add", ["h", "fc.bias"], ["h2"], name="fc/Add"),
        helper.make_node("Relu", ["h2"], ["y"], name="act"),
    ],
    "dense",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16])],
    [w, b],
)
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])

# CHECK:      func.func @main(%x: tensor<2x8xf32> {dnn.name = "x"}) -> (tensor<2x16xf32> {dnn.name = "y"}) {
# CHECK-NEXT:   %fc.weight = dnn.constant #dnn.weights<"{{[0-9a-f]+}}", tensor<8x16xf32>>
# CHECK-NEXT:   %h = dnn.matmul %x, %fc.weight {dnn.node = "fc/MatMul"} : (tensor<2x8xf32>, tensor<8x16xf32>) -> tensor<2x16xf32>
# CHECK-NEXT:   %fc.bias = dnn.constant dense<[0.000000e+00, 1.000000e+00, {{.*}}, 1.500000e+01]> : tensor<16xf32>
# CHECK-NEXT:   %h2 = dnn.add %h, %fc.bias {dnn.node = "fc/Add"} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32>
# CHECK-NEXT:   %y = dnn.relu %h2 {dnn.node = "act"} : tensor<2x16xf32>
# CHECK-NEXT:   func.return %y : tensor<2x16xf32>

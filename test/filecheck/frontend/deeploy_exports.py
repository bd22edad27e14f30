# What Deeploy's exporters write: a custom RMSNorm (default domain, default eps 1e-6),
# com.microsoft:Gelu (the erf form), HardSwish under a declared opset 10 (it exists
# from opset 14: the importer raises the opset) and quantization annotations on a
# standard Div (Delta/eps/eta), which the importer drops.
# RUN: %python %s %t.onnx && deeploy-opt %t.onnx | filecheck %s
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

graph = helper.make_graph(
    [
        helper.make_node("RMSNorm", ["x", "g"], ["n"], name="norm"),
        helper.make_node("Gelu", ["n"], ["a"], name="gelu", domain="com.microsoft"),
        helper.make_node("HardSwish", ["a"], ["h"], name="hswish"),
        helper.make_node("Div", ["h", "two"], ["y"], name="div", Delta=1, eps=2, eta=3),
    ],
    "deeploy",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])],
    [
        numpy_helper.from_array(np.ones(8, dtype=np.float32), "g"),
        numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
    ],
)
opsets = [helper.make_opsetid("", 10), helper.make_opsetid("com.microsoft", 1)]
save(helper.make_model(graph, opset_imports=opsets), sys.argv[1])

# CHECK:      %n = dnn.rms_norm %x, %g {dnn.node = "norm", axis = 2 : i64, epsilon = 1.000000e-06 : f32} : tensor<1x4x8xf32>, tensor<8xf32> -> tensor<1x4x8xf32>
# CHECK-NEXT: %a = dnn.gelu %n {dnn.node = "gelu"} : tensor<1x4x8xf32>
# CHECK-NEXT: %h = dnn.hardswish %a {dnn.node = "hswish"} : tensor<1x4x8xf32>
# CHECK-NEXT: %two = dnn.constant dense<2.000000e+00> : tensor<f32>
# CHECK-NEXT: %y = dnn.div %h, %two {dnn.node = "div"} : (tensor<1x4x8xf32>, tensor<f32>) -> tensor<1x4x8xf32>

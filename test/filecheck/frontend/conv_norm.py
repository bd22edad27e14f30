# Convolution with auto_pad resolved to explicit pads, pooling, LayerNormalization,
# Softmax with a negative axis, Gemm with transB, Split and opset-18 ReduceMean (axes
# as an input): attributes become properties with ONNX defaults made explicit.
# RUN: %python %s %t.onnx && deeploy-opt %t.onnx | filecheck %s
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

rng = np.random.default_rng(1)
inits = [
    numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
    numpy_helper.from_array(np.ones(4, dtype=np.float32), "gamma"),
    numpy_helper.from_array(rng.standard_normal((6, 4)).astype(np.float32), "fc"),
    numpy_helper.from_array(np.array([2, 4], dtype=np.int64), "sizes"),
    numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
]
graph = helper.make_graph(
    [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("LayerNormalization", ["f", "gamma"], ["ln"], name="ln", epsilon=1e-3),
        helper.make_node("Gemm", ["ln", "fc"], ["fc_out"], name="fc", transB=1),
        helper.make_node("Softmax", ["fc_out"], ["sm"], name="sm", axis=-1),
        helper.make_node("Split", ["sm", "sizes"], ["s0", "s1"], name="split", axis=1),
        helper.make_node("ReduceMean", ["s1", "last"], ["y"], name="mean", keepdims=0),
    ],
    "convnet",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 15, 15])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]), helper.make_tensor_value_info("s0", TensorProto.FLOAT, [1, 2])],
    inits,
)
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), sys.argv[1])

# CHECK:      %c = dnn.conv %x, %w {dnn.node = "conv", strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x3x15x15xf32>, tensor<4x3x3x3xf32> -> tensor<1x4x8x8xf32>
# CHECK-NEXT: %p = dnn.max_pool %c {dnn.node = "pool", strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>} : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>
# CHECK-NEXT: %g = dnn.reduce_mean %p {dnn.node = "gap", axes = array<i64: 2, 3>, keepdims} : tensor<1x4x4x4xf32> -> tensor<1x4x1x1xf32>
# CHECK-NEXT: %f = dnn.reshape %g {dnn.node = "flat"} : tensor<1x4x1x1xf32> -> tensor<1x4xf32>
# CHECK:      %ln = dnn.layer_norm %f, %gamma {dnn.node = "ln", axis = 1 : i64, epsilon = 1.000000e-03 : f32} : tensor<1x4xf32>, tensor<4xf32> -> tensor<1x4xf32>
# CHECK:      %fc_out = dnn.gemm %ln, %fc {dnn.node = "fc", trans_b} : tensor<1x4xf32>, tensor<6x4xf32> -> tensor<1x6xf32>
# CHECK-NEXT: %sm = dnn.softmax %fc_out {dnn.node = "sm", axis = 1 : i64} : tensor<1x6xf32>
# CHECK-NEXT: %s0, %s1 = dnn.split %sm {dnn.node = "split", axis = 1 : i64} : tensor<1x6xf32> -> tensor<1x2xf32>, tensor<1x4xf32>
# CHECK-NEXT: %y = dnn.reduce_mean %s1 {dnn.node = "mean", axes = array<i64: 1>} : tensor<1x4xf32> -> tensor<1xf32>
# CHECK-NEXT: func.return %y, %s0 : tensor<1xf32>, tensor<1x2xf32>

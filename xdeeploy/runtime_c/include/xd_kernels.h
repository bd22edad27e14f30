/*
 * xdeeploy runtime kernels: plain C99, no malloc, no global state.
 *
 * Conventions (the compiler's `kernel` dialect checks calls against these):
 * - Tensors are dense, row-major; `n` counts elements. Buffers never overlap unless a
 *   kernel says so.
 * - Broadcasting is resolved by the compiler: a kernel gets the output dimensions and,
 *   per operand, its strides in elements over those dimensions (0 = broadcast).
 * - Data-movement kernels are type-agnostic and take `elem_size` in bytes.
 * - Booleans are uint8_t (0 or 1).
 * - Dimension and stride arrays have `rank` entries, rank <= XD_MAX_RANK.
 */
#ifndef XD_KERNELS_H
#define XD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define XD_MAX_RANK 8

/* ---- elementwise ------------------------------------------------------------------ */

typedef enum {
    XD_ADD = 0, XD_SUB = 1, XD_MUL = 2, XD_DIV = 3, XD_POW = 4, XD_MAX = 5, XD_MIN = 6
} xd_binary_op;

typedef enum { XD_EQUAL = 0, XD_LESS = 1, XD_GREATER = 2 } xd_compare_op;

typedef enum {
    XD_SQRT = 0, XD_NEG = 1, XD_ABS = 2, XD_EXP = 3, XD_LOG = 4, XD_ERF = 5, XD_TANH = 6,
    XD_RELU = 7, XD_SIGMOID = 8, XD_SILU = 9, XD_RECIPROCAL = 10, XD_COS = 11, XD_SIN = 12,
    XD_FLOOR = 13, XD_CEIL = 14, XD_ROUND = 15, /* half to even */
    XD_HARDSWISH = 16, XD_GELU = 17, /* erf form */ XD_GELU_TANH = 18,
    XD_HARDSIGMOID = 19, /* max(0, min(1, alpha*x + beta)) */
    XD_LEAKY_RELU = 20, /* x < 0 ? alpha*x : x */
    XD_CLIP = 21 /* min(max(x, alpha), beta); the compiler passes -INFINITY/INFINITY for none */
} xd_unary_op;

/* out[i] = a[...] op b[...] over out_dims, operands addressed through their strides. */
void xd_binary_f32(xd_binary_op op, const float *a, const float *b, float *out, int32_t rank,
                   const int32_t *out_dims, const int32_t *a_strides, const int32_t *b_strides);
void xd_compare_f32(xd_compare_op op, const float *a, const float *b, uint8_t *out,
                    int32_t rank, const int32_t *out_dims, const int32_t *a_strides,
                    const int32_t *b_strides);
void xd_where_f32(const uint8_t *cond, const float *a, const float *b, float *out,
                  int32_t rank, const int32_t *out_dims, const int32_t *cond_strides,
                  const int32_t *a_strides, const int32_t *b_strides);
/* y may equal x (in place). */
void xd_unary_f32(xd_unary_op op, const float *x, float *y, int32_t n, float alpha, float beta);

typedef enum {
    XD_T_F32 = 0, XD_T_I8 = 1, XD_T_U8 = 2, XD_T_I16 = 3, XD_T_U16 = 4, XD_T_I32 = 5,
    XD_T_U32 = 6, XD_T_I64 = 7, XD_T_U64 = 8, XD_T_BOOL = 9, XD_T_F64 = 10
} xd_type;

/* Integer binary ops and comparisons for every integer xd_type (broadcast as above):
 * add/sub/mul wrap around, div truncates toward zero (x / 0 gives 0), pow multiplies
 * (a negative exponent gives C's truncated result). */
void xd_binary_int(xd_binary_op op, xd_type type, const void *a, const void *b, void *out,
                   int32_t rank, const int32_t *out_dims, const int32_t *a_strides,
                   const int32_t *b_strides);
void xd_compare_int(xd_compare_op op, xd_type type, const void *a, const void *b, uint8_t *out,
                    int32_t rank, const int32_t *out_dims, const int32_t *a_strides,
                    const int32_t *b_strides);

/* ONNX Cast: float -> int truncates toward zero; to bool is (x != 0). */
void xd_cast(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n);

/* ---- linear algebra ----------------------------------------------------------------- */

/* For every batch index b over batch_dims (batch_rank may be 0):
 *   out[b] (m x n) = a[b] (m x k) @ b[b] (k x n)
 * a[b] starts at a + sum(b_i * a_batch_strides[i]) (likewise b); out is dense. */
void xd_matmul_f32(const float *a, const float *b, float *out, int32_t m, int32_t k,
                   int32_t n, int32_t batch_rank, const int32_t *batch_dims,
                   const int32_t *a_batch_strides, const int32_t *b_batch_strides);

/* out (1 x n) = a (1 x k) @ b, b's k rows being b_row_stride elements apart: the columns
 * [j0, j0 + n) of a wider matrix, as one core of the cluster computes them. Sums in
 * xd_matmul_f32's order, so a split product is bit-exact with the whole. */
void xd_gemv_f32(const float *a, const float *b, float *out, int32_t k, int32_t n,
                 int32_t b_row_stride);

/* out (m x n) = alpha * op(A) @ op(B) + beta * C, op = transpose when trans_* != 0.
 * A is stored k x m when trans_a (else m x k), B n x k when trans_b (else k x n).
 * C may be NULL; else C[i][j] = c[i * c_row_stride + j * c_col_stride]. */
void xd_gemm_f32(const float *a, const float *b, const float *c, float *out, int32_t m,
                 int32_t k, int32_t n, int32_t trans_a, int32_t trans_b, float alpha,
                 float beta, int32_t c_row_stride, int32_t c_col_stride);

/* ---- convolution and pooling (NCHW; 1-D uses h = kh = oh = 1, sh = dh = 1, ph = 0) -- */

/* y[n][oc][oy][ox] = bias[oc] + sum over (ic in group, ky, kx) of
 *   x[n][g*icg + ic][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw] * w[oc][ic][ky][kx]
 * with out-of-range input positions read as 0; icg = c / group; bias may be NULL. */
void xd_conv2d_f32(const float *x, const float *w, const float *bias, float *y, int32_t n,
                   int32_t c, int32_t h, int32_t wd, int32_t oc, int32_t kh, int32_t kw,
                   int32_t oh, int32_t ow, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                   int32_t dh, int32_t dw, int32_t group);

/* Over `planes` = N*C planes of h x wd. Padding positions are ignored (max) or, for the
 * average, counted only when count_include_pad, and then only up to the end padding
 * ph_end/pw_end (a ceil-mode window reaching past it counts only what lies within). */
void xd_maxpool2d_f32(const float *x, float *y, int32_t planes, int32_t h, int32_t wd,
                      int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                      int32_t ph, int32_t pw, int32_t dh, int32_t dw);
void xd_avgpool2d_f32(const float *x, float *y, int32_t planes, int32_t h, int32_t wd,
                      int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                      int32_t ph, int32_t pw, int32_t ph_end, int32_t pw_end,
                      int32_t count_include_pad);

/* ---- normalisation and reductions (x viewed as outer x len x inner) --------------- */

/* Softmax over the middle axis; log_softmax when `log` != 0. */
void xd_softmax_f32(const float *x, float *y, int32_t outer, int32_t len, int32_t inner,
                    int32_t log);
/* x viewed as outer x inner, normalised over inner; scale has inner entries, bias may be
 * NULL. LayerNorm: (x - mean) / sqrt(var + eps) * scale + bias (population variance). */
void xd_layernorm_f32(const float *x, const float *scale, const float *bias, float *y,
                      int32_t outer, int32_t inner, float eps);
/* RMSNorm: x / sqrt(mean(x^2) + eps) * scale; scale may be NULL (ones). */
void xd_rmsnorm_f32(const float *x, const float *scale, float *y, int32_t outer,
                    int32_t inner, float eps);

typedef enum { XD_RSUM = 0, XD_RMEAN = 1, XD_RMAX = 2, XD_RMIN = 3 } xd_reduce_op;
/* y[o][i] = reduce over r of x[o][r][i]. */
void xd_reduce_f32(xd_reduce_op op, const float *x, float *y, int32_t outer, int32_t len,
                   int32_t inner);

/* ---- data movement (any element type) ---------------------------------------------- */

/* y may equal x: then nothing is copied (an output passed as its own input, such as a
 * KV cache updated in place); otherwise the buffers must not overlap. */
void xd_copy(const void *x, void *y, int32_t elem_size, int32_t n);
/* col[(oy * ow + ox)][(c * kh + ky) * kw + kx] = x[c][oy * sh + ky * dh - pad_top]
 * [ox * sw + kx * dw - pad_left], zero outside x (c x h x wd): a convolution's patches as
 * the rows of a matrix product. */
void xd_im2col(const void *x, void *col, int32_t elem_size, int32_t c, int32_t h, int32_t wd,
               int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t dh, int32_t dw,
               int32_t pad_top, int32_t pad_left, int32_t oh, int32_t ow);
/* y[out index] = x[sum(out_index_i * x_strides[i])]: broadcast (Expand), and the general
 * strided gather used for Transpose and Slice (the compiler computes the strides, which
 * may be negative, and the start offset it adds to x). */
void xd_strided_copy(const void *x, void *y, int32_t elem_size, int32_t rank,
                     const int32_t *out_dims, const int32_t *x_strides);
/* rows x row_len elements from x (rows x_row_stride apart) to y (y_row_stride apart):
 * one Concat input, or one Split output. */
void xd_copy_rows(const void *x, void *y, int32_t elem_size, int32_t rows, int32_t row_len,
                  int32_t x_row_stride, int32_t y_row_stride);
/* out[o][j][i] = data[o][idx[j]][i]; idx has n_idx entries of idx_size (4 or 8) bytes,
 * negative indices count from axis_len. */
void xd_gather(const void *data, const void *idx, void *out, int32_t elem_size,
               int32_t idx_size, int32_t outer, int32_t axis_len, int32_t inner,
               int32_t n_idx);
/* Constant padding: y (out_dims) = value everywhere, x (in_dims) placed at pads_begin. */
void xd_pad(const void *x, void *y, int32_t elem_size, int32_t rank, const int32_t *in_dims,
            const int32_t *pads_begin, const int32_t *out_dims, const void *value);
/* ONNX ScatterND into out, which already holds the data: for each of the n index tuples
 * (q int64 entries each, negative counting from the dimension), the slice of slice_elems
 * elements at that position is replaced by the next slice of `updates`. data_dims gives
 * the first q dimensions of the data. */
void xd_scatter_nd(void *out, const int64_t *indices, const void *updates, int32_t elem_size,
                   int32_t n, int32_t q, const int32_t *data_dims, int32_t slice_elems);

/* ==== integer operators (Deeploy's integer semantics) ================================== *
 * Bit-exact with xdeeploy/interp/integer_reference.py and integer_norms.py.
 * - Operands of any integer xd_type (I8 ... U64; BOOL reads as U8) are loaded as int64_t
 *   (a U64 is reinterpreted); each operand comes with its own xd_type.
 * - Results are stored with two's-complement truncation to the output's xd_type. Sums and
 *   products wrap modulo 2^64 (modulo 2^32 in the fast paths into 32-bit outputs: matmul
 *   and gemm with an 8-bit B, conv with an 8-bit input), so a stored result is the exact
 *   value whenever that fits the output type, and its truncation otherwise.
 * - Divisions by zero, which the reference leaves undefined (it raises), give 0.
 * - ">> s" is floor division by 2^s (an arithmetic shift); the shift arguments log2_div
 *   and log2_d are clamped to [0, 63].
 */

/* RequantShift over out_dims (broadcast strides as xd_binary_f32; per-tensor and
 * per-channel mul/add are strides of 0):
 *   y = clamp((x * mul + add + (log2_div > 0 ? 2^(log2_div-1) : 0)) >> log2_div, lo, hi)
 * in int64 (round half up); [lo, hi] is [-n_levels/2, n_levels/2 - 1] for a signed
 * output, [0, n_levels - 1] for an unsigned one. */
void xd_requant_shift(const void *x, xd_type x_type, const void *mul, xd_type mul_type,
                      const void *add, xd_type add_type, void *y, xd_type y_type, int32_t rank,
                      const int32_t *out_dims, const int32_t *x_strides,
                      const int32_t *mul_strides, const int32_t *add_strides, int32_t log2_div,
                      int32_t lo, int32_t hi);

/* Integer matmul, batched as xd_matmul_f32 (out dense, of out_type). */
void xd_matmul_int(const void *a, xd_type a_type, const void *b, xd_type b_type, void *out,
                   xd_type out_type, int32_t m, int32_t k, int32_t n, int32_t batch_rank,
                   const int32_t *batch_dims, const int32_t *a_batch_strides,
                   const int32_t *b_batch_strides);

/* Integer xd_gemv_f32: out (1 x n) = a (1 x k) @ b with b's rows b_row_stride apart. */
void xd_gemv_int(const void *a, xd_type a_type, const void *b, xd_type b_type, void *out,
                 xd_type out_type, int32_t k, int32_t n, int32_t b_row_stride);

/* out = alpha * op(A) @ op(B) + beta * C with integer alpha and beta, layouts as
 * xd_gemm_f32; C may be NULL (its type is then ignored). */
void xd_gemm_int(const void *a, xd_type a_type, const void *b, xd_type b_type, const void *c,
                 xd_type c_type, void *out, xd_type out_type, int32_t m, int32_t k, int32_t n,
                 int32_t trans_a, int32_t trans_b, int32_t alpha, int32_t beta,
                 int32_t c_row_stride, int32_t c_col_stride);

/* As xd_conv2d_f32 (zero padding, groups, strides, dilations) on integers; bias may be
 * NULL. */
void xd_conv2d_int(const void *x, xd_type x_type, const void *w, xd_type w_type,
                   const void *bias, xd_type bias_type, void *y, xd_type y_type, int32_t n,
                   int32_t c, int32_t h, int32_t wd, int32_t oc, int32_t kh, int32_t kw,
                   int32_t oh, int32_t ow, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                   int32_t dh, int32_t dw, int32_t group);

/* As xd_maxpool2d_f32; x and y share `type`. Padding is the type's minimum, so a window
 * entirely in the padding gives that minimum. */
void xd_maxpool2d_int(const void *x, void *y, xd_type type, int32_t planes, int32_t h,
                      int32_t wd, int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh,
                      int32_t sw, int32_t ph, int32_t pw, int32_t dh, int32_t dw);

/* Row-wise (rows x len, over the last axis) softmax approximations of 8-bit values:
 * y holds one byte per element, the unsigned 256-level result. iSoftmax is Deeploy's
 * Generic Softmax_s8_s8 (I-BERT exp polynomial, int8 exponent, log2 > 0); ITAMax is
 * ITA's. */
void xd_isoftmax(const void *x, xd_type x_type, void *y, int32_t rows, int32_t len,
                 int32_t coeff_a, int32_t coeff_b, int32_t coeff_c, int32_t log2,
                 int32_t n_levels);
void xd_ita_max(const void *x, xd_type x_type, void *y, int32_t rows, int32_t len,
                int32_t n_levels);

/* Row-wise integer norms of 8-bit values into int8 (rows x len; weight and bias have len
 * entries). iRMSNorm clamps to [-128, 127]; iLayerNorm wraps around (no clamping), as
 * Deeploy's kernels do. */
void xd_irmsnorm(const void *x, xd_type x_type, const void *weight, xd_type w_type, void *y,
                 int32_t rows, int32_t len, int32_t log2_d);
void xd_ilayernorm(const void *x, xd_type x_type, const void *weight, xd_type w_type,
                   const void *bias, xd_type b_type, void *y, int32_t rows, int32_t len,
                   int32_t log2_d);

/* Elementwise over n elements: iGELU (b < 0), iHardswish, and TrueIntegerDiv as
 * y = x * coeff with coeff = floor(Delta * eta / (y * eta + eps)) computed by the
 * compiler. */
void xd_igelu(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n, int32_t b,
              int32_t one);
void xd_ihardswish(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n,
                   int32_t one_over_six, int32_t six, int32_t three);
void xd_true_integer_div(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t n,
                         int32_t coeff);

/* IntegerMean: y[o][i] = mean over r of x[o][r][i], the sum s exact (int64):
 * (s + len/2) >> round_shift when round_shift >= 0 (len = 2^round_shift), else
 * (s + sgn(s) * (len >> 1)) / len truncated, sgn(0) = +1. */
void xd_integer_mean(const void *x, xd_type x_type, void *y, xd_type y_type, int32_t outer,
                     int32_t len, int32_t inner, int32_t round_shift);

/* ---- ONNX QuantizeLinear / DequantizeLinear (float32, as onnxruntime computes) ---------- */

/* x viewed as outer x channels x inner; scale and zero_point have `channels` entries (1 for
 * per-tensor parameters); type is the quantized type (XD_T_I8/U8/I16/U16) of y and of the
 * zero point. y = saturate(round_half_even(x / scale) + zero_point). */
void xd_quantize_linear(const float *x, const float *scale, const void *zero_point,
                        xd_type type, void *y, int32_t outer, int32_t channels, int32_t inner);
/* y = (x - zero_point) * scale, the difference taken in int32. */
void xd_dequantize_linear(const void *x, xd_type type, const float *scale,
                          const void *zero_point, float *y, int32_t outer, int32_t channels,
                          int32_t inner);

/* ---- the NPU's functional model (npu.c; xdeeploy/dialects/npu.py) ------------------- */

/* Job kinds of npu.conv2d. */
enum { XD_NPU_DENSE3X3 = 0, XD_NPU_DEPTHWISE3X3 = 1, XD_NPU_POINTWISE = 2 };

/* y (oh x ow x cout) = conv(x (h x wd x cin, 8-bit, x_type I8 or U8), w packed: [cout'][9]
 * [cin_p] dense, [c'][9] depthwise, [cout'][cin_p] pointwise), zero padding from pad_top
 * and pad_left; with scale (uint8) and bias (int32) per output channel, clamp((acc *
 * scale + bias) >> shift) into y_type (I8 or U8), else the int32 accumulators. */
void xd_npu_conv2d(const void *x, xd_type x_type, const int8_t *w, const uint8_t *scale,
                   const int32_t *bias, void *y, xd_type y_type, int32_t kind, int32_t h,
                   int32_t wd, int32_t cin, int32_t cout, int32_t cin_p, int32_t stride,
                   int32_t pad_top, int32_t pad_left, int32_t oh, int32_t ow, int32_t shift);

/* y (m x n) = a (m x k, 8-bit) times w packed [n'][k_p] (one filter per column),
 * requantized as xd_npu_conv2d. */
void xd_npu_matmul(const void *a, xd_type a_type, const int8_t *w, const uint8_t *scale,
                   const int32_t *bias, void *y, xd_type y_type, int32_t m, int32_t k, int32_t n,
                   int32_t k_p, int32_t shift);

/* The engine's memory w [n_p][k_p] = b (k x n, row major) transposed, zero-padded: a
 * product's right operand known only at run time, moved in as matmul weights. */
void xd_npu_load_weights(const int8_t *b, int8_t *w, int32_t k, int32_t n, int32_t k_p,
                         int32_t n_p);

#endif /* XD_KERNELS_H */

/*
 * Elementary functions of float, computed with float + - * / only (no libm), in a fixed
 * order: the results are the same bits on every IEEE platform whose C compiler keeps
 * float arithmetic in float and does not contract a * b + c into an FMA (-std=c99 in
 * GCC implies -ffp-contract=off; never build with -ffast-math). The interpreter
 * (xdeeploy/interp/float_math.py) computes the same operations in the same order.
 *
 * Accuracy: within 2 ulp of the exact result for every float input.
 * Special values: NaN in gives NaN out; exp(-inf) = 0, exp(+inf) = inf and exp
 * overflows to inf and underflows through the denormals to 0; log(0) = -inf,
 * log(x < 0) = NaN, log(inf) = inf; tanh and erf saturate at +-1; sin and cos of +-inf
 * are NaN. Odd functions keep the sign of zero.
 */
#ifndef XD_MATH_H
#define XD_MATH_H

float xd_expf(float x);
float xd_logf(float x);
float xd_tanhf(float x);
float xd_erff(float x);
float xd_sinf(float x);
float xd_cosf(float x);

#endif

/* pyshim.h - the Python package's entry points into the library.
 *
 * One function per direction for every op, called once per layer or
 * functional call through cffi (build_ext.py reads this header as its cdef,
 * so keep it plain declarations). Arrays are passed as raw pointers to
 * C-contiguous data: every row stride is `cols`, and `f64` picks the data
 * type (0: float, 1: double). Each returns DN_OK or a DN_ERR_* code of
 * dynorm.h.
 */
#ifndef DYNORM_PYSHIM_H
#define DYNORM_PYSHIM_H
#include <stddef.h>

/* The op's id (its index in the library's op list) for its name, e.g.
 * "dyt"; -1 for a name the library does not know. */
int dnpy_op_id(const char *name);

/* y = op(x). stats: nstats x rows values in the data type, row k the op's
 * k-th saved statistic, or NULL when no backward follows; w, b: `cols`
 * values or NULL (1 and 0); s0, s1: the op's scalars in list order (unused
 * ones ignored). */
int dnpy_forward(int op, int f64, void *y, void *stats, const void *x, const void *w,
                 const void *b, size_t rows, size_t cols, double s0, double s1);

/* dx and the parameter gradients of op at x, from the forward's stats.
 * gw, gb: `cols` values each, gs0, gs1: one value each (the gradients of
 * the op's learnable scalars, in list order), all in the data type and each
 * NULL when not wanted. The library sums them in double; for float they are
 * rounded once into the targets. */
int dnpy_backward(int op, int f64, void *dx, const void *dy, const void *x,
                  const void *stats, const void *w, void *gw, void *gb, void *gs0,
                  void *gs1, size_t rows, size_t cols, double s0, double s1);

#endif

/* run_compat.h - TEMPORARY (py-table branch only; deleted at the merge with
 * c-core, whose dynorm.h and internal.h declare all of this). The interface
 * of /work/SPEC.md that pyshim.c codes against, implemented in
 * run_compat.c over the typed public functions. build_ext.py force-includes
 * it into every unit and adds it to the cdef while the file exists. */
#ifndef DYNORM_RUN_COMPAT_H
#define DYNORM_RUN_COMPAT_H
#include <stddef.h>

enum { DN_OP_LAYER_NORM, DN_OP_RMS_NORM, DN_OP_DYT, DN_OP_DYISRU, DN_NOPS };

typedef struct dn_args {
    size_t rows, cols;
    void *out;        size_t ldo;
    const void *x;    size_t ldx;
    const void *dy;   size_t lddy;
    void *stat[2];
    const void *w, *b;
    double *dw, *db;
    double *ds[2];
    double s[3];
    int stream;
} dn_args;

int dn_run(int op, int dir, int f64, const dn_args *a);
const char *dn_op_name(int op);
int dn_op_nstats(int op);

int dn_set_num_threads(int n);
int dn_get_num_threads(void);
size_t dn_set_parallel_threshold(size_t bytes);
size_t dn_get_parallel_threshold(void);

#endif

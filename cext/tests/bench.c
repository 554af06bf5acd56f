/* bench.c - kernel bandwidth against memcpy of the same bytes, in C.
 * Usage: bench [rows cols [isa]]. Each op is timed interleaved with memcpy
 * (min of repeats); the ratio is the op's bytes per second over memcpy's
 * (a forward moves 2 arrays, a backward 3, memcpy 2). Environment:
 * BENCH_WALL=1 times wall clock instead of thread CPU time;
 * BENCH_THREADS=N runs each call on N of the library's threads
 * (dn_set_num_threads; wall clock; memcpy stays on one thread);
 * BENCH_STREAM_BYTES=N sets dn_set_stream_threshold(N) (e.g. a huge N
 * turns the non-temporal stores off). The arrays ask for transparent huge
 * pages (madvise), as NumPy does for arrays of 4 MiB and more on Linux
 * (docs/performance.md: small pages cost DyT's forward about a quarter of
 * its time); BENCH_SMALL_PAGES=1 leaves them out. */
#define _DEFAULT_SOURCE /* madvise */
#define _POSIX_C_SOURCE 200112L
#include "dynorm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

/* Thread CPU time by default: on a shared machine the time this thread
 * spends descheduled would otherwise count against whichever op ran then.
 * Several threads are timed by the wall clock. */
static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;
static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static size_t rows, cols;
static float *x, *y, *dy, *w, *b, *mean, *rstd;

static double *dw_, *db_, ds; /* parameter gradients */

static void run_op(int op) {
    const size_t n = rows, c = cols;
    switch (op) {
    case 0: dn_layer_norm_fwd_f32(y, mean, rstd, x, w, b, n, c, c, c, 1e-5); break;
    case 1: dn_layer_norm_bwd_f32(y, dw_, db_, dy, x, mean, rstd, w, n, c, c, c, c); break;
    case 2: dn_rms_norm_fwd_f32(y, rstd, x, w, n, c, c, c, 1e-5); break;
    case 3: dn_rms_norm_bwd_f32(y, dw_, dy, x, rstd, w, n, c, c, c, c); break;
    case 4: dn_dyt_fwd_f32(y, x, w, b, n, c, c, c, 0.5); break;
    case 5: dn_dyt_bwd_f32(y, &ds, dw_, db_, dy, x, w, n, c, c, c, c, 0.5); break;
    case 6: dn_dyisru_fwd_f32(y, x, w, b, n, c, c, c, 4.0, 1e-5); break;
    case 7: dn_dyisru_bwd_f32(y, &ds, dw_, db_, dy, x, w, n, c, c, c, c, 4.0, 1e-5); break;
    }
}

int main(int argc, char **argv) {
    rows = argc > 2 ? strtoul(argv[1], 0, 10) : 16384;
    cols = argc > 2 ? strtoul(argv[2], 0, 10) : 4096;
    if (argc > 3 && dn_set_isa(argv[3]) != DN_OK) { fprintf(stderr, "isa %s unavailable\n", argv[3]); return 2; }
    int nthreads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 1;
    if (dn_set_num_threads(nthreads) < 0 || nthreads < 1) { fprintf(stderr, "bad BENCH_THREADS\n"); return 2; }
    if (getenv("BENCH_WALL") || nthreads > 1) clock_id = CLOCK_MONOTONIC;
    if (getenv("BENCH_STREAM_BYTES")) dn_set_stream_threshold(strtoull(getenv("BENCH_STREAM_BYTES"), 0, 10));
    size_t n = rows * cols;
    const size_t align = (size_t)1 << 21; /* a huge page */
    if (posix_memalign((void **)&x, align, n * 4) || posix_memalign((void **)&y, align, n * 4) ||
        posix_memalign((void **)&dy, align, n * 4)) return 3;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (!getenv("BENCH_SMALL_PAGES")) {
        madvise(x, n * 4, MADV_HUGEPAGE);
        madvise(y, n * 4, MADV_HUGEPAGE);
        madvise(dy, n * 4, MADV_HUGEPAGE);
    }
#endif
    w = malloc(cols * 4), b = malloc(cols * 4), mean = malloc(rows * 4), rstd = malloc(rows * 4);
    dw_ = malloc(cols * 8), db_ = malloc(cols * 8);
    if (!w || !b || !mean || !rstd || !dw_ || !db_) return 3;
    for (size_t i = 0; i < n; ++i) { x[i] = (float)((i * 2654435761u) % 1000) / 250.f - 2.f; dy[i] = x[(i * 7) % n]; y[i] = 0; }
    for (size_t j = 0; j < cols; ++j) { w[j] = 1.f; b[j] = 0.f; }
    const char *names[] = {"layer_norm fwd", "layer_norm bwd", "rms_norm fwd", "rms_norm bwd",
                           "dyt fwd", "dyt bwd", "dyisru fwd", "dyisru bwd"};
    printf("isa %s, %zu x %zu float32, %d thread%s, %s time\n", dn_get_isa(), rows, cols, nthreads,
           nthreads > 1 ? "s" : "", clock_id == CLOCK_MONOTONIC ? "wall" : "thread CPU");
    for (int op = 0; op < 8; ++op) {
        double best = 1e9, bestc = 1e9;
        for (int rep = 0; rep < 5; ++rep) {
            double t0 = now();
            memcpy(y, x, n * 4);
            double t1 = now();
            run_op(op);
            double t2 = now();
            if (t1 - t0 < bestc) bestc = t1 - t0;
            if (t2 - t1 < best) best = t2 - t1;
        }
        int arrays = (op == 1 || op == 3 || op == 5 || op == 7) ? 3 : 2;
        printf("%-16s %8.2f ms  memcpy %7.2f ms  ratio %.2f\n", names[op], best * 1e3, bestc * 1e3,
               arrays / 2.0 * bestc / best);
    }
    return 0;
}

/* icount.c - instructions retired by each public call, counted exactly by
 * single-stepping it under ptrace (Linux, x86-64). For comparing a kernel
 * before and after a change where neither perf counters (absent in many
 * VMs) nor valgrind (no AVX-512) can count: the count is deterministic for
 * a given build, input and ISA, so two builds compare instruction for
 * instruction. Usage: icount [isa [rows cols [f64]]] (default: the active
 * ISA, float32 at 64 x 4096 and 512 x 768); one line per op and direction.
 * Slow (some 10 us a step in a VM): a few minutes per ISA.
 *
 * The program forks: the child makes each call between two int3
 * breakpoints; the parent single-steps it from the first to the second and
 * prints the count. Calls run on one thread. */
#define _GNU_SOURCE
#include "dynorm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#if !(defined(__linux__) && defined(__x86_64__))
int main(void) { puts("icount: Linux x86-64 only"); return 0; }
#else

/* dn_set_num_threads where the library has it (older builds do not) */
#pragma weak dn_set_num_threads
int dn_set_num_threads(int n);

#define MARK() __asm__ volatile("int3" ::: "memory")

static void label(const char *s) { printf("%-28s", s); fflush(stdout); }

#define DEF_RUN(R, S)                                                          \
static void run_##S(size_t rows, size_t cols) {                                \
    const size_t n = rows * cols;                                              \
    R *x = malloc(n * sizeof(R)), *y = malloc(n * sizeof(R));                  \
    R *dy = malloc(n * sizeof(R)), *dx = malloc(n * sizeof(R));                \
    R *w = malloc(cols * sizeof(R)), *b = malloc(cols * sizeof(R));            \
    R *mean = malloc(rows * sizeof(R)), *rstd = malloc(rows * sizeof(R));      \
    double *dw = malloc(cols * sizeof(double)), *db = malloc(cols * sizeof(double)), ds; \
    for (size_t i = 0; i < n; ++i) {                                           \
        x[i] = (R)((double)((i * 2654435761u) % 1000) / 250.0 - 2.0);          \
        dy[i] = (R)((double)((i * 40503u) % 997) / 500.0 - 1.0);               \
    }                                                                          \
    for (size_t j = 0; j < cols; ++j) w[j] = (R)(0.5 + j % 7 * 0.1), b[j] = (R)(j % 5 * 0.01); \
    char buf[64];                                                              \
    /* COUNT (below): each call once to warm up, then once between marks */ \
    COUNT("layer_norm fwd", dn_layer_norm_fwd_##S(y, mean, rstd, x, w, b, rows, cols, cols, cols, 1e-5)); \
    COUNT("layer_norm bwd", dn_layer_norm_bwd_##S(dx, dw, db, dy, x, mean, rstd, w, rows, cols, cols, cols, cols)); \
    COUNT("rms_norm fwd", dn_rms_norm_fwd_##S(y, rstd, x, w, rows, cols, cols, cols, 1e-5)); \
    COUNT("rms_norm bwd", dn_rms_norm_bwd_##S(dx, dw, dy, x, rstd, w, rows, cols, cols, cols, cols)); \
    COUNT("dyt fwd", dn_dyt_fwd_##S(y, x, w, b, rows, cols, cols, cols, 0.5)); \
    COUNT("dyt bwd", dn_dyt_bwd_##S(dx, &ds, dw, db, dy, x, w, rows, cols, cols, cols, cols, 0.5)); \
    COUNT("dyisru fwd", dn_dyisru_fwd_##S(y, x, w, b, rows, cols, cols, cols, 4.0, 1e-5)); \
    COUNT("dyisru bwd", dn_dyisru_bwd_##S(dx, &ds, dw, db, dy, x, w, rows, cols, cols, cols, cols, 4.0, 1e-5)); \
    free(x); free(y); free(dy); free(dx); free(w); free(b); free(mean); free(rstd); free(dw); free(db); \
}

#define COUNT(name, call)                                                      \
    do {                                                                       \
        if ((call) != DN_OK) { fprintf(stderr, "%s failed\n", name); exit(1); } \
        snprintf(buf, sizeof buf, "%s %s %zux%zu", name, sizeof *x == 4 ? "f32" : "f64", rows, cols); \
        label(buf);                                                            \
        MARK();                                                                \
        (void)(call);                                                          \
        MARK();                                                                \
    } while (0)

DEF_RUN(float, f32)
DEF_RUN(double, f64)

static void child(int argc, char **argv) {
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) { perror("ptrace"); exit(1); }
    raise(SIGSTOP);
    if (argc > 1 && dn_set_isa(argv[1]) != DN_OK) { fprintf(stderr, "isa %s unavailable\n", argv[1]); exit(2); }
    if (dn_set_num_threads) dn_set_num_threads(1);
    printf("isa %s\n", dn_get_isa());
    if (argc > 3) {
        const size_t rows = strtoul(argv[2], 0, 10), cols = strtoul(argv[3], 0, 10);
        if (argc > 4 && strcmp(argv[4], "f64") == 0) run_f64(rows, cols);
        else run_f32(rows, cols);
    } else {
        run_f32(64, 4096);
        run_f32(512, 768);
    }
    exit(0);
}

int main(int argc, char **argv) {
    fflush(stdout);
    const pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) child(argc, argv);
    int status;
    waitpid(pid, &status, 0); /* the SIGSTOP */
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, pid, 0, 0);
    for (;;) {
        if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); return 1; }
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) { fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status)); return 1; }
        if (WSTOPSIG(status) != SIGTRAP) { ptrace(PTRACE_CONT, pid, 0, WSTOPSIG(status)); continue; }
        /* the first mark: step until the second one (an int3 reports si_code SI_KERNEL) */
        unsigned long long count = 0;
        for (;;) {
            ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
            if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status)) { fprintf(stderr, "lost the child\n"); return 1; }
            siginfo_t si;
            ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
            if (WSTOPSIG(status) == SIGTRAP && si.si_code == SI_KERNEL) break;
            ++count;
        }
        printf("%12llu\n", count);
        fflush(stdout);
        ptrace(PTRACE_CONT, pid, 0, 0);
    }
}
#endif

/* dispatch.c - which instruction set runs the kernels, and whether a call's
 * output is written with streaming stores.
 *
 * The kernel table in use and the streaming threshold are global state,
 * each read and written atomically, so concurrent calls are safe (a
 * dn_set_isa racing with running calls only decides which table the next
 * call picks up). The thread settings live in threads.c. */
#define _GNU_SOURCE /* sysconf(_SC_LEVEL3_CACHE_SIZE) */
#include "dynorm.h"
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define DN_X86 1
#endif

/* ---- CPU features ---- */

#ifdef DN_X86
/* xgetbv without -mxsave: which register states the OS saves on a switch. */
static uint64_t dn_xgetbv(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* AVX2 needs the CPU bits (AVX, FMA, AVX2) and the OS saving XMM and YMM
 * (XCR0 bits 1, 2); AVX-512 also needs opmask and ZMM state (bits 5, 6, 7). */
static void dn_x86_features(int *avx2, int *avx512) {
    unsigned a, b, c, d;
    *avx2 = *avx512 = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = dn_xgetbv();
    if ((xcr0 & 0x6) != 0x6) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    *avx2 = fma && ((b >> 5) & 1);
    const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    *avx512 = *avx2 && f && dq && bw && vl && (xcr0 & 0xE0) == 0xE0;
}
#endif

/* Every table this build and this CPU can run, ascending. */
typedef struct {
    int count;
    const dn_kernels *tables[4];
} dn_isa_set;

static dn_isa_set dn_detect(void) {
    dn_isa_set s = {0, {0}};
    s.tables[s.count++] = &dn_kernels_scalar;
#ifdef DN_X86
    int avx2, avx512;
    dn_x86_features(&avx2, &avx512);
    if (avx2) s.tables[s.count++] = &dn_kernels_avx2;
    if (avx512) s.tables[s.count++] = &dn_kernels_avx512;
#endif
#if defined(__aarch64__)
    s.tables[s.count++] = &dn_kernels_neon;
#endif
    return s;
}

static const dn_isa_set *dn_isas(void) {
    /* Detection is pure and idempotent: racing first calls compute the same
     * set; the flag publishes it with release/acquire ordering. */
    static dn_isa_set set;
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        dn_isa_set s = dn_detect();
        set = s;
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    return &set;
}

const dn_kernels *dn_kernels_for(const char *isa) {
    const dn_isa_set *s = dn_isas();
    if (!isa) return NULL;
    for (int i = 0; i < s->count; ++i)
        if (strcmp(s->tables[i]->name, isa) == 0) return s->tables[i];
    return NULL;
}

/* The table in use; (dn_kernels *)&dn_env_bad when DYNORM_ISA names a set
 * this CPU cannot run, so that every call reports DN_ERR_ISA. */
static const dn_kernels *dn_active;
static const char dn_env_bad = 0;
#define DN_ENV_BAD ((const dn_kernels *)(const void *)&dn_env_bad)

static const dn_kernels *dn_best(void) {
    const dn_isa_set *s = dn_isas();
    return s->tables[s->count - 1];
}

static const dn_kernels *dn_table(void) {
    const dn_kernels *t = __atomic_load_n(&dn_active, __ATOMIC_ACQUIRE);
    if (t) return t;
    const char *env = getenv("DYNORM_ISA");
    if (env && *env && strcmp(env, "auto") != 0) {
        t = dn_kernels_for(env);
        if (!t) t = DN_ENV_BAD;
    } else {
        t = dn_best();
    }
    const dn_kernels *expected = NULL;
    if (!__atomic_compare_exchange_n(&dn_active, &expected, t, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        t = expected;
    return t;
}

const dn_kernels *dn_active_kernels(void) {
    const dn_kernels *t = dn_table();
    return t == DN_ENV_BAD ? NULL : t;
}

int dn_isa_count(void) { return dn_isas()->count; }

const char *dn_isa_name(int index) {
    const dn_isa_set *s = dn_isas();
    return (index >= 0 && index < s->count) ? s->tables[index]->name : NULL;
}

const char *dn_get_isa(void) {
    const dn_kernels *t = dn_table();
    return t == DN_ENV_BAD ? "invalid" : t->name;
}

int dn_set_isa(const char *name) {
    const dn_kernels *t;
    if (!name || strcmp(name, "auto") == 0) t = dn_best();
    else if (!(t = dn_kernels_for(name))) return DN_ERR_ISA;
    __atomic_store_n(&dn_active, t, __ATOMIC_RELEASE);
    return DN_OK;
}

/* ---- streaming threshold ----
 * Outputs at least this large are written with non-temporal stores: they
 * would not stay in the last-level cache anyway, and an ordinary store
 * first reads its line. The decision is made once per call, from the whole
 * call's output (dn_stream_decision), and every thread's chunk of the call
 * stores alike; it does not depend on the thread count. Default: half of
 * one CPU's share of the last-level cache, where an output and the input it
 * is computed from (every kernel reads at least one array of the output's
 * size) no longer fit in it together. One CPU's share, because a call may
 * be one of several running at once on the CPUs that share the cache (an
 * application calling from several threads, or a call's own threads, each
 * working through its part of the output), and half the whole cache leaves
 * large calls unstreamed on hosts that report a large shared cache
 * (docs/performance.md). */
static size_t dn_stream_bytes;

#ifdef __linux__
/* The first line of cpu0's cache index k's sysfs file `name` (level, type,
 * size, shared_cpu_list), or "" if it cannot be read. */
static void dn_cache_attr(int k, const char *name, char *buf, size_t n) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", k, name);
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(buf, (int)n, f)) buf[0] = 0;
    fclose(f);
}

/* CPU 0's last-level cache from sysfs: its size in bytes over the number
 * of CPUs sharing it (shared_cpu_list, "0-7,64-71"), or 0 if unknown. */
static size_t dn_llc_share_sysfs(void) {
    size_t best_level = 0, bytes = 0, cpus = 0;
    for (int k = 0; k < 16; ++k) {
        char line[256];
        dn_cache_attr(k, "level", line, sizeof line);
        const size_t level = strtoul(line, NULL, 10);
        if (level <= best_level) continue;
        dn_cache_attr(k, "type", line, sizeof line);
        if (strncmp(line, "Instruction", 11) == 0) continue;
        dn_cache_attr(k, "size", line, sizeof line);
        char *end;
        size_t size = strtoul(line, &end, 10);
        if (*end == 'K') size <<= 10;
        else if (*end == 'M') size <<= 20;
        dn_cache_attr(k, "shared_cpu_list", line, sizeof line);
        size_t n = 0;
        for (char *p = line; *p >= '0' && *p <= '9';) {
            const size_t lo = strtoul(p, &p, 10);
            size_t hi = lo;
            if (*p == '-') hi = strtoul(p + 1, &p, 10);
            n += hi >= lo ? hi - lo + 1 : 1;
            if (*p == ',') ++p;
        }
        if (size && n) best_level = level, bytes = size, cpus = n;
    }
    return cpus ? bytes / cpus : 0;
}
#endif

static size_t dn_default_stream_bytes(void) {
    size_t share = 0;
#ifdef __linux__
    share = dn_llc_share_sysfs();
#endif
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (!share) {
        const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (l3 > 0) share = (size_t)l3 / (size_t)(cpus > 0 ? cpus : 1);
    }
#endif
    if (!share) return (size_t)16 << 20;
    return share / 2 > ((size_t)1 << 20) ? share / 2 : (size_t)1 << 20;
}

size_t dn_set_stream_threshold(size_t bytes) {
    size_t old = dn_get_stream_threshold();
    __atomic_store_n(&dn_stream_bytes, bytes ? bytes : dn_default_stream_bytes(), __ATOMIC_RELAXED);
    return old;
}

size_t dn_get_stream_threshold(void) {
    size_t b = __atomic_load_n(&dn_stream_bytes, __ATOMIC_RELAXED);
    if (!b) {
        b = dn_default_stream_bytes();
        __atomic_store_n(&dn_stream_bytes, b, __ATOMIC_RELAXED);
    }
    return b;
}

int dn_stream_decision(const void *out, size_t bytes, size_t elem) {
    /* non-temporal stores need aligned vectors; rows peel a head to get
     * there, which only an element-aligned output can reach */
    return (uintptr_t)out % elem == 0 && bytes >= dn_get_stream_threshold();
}

/* Shared helpers of the benchmark workloads (the .c and .cc files beside this one).
 *
 * Every workload is a small program run as  PROG -t THREADS -n WORK [-s SEED]  under one
 * allocator at a time (LD_PRELOAD). WORK is the total amount of work, split among the
 * threads, so adding threads shows how an allocator scales rather than making the run
 * longer. Each program checks its own results: blocks carry a tag derived from what they
 * hold, verified before they are freed, and computed results are checked against a second,
 * independent computation. A mismatch exits with PA_EXIT_CORRUPT, so an allocator that
 * hands out overlapping or recycled-while-live blocks fails instead of looking fast.
 *
 * Exit status: 0 verified, 2 bad usage or out of memory, 3 corruption detected. */
#ifndef PA_BENCH_H
#define PA_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __cplusplus
#define PA_BENCH_UNUSED [[maybe_unused]]
#else
#define PA_BENCH_UNUSED __attribute__((unused))
#endif

enum { PA_EXIT_USAGE = 2, PA_EXIT_CORRUPT = 3 };

typedef struct bench_args {
    int threads;
    long work;
    uint64_t seed;
} bench_args;

PA_BENCH_UNUSED static void bench_fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs(status == PA_EXIT_CORRUPT ? "CORRUPTION: " : "error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

#define bench_corrupt(...) bench_fail(PA_EXIT_CORRUPT, __VA_ARGS__)

PA_BENCH_UNUSED static bench_args bench_parse(int argc, char **argv, long default_work) {
    bench_args a = {1, default_work, 42};
    int c;
    while ((c = getopt(argc, argv, "t:n:s:")) != -1) {
        char *end = NULL;
        long v = optarg ? strtol(optarg, &end, 10) : 0;
        if (!end || *end || v < 1) bench_fail(PA_EXIT_USAGE, "-%c needs a positive integer", c);
        if (c == 't') a.threads = (int)v;
        else if (c == 'n') a.work = v;
        else if (c == 's') a.seed = (uint64_t)v;
        else bench_fail(PA_EXIT_USAGE, "usage: %s [-t THREADS] [-n WORK] [-s SEED]", argv[0]);
    }
    if (a.threads > 256) bench_fail(PA_EXIT_USAGE, "at most 256 threads");
    return a;
}

/* Allocation failure is not something a benchmark can recover from or score. */
PA_BENCH_UNUSED static void *bench_check_alloc(void *p, size_t n) {
    if (!p && n) bench_fail(PA_EXIT_USAGE, "out of memory allocating %zu bytes", n);
    return p;
}
#define xmalloc(n) bench_check_alloc(malloc(n), (n))
#define xrealloc(p, n) bench_check_alloc(realloc((p), (n)), (n))

/* splitmix64: tiny, fast, and every thread gets its own stream from one seed. */
PA_BENCH_UNUSED static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Uniform in [lo, hi]. */
PA_BENCH_UNUSED static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi) {
    return lo + (size_t)(rng_next(s) % (hi - lo + 1));
}

/* Roughly log-uniform in [lo, hi]: allocation sizes in real programs cluster at the small
 * end, and a uniform draw would make nearly every block large. */
PA_BENCH_UNUSED static inline size_t rng_logsize(uint64_t *s, size_t lo, size_t hi) {
    uint64_t r = rng_next(s);
    int lo_bits = 63 - __builtin_clzll(lo | 1), hi_bits = 63 - __builtin_clzll(hi | 1);
    int bits = lo_bits + (int)(r % (uint64_t)(hi_bits - lo_bits + 1));
    size_t n = ((size_t)1 << bits) + (size_t)((r >> 8) & (((size_t)1 << bits) - 1));
    return n < lo ? lo : n > hi ? hi : n;
}

PA_BENCH_UNUSED static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Tags a block: a word at the start, the end and every 4 KiB between, the way programs
 * touch what they allocate (headers, tails, each page of a buffer). Blocks under 16 bytes,
 * where those words would overlap, get a repeated tag byte. */
PA_BENCH_UNUSED static inline void tag_fill(void *p, size_t n, uint64_t tag) {
    unsigned char *b = (unsigned char *)p;
    if (n < 16) {
        memset(b, (int)(tag & 0xff) | 1, n);
        return;
    }
    for (size_t off = 0; off + 16 <= n; off += 4096) {
        uint64_t v = tag ^ off;
        memcpy(b + off, &v, 8);
    }
    uint64_t v = ~tag;
    memcpy(b + n - 8, &v, 8);
}

PA_BENCH_UNUSED static inline int tag_ok(const void *p, size_t n, uint64_t tag) {
    const unsigned char *b = (const unsigned char *)p;
    if (n < 16) {
        for (size_t i = 0; i < n; i++)
            if (b[i] != ((tag & 0xff) | 1)) return 0;
        return 1;
    }
    for (size_t off = 0; off + 16 <= n; off += 4096) {
        uint64_t v;
        memcpy(&v, b + off, 8);
        if (v != (tag ^ off)) return 0;
    }
    uint64_t v;
    memcpy(&v, b + n - 8, 8);
    return v == ~tag;
}

/* Runs fn(arg_i) on `threads` threads, arguments laid out `stride` bytes apart. */
PA_BENCH_UNUSED static void bench_run_threads(int threads, void *(*fn)(void *), void *args, size_t stride) {
    pthread_t tid[256];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, fn, (char *)args + (size_t)i * stride))
            bench_fail(PA_EXIT_USAGE, "pthread_create failed");
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
}

/* The one line of output: what was verified, for the log. */
PA_BENCH_UNUSED static void bench_ok(const char *what, uint64_t checksum) {
    printf("ok %s checksum=%016llx\n", what, (unsigned long long)checksum);
}

#endif

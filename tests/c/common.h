/* Helpers shared by the test programs. A failed CHECK prints where and why on stderr and
 * exits 1, so the pytest side sees the reason in the output. */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* Announces the pointer about to be misused; flushed so it survives the abort. */
static inline void show_pointer(const void *p) {
    printf("pointer %p\n", p);
    fflush(stdout);
}

/* Minor page faults of the process so far: pages touched for the first time. */
static inline long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* The process's kernel mappings: lines of /proc/self/maps. */
static inline long kernel_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "cannot open /proc/self/maps");
    long lines = 0;
    for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
    fclose(f);
    return lines;
}

/* Keeps the compiler from reasoning about a pointer (free of a stack object, ...). */
static inline void *launder(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline unsigned char pattern_byte(uint64_t tag, size_t i) {
    return (unsigned char)((tag * 131u + i * 7u + (i >> 8)) ^ (tag >> 8));
}

static inline void fill_pattern(void *p, size_t n, uint64_t tag) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) b[i] = pattern_byte(tag, i);
}

/* Index of the first byte that differs from the pattern, or n when intact. */
static inline size_t check_pattern(const void *p, size_t n, uint64_t tag) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(tag, i)) return i;
    return n;
}

/* n blocks of `size`, each filled with the pattern of its own tag, drawn from `seed`. */
static inline void malloc_tagged(void **blocks, uint64_t *tags, size_t n, size_t size, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        CHECK((blocks[i] = malloc(size)) != NULL, "malloc(%zu)", size);
        tags[i] = rng_next(&seed);
        fill_pattern(blocks[i], size, tags[i]);
    }
}

/* Frees the blocks of malloc_tagged, each after checking that it still holds its pattern. */
static inline void free_tagged(void **blocks, const uint64_t *tags, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++) {
        size_t bad = check_pattern(blocks[i], size, tags[i]);
        CHECK(bad == size, "block %p changed at byte %zu", blocks[i], bad);
        free(blocks[i]);
    }
}

typedef struct {
    uintptr_t start;
    size_t size;
} range_t;

static int range_cmp(const void *a, const void *b) {
    uintptr_t x = ((const range_t *)a)->start, y = ((const range_t *)b)->start;
    return x < y ? -1 : x > y;
}

/* Sorts ranges by address; returns the index of the first range that overlaps its
 * predecessor, or -1 when all are disjoint. */
static inline long first_overlap(range_t *r, size_t n) {
    qsort(r, n, sizeof *r, range_cmp);
    for (size_t i = 1; i < n; i++)
        if (r[i - 1].start + r[i - 1].size > r[i].start) return (long)i;
    return -1;
}

/* Milliseconds on the monotonic clock. */
static inline long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One round of work that gives the allocator's timed purges a chance to run while time
 * passes: n blocks of `size` come and go through the caller's `blocks` (its own array,
 * whose pages the caller has already counted), then a 1 ms nap. */
static inline void churn_and_nap(void **blocks, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++) CHECK((blocks[i] = malloc(size)) != NULL, "malloc(%zu)", size);
    for (size_t i = 0; i < n; i++) free(blocks[i]);
    struct timespec nap = {0, 1000000};
    nanosleep(&nap, NULL);
}

/* Resident set size of this process in KiB (VmRSS). */
static inline long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* True when malloc resolves into libpyalloc (the program runs preloaded). */
static inline int under_pyalloc(void) { return dlsym(RTLD_DEFAULT, "pyalloc_stats_get") != NULL; }

#endif

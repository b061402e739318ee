/* The whole usable size is writable: many blocks of each size are live at once, each
 * filled over its full malloc_usable_size with its own pattern, then all are checked. An
 * allocator overstating usable sizes or handing out overlapping blocks corrupts a
 * neighbour's pattern. */
#include "common.h"

#define PER_SIZE 24

static void round_of(size_t n, void *(*alloc)(size_t), const char *what) {
    void *p[PER_SIZE];
    size_t u[PER_SIZE];
    for (int i = 0; i < PER_SIZE; i++) {
        p[i] = alloc(n);
        CHECK(p[i] != NULL, "%s(%zu)", what, n);
        u[i] = malloc_usable_size(p[i]);
        CHECK(u[i] >= n, "%s(%zu): usable size %zu", what, n, u[i]);
        fill_pattern(p[i], u[i], n * PER_SIZE + (size_t)i);
    }
    range_t r[PER_SIZE];
    for (int i = 0; i < PER_SIZE; i++) {
        size_t bad = check_pattern(p[i], u[i], n * PER_SIZE + (size_t)i);
        CHECK(bad == u[i], "%s(%zu) block %d (usable %zu) damaged at byte %zu", what, n, i, u[i], bad);
        r[i].start = (uintptr_t)p[i];
        r[i].size = u[i];
    }
    CHECK(first_overlap(r, PER_SIZE) < 0, "%s(%zu): usable ranges overlap", what, n);
    for (int i = 0; i < PER_SIZE; i++) free(p[i]);
}

static void *aligned_256(size_t n) { return aligned_alloc(256, n); }

int main(void) {
    for (size_t n = 0; n <= 2048; n++) round_of(n, malloc, "malloc");
    for (size_t n = 2048; n <= ((size_t)300 << 10); n += n / 7 + 3) round_of(n, malloc, "malloc");
    for (size_t n = (size_t)1 << 20; n <= ((size_t)4 << 20); n += 777777) round_of(n, malloc, "malloc");
    for (size_t n = 1; n <= 100000; n = n * 3 + 1) round_of(n, aligned_256, "aligned_alloc(256)");
    printf("OK\n");
    return 0;
}

/* Use-after-free writes cannot steer pyalloc: blocks of many small sizes are freed, then
 * every freed block is overwritten in full (with pointer-like values aimed at a global and
 * with 0xff), then many allocations follow. None may overlap, be returned twice, land in
 * the global, or crash. Large blocks are unmapped on free, so only small ones are
 * written. */
#include "common.h"

#define N 3000
#define M 8000

static _Alignas(64) unsigned char target[4096];

int main(void) {
    static void *p[N];
    static size_t usable[N];
    static void *q[M];
    static size_t qsize[M];
    static range_t r[M];
    uint64_t rng = 42;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            p[i] = malloc(1 + rng_next(&rng) % 2048);
            CHECK(p[i] != NULL, "malloc");
            usable[i] = malloc_usable_size(p[i]);
        }
        for (int i = 0; i < N; i++) free(p[i]);
        for (int i = 0; i < N; i++) {
            uintptr_t *w = launder(p[i]);
            for (size_t k = 0; k < usable[i] / sizeof *w; k++)
                w[k] = (round == 1) ? ~(uintptr_t)0 : (uintptr_t)target + 16 * (k % 64);
        }
        for (int i = 0; i < M; i++) {
            qsize[i] = 1 + rng_next(&rng) % 2048;
            q[i] = malloc(qsize[i]);
            CHECK(q[i] != NULL, "malloc");
            uintptr_t a = (uintptr_t)q[i];
            CHECK(a + qsize[i] <= (uintptr_t)target || a >= (uintptr_t)target + sizeof target,
                  "malloc returned %p inside the target global", q[i]);
            fill_pattern(q[i], qsize[i], (uint64_t)i);
            r[i].start = a;
            r[i].size = qsize[i];
        }
        for (int i = 0; i < M; i++)
            CHECK(check_pattern(q[i], qsize[i], (uint64_t)i) == qsize[i], "block %d changed", i);
        long o = first_overlap(r, M);
        CHECK(o < 0, "blocks overlap: %#lx+%zu and %#lx", (unsigned long)r[o - 1].start, r[o - 1].size,
              (unsigned long)r[o].start);
        for (int i = 0; i < M; i++) free(q[i]);
    }
    printf("OK\n");
    return 0;
}

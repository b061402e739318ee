/* A heap overflow cannot steer pyalloc: 64 bytes are written past the end of a block, over
 * the next slots (live in one round, freed in the other), with bytes that look like
 * pointers to a global. Then thousands of mallocs and frees run with a live set whose
 * every block carries its own pattern: no block may be returned twice, overlap another,
 * lie in the global, or have its contents changed behind the program's back. */
#include "common.h"

#define NB 256
#define LIVE 600
#define OPS 40000

static _Alignas(64) unsigned char target[4096];

static void churn(uint64_t seed) {
    static void *live[LIVE];
    static size_t size[LIVE];
    static uint64_t tag[LIVE];
    static range_t r[LIVE];
    uint64_t rng = seed;
    memset(live, 0, sizeof live);
    for (int op = 0; op < OPS; op++) {
        int i = (int)(rng_next(&rng) % LIVE);
        if (live[i]) {
            size_t bad = check_pattern(live[i], size[i], tag[i]);
            CHECK(bad == size[i], "block %p (%zu bytes) changed at byte %zu", live[i], size[i], bad);
            free(live[i]);
            live[i] = NULL;
        } else {
            size[i] = 1 + rng_next(&rng) % 512;
            tag[i] = rng_next(&rng);
            live[i] = malloc(size[i]);
            CHECK(live[i] != NULL, "malloc");
            uintptr_t p = (uintptr_t)live[i];
            CHECK(p + size[i] <= (uintptr_t)target || p >= (uintptr_t)target + sizeof target,
                  "malloc returned %p inside the attacker's target", live[i]);
            fill_pattern(live[i], size[i], tag[i]);
        }
    }
    size_t n = 0;
    for (int i = 0; i < LIVE; i++)
        if (live[i]) {
            size_t bad = check_pattern(live[i], size[i], tag[i]);
            CHECK(bad == size[i], "block %p changed at byte %zu", live[i], bad);
            r[n].start = (uintptr_t)live[i];
            r[n++].size = size[i];
        }
    long o = first_overlap(r, n);
    CHECK(o < 0, "live blocks overlap: %#lx+%zu and %#lx", (unsigned long)r[o - 1].start, r[o - 1].size,
          (unsigned long)r[o].start);
    for (int i = 0; i < LIVE; i++) free(live[i]);
}

/* Finds three consecutive slots among NB blocks of `n` bytes; returns the index of the
 * first in the sorted array. */
static int find_run(void **blk, size_t n) {
    for (int i = 0; i < NB; i++) blk[i] = malloc(n);
    range_t r[NB];
    for (int i = 0; i < NB; i++) r[i].start = (uintptr_t)blk[i], r[i].size = n;
    qsort(r, NB, sizeof r[0], range_cmp);
    for (int i = 0; i < NB; i++) blk[i] = (void *)r[i].start;
    size_t slot = malloc_usable_size(blk[0]);
    for (int i = 0; i + 2 < NB; i++)
        if (r[i + 1].start == r[i].start + slot && r[i + 2].start == r[i + 1].start + slot) return i;
    return -1;
}

static void overflow(unsigned char *p, size_t len) {
    uintptr_t fake[8];
    for (int k = 0; k < 8; k++) fake[k] = (uintptr_t)target + 16 * (uintptr_t)k;
    unsigned char *end = launder(p + malloc_usable_size(p));
    memcpy(end, fake, len);
}

int main(void) {
    static const size_t sizes[] = {40, 64, 100, 500};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int freed_neighbours = 0; freed_neighbours <= 1; freed_neighbours++) {
            void *blk[NB];
            int i = find_run(blk, sizes[s]);
            CHECK(i >= 0, "no three adjacent slots among %d blocks of %zu bytes", NB, sizes[s]);
            if (freed_neighbours) {
                free(blk[i + 1]);
                free(blk[i + 2]);
                blk[i + 1] = blk[i + 2] = NULL;
            }
            overflow(blk[i], 64);
            for (int k = 0; k < NB; k++) free(blk[k]);
            churn(sizes[s] * 2 + (uint64_t)freed_neighbours);
        }
    }
    printf("OK\n");
    return 0;
}

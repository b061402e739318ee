/* A program that moves from size to size: batches of 256 KiB of blocks of one size, from
 * 1 to 16 KiB in eight steps per power of two (across the 8 KiB boundary between slab
 * sizes), each batch freed before the next. After a few passes every batch should find
 * pages the ones before it freed. Prints the page faults of the later passes and the pages
 * their batches span. */
#include "common.h"

#define BATCH (256 * 1024)
#define PASSES 30
#define WARMUP 10

/* 256 * 2^(k/8), rounded: eight geometric steps per power of two. */
static const unsigned step_scale[8] = {256, 279, 304, 332, 362, 395, 431, 470};

int main(void) {
    static char *block[BATCH / 1024];
    long faults = 0, pages = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        long before = minor_faults();
        for (int step = 0; step <= 32; step++) {
            size_t size = ((size_t)1024 << (step / 8)) * step_scale[step % 8] / 256;
            size_t n = BATCH / size;
            for (size_t i = 0; i < n; i++) {
                block[i] = malloc(size);
                CHECK(block[i] != NULL, "malloc(%zu)", size);
                memset(block[i], 1, size);
            }
            for (size_t i = 0; i < n; i++) free(block[i]);
            if (pass >= WARMUP) pages += (long)(n * size / 4096);
        }
        if (pass >= WARMUP) faults += minor_faults() - before;
    }
    printf("faults %ld\npages %ld\n", faults, pages);
    return 0;
}

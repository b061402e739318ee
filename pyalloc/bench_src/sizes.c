/* Size-class sweep: batches of blocks of one size at a time, from 8 bytes to past the
 * largest small class (pyalloc: 256 KiB) in eight steps per power of two, freed in LIFO,
 * FIFO or shuffled order. Finds the size ranges where an allocator's class layout,
 * slab sizes or large-block path are slow, and the per-size cost of switching classes. */
#include "bench.h"

enum { BATCH_BYTES = 256 * 1024, MIN_BATCH = 4, MAX_BATCH = 512, MAX_SIZE = 512 * 1024 };

/* 256 * 2^(k/8): eight geometric steps per power of two, in fixed point. */
static const unsigned step_scale[8] = {256, 279, 304, 332, 362, 395, 431, 470};

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 40);
    uint64_t rng = a.seed, sum = 0;
    void *block[MAX_BATCH];
    uint64_t tag[MAX_BATCH];
    size_t order[MAX_BATCH];
    for (long pass = 0; pass < a.work; pass++) {
        for (int step = 0;; step++) {
            /* About 8 * 2^(step/8), plus 0..2 so that odd sizes come up too. */
            size_t size = (((size_t)8 << (step / 8)) * step_scale[step % 8] + 128) / 256 + (size_t)(pass % 3);
            if (size > MAX_SIZE) break;
            size_t n = BATCH_BYTES / size;
            n = n < MIN_BATCH ? MIN_BATCH : n > MAX_BATCH ? MAX_BATCH : n;
            for (size_t i = 0; i < n; i++) {
                block[i] = xmalloc(size);
                tag[i] = rng_next(&rng);
                tag_fill(block[i], size, tag[i]);
                order[i] = i;
            }
            int how = (int)((pass + (long)step) % 3);
            for (size_t i = 0; i < n; i++) {
                size_t k = how == 0 ? n - 1 - i : how == 1 ? i : order[i];
                if (how == 2) { /* shuffle on the fly */
                    size_t j = i + (size_t)(rng_next(&rng) % (n - i));
                    k = order[j];
                    order[j] = order[i];
                    order[i] = k;
                }
                if (!tag_ok(block[k], size, tag[k])) bench_corrupt("sizes: %zu-byte block %zu changed", size, k);
                sum += tag[k] & 0xffff;
                free(block[k]);
            }
        }
    }
    bench_ok("sizes", sum);
    return 0;
}

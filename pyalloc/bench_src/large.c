/* Large allocations: a window of live buffers of 64 KiB to 8 MiB (log-uniform), each
 * written on every page, replaced at random. Costs here are mmap/munmap, page faults and
 * zeroing; allocators that keep freed large blocks for reuse save them, at some RSS. */
#include "bench.h"

enum { WINDOW = 8 };
#define MIN_SIZE ((size_t)64 * 1024)
#define MAX_SIZE ((size_t)8 * 1024 * 1024)

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 3000);
    uint64_t rng = a.seed, sum = 0;
    void *block[WINDOW] = {0};
    size_t size[WINDOW] = {0};
    uint64_t tag[WINDOW] = {0};
    for (long op = 0; op < a.work; op++) {
        int i = (int)(rng_next(&rng) % WINDOW);
        if (block[i]) {
            if (!tag_ok(block[i], size[i], tag[i])) bench_corrupt("large: %zu-byte block changed", size[i]);
            sum += size[i];
            free(block[i]);
        }
        size[i] = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
        tag[i] = rng_next(&rng);
        block[i] = xmalloc(size[i]);
        tag_fill(block[i], size[i], tag[i]);
    }
    for (int i = 0; i < WINDOW; i++) {
        if (block[i] && !tag_ok(block[i], size[i], tag[i])) bench_corrupt("large: final block changed");
        free(block[i]);
    }
    bench_ok("large", sum);
    return 0;
}

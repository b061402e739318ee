/* A program that sweeps the size classes again and again, a batch of blocks of each size
 * at a time, each batch freed before the next. Once the first sweep has made the heap as
 * big as it gets, later sweeps should find their pages among the slabs earlier classes
 * emptied (moved between classes) rather than fault in new ones. Every block carries a
 * pattern checked before it is freed, so pages that moved while still in use, or that
 * two classes share, show up as corruption. Prints the pages one sweep's blocks span, the
 * page faults of the first sweep and of the later ones, and the process's mapping count at
 * the start, after the sweeps and after malloc_trim(0). */
#include "common.h"

#define BATCH ((size_t)256 << 10)
#define MIN_BATCH 4
#define SWEEPS 12

int main(void) {
    static void *p[BATCH / 16];
    static uint64_t tag[BATCH / 16];
    uint64_t rng = 42;
    long maps_start = kernel_mappings(), first = 0, later = 0, sweep_bytes = 0;
    for (int sweep = 0; sweep < SWEEPS; sweep++) {
        long before = minor_faults();
        for (size_t size = 16; size <= 256 * 1024; size += size / 4) {
            size_t n = BATCH / size < MIN_BATCH ? MIN_BATCH : BATCH / size;
            if (sweep == 0) sweep_bytes += (long)(n * size);
            for (size_t i = 0; i < n; i++) {
                p[i] = malloc(size);
                CHECK(p[i] != NULL, "malloc(%zu)", size);
                tag[i] = rng_next(&rng);
                fill_pattern(p[i], size, tag[i]);
            }
            for (size_t i = 0; i < n; i++) {
                size_t bad = check_pattern(p[i], size, tag[i]);
                CHECK(bad == size, "%zu-byte block %p changed at byte %zu", size, p[i], bad);
                free(p[i]);
            }
        }
        long faults = minor_faults() - before;
        if (sweep == 0) first = faults;
        else later += faults;
    }
    long maps_swept = kernel_mappings();
    malloc_trim(0);
    printf("sweep_pages %ld\nfirst_sweep_faults %ld\nlater_sweep_faults %ld\nlater_sweeps %d\n"
           "maps_start %ld\nmaps_swept %ld\nmaps_trimmed %ld\n",
           sweep_bytes / 4096, first, later, SWEEPS - 1, maps_start, maps_swept, kernel_mappings());
    return 0;
}

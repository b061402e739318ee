/* Allocates about 256 MiB in small blocks, touches every byte, frees them all (in a
 * shuffled order) and reports the resident set at the peak, right after the frees, and
 * after malloc_trim(0). The pointer array is mmap'd so it does not count as heap. */
#include <sys/mman.h>

#include "common.h"

#define TOTAL ((size_t)256 << 20)

int main(void) {
    size_t cap = TOTAL / 16 + 1;
    void **p = mmap(NULL, cap * sizeof *p, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap");
    uint64_t rng = 1;
    size_t n = 0, bytes = 0;
    long base = rss_kib();
    while (bytes < TOTAL) {
        size_t s = 16 + rng_next(&rng) % 4096;
        p[n] = malloc(s);
        CHECK(p[n] != NULL, "malloc");
        memset(p[n], 0x77, s);
        bytes += s;
        n++;
    }
    long peak = rss_kib();
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_next(&rng) % (i + 1);
        void *t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    for (size_t i = 0; i < n; i++) free(p[i]);
    long after_free = rss_kib();
    malloc_trim(0);
    long after_trim = rss_kib();
    printf("blocks %zu\nrss_base_kib %ld\nrss_peak_kib %ld\nrss_after_free_kib %ld\nrss_after_trim_kib %ld\n", n,
           base, peak, after_free, after_trim);
    return 0;
}

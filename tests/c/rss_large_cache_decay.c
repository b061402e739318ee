/* A freed large block waits purge_delay_ms in the large cache for reuse, then goes back to
 * the OS: a 24 MiB block is written and freed, after which the program goes on for argv[1]
 * milliseconds with small blocks and a 1 MiB buffer (which the cache serves out of the
 * freed range). Prints RSS at three points. */
#include <stdlib.h>

#include "common.h"

#define BIG ((size_t)24 << 20)
#define BUFFER ((size_t)1 << 20)
#define FEW 4096

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: rss_large_cache_decay WAIT_MS");
    static void *p[FEW];
    memset(p, 0, sizeof p);          /* the array's own pages count in the base */
    long base = rss_kib();
    char *big = malloc(BIG);
    CHECK(big != NULL, "malloc");
    memset(big, 0x5a, BIG);
    free(big);
    long freed = rss_kib();
    for (long start = now_ms(); now_ms() - start < atol(argv[1]);) {
        char *buffer = malloc(BUFFER);
        CHECK(buffer != NULL, "malloc");
        memset(buffer, 0xa5, BUFFER);
        free(buffer);
        churn_and_nap(p, FEW, 48);
    }
    printf("rss_base_kib %ld\nrss_freed_kib %ld\nrss_later_kib %ld\n", base, freed, rss_kib());
    return 0;
}

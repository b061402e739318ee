/* Empty slabs of a class still in use wait purge_delay_ms for reuse, then go back to the OS:
 * 16 MiB of 48-byte blocks are freed, after which the program keeps working in the same
 * class with a small working set for argv[1] milliseconds. Prints RSS at three points. */
#include <stdlib.h>

#include "common.h"

#define BLOCK 48
#define MANY ((16u << 20) / BLOCK)
#define FEW 4096

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: rss_purge_delay WAIT_MS");
    static void *p[MANY];
    memset(p, 0, sizeof p);          /* the array's own pages count in the base */
    long base = rss_kib();
    for (size_t i = 0; i < MANY; i++) {
        CHECK((p[i] = malloc(BLOCK)) != NULL, "malloc");
        memset(p[i], 0x5a, BLOCK);
    }
    for (size_t i = 0; i < MANY; i++) free(p[i]);
    long freed = rss_kib();
    for (long start = now_ms(); now_ms() - start < atol(argv[1]);) churn_and_nap(p, FEW, BLOCK);
    printf("rss_base_kib %ld\nrss_freed_kib %ld\nrss_later_kib %ld\n", base, freed, rss_kib());
    return 0;
}

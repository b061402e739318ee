/* Big free slots in a slab that is still in use go back to the OS once they have waited
 * slot_purge_delay_ms for reuse: 64 KiB blocks are written and every eighth stays live
 * while the others are freed; the program then works in a small class for argv[1]
 * milliseconds. Prints how many pages of the freed blocks are resident (mincore) right
 * after the frees (after malloc_trim(0) if argv[2] is "trim") and at the end; the live
 * blocks must keep their contents. */
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#define BLOCK (64 * 1024)
#define N 64
#define FEW 4096

static long resident_pages(void *const *blocks) {
    long page = sysconf(_SC_PAGESIZE), total = 0;
    unsigned char in_core[BLOCK / 4096];
    for (int i = 0; i < N; i++) {
        if (i % 8 == 0) continue;
        CHECK(mincore(blocks[i], BLOCK, in_core) == 0, "mincore: %s", strerror(errno));
        for (long k = 0; k < BLOCK / page; k++) total += in_core[k] & 1;
    }
    return total;
}

int main(int argc, char **argv) {
    CHECK(argc == 2 || (argc == 3 && !strcmp(argv[2], "trim")), "usage: rss_idle_slots WAIT_MS [trim]");
    static void *block[N], *few[FEW];
    for (int i = 0; i < N; i++) {
        CHECK((block[i] = malloc(BLOCK)) != NULL, "malloc");
        fill_pattern(block[i], BLOCK, (uint64_t)i);
    }
    for (int i = 0; i < N; i++)
        if (i % 8) free(block[i]);
    if (argc == 3) malloc_trim(0);
    long now = resident_pages(block);
    for (long start = now_ms(); now_ms() - start < atol(argv[1]);) churn_and_nap(few, FEW, 48);
    long later = resident_pages(block);
    for (int i = 0; i < N; i += 8)
        CHECK(check_pattern(block[i], BLOCK, (uint64_t)i) == BLOCK, "live block %d changed", i);
    printf("freed_pages %ld\nresident_now %ld\nresident_later %ld\n", (long)(N - N / 8) * (BLOCK / 4096), now,
           later);
    return 0;
}

/* A program that moves through the size classes, 1 MiB of blocks of each size at a time,
 * each batch freed before the next: what stays resident afterwards is what the allocator
 * keeps for classes no longer in use (thread-cache bins, empty slabs). Then a freed 8 MiB
 * block must serve smaller requests without new page faults (the large-block cache). */
#include "common.h"

#define BATCH ((size_t)1 << 20)

int main(void) {
    static void *p[BATCH / 16];
    long base = rss_kib();
    size_t classes = 0;
    for (size_t size = 16; size <= 256 * 1024; size += size / 4, classes++) {
        size_t n = BATCH / size;
        for (size_t i = 0; i < n; i++) {
            p[i] = malloc(size);
            CHECK(p[i] != NULL, "malloc");
            memset(p[i], 0x5a, size);
        }
        __asm__ volatile("" : : : "memory");
        for (size_t i = 0; i < n; i++) free(p[i]);
    }
    long swept = rss_kib();

    char *big = malloc(8 << 20);
    CHECK(big != NULL, "malloc");
    memset(big, 1, 8 << 20);
    __asm__ volatile("" : : "r"(big) : "memory"); /* the stores must happen though big dies */
    free(big);
    long before = minor_faults();
    for (int i = 0; i < 4; i++) {
        char *q = malloc(1 << 20);
        CHECK(q != NULL, "malloc");
        memset(q, 2, 1 << 20);
        p[i] = q;
    }
    long faults = minor_faults() - before;
    for (int i = 0; i < 4; i++) free(p[i]);
    printf("classes %zu\nrss_base_kib %ld\nrss_swept_kib %ld\nlarge_reuse_faults %ld\n", classes, base, swept,
           faults);
    return 0;
}

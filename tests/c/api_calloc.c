/* calloc returns zeroed memory even when it reuses dirty blocks: for many sizes, blocks are
 * filled with 0xAA and freed, then calloc'd again many times; every byte must be zero. */
#include "common.h"

#define LIVE 64

static void check_zero(const unsigned char *p, size_t n, size_t count, size_t size) {
    for (size_t i = 0; i < n; i++)
        CHECK(p[i] == 0, "calloc(%zu, %zu) byte %zu is 0x%02x", count, size, i, p[i]);
}

int main(void) {
    static const size_t sizes[] = {1,   15,   16,   17,   40,    48,    100,    128,    129,    200,
                                   512, 1000, 4096, 8000, 30000, 65536, 200000, 262144, 262145, 1 << 20,
                                   (size_t)3 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        int rounds = n > 100000 ? 3 : 20;
        for (int round = 0; round < rounds; round++) {
            void *dirty[LIVE];
            int live = n > 100000 ? 4 : LIVE;
            for (int i = 0; i < live; i++) {
                dirty[i] = malloc(n);
                CHECK(dirty[i] != NULL, "malloc(%zu)", n);
                memset(dirty[i], 0xAA, malloc_usable_size(dirty[i]));
            }
            for (int i = 0; i < live; i++) free(dirty[i]);
            for (int i = 0; i < live; i++) {
                size_t count = (i & 1) ? n : 1, size = (i & 1) ? 1 : n;
                unsigned char *p = calloc(count, size);
                CHECK(p != NULL, "calloc(%zu, %zu)", count, size);
                check_zero(p, n, count, size);
                dirty[i] = p;
            }
            for (int i = 0; i < live; i++) {
                memset(dirty[i], 0xAA, n);
                free(dirty[i]);
            }
        }
    }
    /* calloc(n, size) with a real multiplication. */
    for (int rep = 0; rep < 200; rep++) {
        size_t count = 1 + (size_t)rep * 13, size = 24;
        void *d = malloc(count * size);
        memset(d, 0xAA, count * size);
        free(d);
        unsigned char *p = calloc(count, size);
        CHECK(p != NULL, "calloc");
        check_zero(p, count * size, count, size);
        free(p);
    }
    printf("OK\n");
    return 0;
}

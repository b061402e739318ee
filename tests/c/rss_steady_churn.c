/* A heap steady at its peak whose bytes keep moving between size classes: buffers grow by
 * appends (half realloc to the exact length, half double their capacity) up to a target of
 * 16 bytes to 256 KiB, are checked, freed and started again. Slabs empty in the classes
 * buffers leave while the classes they grow into need pages, with the heap at its peak
 * all the time, so whether an emptied slab is kept or purged (and faulted in again
 * elsewhere) is up to retain_below_peak. Prints the page faults and the highest RSS of
 * the second half, after the heap has grown to its working size. */
#include "common.h"

#define BUFFERS 512
#define OPS 1500000
#define MAX_TARGET (256 << 10)

typedef struct {
    unsigned char *data;
    size_t len, cap, target;
    unsigned char seed;
} buffer;

static void restart(buffer *b, uint64_t *rng) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->target = (size_t)16 << (rng_next(rng) % 15); /* 16 B .. 256 KiB, log-uniform */
    b->seed = (unsigned char)rng_next(rng);
}

static void finish(buffer *b) {
    for (size_t i = 0; i < b->len; i++)
        CHECK(b->data[i] == (unsigned char)(b->seed + i), "buffer %p lost byte %zu of %zu", (void *)b->data, i, b->len);
    free(b->data);
}

int main(void) {
    static buffer buf[BUFFERS];
    uint64_t rng = 5;
    for (int i = 0; i < BUFFERS; i++) restart(&buf[i], &rng);
    long before = 0, rss_max = 0;
    for (long op = 0; op < OPS; op++) {
        if (op == OPS / 2) before = minor_faults();
        buffer *b = &buf[rng_next(&rng) % BUFFERS];
        size_t len = b->len + 1 + rng_next(&rng) % 64;
        if (len > b->cap) {
            size_t cap = b - buf < BUFFERS / 2 ? len : b->cap ? b->cap * 2 : 16;
            while (cap < len) cap *= 2;
            b->data = realloc(b->data, cap);
            CHECK(b->data != NULL, "realloc(%zu)", cap);
            b->cap = cap;
        }
        for (size_t k = b->len; k < len; k++) b->data[k] = (unsigned char)(b->seed + k);
        b->len = len;
        if (b->len >= b->target) {
            finish(b);
            restart(b, &rng);
        }
        if (op >= OPS / 2 && op % 20000 == 0 && rss_kib() > rss_max) rss_max = rss_kib();
    }
    long faults = minor_faults() - before;
    for (int i = 0; i < BUFFERS; i++) finish(&buf[i]);
    printf("churn_faults %ld\nrss_churn_kib %ld\n", faults, rss_max);
    return 0;
}

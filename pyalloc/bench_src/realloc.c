/* realloc growth: many buffers grow by appending, the way strings, logs and arrays are
 * built. Half of them realloc to the exact new length on every append (naive string
 * building: the allocator's in-place growth decides whether this is linear or quadratic),
 * half double their capacity (vectors). A buffer that reaches its target length is checked
 * byte for byte, freed and started again. */
#include "bench.h"

enum { BUFFERS = 1024, MAX_TARGET = 256 * 1024 };

typedef struct {
    unsigned char *data;
    size_t len, cap, target;
    uint64_t seed;                   /* byte i of the buffer is expected_byte(seed, i) */
    int doubling;
} buffer;

static inline unsigned char expected_byte(uint64_t seed, size_t i) {
    return (unsigned char)((seed >> (i % 8 * 8)) + i * 131);
}

static void restart(buffer *b, uint64_t *rng) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->target = rng_logsize(rng, 16, MAX_TARGET);
    b->seed = rng_next(rng);
}

static uint64_t finish(buffer *b, int index) {
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != expected_byte(b->seed, i))
            bench_corrupt("realloc: buffer %d lost its contents at byte %zu of %zu", index, i, b->len);
    free(b->data);
    return b->len;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 4000000);
    uint64_t rng = a.seed, total = 0;
    static buffer buf[BUFFERS];
    for (int i = 0; i < BUFFERS; i++) {
        buf[i].doubling = i & 1;
        restart(&buf[i], &rng);
    }
    for (long op = 0; op < a.work; op++) {
        int i = (int)(rng_next(&rng) % BUFFERS);
        buffer *b = &buf[i];
        size_t chunk = rng_logsize(&rng, 1, 64);
        size_t len = b->len + chunk;
        if (len > b->cap) {
            size_t cap = b->doubling ? (b->cap ? b->cap * 2 : 16) : len;
            while (cap < len) cap *= 2;
            b->data = xrealloc(b->data, cap);
            b->cap = cap;
        }
        for (size_t k = b->len; k < len; k++) b->data[k] = expected_byte(b->seed, k);
        b->len = len;
        if (b->len >= b->target) {
            total += finish(b, i);
            restart(b, &rng);
        }
    }
    for (int i = 0; i < BUFFERS; i++) total += finish(&buf[i], i);
    bench_ok("realloc", total);
    return 0;
}

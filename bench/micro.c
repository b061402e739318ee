/* Loops for bench/test_micro.py: malloc/free patterns run entirely in C, so that a
 * pytest-benchmark measurement of one call is the allocator's cost, not Python's.
 *
 * The allocator comes in as function pointers, so the same compiled loop runs against
 * pyalloc's in-process heap (pyalloc_malloc/pyalloc_free from the cffi module, whose
 * symbols are not global) and against the C library's malloc: both pay the same
 * indirect call. Each loop writes into its blocks, as real code does, and returns a
 * checksum of what it read back so that nothing can be optimised away. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);

/* n times: allocate `size` bytes, write the first and last byte, free. The thread cache
 * fast path at its best: the same slot comes back every time. */
uint64_t loop_pairs(malloc_fn alloc, free_fn release, size_t n, size_t size) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = alloc(size);
        if (!p) return 0;
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)(i >> 8);
        sum += p[0] + p[size - 1];
        release(p);
    }
    return sum;
}

/* n times: replace a random block of a 1024-block working set with a new one of a random
 * size (8..4095 bytes, skewed small): classes mix and slots are reused out of order. */
uint64_t loop_mixed(malloc_fn alloc, free_fn release, size_t n, uint64_t seed) {
    enum { LIVE = 1024 };
    void *live[LIVE] = {0};
    uint64_t sum = 0, x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;    /* xorshift64 */
        size_t k = x % LIVE;
        size_t size = (size_t)8 << ((x >> 32) % 9); /* 8, 16, ... 2048, plus up to as much again */
        size += (x >> 40) % size;
        if (live[k]) {
            sum += *(unsigned char *)live[k];
            release(live[k]);
        }
        unsigned char *p = alloc(size);
        if (!p) return 0;
        memset(p, (int)i, size < 64 ? size : 64);
        live[k] = p;
    }
    for (size_t k = 0; k < LIVE; k++) release(live[k]);
    return sum;
}

/* rounds times: allocate `batch` blocks of `size` bytes, then free them all. Batches larger
 * than a thread cache go through refills and flushes of the central pools. */
uint64_t loop_batch(malloc_fn alloc, free_fn release, size_t rounds, size_t batch, size_t size) {
    enum { MAX_BATCH = 4096 };
    void *held[MAX_BATCH];
    uint64_t sum = 0;
    if (batch > MAX_BATCH) return 0;
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < batch; i++) {
            unsigned char *p = alloc(size);
            if (!p) return 0;
            p[0] = (unsigned char)i;
            held[i] = p;
        }
        for (size_t i = 0; i < batch; i++) {
            sum += *(unsigned char *)held[i];
            release(held[i]);
        }
    }
    return sum;
}

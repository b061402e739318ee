/* Threads allocate blocks of random sizes (mostly small, some large), stamp each with a
 * pattern derived from its tag, and swap them into a shared array; whoever takes a block
 * out verifies the pattern and frees it, so most frees are cross-thread. Some blocks are
 * realloc'd on the way. argv: threads ops_per_thread. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

#define SLOTS 4096

typedef struct {
    size_t size;
    uint64_t tag;
} hdr_t;                           /* at the start of each block; the pattern follows */

static _Atomic(hdr_t *) shared[SLOTS];
static long ops;

static size_t random_size(uint64_t *rng) {
    uint64_t r = rng_next(rng) % 1000;
    if (r < 700) return sizeof(hdr_t) + rng_next(rng) % 256;
    if (r < 950) return sizeof(hdr_t) + rng_next(rng) % 16384;
    if (r < 995) return sizeof(hdr_t) + rng_next(rng) % (256 << 10);
    return (256 << 10) + rng_next(rng) % (1 << 20);
}

static hdr_t *make(uint64_t *rng) {
    size_t n = random_size(rng);
    hdr_t *h = malloc(n);
    CHECK(h != NULL, "malloc(%zu)", n);
    h->size = n;
    h->tag = rng_next(rng);
    fill_pattern(h + 1, n - sizeof *h, h->tag);
    return h;
}

static void verify(hdr_t *h) {
    size_t body = h->size - sizeof *h;
    size_t bad = check_pattern(h + 1, body, h->tag);
    CHECK(bad == body, "block %p of %zu bytes corrupted at byte %zu", (void *)h, h->size, bad);
    CHECK(malloc_usable_size(h) >= h->size, "usable size shrank");
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
    void *local[16] = {0};
    for (long i = 0; i < ops; i++) {
        hdr_t *h = make(&rng);
        if (rng_next(&rng) % 8 == 0) {   /* keep some blocks thread-local for a while */
            int k = (int)(rng_next(&rng) % 16);
            if (local[k]) verify(local[k]), free(local[k]);
            local[k] = h;
            continue;
        }
        hdr_t *old = atomic_exchange(&shared[rng_next(&rng) % SLOTS], h);
        if (!old) continue;
        verify(old);
        if (rng_next(&rng) % 4 == 0) {   /* grow or shrink, then check the kept part */
            size_t keep = old->size;
            uint64_t tag = old->tag;
            size_t n = random_size(&rng);
            hdr_t *r = realloc(old, n);
            CHECK(r != NULL, "realloc");
            size_t body = (n < keep ? n : keep) - sizeof *r;
            CHECK(check_pattern(r + 1, body, tag) == body, "realloc lost data");
            old = r;
        }
        free(old);
    }
    for (int k = 0; k < 16; k++)
        if (local[k]) verify(local[k]), free(local[k]);
    return NULL;
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: stress_threads threads ops");
    int nthreads = atoi(argv[1]);
    ops = atol(argv[2]);
    pthread_t t[64];
    CHECK(nthreads > 0 && nthreads <= 64, "threads");
    for (int i = 0; i < nthreads; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0, "create");
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++) {
        hdr_t *h = atomic_load(&shared[i]);
        if (h) verify(h), free(h);
    }
    printf("OK\n");
    return 0;
}

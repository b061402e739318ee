/* Two threads take turns with the same size: the first fills 8 MiB with 64-byte blocks
 * and frees them, then waits, alive, so that the second lands in another arena; the
 * second allocates the same again. Memory one thread freed should serve the other
 * without new page faults. Prints the pages the blocks span, the second thread's own
 * page faults while it allocates and fills, and how many of its blocks reuse addresses
 * of the first thread's. Every block carries a pattern checked before it is freed. */
#include "common.h"

#include <pthread.h>
#include <sys/resource.h>

#define BYTES ((size_t)8 << 20)
#define SIZE 64
#define COUNT (BYTES / SIZE)

static void *blocks[COUNT];
static uint64_t tags[COUNT];
static uintptr_t first_lo = UINTPTR_MAX, first_hi;
static pthread_barrier_t freed, done;

static long thread_minor_faults(void) {
    struct rusage ru;
    CHECK(getrusage(RUSAGE_THREAD, &ru) == 0, "getrusage");
    return ru.ru_minflt;
}

static void *first(void *arg) {
    (void)arg;
    malloc_tagged(blocks, tags, COUNT, SIZE, 1);
    for (size_t i = 0; i < COUNT; i++) {
        uintptr_t p = (uintptr_t)blocks[i];
        if (p < first_lo) first_lo = p;
        if (p + SIZE > first_hi) first_hi = p + SIZE;
    }
    free_tagged(blocks, tags, COUNT, SIZE);
    pthread_barrier_wait(&freed);
    pthread_barrier_wait(&done); /* alive until the second is through */
    return NULL;
}

static void *second(void *arg) {
    (void)arg;
    long before = thread_minor_faults();
    malloc_tagged(blocks, tags, COUNT, SIZE, 2);
    long faults = thread_minor_faults() - before;
    long reused = 0;
    for (size_t i = 0; i < COUNT; i++) reused += (uintptr_t)blocks[i] >= first_lo && (uintptr_t)blocks[i] < first_hi;
    free_tagged(blocks, tags, COUNT, SIZE);
    printf("pages %zu\nsecond_faults %ld\nsecond_blocks %zu\nsecond_reused %ld\n", BYTES / 4096, faults,
           (size_t)COUNT, reused);
    return NULL;
}

int main(void) {
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, first, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&freed);
    CHECK(pthread_create(&b, NULL, second, NULL) == 0, "pthread_create");
    pthread_join(b, NULL);
    pthread_barrier_wait(&done);
    pthread_join(a, NULL);
    return 0;
}

/* A worker thread fills 8 MiB with 64-byte blocks and exits; the main thread checks and
 * frees them. Nothing of them may stay with the exited thread's heap: once freed, the
 * blocks leave the heap's in-use count, and malloc_trim gives their pages back. Every
 * block carries a pattern checked before it is freed. */
#include "pyalloc.h"

#include "common.h"

#include <malloc.h>
#include <pthread.h>

#define BYTES ((size_t)8 << 20)
#define SIZE 64
#define COUNT (BYTES / SIZE)

static void *blocks[COUNT];
static uint64_t tags[COUNT];

static void *idle(void *arg) { return arg; }

static void *worker(void *arg) {
    (void)arg;
    malloc_tagged(blocks, tags, COUNT, SIZE, 7);
    return NULL;
}

int main(void) {
    void (*stats_get)(pyalloc_stats *) = (void (*)(pyalloc_stats *))dlsym(RTLD_DEFAULT, "pyalloc_stats_get");
    CHECK(stats_get != NULL, "pyalloc_stats_get not found: not running under pyalloc");
    static pyalloc_stats st;
    /* The program's own arrays, and a thread, in the baseline: what glibc keeps of one
     * (its cached stack, its own blocks) stays after it exits. */
    memset(blocks, 0, sizeof blocks);
    memset(tags, 0, sizeof tags);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, idle, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    stats_get(&st);
    size_t in_use_before = st.small_in_use_count;
    long base = rss_kib();
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    long full = rss_kib();
    free_tagged(blocks, tags, COUNT, SIZE);
    stats_get(&st);
    size_t in_use_freed = st.small_in_use_count;
    malloc_trim(0);
    long trimmed = rss_kib();
    printf("rss_base_kib %ld\nrss_full_kib %ld\nrss_trimmed_kib %ld\n", base, full, trimmed);
    printf("in_use_before %zu\nin_use_freed %zu\n", in_use_before, in_use_freed);
    return 0;
}

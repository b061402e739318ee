/* larson-like: a server whose worker threads each own a set of live objects (requests,
 * sessions) and keep replacing random ones with new objects of random size. After a
 * while a worker hands its whole set to a fresh thread and exits, as servers recycle
 * workers, so most frees hit blocks that another, often dead, thread allocated: the case
 * where per-thread caches must return memory to its owner rather than hoard it. */
#include "bench.h"

enum { LIVE_BLOCKS = 8192, GENERATIONS = 16, MIN_SIZE = 16, MAX_SIZE = 512 };

typedef struct lineage {
    _Alignas(64) int id, generation;
    long ops_per_generation;
    uint64_t rng, checksum;
    size_t nslots;
    void **block;
    uint32_t *size;
    uint64_t *tag;
} lineage;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int running;

static void start(lineage *l);

static void *work(void *arg) {
    lineage *l = arg;
    for (long op = 0; op < l->ops_per_generation; op++) {
        size_t i = (size_t)(rng_next(&l->rng) % l->nslots);
        if (!tag_ok(l->block[i], l->size[i], l->tag[i]))
            bench_corrupt("larson lineage %d slot %zu: block changed while live", l->id, i);
        l->checksum += l->tag[i];
        free(l->block[i]);
        size_t n = rng_range(&l->rng, MIN_SIZE, MAX_SIZE);
        l->block[i] = xmalloc(n);
        l->size[i] = (uint32_t)n;
        l->tag[i] = rng_next(&l->rng);
        tag_fill(l->block[i], n, l->tag[i]);
    }
    if (++l->generation < GENERATIONS) {
        start(l);
    } else {
        pthread_mutex_lock(&done_lock);
        running--;
        pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&done_lock);
    }
    return NULL;
}

static void start(lineage *l) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, work, l)) bench_fail(PA_EXIT_USAGE, "pthread_create failed");
    pthread_attr_destroy(&attr);
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 8000000);
    static lineage lines[256];
    running = a.threads;
    for (int i = 0; i < a.threads; i++) {
        lineage *l = &lines[i];
        l->id = i;
        l->rng = a.seed * 7919u + (uint64_t)i;
        l->nslots = LIVE_BLOCKS / (size_t)a.threads;
        l->ops_per_generation = a.work / a.threads / GENERATIONS;
        l->block = xmalloc(l->nslots * sizeof(void *));
        l->size = xmalloc(l->nslots * sizeof(uint32_t));
        l->tag = xmalloc(l->nslots * sizeof(uint64_t));
        for (size_t s = 0; s < l->nslots; s++) {
            l->size[s] = (uint32_t)rng_range(&l->rng, MIN_SIZE, MAX_SIZE);
            l->tag[s] = rng_next(&l->rng);
            l->block[s] = xmalloc(l->size[s]);
            tag_fill(l->block[s], l->size[s], l->tag[s]);
        }
    }
    /* Started only once every set is built, so the first generation of each lineage
     * frees blocks that the main thread allocated. */
    for (int i = 0; i < a.threads; i++) start(&lines[i]);
    pthread_mutex_lock(&done_lock);
    while (running) pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);

    uint64_t sum = 0;
    for (int i = 0; i < a.threads; i++) {
        lineage *l = &lines[i];
        for (size_t s = 0; s < l->nslots; s++) {
            if (!tag_ok(l->block[s], l->size[s], l->tag[s])) bench_corrupt("larson: final block %zu damaged", s);
            free(l->block[s]);
        }
        free(l->block);
        free(l->size);
        free(l->tag);
        sum ^= l->checksum;
    }
    bench_ok("larson", sum);
    return 0;
}

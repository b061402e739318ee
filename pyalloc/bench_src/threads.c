/* Thread churn: short-lived threads, THREADS at a time, each allocating a few hundred
 * blocks, freeing half of them and leaving the rest to the next wave, which frees them.
 * Measures what a thread's birth and death cost the allocator (setting up and tearing
 * down thread caches, arenas) and whether blocks orphaned by dead threads are reclaimed. */
#include "bench.h"

enum { BLOCKS = 256, MIN_SIZE = 16, MAX_SIZE = 2048 };

typedef struct {
    void *block;
    uint32_t size;
    uint64_t tag;
} handoff;

typedef struct {
    _Alignas(64) uint64_t rng;
    handoff *inherit, *leave;        /* BLOCKS / 2 each */
    uint64_t checksum;
} job;

static void *worker(void *arg) {
    job *j = arg;
    void *mine[BLOCKS];
    uint32_t size[BLOCKS];
    uint64_t tag[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        size[i] = (uint32_t)rng_logsize(&j->rng, MIN_SIZE, MAX_SIZE);
        tag[i] = rng_next(&j->rng);
        mine[i] = xmalloc(size[i]);
        tag_fill(mine[i], size[i], tag[i]);
    }
    for (int i = 0; i < BLOCKS / 2 && j->inherit; i++) {
        handoff *h = &j->inherit[i];
        if (!tag_ok(h->block, h->size, h->tag)) bench_corrupt("threads: block left by a dead thread changed");
        j->checksum += h->tag;
        free(h->block);
    }
    for (int i = 0; i < BLOCKS; i++) {
        if (!tag_ok(mine[i], size[i], tag[i])) bench_corrupt("threads: block changed while live");
        if (i % 2) {
            j->leave[i / 2] = (handoff){mine[i], size[i], tag[i]};
        } else {
            j->checksum += tag[i];
            free(mine[i]);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 20000);
    int t = a.threads;
    job jobs[256];
    /* Two hand-off areas per slot, swapped each wave: wave w leaves what wave w+1 frees. */
    static handoff area[2][256][BLOCKS / 2];
    uint64_t sum = 0;
    long waves = a.work / t;
    for (long w = 0; w < waves; w++) {
        for (int i = 0; i < t; i++) {
            jobs[i].rng = a.seed * 31337u + (uint64_t)(w * t + i);
            jobs[i].inherit = w ? area[(w + 1) % 2][i] : NULL;
            jobs[i].leave = area[w % 2][i];
            jobs[i].checksum = 0;
        }
        bench_run_threads(t, worker, jobs, sizeof(job));
        for (int i = 0; i < t; i++) sum += jobs[i].checksum;
    }
    for (int i = 0; i < t && waves; i++)
        for (int k = 0; k < BLOCKS / 2; k++) {
            handoff *h = &area[(waves + 1) % 2][i][k];
            if (!tag_ok(h->block, h->size, h->tag)) bench_corrupt("threads: final block changed");
            sum += h->tag;
            free(h->block);
        }
    bench_ok("threads", sum);
    return 0;
}

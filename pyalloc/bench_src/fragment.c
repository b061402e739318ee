/* Fragmentation over time: a program whose live set stays near a fixed size while what it
 * allocates changes: tiny objects, then medium, then a mix, then most of it is released
 * and the live set is rebuilt from larger blocks. Each phase replaces random live objects,
 * so free space is scattered through memory the earlier phases used. Time matters less
 * here than peak RSS against the live set: an allocator that cannot reuse one phase's
 * freed memory for the next phase's sizes (or return it) shows it as extra RSS. */
#include "bench.h"

#define LIVE_BYTES ((size_t)24 * 1024 * 1024)

typedef struct {
    void *p;
    uint32_t size;
    uint32_t tag;
} object;

typedef struct {
    size_t lo, hi;                   /* sizes, log-uniform */
    size_t live;                     /* live-set size the phase works at */
} phase;

static const phase phases[] = {
    {16, 128, LIVE_BYTES},
    {128, 2048, LIVE_BYTES},
    {16, 16384, LIVE_BYTES},
    {16, 64, LIVE_BYTES / 8},        /* a burst of frees: most memory is now free ... */
    {2048, 65536, LIVE_BYTES},       /* ... and must be reused for bigger blocks */
};
#define NPHASES (sizeof phases / sizeof phases[0])

static object *objs;
static size_t nobjs, cap, live;
static uint64_t checksum;

static void release(size_t i) {
    object *o = &objs[i];
    if (!tag_ok(o->p, o->size, o->tag)) bench_corrupt("fragment: %u-byte block changed while live", o->size);
    checksum += o->tag;
    live -= o->size;
    free(o->p);
    *o = objs[--nobjs];
}

static void acquire(uint64_t *rng, const phase *ph) {
    if (nobjs == cap) {
        cap = cap ? cap * 2 : 4096;
        objs = xrealloc(objs, cap * sizeof *objs);
    }
    object *o = &objs[nobjs++];
    o->size = (uint32_t)rng_logsize(rng, ph->lo, ph->hi);
    o->tag = (uint32_t)rng_next(rng);
    o->p = xmalloc(o->size);
    tag_fill(o->p, o->size, o->tag);
    live += o->size;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 3000000);
    uint64_t rng = a.seed;
    for (size_t k = 0; k < NPHASES; k++) {
        const phase *ph = &phases[k];
        while (live > ph->live && nobjs) release((size_t)(rng_next(&rng) % nobjs));
        for (long op = 0; op < a.work / (long)NPHASES; op++) {
            /* Hover around the target: free at random while above it, allocate below. */
            if (live >= ph->live && nobjs) release((size_t)(rng_next(&rng) % nobjs));
            else acquire(&rng, ph);
        }
    }
    while (nobjs) release(nobjs - 1);
    free(objs);
    bench_ok("fragment", checksum);
    return 0;
}

/* Thread caches: per-thread LIFO stacks of free slots, one per class, filled and drained in
 * batches from the central pools. The TLS pointer starts at a shared sentinel whose bins
 * have capacity 0, so the fast paths need no "initialised?" test: the first miss lands in
 * the slow path, which creates the real cache. Cache structs are recycled through a free
 * list, so thread churn reuses a bounded set of them. */
#include "internal.h"

#include <pthread.h>
#include <string.h>

enum { PA_THREAD_FRESH = 0, PA_THREAD_CREATING, PA_THREAD_ACTIVE, PA_THREAD_DEAD };

pa_tcache_t pa_tcache_none;
PA_TLS pa_tcache_t *pa_tcache_current = &pa_tcache_none;
pa_tcache_t *pa_tcache_sole;
static bool pa_sole_retired;         /* a second thread has used the heap */
static PA_TLS uint8_t pa_thread_state;

pa_lock_t pa_tcache_lock;            /* guards everything below */
static pa_tcache_t *pa_live;
static pa_tcache_t *pa_pool;
static char *pa_chunk;
static size_t pa_chunk_left;
static size_t pa_tcache_bytes;       /* one cache struct, with its item arrays */
static size_t pa_live_count;
static uint32_t pa_arena_threads[PA_MAX_ARENAS]; /* live caches per arena */
static uint64_t pa_dead_nmalloc[PA_NCLASS], pa_dead_nfree[PA_NCLASS];
static uint64_t pa_dead_ncalloc, pa_dead_nrealloc, pa_dead_naligned;
static pthread_key_t pa_key;

static void pa_tcache_destructor(void *arg);

static uint32_t pa_first_fill(uint32_t cap) {
    uint32_t half = cap > 1 ? cap / 2 : 1;
    return half < 8 ? half : 8;
}

void pa_tcache_setup(void) {
    size_t items = 0;
    for (int c = 0; c < PA_NCLASS; c++) items += pa_classes[c].tcache_cap;
    size_t bytes = sizeof(pa_tcache_t) + items * sizeof(void *) + pa_quarantine_slots() * sizeof(void *);
    pa_tcache_bytes = (bytes + 63) & ~(size_t)63;
    /* Keys below PTHREAD_KEY_2NDLEVEL_SIZE need no allocation in pthread_setspecific; ours
     * is created before the program runs, so it is one of those. */
    if (pthread_key_create(&pa_key, pa_tcache_destructor) != 0) pa_fatal("pthread_key_create failed");
}

static pa_tcache_t *pa_tcache_obtain(void) {
    pa_tcache_t *tc = NULL;
    bool recycled = false;
    pa_lock(&pa_tcache_lock);
    if (pa_pool) {
        tc = pa_pool;
        pa_pool = tc->next;
        recycled = true;
    } else {
        if (pa_chunk_left < pa_tcache_bytes) {
            size_t chunk = pa_tcache_bytes * 32;
            pa_chunk = pa_os_map_metadata(chunk);
            pa_chunk_left = pa_chunk ? chunk : 0;
        }
        if (pa_chunk_left >= pa_tcache_bytes) {
            tc = (pa_tcache_t *)pa_chunk;
            pa_chunk += pa_tcache_bytes;
            pa_chunk_left -= pa_tcache_bytes;
        }
    }
    if (tc) {
        /* The arena with the fewest threads; on a tie the one this cache served before:
         * under thread churn the next thread finds that arena's slabs still warm, where
         * moving on would let them empty, be purged and fault in again elsewhere. While
         * caches have lived one at a time this is arena 0, that of allocations without a
         * cache too, so the sole cache owns every slab (free relies on it). */
        uint32_t arena = recycled ? tc->arena : 0;
        for (uint32_t a = 0; a < pa_narenas; a++)
            if (pa_arena_threads[a] < pa_arena_threads[arena]) arena = a;
        pa_arena_open(arena);
        pa_arena_threads[arena]++;
        memset(tc, 0, sizeof(*tc));
        tc->arena = arena;
        tc->next = pa_live;
        if (pa_live) pa_live->prev = tc;
        pa_live = tc;
        pa_live_count++;
        pa_sole_retired |= pa_live_count > 1;
        __atomic_store_n(&pa_tcache_sole, pa_sole_retired ? NULL : tc, __ATOMIC_SEQ_CST);
    }
    pa_unlock(&pa_tcache_lock);
    return tc;
}

/* NULL when this thread must bypass caching: caches disabled, the thread is exiting, or we
 * are inside cache creation (pthread_setspecific may allocate). */
pa_tcache_t *pa_tcache_init_thread(void) {
    if (pa_thread_state != PA_THREAD_FRESH || !pa_opt.tcache) return NULL;
    pa_thread_state = PA_THREAD_CREATING;
    pa_tcache_t *tc = pa_tcache_obtain();
    if (!tc) {
        pa_thread_state = PA_THREAD_FRESH;
        return NULL;
    }
    void **items = tc->items;
    for (int c = 0; c < PA_NCLASS; c++) {
        tc->bins[c].cap = tc->bins[c].limit = pa_classes[c].tcache_cap;
        tc->bins[c].fill = pa_first_fill(tc->bins[c].cap);
        tc->bins[c].items = items;
        items += tc->bins[c].cap;
    }
    tc->quarantine = items;          /* after the bins */
    tc->qcap = (uint32_t)pa_quarantine_slots();
    pthread_setspecific(pa_key, tc);
    pa_tcache_current = tc;
    pa_thread_state = PA_THREAD_ACTIVE;
    return tc;
}

/* Returns the oldest (bottom) items to the central pool and keeps the `keep` most recently
 * freed ones, which are the likeliest to be warm in this core's cache. If another thread
 * forks meanwhile, the child flushes this (orphaned) cache, so at every store the bin must
 * list each slot at most once and never one the pool has taken back: it lets go of all
 * items while it moves them and before the pool sees any (the worst a fork can do is
 * leak a few slots in the child). */
void pa_tcache_flush_bin(pa_tcache_t *tc, int cls, uint32_t keep) {
    pa_bin_t *b = &tc->bins[cls];
    if (b->count <= keep) return;
    void *out[PA_TCACHE_MAX_CAP];
    uint32_t n = b->count - keep;
    memcpy(out, b->items, n * sizeof(void *));
    b->count = 0;
    atomic_signal_fence(memory_order_seq_cst);
    memmove(b->items, b->items + n, keep * sizeof(void *));
    atomic_signal_fence(memory_order_seq_cst);
    b->count = keep;
    pa_central_free(cls, out, n);
}

/* Sends the slots of other arenas back to the pools owning them (see pa_bin_t); the same
 * fork discipline as pa_tcache_flush_bin. */
void pa_tcache_flush_remote(pa_tcache_t *tc, int cls) {
    pa_bin_t *b = &tc->bins[cls];
    if (!pa_bin_nremote(b)) return;
    void *out[PA_TCACHE_MAX_CAP];
    uint32_t n = pa_bin_take_remote(b, out);
    pa_central_free(cls, out, n);
}

void pa_tcache_flush_all(pa_tcache_t *tc) {
    for (int c = 0; c < PA_NCLASS; c++) {
        pa_tcache_flush_remote(tc, c);
        pa_tcache_flush_bin(tc, c, 0);
    }
}

/* A bin of a class the thread stopped using would keep its slots, and with them whole
 * slabs, out of reach of other threads and of purging for as long as the thread lives.
 * Every PA_TCACHE_GC_PERIOD refills or flushes (so never on the fast path), bins that saw
 * no operation since the previous sweep are emptied. Their pool's empty slabs are purged
 * only where pages cannot move between classes: otherwise the classes in use take those
 * pages over (pa_adopt_pages), which beats faulting in new ones after a purge. */
#define PA_TCACHE_GC_PERIOD 8
void pa_tcache_gc_tick(pa_tcache_t *tc) {
    if (++tc->gc_tick < PA_TCACHE_GC_PERIOD) return;
    tc->gc_tick = 0;
    tc->released_spent = false;
    for (int c = 0; c < PA_NCLASS; c++) {
        uint64_t ops = tc->nmalloc[c] + tc->nfree[c];
        if (ops == tc->gc_seen[c] && ops) {
            pa_tcache_flush_remote(tc, c);
            pa_tcache_flush_bin(tc, c, 0);
            if (!pa_slab_pages_move()) pa_central_purge(c, tc->arena);
            tc->bins[c].fill = pa_first_fill(tc->bins[c].cap);
        }
        tc->gc_seen[c] = ops;
    }
    pa_central_decay();
}

/* Class cls has no slab with a free slot left in the thread's arena, so it is about to
 * take new pages. Bins holding every slot their pool handed out (no block of the class is
 * in use in the arena) go back first: their slabs empty, and cls takes them over in place
 * or their pages move to it, instead of faulting in new ones while those bins pin them. A
 * program moving from size to size would otherwise keep each former size's slabs until
 * the next sweep. At most once per sweep period: a class still in use whose bin went back
 * refills from new slabs, and that refill must not strip another bin in turn. */
void pa_tcache_release_spent(pa_tcache_t *tc, int cls) {
    const pa_pool_t *pools = pa_pools[tc->arena];
    if (tc->released_spent || __atomic_load_n(&pools[cls].count[PA_LIST_PARTIAL], __ATOMIC_RELAXED) ||
        __atomic_load_n(&pools[cls].count[PA_LIST_EMPTY], __ATOMIC_RELAXED))
        return;
    for (int c = 0; c < PA_NCLASS; c++) {
        uint32_t count = tc->bins[c].count;
        if (c != cls && count && __atomic_load_n(&pools[c].handed, __ATOMIC_RELAXED) == count) {
            pa_tcache_flush_bin(tc, c, 0);
            tc->released_spent = true;
        }
    }
}

/* Unlinks a cache whose contents are already flushed and parks it for reuse. */
static void pa_tcache_retire_locked(pa_tcache_t *tc) {
    for (int c = 0; c < PA_NCLASS; c++) {
        pa_dead_nmalloc[c] += tc->nmalloc[c];
        pa_dead_nfree[c] += tc->nfree[c];
    }
    pa_dead_ncalloc += tc->ncalloc;
    pa_dead_nrealloc += tc->nrealloc;
    pa_dead_naligned += tc->naligned;
    if (tc->prev) tc->prev->next = tc->next;
    else pa_live = tc->next;
    if (tc->next) tc->next->prev = tc->prev;
    pa_live_count--;
    pa_arena_threads[tc->arena]--;
    tc->next = pa_pool;
    pa_pool = tc;
}

static void pa_tcache_destructor(void *arg) {
    pa_tcache_t *tc = arg;
    pa_quarantine_drain(tc);
    /* From here on this thread allocates straight from the central pools: destructors of
     * other keys that run after ours may still call malloc and free. */
    pa_tcache_current = &pa_tcache_none;
    pa_thread_state = PA_THREAD_DEAD;
    pa_tcache_flush_all(tc);
    pa_lock(&pa_tcache_lock);
    pa_tcache_retire_locked(tc);
    pa_unlock(&pa_tcache_lock);
}

/* In a fork child only the forking thread survives; the other threads' cached slots would
 * be lost for good, so hand them back to the central pools. */
void pa_tcache_after_fork_child(void) {
    pa_tcache_t *mine = pa_tcache_current;
    for (;;) {
        pa_lock(&pa_tcache_lock);
        pa_tcache_t *orphan = pa_live;
        while (orphan && orphan == mine) orphan = orphan->next;
        pa_unlock(&pa_tcache_lock);
        if (!orphan) return;
        pa_quarantine_drain(orphan);
        pa_tcache_flush_all(orphan);
        pa_lock(&pa_tcache_lock);
        pa_tcache_retire_locked(orphan);
        pa_unlock(&pa_tcache_lock);
    }
}

/* Reads other threads' counters without synchronising: they are word-sized and only
 * increase, so a snapshot is at worst a few operations stale. */
void pa_tcache_stats(pyalloc_stats *st) {
    pa_lock(&pa_tcache_lock);
    for (int c = 0; c < PA_NCLASS; c++) {
        st->classes[c].nmalloc += pa_dead_nmalloc[c];
        st->classes[c].nfree += pa_dead_nfree[c];
    }
    st->ncalloc += pa_dead_ncalloc + __atomic_load_n(&pa_tcache_none.ncalloc, __ATOMIC_RELAXED);
    st->nrealloc += pa_dead_nrealloc + __atomic_load_n(&pa_tcache_none.nrealloc, __ATOMIC_RELAXED);
    st->naligned += pa_dead_naligned + __atomic_load_n(&pa_tcache_none.naligned, __ATOMIC_RELAXED);
    for (pa_tcache_t *tc = pa_live; tc; tc = tc->next) {
        for (int c = 0; c < PA_NCLASS; c++) {
            pyalloc_class_stats *cs = &st->classes[c];
            size_t cached = __atomic_load_n(&tc->bins[c].count, __ATOMIC_RELAXED) +
                            (tc->bins[c].cap - __atomic_load_n(&tc->bins[c].limit, __ATOMIC_RELAXED));
            cs->cached_count += cached;
            cs->in_use_count -= cached < cs->in_use_count ? cached : cs->in_use_count;
            cs->nmalloc += __atomic_load_n(&tc->nmalloc[c], __ATOMIC_RELAXED);
            cs->nfree += __atomic_load_n(&tc->nfree[c], __ATOMIC_RELAXED);
        }
        st->ncalloc += __atomic_load_n(&tc->ncalloc, __ATOMIC_RELAXED);
        st->nrealloc += __atomic_load_n(&tc->nrealloc, __ATOMIC_RELAXED);
        st->naligned += __atomic_load_n(&tc->naligned, __ATOMIC_RELAXED);
    }
    st->threads = pa_live_count;
    st->metadata_bytes += (pa_live_count + 1) * pa_tcache_bytes;
    pa_unlock(&pa_tcache_lock);
}

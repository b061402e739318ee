/* The malloc family. Fast paths are inline and lock-free: a table lookup for the class, a
 * pop or push on the thread's bin, and one state byte per slot. The state byte is what
 * makes misuse detection exact and cheap: free swaps it atomically from LIVE to FREED, so a
 * second free of the same slot, from any thread and whether or not the slot still sits in
 * a cache, sees FREED and aborts; a slot never handed out reads NEVER. */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>

/* Counters outside the per-thread caches (the shared sentinel) are bumped atomically. */
#define PA_COUNT(tc, field)                                                      \
    do {                                                                         \
        if (pa_likely((tc) != &pa_tcache_none)) (tc)->field++;                   \
        else __atomic_fetch_add(&pa_tcache_none.field, 1, __ATOMIC_RELAXED);     \
    } while (0)

/* p is a slot of class cls that a bin handed out: a slot start by construction, so its
 * state byte follows from pa_handed_record, without pa_locate's checks. */
static inline void pa_mark_live(int cls, const char *p) {
    const pa_class_t *k = &pa_classes[cls];
    uint32_t index;
    pa_slab_t *record = pa_handed_record(k, p, &index);
    __atomic_store_n(pa_record_states(k, record) + index, PA_SLOT_LIVE, __ATOMIC_RELAXED);
}

/* Flips a slot's state from LIVE to FREED; false if it was not LIVE. With other threads
 * about, one atomic step both detects and records the free, so two racing frees of the
 * same block cannot both succeed. While one thread is all the heap has seen (sole), no free
 * can race, and a plain load and store spare the locked instruction (a tenth of the time
 * of a malloc/free-bound program). A thread's first operation, before it has a cache,
 * retires that mode for good; only a free racing with exactly that first one escapes the
 * check. */
static inline bool pa_mark_freed(uint8_t *state, pa_tcache_t *tc, bool sole) {
    if (pa_likely(sole)) {
        if (pa_unlikely(*state != PA_SLOT_LIVE)) return false;
        *state = PA_SLOT_FREED;
        return true;
    }
    if (tc == &pa_tcache_none) __atomic_store_n(&pa_tcache_sole, NULL, __ATOMIC_SEQ_CST);
    uint8_t old = PA_SLOT_LIVE;
    return __atomic_compare_exchange_n(state, &old, PA_SLOT_FREED, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* Whether tc is the cache of the only thread the heap has seen (see pa_mark_freed). */
static inline bool pa_sole(const pa_tcache_t *tc) { return tc == __atomic_load_n(&pa_tcache_sole, __ATOMIC_RELAXED); }

/* A thread that receives a stream of other arenas' slots (producer/consumer) reuses them
 * once there are a refill's worth, sparing both sides a trip through the pools; the few
 * a thread frees otherwise, such as objects handed over at its start, go back instead. */
static void pa_bin_adopt_remote(pa_bin_t *b) {
    b->count = pa_bin_take_remote(b, b->items);
}

/* Fills an empty bin from the thread's arena; returns how many slots it got. */
static uint32_t pa_bin_refill(pa_tcache_t *tc, int cls) {
    pa_bin_t *b = &tc->bins[cls];
    pa_tcache_gc_tick(tc);
    if (b->fill > b->limit) pa_tcache_flush_remote(tc, cls);
    pa_tcache_release_spent(tc, cls);
    uint32_t n = pa_central_alloc(cls, tc->arena, b->items, b->fill);
    /* Refills start small and double up to half the bin: a short-lived thread
     * does not pull (and at exit push back) whole bins of slots it never uses. */
    if (b->fill < b->cap / 2) b->fill = b->fill * 2 < b->cap / 2 ? b->fill * 2 : b->cap / 2;
    atomic_signal_fence(memory_order_seq_cst); /* see pa_bin_push */
    b->count = n;
    return n;
}

/* Slow path of a small allocation: set up the heap or the thread's cache, refill the bin,
 * or allocate without a cache. NULL only when the slab region is exhausted. */
PA_NOINLINE void *pa_small_take_slow(int cls) {
    pa_ensure_init();
    pa_tcache_t *tc = pa_tcache_current;
    if (tc == &pa_tcache_none) tc = pa_tcache_init_thread();
    if (!tc) {
        void *p;
        if (!pa_central_alloc(cls, 0, &p, 1)) return NULL;
        __atomic_fetch_add(&pa_pools[0][cls].nmalloc_direct, 1, __ATOMIC_RELAXED);
        return p;
    }
    pa_bin_t *b = &tc->bins[cls];
    if (!b->count) {
        if (pa_bin_nremote(b) >= b->fill) pa_bin_adopt_remote(b);
        else if (!pa_bin_refill(tc, cls)) return NULL;
    }
    return pa_bin_pop(tc, cls);
}

static PA_NOINLINE void *pa_small_alloc_slow(int cls) {
    void *p = pa_small_take_slow(cls);
    if (p) pa_mark_live(cls, p);
    return p;
}

/* Hands out the bin's top slot, marked live; the bin must not be empty. */
static inline void *pa_bin_pop_live(pa_tcache_t *tc, int cls) {
    void *p = pa_bin_pop(tc, cls);
    pa_mark_live(cls, p);
    return p;
}

/* pa_small_take with the state byte set, the bin test spelled out so that a slot popped
 * from the bin needs no NULL test. */
static inline void *pa_small_alloc(int cls) {
    pa_tcache_t *tc = pa_tcache_current;
    if (pa_unlikely(!tc->bins[cls].count)) return pa_small_alloc_slow(cls);
    return pa_bin_pop_live(tc, cls);
}

void *pa_large_checked(size_t n, size_t alignment, bool zero) {
    pa_ensure_init();
    void *p = pa_large_alloc(n, alignment, zero);
    if (!p) errno = ENOMEM;
    return p;
}

/* A slab region that ran out of address space: served from a bigger class, then from a
 * dedicated mapping. */
static PA_NOINLINE void *pa_alloc_spill(size_t n, size_t alignment, bool zero) {
    if (!alignment && n <= PA_SMALL_MAX)
        for (int c = pa_size_class(n) + 1; c < PA_NCLASS; c++) {
            void *p = pa_small_alloc(c);
            if (p) return zero ? memset(p, 0, n) : p;
        }
    return pa_large_checked(n, alignment, zero);
}

/* A small malloc off the inline path: sets up the thread's cache, refills an empty bin, or
 * spills to a bigger class when this one's region is full. */
static PA_NOINLINE void *pa_alloc_small_outline(size_t n, int cls) {
    void *p = pa_small_alloc_slow(cls);
    return p ? p : pa_alloc_spill(n, 0, false);
}

/* malloc of anything the inline path does not serve: a large block, a hardened heap, or
 * the first call, which sets the heap up. */
static PA_NOINLINE void *pa_alloc_other(size_t n) {
    if (n > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    pa_ensure_init();
    if (pa_heap.hooks) return pa_alloc_hardened(n, 0, false);
    if (n > PA_SMALL_MAX) return pa_large_checked(n, 0, false);
    return pa_alloc_small_outline(n, pa_size_class(n));
}

static inline void *pa_alloc(size_t n) {
    if (pa_unlikely(n >= pa_heap.fast_end)) return pa_alloc_other(n);
    int cls = pa_size_class(n);
    pa_tcache_t *tc = pa_tcache_current;
    if (pa_unlikely(!tc->bins[cls].count)) return pa_alloc_small_outline(n, cls);
    return pa_bin_pop_live(tc, cls);
}

/* local: the slot's slab belongs to the thread's arena; always so while the thread is the
 * only one (sole, see pa_tcache_obtain), which spares reading the slab's owner. */
static inline void pa_bin_put(pa_tcache_t *tc, int cls, bool local, void *p) {
    pa_bin_t *b = &tc->bins[cls];
    if (pa_likely(local)) pa_bin_push(b, p);
    else pa_bin_push_remote(b, p);
    tc->nfree[cls]++;
}

/* A full bin, or no cache yet. Takes only p so that the fast path's locals stay in registers. */
static PA_NOINLINE void pa_small_free_slow(void *p) {
    pa_loc_t loc = pa_locate((uintptr_t)p - pa_heap.base);
    pa_tcache_t *tc = pa_tcache_current;
    if (tc == &pa_tcache_none) tc = pa_tcache_init_thread();
    if (!tc) {
        pa_central_free(loc.cls, &p, 1);
        __atomic_fetch_add(&pa_pools[0][loc.cls].nfree_direct, 1, __ATOMIC_RELAXED);
        return;
    }
    pa_bin_t *b = &tc->bins[loc.cls];
    if (b->count == b->limit) {
        pa_tcache_gc_tick(tc);
        if (pa_bin_nremote(b)) pa_tcache_flush_remote(tc, loc.cls);
        else pa_tcache_flush_bin(tc, loc.cls, b->cap / 2);
    }
    pa_bin_put(tc, loc.cls, loc.arena == tc->arena, p);
}

/* Returns a slot that is already marked freed to the thread's bin; arena owns its slab. */
static inline void pa_release(pa_tcache_t *tc, bool sole, int cls, uint32_t arena, void *p) {
    pa_bin_t *b = &tc->bins[cls];
    if (pa_likely(b->count < b->limit)) pa_bin_put(tc, cls, sole || arena == tc->arena, p);
    else pa_small_free_slow(p);
}

void pa_release_small(int cls, uint32_t arena, void *p) {
    pa_tcache_t *tc = pa_tcache_current;
    pa_release(tc, pa_sole(tc), cls, arena, p);
}

/* Whether p, in a carved slab but not a live slot of it, is a block freed before: a freed
 * slot of the slab's class, or a slot of the class the slab held before it emptied and
 * changed class. *cls is the class of that block. */
static PA_COLD bool pa_was_freed(const void *p, const pa_loc_t *loc, int *cls) {
    *cls = loc->cls;
    if (loc->exact && __atomic_load_n(pa_slot_state(loc), __ATOMIC_RELAXED) >= PA_SLOT_FREED) return true;
    *cls = pa_former_class(p, loc);
    return *cls >= 0;
}

/* A free of a slot that is not live, or not a slot start: says which misuse it was. */
static PA_COLD void pa_free_misuse(void *p) {
    pa_loc_t loc = pa_locate((uintptr_t)p - pa_heap.base);
    int cls;
    if (pa_was_freed(p, &loc, &cls)) pa_misuse("double free", p, cls);
    pa_invalid_free(p, loc.cls);
}

/* Not in the small heap: a large block, or not ours at all. */
static PA_COLD void pa_free_outside(void *p) {
    pa_ensure_init();
    if (pa_large_free(p)) return;
    if (pa_large_was_freed(p)) pa_misuse("double free", p, PA_WHERE_LARGE);
    pa_invalid_free(p, PA_WHERE_NONE);
}

/* free of a small-heap pointer on a heap with per-block hooks: the state change, then the
 * hardened work. Out of line and given only p, so that nothing of free's inline path has
 * to live in memory. */
static PA_NOINLINE void pa_free_hooked(void *p) {
    pa_loc_t loc = pa_locate((uintptr_t)p - pa_heap.base);
    const pa_class_t *k = &pa_classes[loc.cls];
    pa_slab_t *slab = pa_slab(k, loc.slab);
    pa_tcache_t *tc = pa_tcache_current;
    bool sole = pa_sole(tc);
    if (!loc.exact || !pa_mark_freed(pa_record_states(k, slab) + loc.index, tc, sole)) {
        pa_free_misuse(p);
        return;
    }
    pa_free_hardened(p, &loc, slab);
}

static inline void pa_free(void *p) {
    pa_loc_t loc;
    if (pa_unlikely(!pa_small_find(p, &loc))) {
        if (p) pa_free_outside(p);
        return;
    }
    if (pa_unlikely(pa_heap.hooks)) {
        pa_free_hooked(p);
        return;
    }
    if (pa_unlikely(!loc.exact)) {
        pa_free_misuse(p);
        return;
    }
    const pa_class_t *k = &pa_classes[loc.cls];
    pa_tcache_t *tc = pa_tcache_current;
    bool sole = pa_sole(tc);
    if (pa_unlikely(!pa_mark_freed(pa_record_states(k, pa_slab(k, loc.slab)) + loc.index, tc, sole))) {
        pa_free_misuse(p);
        return;
    }
    pa_release(tc, sole, loc.cls, loc.arena, p);
}

/* Usable size of a live block; aborts naming `invalid` or `freed` when p is not one. */
static size_t pa_live_usable(const void *p, const char *invalid, const char *freed) {
    pa_loc_t loc;
    if (pa_small_find(p, &loc)) {
        if (!loc.exact || __atomic_load_n(pa_slot_state(&loc), __ATOMIC_RELAXED) != PA_SLOT_LIVE) {
            int cls;
            if (pa_was_freed(p, &loc, &cls)) pa_misuse(freed, p, cls);
            pa_misuse(invalid, p, loc.cls);
        }
        return pa_heap.hooks ? pa_usable_hardened(p, &loc) : pa_classes[loc.cls].size;
    }
    pa_ensure_init();
    size_t usable = pa_large_usable(p);
    if (usable) return usable;
    if (pa_large_was_freed(p)) pa_misuse(freed, p, PA_WHERE_LARGE);
    pa_misuse(invalid, p, PA_WHERE_NONE);
}

static void *pa_aligned(size_t alignment, size_t n) {
    if (alignment <= PA_ALIGN) return pa_alloc(n);
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment & (alignment - 1)) alignment = (size_t)1 << (64 - __builtin_clzl(alignment));
    if (alignment > PTRDIFF_MAX || n > PTRDIFF_MAX - alignment) {
        errno = ENOMEM;
        return NULL;
    }
    pa_ensure_init();
    PA_COUNT(pa_tcache_current, naligned);
    if (pa_heap.hooks) return pa_alloc_hardened(n, alignment, false);
    int cls = pa_class_for_alignment(n, alignment);
    void *p = cls >= 0 ? pa_small_alloc(cls) : NULL;
    return p ? p : pa_alloc_spill(n, alignment, false);
}

PA_EXPORT void *PA_API(malloc)(size_t n) { return pa_alloc(n); }

PA_EXPORT void PA_API(free)(void *p) { pa_free(p); }

PA_EXPORT void *PA_API(calloc)(size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n) || n > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    PA_COUNT(pa_tcache_current, ncalloc);
    if (pa_heap.hooks) return pa_alloc_hardened(n, 0, true);
    if (n > PA_SMALL_MAX) return pa_large_checked(n, 0, true);
    void *p = pa_small_alloc(pa_size_class(n));
    if (pa_unlikely(!p)) return pa_alloc_spill(n, 0, true);
    return memset(p, 0, n);
}

PA_EXPORT void *PA_API(realloc)(void *p, size_t n) {
    if (!p) return pa_alloc(n);
    if (n == 0) {                    /* glibc frees and returns NULL */
        pa_free(p);
        return NULL;
    }
    size_t old = pa_live_usable(p, "invalid realloc", "realloc of freed block");
    if (n > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    PA_COUNT(pa_tcache_current, nrealloc);
    pa_loc_t loc;
    if (pa_small_find(p, &loc)) {
        /* Stay put while the size still maps to this class, or shrinks by less than half. */
        if (pa_heap.hooks ? pa_resize_hardened(p, &loc, n)
                          : n <= old && (n > old / 2 || pa_size_class(n) == pa_size_class(old)))
            return p;
    } else if (n > PA_SMALL_MAX) {
        void *q = pa_large_realloc(p, n);
        if (!q) errno = ENOMEM;
        return q;
    }
    void *q = pa_alloc(n);
    if (!q) return NULL;
    memcpy(q, p, n < old ? n : old);
    pa_free(p);
    return q;
}

PA_EXPORT void *PA_API(reallocarray)(void *p, size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return PA_API(realloc)(p, n);
}

PA_EXPORT void *PA_API(memalign)(size_t alignment, size_t n) { return pa_aligned(alignment, n); }

/* glibc 2.36 treats aligned_alloc exactly like memalign. */
PA_EXPORT void *PA_API(aligned_alloc)(size_t alignment, size_t n) { return pa_aligned(alignment, n); }

PA_EXPORT int PA_API(posix_memalign)(void **out, size_t alignment, size_t n) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) || alignment == 0) return EINVAL;
    void *p = pa_aligned(alignment, n);
    if (!p) return ENOMEM;           /* errno is ENOMEM too, as with glibc: programs test it */
    *out = p;
    return 0;
}

PA_EXPORT void *PA_API(valloc)(size_t n) { return pa_aligned(pa_os_page_size(), n); }

PA_EXPORT void *PA_API(pvalloc)(size_t n) {
    size_t page = pa_os_page_size(), rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return pa_aligned(page, rounded & ~(page - 1));
}

PA_EXPORT size_t PA_API(malloc_usable_size)(void *p) {
    if (!p) return 0;
    return pa_live_usable(p, "invalid usable_size", "usable_size of freed block");
}

/* The size arguments are hints glibc ignores; so do we (the metadata knows the truth). */
PA_EXPORT void PA_API(free_sized)(void *p, size_t size) {
    (void)size;
    pa_free(p);
}

PA_EXPORT void PA_API(free_aligned_sized)(void *p, size_t alignment, size_t size) {
    (void)alignment;
    (void)size;
    pa_free(p);
}

PA_EXPORT int PA_API(malloc_trim)(size_t pad) {
    (void)pad;
    pa_ensure_init();
    pa_tcache_t *tc = pa_tcache_current;
    if (tc != &pa_tcache_none) {
        pa_quarantine_drain(tc);
        pa_tcache_flush_all(tc);
    }
    size_t released = pa_central_trim() + pa_large_trim();
    return released > 0;
}

#ifdef PA_PRELOAD
PA_EXPORT void cfree(void *p) { pa_free(p); }

/* glibc's internal names, used by programs and libraries that wrap malloc themselves. */
#define PA_ALIAS(name, target) extern __typeof(target) name __attribute__((alias(#target), copy(target), visibility("default")))
PA_ALIAS(__libc_malloc, malloc);
PA_ALIAS(__libc_free, free);
PA_ALIAS(__libc_calloc, calloc);
PA_ALIAS(__libc_realloc, realloc);
PA_ALIAS(__libc_memalign, memalign);
PA_ALIAS(__libc_valloc, valloc);
PA_ALIAS(__libc_pvalloc, pvalloc);
PA_ALIAS(__libc_cfree, cfree);
PA_ALIAS(__posix_memalign, posix_memalign);
#endif

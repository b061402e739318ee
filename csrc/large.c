/* Large blocks (above the biggest size class, or aligned beyond what a class offers): one
 * mapping each, recorded in an out-of-band open-addressing table keyed by the user pointer.
 * Freed mappings are kept in a small cache so alloc/free loops of big buffers do not pay a
 * mmap + page faults every time; the cache is bounded by `large_cache_bytes`, and a range
 * unused for `purge_delay_ms` goes back to the OS, like an empty slab. With
 * `large_cache_protect` a cached range is inaccessible as a whole until it is handed out
 * again, so a dangling pointer into it faults as if it had been unmapped.
 *
 * With `guard`, a mapping is [guard page][data][guard page] and an unaligned block ends
 * flush against the trailing guard, so an overflow faults within 16 bytes. With
 * `quarantine_bytes`, freed mappings are made inaccessible and unmapped only later, so use
 * after free faults and the range is not soon reused. */
#include "internal.h"

#include <string.h>

typedef struct pa_large_s {
    uintptr_t ptr;                   /* 0 = empty slot */
    size_t usable;
    uintptr_t map;
    size_t map_size;
} pa_large_t;

#define PA_LARGE_CACHE_SLOTS 16
#define PA_LARGE_SPLIT_MIN (64 * 1024) /* smaller remainders stay with the block they came with */
#define PA_LARGE_RECENT 256          /* freed pointers remembered to name double frees */
#define PA_LARGE_QUARANTINE 64

pa_lock_t pa_large_lock;
static pa_large_t *pa_table;
static size_t pa_table_cap;          /* power of two */
static size_t pa_table_count;
typedef struct pa_range_s {
    uintptr_t map;
    size_t size;
    uint64_t stamp;                  /* when cached: eviction takes the oldest */
    uint32_t cached_ms;              /* given back once it has waited purge_delay_ms */
} pa_range_t;
static pa_range_t pa_cache[PA_LARGE_CACHE_SLOTS];
static size_t pa_cache_count, pa_cache_bytes;
static uint64_t pa_cache_clock;
static uintptr_t pa_recent[PA_LARGE_RECENT];
static size_t pa_recent_next;
static struct { uintptr_t map; size_t size; } pa_quarantine[PA_LARGE_QUARANTINE];
static size_t pa_quarantine_head, pa_quarantine_count, pa_quarantine_bytes;
static size_t pa_live_bytes, pa_mapped_bytes;
static uint64_t pa_nmalloc, pa_nfree;

/* Large blocks are page aligned: drop the zero bits, then mix so neighbours spread out. */
static size_t pa_hash(uintptr_t p) {
    uint64_t x = p >> 12;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static pa_large_t *pa_find(uintptr_t p) {
    if (!pa_table) return NULL;
    for (size_t i = pa_hash(p) & (pa_table_cap - 1);; i = (i + 1) & (pa_table_cap - 1)) {
        if (pa_table[i].ptr == p) return &pa_table[i];
        if (!pa_table[i].ptr) return NULL;
    }
}

static void pa_put(const pa_large_t *e) {
    size_t i = pa_hash(e->ptr) & (pa_table_cap - 1);
    while (pa_table[i].ptr) i = (i + 1) & (pa_table_cap - 1);
    pa_table[i] = *e;
    pa_table_count++;
}

static bool pa_grow_table(void) {
    size_t cap = pa_table_cap ? pa_table_cap * 2 : 1024;
    pa_large_t *old = pa_table, *fresh = pa_os_map_metadata(cap * sizeof(pa_large_t));
    if (!fresh) return false;
    size_t old_cap = pa_table_cap;
    pa_table = fresh;
    pa_table_cap = cap;
    pa_table_count = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].ptr) pa_put(&old[i]);
    if (old) pa_os_unmap_metadata(old, old_cap * sizeof(pa_large_t));
    return true;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void pa_remove(pa_large_t *e) {
    size_t mask = pa_table_cap - 1, i = (size_t)(e - pa_table);
    for (size_t j = (i + 1) & mask; pa_table[j].ptr; j = (j + 1) & mask) {
        size_t home = pa_hash(pa_table[j].ptr) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            pa_table[i] = pa_table[j];
            i = j;
        }
    }
    pa_table[i].ptr = 0;
    pa_table_count--;
}

static bool pa_insert(const pa_large_t *e) {
    if ((pa_table_count + 1) * 2 > pa_table_cap && !pa_grow_table()) return false;
    pa_put(e);
    pa_live_bytes += e->usable;
    pa_mapped_bytes += e->map_size;
    return true;
}

static void pa_cache_drop(size_t i) {
    pa_cache_bytes -= pa_cache[i].size;
    pa_cache[i] = pa_cache[--pa_cache_count];
}

/* Moves the ranges that waited purge_delay_ms for reuse into `evict`; returns how many (at
 * most the PA_LARGE_CACHE_SLOTS cached). */
static size_t pa_cache_expire(uint32_t now_ms, pa_range_t evict[PA_LARGE_CACHE_SLOTS + 1]) {
    size_t n = 0;
    for (size_t i = 0; i < pa_cache_count;)
        if (now_ms - pa_cache[i].cached_ms >= pa_opt.purge_delay_ms) {
            evict[n++] = pa_cache[i];
            pa_cache_drop(i);
        } else {
            i++;
        }
    return n;
}

/* Removes the range cached longest ago and returns it. */
static pa_range_t pa_cache_take_oldest(void) {
    size_t oldest = 0;
    for (size_t i = 1; i < pa_cache_count; i++)
        if (pa_cache[i].stamp < pa_cache[oldest].stamp) oldest = i;
    pa_range_t r = pa_cache[oldest];
    pa_cache_drop(oldest);
    return r;
}

static void pa_unmap_ranges(const pa_range_t *ranges, size_t n) {
    for (size_t i = 0; i < n; i++) pa_os_unmap((void *)ranges[i].map, ranges[i].size);
}

/* Whether the cache redraws guards where it merges or splits ranges. Ranges of a protected
 * cache are inaccessible whole, so mprotect guards need nothing there; markers do, or a
 * range cut from merged ones would fault where its parts used to end. */
static bool pa_cache_seams(size_t guard) { return guard && (pa_light_guards || !pa_opt.large_cache_protect); }

/* Opens or closes the two guard pages around `at`, the seam between two cached ranges. */
static bool pa_guard_seam(uintptr_t at, size_t guard, bool open) {
    void *p = (void *)(at - guard);
    return pa_light_guards ? pa_os_guard(p, 2 * guard, !open) : pa_os_protect(p, 2 * guard, open);
}

/* Turns a fresh mapping, read-write with light guards and PROT_NONE otherwise, into
 * [guard][accessible][guard]. */
static bool pa_guard_ends(uintptr_t map, size_t map_size, size_t guard) {
    if (!pa_light_guards) return pa_os_protect((void *)(map + guard), map_size - 2 * guard, true);
    return pa_os_guard((void *)map, guard, true) && pa_os_guard((void *)(map + map_size - guard), guard, true);
}

/* The smallest cached range that holds `need` bytes. A much bigger one is split, so a
 * freed 8 MiB block serves the next 1 MiB request without a page fault and keeps its
 * remainder cached; the split costs one system call when guards must be re-drawn between
 * the two parts. Returns 0 when nothing fits. */
static uintptr_t pa_cache_take(size_t need, size_t guard, size_t *got) {
    size_t best = PA_LARGE_CACHE_SLOTS;
    for (size_t i = 0; i < pa_cache_count; i++)
        if (pa_cache[i].size >= need && (best == PA_LARGE_CACHE_SLOTS || pa_cache[i].size < pa_cache[best].size))
            best = i;
    if (best == PA_LARGE_CACHE_SLOTS) return 0;
    uintptr_t map = pa_cache[best].map;
    size_t rest = pa_cache[best].size - need;
    if (rest >= PA_LARGE_SPLIT_MIN + 2 * guard && (!pa_cache_seams(guard) || pa_guard_seam(map + need, guard, false))) {
        pa_cache[best].map += need;
        pa_cache[best].size = rest;
        pa_cache_bytes -= need;
        *got = need;
        return map;
    }
    *got = pa_cache[best].size;
    pa_cache_drop(best);
    return map;
}

/* Caches a freed mapping, merged with cached neighbours (the kernel hands out mappings
 * next to each other, so merging keeps big ranges together for big requests). Ranges
 * that waited purge_delay_ms, then those beyond the budget oldest first, are evicted into
 * `evict` for the caller to unmap outside the lock; returns how many. */
static size_t pa_cache_put(uintptr_t map, size_t size, size_t guard, pa_range_t evict[PA_LARGE_CACHE_SLOTS + 1]) {
    uint32_t now_ms = pa_os_now_ms(), since_ms = now_ms;
    for (size_t i = 0; i < pa_cache_count;) {
        pa_range_t *c = &pa_cache[i];
        bool left = c->map + c->size == map, right = map + size == c->map;
        uintptr_t seam = left ? map : c->map;   /* the two guard pages between them */
        if ((left || right) && (!pa_cache_seams(guard) || pa_guard_seam(seam, guard, true))) {
            if (left) map = c->map;
            size += c->size;
            /* The merged range waits as long as its oldest part: a block taken from a big
             * cached range and given back does not keep the whole range resident. */
            if (now_ms - c->cached_ms > now_ms - since_ms) since_ms = c->cached_ms;
            pa_cache_drop(i);
            continue;
        }
        i++;
    }
    size_t n = 0;
    if (pa_cache_count == PA_LARGE_CACHE_SLOTS) evict[n++] = pa_cache_take_oldest();
    pa_cache[pa_cache_count++] = (pa_range_t){map, size, ++pa_cache_clock, since_ms};
    pa_cache_bytes += size;
    n += pa_cache_expire(now_ms, evict + n);
    while (pa_cache_bytes > pa_opt.large_cache_bytes) evict[n++] = pa_cache_take_oldest();
    return n;
}

/* Where the block goes inside a mapping whose first and last `guard` bytes are guards: a
 * block with no alignment demand ends flush against the trailing guard. */
static pa_large_t pa_place(uintptr_t map, size_t map_size, size_t size, size_t guard, uintptr_t start,
                           bool flush_end) {
    uintptr_t data_end = map + map_size - guard;
    pa_large_t e = {start, data_end - start, map, map_size};
    if (guard && flush_end) {
        size_t tight = (size + PA_ALIGN - 1) & ~(size_t)(PA_ALIGN - 1);
        e.ptr = data_end - tight;
        e.usable = tight;
    }
    return e;
}

static bool pa_register(const pa_large_t *e) {
    pa_lock(&pa_large_lock);
    bool ok = pa_insert(e);
    pa_nmalloc += ok;
    pa_unlock(&pa_large_lock);
    return ok;
}

void *pa_large_alloc(size_t size, size_t alignment, bool zero) {
    /* memalign(1 MiB, 0) lands here: a zero-byte block still needs a page, or its table
     * entry would say usable 0, which reads as "not a live block". */
    if (!size) size = 1;
    size_t page = pa_os_page_size();
    size_t guard = pa_opt.guard ? page : 0;
    bool flush_end = alignment <= PA_ALIGN;
    if (alignment < page) alignment = page;
    size_t overhead;                 /* worst case beyond `size`: alignment slack, guards, rounding */
    if (__builtin_add_overflow(alignment, 2 * guard + page, &overhead) || overhead > PTRDIFF_MAX ||
        size > PTRDIFF_MAX - overhead)
        return NULL;
    size_t data = (size + page - 1) & ~(page - 1);
    size_t span = data + 2 * guard;
    pa_large_t e;
    if (alignment == page) {
        pa_lock(&pa_large_lock);
        size_t got;
        uintptr_t map = pa_opt.large_cache_bytes ? pa_cache_take(span, guard, &got) : 0;
        /* Markers keep guarding the ends of a range made accessible whole; opening only
         * its middle would split the kernel mapping in three. */
        size_t keep = pa_light_guards ? 0 : guard;
        if (map && pa_opt.large_cache_protect && !pa_os_protect((void *)(map + keep), got - 2 * keep, true)) {
            pa_os_unmap((void *)map, got); /* out of kernel mappings: try a fresh one */
            map = 0;
        }
        if (map) {
            e = pa_place(map, got, size, guard, map + guard, flush_end);
            bool ok = pa_insert(&e);
            pa_nmalloc += ok;
            pa_unlock(&pa_large_lock);
            if (!ok) {
                pa_os_unmap((void *)map, got);
                return NULL;
            }
            if (zero) memset((void *)e.ptr, 0, size);
            return (void *)e.ptr;
        }
        pa_unlock(&pa_large_lock);
        char *p = pa_os_map(span, !guard || pa_light_guards);
        if (!p) return NULL;
        e = pa_place((uintptr_t)p, span, size, guard, (uintptr_t)p + guard, flush_end);
    } else {
        /* Over-map and trim to the alignment; the trimmed ends go back to the OS. */
        char *p = pa_os_map(span + alignment, !guard || pa_light_guards);
        if (!p) return NULL;
        uintptr_t start = ((uintptr_t)p + guard + alignment - 1) & ~(uintptr_t)(alignment - 1);
        uintptr_t map = start - guard, end = (uintptr_t)p + span + alignment;
        if (map > (uintptr_t)p) pa_os_unmap(p, map - (uintptr_t)p);
        if (end > map + span) pa_os_unmap((void *)(map + span), end - (map + span));
        e = pa_place(map, span, size, guard, start, false);
    }
    if (guard && !pa_guard_ends(e.map, e.map_size, guard)) {
        pa_os_unmap((void *)e.map, e.map_size);
        return NULL;
    }
    if (!pa_register(&e)) {
        pa_os_unmap((void *)e.map, e.map_size);
        return NULL;
    }
    return (void *)e.ptr;
}

/* Parks an inaccessible freed mapping; returns the oldest one to unmap when over budget. */
static bool pa_quarantine_put(uintptr_t map, size_t size, uintptr_t *evict_map, size_t *evict_size) {
    *evict_size = 0;
    if (pa_quarantine_count == PA_LARGE_QUARANTINE || pa_quarantine_bytes + size > pa_opt.quarantine_bytes) {
        if (!pa_quarantine_count) return false;
        *evict_map = pa_quarantine[pa_quarantine_head].map;
        *evict_size = pa_quarantine[pa_quarantine_head].size;
        pa_quarantine_head = (pa_quarantine_head + 1) % PA_LARGE_QUARANTINE;
        pa_quarantine_count--;
        pa_quarantine_bytes -= *evict_size;
    }
    size_t slot = (pa_quarantine_head + pa_quarantine_count) % PA_LARGE_QUARANTINE;
    pa_quarantine[slot].map = map;
    pa_quarantine[slot].size = size;
    pa_quarantine_count++;
    pa_quarantine_bytes += size;
    return true;
}

bool pa_large_free(void *p) {
    pa_lock(&pa_large_lock);
    pa_large_t *found = pa_find((uintptr_t)p);
    if (!found) {
        pa_unlock(&pa_large_lock);
        return false;
    }
    pa_large_t e = *found;
    pa_remove(found);
    pa_live_bytes -= e.usable;
    pa_mapped_bytes -= e.map_size;
    pa_nfree++;
    pa_recent[pa_recent_next++ % PA_LARGE_RECENT] = e.ptr;
    pa_unlock(&pa_large_lock);
    uintptr_t evict_map = 0;
    size_t evict_size = 0, nevict = 0;
    pa_range_t evict[PA_LARGE_CACHE_SLOTS + 1];
    bool kept = false, protect = pa_opt.large_cache_protect;
    bool quarantined = pa_opt.quarantine_bytes && e.map_size <= pa_opt.quarantine_bytes;
    size_t guard = pa_opt.guard ? pa_os_page_size() : 0;
    /* A reused mapping must not show the previous owner's bytes. A protected one keeps its
     * pages, so they are cleared; otherwise dropping them is cheaper. The range is this
     * thread's alone until it is cached: no lock held meanwhile. */
    if (pa_opt.large_cache_bytes && (protect || !quarantined) && (pa_opt.zero_on_free || pa_opt.junk)) {
        if (protect) pa_os_clear((void *)(e.map + guard), e.map_size - 2 * guard, pa_fill_byte());
        else pa_os_purge((void *)e.map, e.map_size);
    }
    if (quarantined || (pa_opt.large_cache_bytes && protect)) pa_os_protect((void *)e.map, e.map_size, false);
    pa_lock(&pa_large_lock);
    if (quarantined) {
        kept = pa_quarantine_put(e.map, e.map_size, &evict_map, &evict_size);
        /* Out of quarantine, an inaccessible range can wait in a protected cache as it is. */
        if (evict_size && pa_opt.large_cache_bytes && protect) {
            nevict = pa_cache_put(evict_map, evict_size, guard, evict);
            evict_size = 0;
        }
    } else if (pa_opt.large_cache_bytes) {
        nevict = pa_cache_put(e.map, e.map_size, guard, evict);
        kept = true;
    }
    pa_unlock(&pa_large_lock);
    if (!kept) pa_os_unmap((void *)e.map, e.map_size);
    if (evict_size) pa_os_unmap((void *)evict_map, evict_size);
    pa_unmap_ranges(evict, nevict);
    return true;
}

size_t pa_large_usable(const void *p) {
    pa_lock(&pa_large_lock);
    pa_large_t *e = pa_find((uintptr_t)p);
    size_t usable = e ? e->usable : 0;
    pa_unlock(&pa_large_lock);
    return usable;
}

bool pa_large_was_freed(const void *p) {
    bool freed = false;
    pa_lock(&pa_large_lock);
    for (size_t i = 0; i < PA_LARGE_RECENT && !freed; i++) freed = pa_recent[i] == (uintptr_t)p;
    pa_unlock(&pa_large_lock);
    return freed;
}

/* Grows or shrinks in place when the kernel can (mremap moves pages, never copies bytes).
 * Returns NULL with the block untouched when no memory is left. p must be live and large. */
void *pa_large_realloc(void *p, size_t size) {
    size_t page = pa_os_page_size();
    if (size > PTRDIFF_MAX - page) return NULL;
    size_t usable = (size + page - 1) & ~(page - 1);
    pa_lock(&pa_large_lock);
    pa_large_t *found = pa_find((uintptr_t)p);
    pa_large_t e = *found;
    if (usable <= e.usable && usable >= e.usable / 2) {
        pa_unlock(&pa_large_lock);
        return p;
    }
    /* Guarded or over-aligned blocks are not remapped: mremap would lose the layout. Nor
     * does mremap take a range that spans several kernel mappings, which a block carved
     * from merged cache ranges can: both are moved by hand. */
    void *q = e.map == e.ptr ? pa_os_remap((void *)e.map, e.map_size, usable) : NULL;
    if (q) {
        pa_remove(found);
        pa_live_bytes -= e.usable;
        pa_mapped_bytes -= e.map_size;
        pa_large_t moved = {(uintptr_t)q, usable, (uintptr_t)q, usable};
        pa_insert(&moved);           /* cannot fail: one entry was just removed */
        pa_unlock(&pa_large_lock);
        return q;
    }
    pa_unlock(&pa_large_lock);
    q = pa_large_alloc(size, 0, false);
    if (!q) return NULL;
    memcpy(q, p, size < e.usable ? size : e.usable);
    pa_large_free(p);
    return q;
}

/* From the cache sweep, for programs that stopped freeing large blocks. */
void pa_large_decay(uint32_t now_ms) {
    if (!__atomic_load_n(&pa_cache_count, __ATOMIC_RELAXED)) return;
    pa_range_t evict[PA_LARGE_CACHE_SLOTS + 1];
    pa_lock(&pa_large_lock);
    size_t n = pa_cache_expire(now_ms, evict);
    pa_unlock(&pa_large_lock);
    pa_unmap_ranges(evict, n);
}

size_t pa_large_trim(void) {
    pa_lock(&pa_large_lock);
    size_t released = pa_cache_bytes;
    while (pa_cache_count) {
        pa_cache_count--;
        pa_os_unmap((void *)pa_cache[pa_cache_count].map, pa_cache[pa_cache_count].size);
    }
    pa_cache_bytes = 0;
    for (; pa_quarantine_count; pa_quarantine_count--) {
        pa_os_unmap((void *)pa_quarantine[pa_quarantine_head].map, pa_quarantine[pa_quarantine_head].size);
        pa_quarantine_head = (pa_quarantine_head + 1) % PA_LARGE_QUARANTINE;
    }
    pa_quarantine_bytes = 0;
    pa_unlock(&pa_large_lock);
    return released;
}

void pa_large_stats(pyalloc_stats *st) {
    pa_lock(&pa_large_lock);
    st->large_in_use_bytes = pa_live_bytes;
    st->large_count = pa_table_count;
    st->large_mapped_bytes = pa_mapped_bytes;
    st->large_cached_bytes = pa_cache_bytes;
    st->nlarge_malloc = pa_nmalloc;
    st->nlarge_free = pa_nfree;
    st->metadata_bytes += pa_table_cap * sizeof(pa_large_t);
    pa_unlock(&pa_large_lock);
}

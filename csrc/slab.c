/* Size classes and the central per-class pools.
 *
 * The classes of a group share a region of the heap reservation, carved into slabs of
 * one size; each carved slab holds one class of the group at a time, named in the heap's
 * unit map. The central pool tracks free slots in a per-slab bitmap (out of band)
 * and keeps slabs on three lists: partial (some slots free), empty (all free, pages
 * resident) and purged (all free, pages returned to the OS). A class short of slabs takes
 * an empty one of another class in its group. Thread caches move slots in and out in
 * batches, so the class lock is taken once per batch, not per malloc. */
#include "internal.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

union pa_ro_u pa_ro __attribute__((aligned(PA_PAGE)));
static uint32_t pa_group_nslabs[PA_NGROUP]; /* slabs carved, any class; under pa_carve_lock */
static _Atomic uint32_t pa_class_slabs[PA_NCLASS]; /* slabs holding each class, for stats */
pa_lock_t pa_carve_lock;             /* serialises carving and the switch to lazy mapping */
/* Lazy: the layout is not reserved but mapped slab by slab, metadata in steps, so the heap
 * costs only the address space it uses. Chosen when RLIMIT_AS is finite, which counts
 * reserved (even inaccessible) address space. */
static bool pa_lazy;                 /* written under pa_carve_lock, read anywhere */
/* Lazy: leading bytes of each group's records mapped. */
static size_t pa_records_mapped[PA_NGROUP];
pa_pool_t pa_pools[PA_MAX_ARENAS][PA_NCLASS];
/* Pools are set up when a thread is first given their arena: a single-threaded program
 * never writes, and so never faults in, the pages of the pools it cannot use. */
static _Atomic uint32_t pa_arenas_open;
/* Bytes of empty slabs kept resident, over all pools: one budget, so a program that sweeps
 * through many classes does not keep a reserve in each of them. */
static _Atomic size_t pa_retained;
/* No kept empty slab expires before this (ms clock): the sweep, which runs every few slow
 * paths of every thread, skips the walk over all pools until then. A lower bound: a slab
 * reused meanwhile only costs one walk that purges nothing. */
static _Atomic uint32_t pa_decay_due_ms;
/* Bytes of slots out of the pools (in use or cached), and their peak in the current and the
 * previous window. Under retain_below_peak, empty slabs stay resident while they and the
 * slots out fit in that recent peak: a heap that breathes (trees built and torn down,
 * requests come and gone) reuses its pages without new faults at no cost in peak RSS;
 * memory moving from class to class follows through pa_adopt_pages. */
static _Atomic size_t pa_handed_bytes, pa_handed_peak, pa_handed_peak_before;
/* Bytes of the slabs' fronts (pages written since each was carved or purged), kept empty
 * slabs included, and the peak of the committed part (fronts of slabs with slots out) over
 * the same windows. Empty slabs also stay resident while all fronts stay a sixteenth under
 * that peak: a heap whose slots sit more densely than at its peak (small objects that gave
 * way to big ones) reuses pages it would otherwise purge and fault in again. The margin
 * keeps a heap steady at its peak, whose committed bytes only jitter, from holding its
 * jitter as kept slabs. */
static _Atomic size_t pa_front_bytes, pa_committed_peak, pa_committed_peak_before;
static _Atomic uint32_t pa_peak_window_ms;
/* Ranges of pages moved between slabs and not yet merged back (see pa_adopt_pages): each
 * is a kernel mapping, so they are capped far below the default vm.max_map_count (65530). */
#define PA_MOVED_RANGES_MAX 8192
static _Atomic uint32_t pa_moved_ranges;
static bool pa_can_move = true;      /* cleared for good if the kernel cannot move pages */
/* A move is a system call costing about as much as faulting in this many pages: fewer are
 * left to fault in. */
#define PA_MOVE_MIN_PAGES 8
#define PA_PEAK_WINDOW_MS 1000       /* a heap smaller for this long has shrunk */
static _Atomic uint32_t pa_idle_pass_ms;

const uint8_t pa_class_lookup[PA_LOOKUP_MAX / 16 + 1] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  8,  9,  9,  10, 10, 11, 11, 12, 12, 12, 12, 13,
    13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17,
    17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19};

/* 16-byte steps up to 128, then four classes per power of two: internal fragmentation
 * stays under 25% (under 12.5% on average) without a long tail of rarely used classes.
 * Between 1 and 8 KiB a fifth class sits an eighth above the power of two: buffers of a
 * power of two plus a small header (sqlite's page cache: 4 KiB pages with a 272-byte
 * header) would otherwise lose a quarter of their slot. */
static uint32_t pa_class_size(int c) {
    if (c < 8) return 16u * (uint32_t)(c + 1);
    if (c >= PA_CLASS_1K && c < PA_CLASS_8K) {
        int b = 10 + (c - PA_CLASS_1K) / 5, k = (c - PA_CLASS_1K) % 5;
        return (1u << b) + (k ? (uint32_t)k << (b - 2) : 1u << (b - 3));
    }
    /* the class's place among four per power of two from 128, as if 1 to 8 KiB had four too */
    int q = c < PA_CLASS_1K ? c - 8 : c - PA_CLASS_8K + (PA_CLASS_1K - 8) + 3 * 4;
    int b = 7 + q / 4;
    return (1u << b) + (uint32_t)(q % 4 + 1) * (1u << (b - 2));
}

static size_t pa_page_round(size_t n) {
    size_t page = pa_os_page_size();
    return (n + page - 1) & ~(page - 1);
}

static size_t pa_records_bytes(const pa_group_t *g, size_t nslabs) { return pa_page_round(nslabs * g->record_bytes); }

/* Assigns each group its region of the heap and its slab records, laid out from m. */
static void pa_layout(char *heap, char *m, uint32_t shift) {
    size_t region = (size_t)1 << shift;
    pa_heap.base = (uintptr_t)heap;
    pa_heap.span = region * PA_NGROUP;
    pa_heap.region_shift = shift;
    pa_heap.region_mask = region - 1;
    for (int i = 0; i < PA_NGROUP; i++) {
        pa_group_t *g = &pa_groups[i];
        g->base = heap + (size_t)i * region;
        g->max_slabs = (uint32_t)(region >> g->slab_shift);
        g->records = m;
        m += pa_records_bytes(g, g->max_slabs);
    }
    for (int c = 0; c < PA_NCLASS; c++) {
        pa_class_t *k = &pa_classes[c];
        k->base = pa_groups[k->group].base;
        k->slab_records = pa_groups[k->group].records;
    }
}

static size_t pa_meta_total(uint32_t shift) {
    size_t meta = 0;
    for (int i = 0; i < PA_NGROUP; i++) {
        size_t slabs = ((size_t)1 << shift) >> pa_groups[i].slab_shift;
        meta += pa_records_bytes(&pa_groups[i], slabs);
    }
    return meta;
}

/* Reserving up front keeps every other mapping out of the layout. */
static bool pa_reserve_layout(void) {
    /* 64 GiB per group is far beyond any program's working set on today's machines;
     * halve it when the address space is short (valgrind, 39-bit VMs). */
    for (uint32_t shift = 36; shift >= 26; shift--) {
        size_t span = ((size_t)1 << shift) * PA_NGROUP, meta = pa_meta_total(shift);
        /* Inaccessible until carved: a run off the end of the last slab in use faults. */
        char *heap = pa_os_reserve(span, (size_t)1 << PA_SLAB_BIG_SHIFT, false);
        if (!heap) continue;
        /* protect_metadata: a guard page on each side, so a linear overflow out of some
         * other mapping cannot run into the slab tables. */
        size_t guard = pa_opt.protect_metadata ? pa_os_page_size() : 0;
        char *m = pa_os_reserve(meta + 2 * guard, pa_os_page_size(), true);
        if (!m) {
            pa_os_unmap(heap, span);
            continue;
        }
        if (guard) {
            pa_os_protect(m, guard, false);
            pa_os_protect(m + guard + meta, guard, false);
        }
        pa_layout(heap, m + guard, shift);
        for (int i = 0; i < PA_NGROUP; i++)
            pa_records_mapped[i] = pa_records_bytes(&pa_groups[i], pa_groups[i].max_slabs);
        return true;
    }
    return false;
}

/* An unreserved layout at a random address far below where the kernel places mappings
 * (top down from under the stack) and far above the program and its brk heap, so nothing
 * else is likely to land in it; should something, MAP_FIXED_NOREPLACE keeps us out of it. */
static void pa_lazy_layout(void) {
    uint32_t shift = 36;
    size_t total = ((size_t)1 << shift) * PA_NGROUP + pa_meta_total(shift);
    uintptr_t lo = (uintptr_t)1 << 44, hi = (uintptr_t)1 << 46, align = (uintptr_t)1 << PA_SLAB_BIG_SHIFT;
    uintptr_t base = (lo + pa_os_random() % (hi - lo - total)) & ~(align - 1);
    pa_layout((char *)base, (char *)base + ((size_t)1 << shift) * PA_NGROUP, shift);
    pa_lazy = true;
}

/* Lazy: maps the records of slabs [0, s] of the group that are not mapped yet. */
static bool pa_meta_cover(int group, uint32_t s) {
    const pa_group_t *g = &pa_groups[group];
    size_t have = pa_records_mapped[group], need = pa_records_bytes(g, (size_t)s + 1);
    if (need <= have) return true;
    if (!pa_os_map_at(g->records + have, need - have)) return false;
    pa_records_mapped[group] = need;
    return true;
}

/* The unit map, in either layout: the fast paths read it for any address in the span, so
 * it is mapped whole (pages never written cost nothing), beside the other metadata that
 * protect_metadata guards. */
static void pa_map_units(void) {
    pa_heap.units = pa_os_map_metadata(pa_page_round((pa_heap.span >> PA_UNIT_SHIFT) * sizeof(uint16_t)));
    if (!pa_heap.units) pa_fatal("cannot map the heap's unit map");
}

/* Sets up the pools of arenas up to `arena`. Called under pa_tcache_lock (or before any
 * thread exists), which fork holds, so a fork sees a fixed set of pools to lock. */
void pa_arena_open(uint32_t arena) {
    for (uint32_t a = atomic_load_explicit(&pa_arenas_open, memory_order_relaxed); a <= arena; a++) {
        for (int c = 0; c < PA_NCLASS; c++) {
            pa_pool_t *pool = &pa_pools[a][c];
            for (int l = 0; l < PA_NLISTS; l++) pool->head[l] = pool->tail[l] = PA_NIL;
            pool->rng = pa_secret ^ ((uint64_t)(c * PA_MAX_ARENAS + a + 1) * 0x9e3779b97f4a7c15ull);
        }
        atomic_store_explicit(&pa_arenas_open, a + 1, memory_order_release);
    }
}

uint32_t pa_arenas_used(void) { return atomic_load_explicit(&pa_arenas_open, memory_order_acquire); }

void pa_slab_init(void) {
    /* Two arenas per CPU: enough that threads rarely share one. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    pa_narenas = cpus < 1 ? 1 : cpus * 2 > PA_MAX_ARENAS ? PA_MAX_ARENAS : (uint32_t)cpus * 2;
    for (int c = 0; c < PA_NCLASS; c++) {
        pa_class_t *k = &pa_classes[c];
        k->size = pa_class_size(c);
        k->group = k->size <= PA_TINY_MAX ? PA_GROUP_TINY
                   : k->size * 8 <= (1u << PA_SLAB_SMALL_SHIFT) ? PA_GROUP_SMALL : PA_GROUP_BIG;
        uint32_t shift = k->group == PA_GROUP_BIG ? PA_SLAB_BIG_SHIFT : PA_SLAB_SMALL_SHIFT;
        k->slab_shift = (uint8_t)shift;
        k->slab_mask = (1u << shift) - 1;
        k->nslots = (1u << shift) / k->size;
        /* Slabs are aligned, so without this the first slots of every class, those a
         * program reuses most, would sit at the same offsets and share a few L1 sets: a
         * program using more small classes than the cache has ways would evict its own
         * hottest blocks. Each class starts its refills at its own cache-line offset
         * (7 lines apart, coprime with the 64 sets), at no cost in memory. */
        uint32_t line_offset = (uint32_t)(c * 7 % 64) * 64;
        k->first_slot = k->size < PA_PAGE ? (line_offset + k->size - 1) / k->size : 0;
        k->words = (k->nslots + 63) / 64;
        k->state_shift = 31 - (uint32_t)__builtin_clz(k->size);
        size_t states = (size_t)1 << (shift - k->state_shift);
        k->state_offset = (uint32_t)(sizeof(pa_slab_t) + k->words * sizeof(uint64_t));
        k->reqsize_offset = k->state_offset + (uint32_t)states;
        size_t record = k->reqsize_offset + (pa_opt.canary ? states * sizeof(uint32_t) : 0);
        k->record_bytes = (uint32_t)((record + 63) & ~(size_t)63);
        k->recip = UINT64_MAX / k->size + 1;
        /* About 32 KiB of cached slots per class: a thread's idle cache stays small, and
         * bins still hold enough tiny objects to amortise the pool lock. */
        uint32_t cap = 32768 / k->size;
        k->tcache_cap = !pa_opt.tcache ? 0 : cap > PA_TCACHE_MAX_CAP ? PA_TCACHE_MAX_CAP : cap < 1 ? 1 : cap;
    }
    for (int i = 0; i < PA_NGROUP; i++) {
        pa_group_t *g = &pa_groups[i];
        g->first_class = PA_NCLASS;
        for (int c = 0; c < PA_NCLASS; c++) {
            const pa_class_t *k = &pa_classes[c];
            if (k->group != i) continue;
            if (g->first_class == PA_NCLASS) g->first_class = (uint8_t)c;
            g->slab_shift = k->slab_shift;
            g->end_class = (uint8_t)(c + 1);
            if (k->record_bytes > g->record_bytes) g->record_bytes = k->record_bytes;
        }
        if (g->record_bytes / 64 % 2 == 0) g->record_bytes += 64;
    }
    for (int c = 0; c < PA_NCLASS; c++) pa_classes[c].record_bytes = pa_groups[pa_classes[c].group].record_bytes;
    pa_arena_open(0);

    struct rlimit as;
    bool limited = getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY;
    if (limited || !pa_reserve_layout()) pa_lazy_layout();
    pa_map_units();
}

static void pa_list_push(const pa_class_t *k, pa_pool_t *pool, uint32_t s, uint8_t list) {
    pa_slab_t *sl = pa_slab(k, s);
    sl->list = list;
    sl->prev = PA_NIL;
    sl->next = pool->head[list];
    if (sl->next != PA_NIL) pa_slab(k, sl->next)->prev = s;
    else pool->tail[list] = s;
    pool->head[list] = s;
    pool->count[list]++;
}

static void pa_list_remove(const pa_class_t *k, pa_pool_t *pool, uint32_t s) {
    pa_slab_t *sl = pa_slab(k, s);
    if (sl->list == PA_LIST_NONE) return;
    if (sl->list == PA_LIST_EMPTY)
        atomic_fetch_sub_explicit(&pa_retained, (size_t)sl->front_pages * pa_os_page_size(), memory_order_relaxed);
    if (sl->prev != PA_NIL) pa_slab(k, sl->prev)->next = sl->next;
    else pool->head[sl->list] = sl->next;
    if (sl->next != PA_NIL) pa_slab(k, sl->next)->prev = sl->prev;
    else pool->tail[sl->list] = sl->prev;
    pool->count[sl->list]--;
    sl->list = PA_LIST_NONE;
}

/* A windowed peak: `peak` in the current window, `before` the whole previous one. */
static void pa_raise_peak(_Atomic size_t *peak, size_t now) {
    size_t was = atomic_load_explicit(peak, memory_order_relaxed);
    while (now > was &&
           !atomic_compare_exchange_weak_explicit(peak, &was, now, memory_order_relaxed, memory_order_relaxed)) {
    }
}

static void pa_new_window(_Atomic size_t *peak, _Atomic size_t *before, size_t now) {
    atomic_store_explicit(before, atomic_load_explicit(peak, memory_order_relaxed), memory_order_relaxed);
    atomic_store_explicit(peak, now, memory_order_relaxed);
}

static size_t pa_recent_peak(_Atomic size_t *peak, _Atomic size_t *before) {
    size_t now = atomic_load_explicit(peak, memory_order_relaxed);
    size_t earlier = atomic_load_explicit(before, memory_order_relaxed);
    return now > earlier ? now : earlier;
}

static void pa_handed_add(size_t bytes) {
    pa_raise_peak(&pa_handed_peak, atomic_fetch_add_explicit(&pa_handed_bytes, bytes, memory_order_relaxed) + bytes);
}

static size_t pa_committed(void) {
    size_t front = atomic_load_explicit(&pa_front_bytes, memory_order_relaxed);
    size_t kept = atomic_load_explicit(&pa_retained, memory_order_relaxed);
    return front > kept ? front - kept : 0;
}

static void pa_set_front(pa_slab_t *sl, uint32_t pages) {
    size_t page = pa_os_page_size();
    if (pages >= sl->front_pages)
        atomic_fetch_add_explicit(&pa_front_bytes, (pages - sl->front_pages) * page, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&pa_front_bytes, (sl->front_pages - pages) * page, memory_order_relaxed);
    sl->front_pages = (uint16_t)pages;
}

/* How many bytes of empty slabs the heap may keep without rising above its recent peak:
 * what it handed out at that peak and holds no more. */
static size_t pa_room_below_peak(void) {
    /* The fronts include this slab and those already kept. Only where pages can move, so
     * that kept slabs serve every class. */
    if (pa_slab_pages_move()) {
        size_t peak = pa_recent_peak(&pa_committed_peak, &pa_committed_peak_before);
        if (atomic_load_explicit(&pa_front_bytes, memory_order_relaxed) <= peak - peak / 16) return SIZE_MAX;
    }
    size_t handed_peak = pa_recent_peak(&pa_handed_peak, &pa_handed_peak_before);
    size_t handed = atomic_load_explicit(&pa_handed_bytes, memory_order_relaxed);
    return handed_peak > handed ? handed_peak - handed : 0;
}

/* Whether a slab that just became empty may stay resident; if so it is counted in pa_retained. */
static bool pa_retain(const pa_class_t *k, uint32_t s) {
    /* Pages past the front were never written and cost nothing: a big slab holding a few
     * big blocks is counted by what it used, or it would never fit the budget. */
    size_t bytes = (size_t)pa_slab(k, s)->front_pages * pa_os_page_size();
    size_t room = pa_opt.retain_bytes;
    if (pa_opt.retain_below_peak) {
        size_t below_peak = pa_room_below_peak();
        if (room > below_peak) room = below_peak;
    }
    if (atomic_fetch_add_explicit(&pa_retained, bytes, memory_order_relaxed) + bytes <= room) return true;
    atomic_fetch_sub_explicit(&pa_retained, bytes, memory_order_relaxed);
    return false;
}

/* Its freed slots read as zeros from now on: the write after free check must not expect fill. */
static void pa_mark_purged(const pa_class_t *k, uint32_t s) {
    if (!(pa_heap.hooks & PA_HOOK_CHECK)) return;
    uint8_t *states = pa_slab_states(k, s);
    for (uint32_t i = 0; i < k->nslots; i++) {
        uint8_t *state = pa_slot_state_at(k, states, i);
        if (pa_slot_holds_free_fill(*state)) __atomic_store_n(state, PA_SLOT_PURGED, __ATOMIC_RELAXED);
    }
}

/* The slab's pages moved in from others are dropped with it: its own mapping again. */
static void pa_forget_moved(pa_slab_t *sl) {
    atomic_fetch_sub_explicit(&pa_moved_ranges, sl->moved_ranges, memory_order_relaxed);
    sl->moved_ranges = 0;
}

/* Gives an empty slab's pages back to the OS; returns the list it belongs on now. */
static uint8_t pa_purge_slab(const pa_class_t *k, pa_pool_t *pool, uint32_t s) {
    char *slab = pa_slab_start(k, s);
    pool->npurge++;
    pa_set_front(pa_slab(k, s), 0);
    pa_mark_purged(k, s);
    if (__atomic_load_n(&pa_lazy, __ATOMIC_RELAXED)) {
        pa_os_unmap(slab, (size_t)1 << k->slab_shift);
        pa_forget_moved(pa_slab(k, s));
        return PA_LIST_UNMAPPED;
    }
    /* One that had pages moved in is mapped afresh, which merges it back into its
     * neighbours' mapping. */
    if (pa_slab(k, s)->moved_ranges) {
        if (!pa_os_reset(slab, (size_t)1 << k->slab_shift)) pa_fatal("cannot remap heap pages");
        pa_forget_moved(pa_slab(k, s));
    } else {
        pa_os_purge(slab, (size_t)1 << k->slab_shift);
    }
    return PA_LIST_PURGED;
}

/* Among the pools of classes [first, end) other than class `except`, the one whose
 * longest-idle resident empty slab has waited longest. Read without locks, so only a hint:
 * the caller locks the pool and looks again. */
static pa_pool_t *pa_oldest_empty(int first, int end, int except, int *cls_out) {
    uint32_t now = pa_os_now_ms(), oldest = 0, arenas = pa_arenas_used();
    pa_pool_t *best = NULL;
    for (int c = first; c < end; c++)
        for (uint32_t a = 0; a < arenas; a++) {
            pa_pool_t *pool = &pa_pools[a][c];
            uint32_t s = __atomic_load_n(&pool->tail[PA_LIST_EMPTY], __ATOMIC_RELAXED);
            if (s == PA_NIL || c == except) continue;
            const pa_slab_t *sl = pa_slab(&pa_classes[c], s);
            uint32_t idle = now - __atomic_load_n(&sl->emptied_ms, __ATOMIC_RELAXED);
            if (!best || idle > oldest) {
                best = pool;
                oldest = idle;
                *cls_out = c;
            }
        }
    return best;
}

bool pa_slab_pages_move(void) {
    return __atomic_load_n(&pa_tcache_sole, __ATOMIC_RELAXED) &&
           __atomic_load_n(&pa_can_move, __ATOMIC_RELAXED) && !__atomic_load_n(&pa_lazy, __ATOMIC_RELAXED) &&
           atomic_load_explicit(&pa_moved_ranges, memory_order_relaxed) < PA_MOVED_RANGES_MAX;
}

/* Bytes [from, to) of slab s of class k were never written: they take resident pages of
 * other classes' empty slabs instead of faulting in new ones, longest idle first. Slabs of
 * another group cannot be taken over whole (pa_take_sibling), but their pages can move, so
 * memory a program frees in one class and allocates in another is reused without a page
 * fault or growth of RSS. A donor gives its pages from the end of its front and stays kept
 * while PA_MOVE_MIN_PAGES or more are left; the rest are purged. Returns the bytes moved
 * in, from `from` on. */
static size_t pa_adopt_pages(const pa_class_t *k, uint32_t s, size_t from, size_t to) {
    char *dst = pa_slab_start(k, s) + from;
    size_t need = to - from, page = pa_os_page_size(), got = 0;
    while (need - got >= PA_MOVE_MIN_PAGES * page) {
        if (!pa_slab_pages_move()) break;
        int dc = 0;
        pa_pool_t *donor = pa_oldest_empty(0, PA_NCLASS, (int)(k - pa_classes), &dc);
        /* Never wait for a second pool lock while holding one: two threads taking pages
         * from each other's pools would deadlock. */
        if (!donor || !pa_trylock(&donor->lock)) break;
        const pa_class_t *dk = &pa_classes[dc];
        uint32_t ds = donor->tail[PA_LIST_EMPTY];
        if (ds == PA_NIL) {
            pa_unlock(&donor->lock);
            break;
        }
        pa_slab_t *dsl = pa_slab(dk, ds);
        char *src = pa_slab_start(dk, ds);
        size_t size = (size_t)dsl->front_pages * page;
        /* Too few pages to be worth a move, and idle longest: it would stand in front of
         * its pool's bigger kept slabs, holding them back from this and from the budget. */
        if (size < PA_MOVE_MIN_PAGES * page) {
            pa_list_remove(dk, donor, ds);
            pa_list_push(dk, donor, ds, pa_purge_slab(dk, donor, ds));
            pa_unlock(&donor->lock);
            continue;
        }
        /* From the donor's end: the pages its class would write first, should it take the
         * slab back, stay resident. */
        size_t take = size < need - got ? size : need - got;
        bool moved = pa_os_move(src + size - take, dst + got, take, &pa_can_move);
        if (moved) {
            pa_slab(k, s)->moved_ranges++;
            atomic_fetch_add_explicit(&pa_moved_ranges, 1, memory_order_relaxed);
            atomic_fetch_sub_explicit(&pa_retained, take, memory_order_relaxed);
            pa_set_front(dsl, (uint32_t)((size - take) / page));
            donor->nmoved++;
            got += take;
            if (size - take < PA_MOVE_MIN_PAGES * page) {
                pa_list_remove(dk, donor, ds);
                pa_list_push(dk, donor, ds, pa_purge_slab(dk, donor, ds));
            } else {
                pa_mark_purged(dk, ds); /* its slots on the pages gone read as zeros now */
            }
        }
        pa_unlock(&donor->lock);
        if (!moved) break;
    }
    return got;
}

/* The slots just taken from slab s reach `reach` pages into it, past its front. The front
 * grows at least twofold (to PA_MOVE_MIN_PAGES at first), taking pages from other classes
 * where it can: a slab being filled takes its pages in a few calls, one that hands out a
 * few slots takes few pages, which stay resident while those slots live. */
static void pa_grow_front(const pa_class_t *k, pa_pool_t *pool, uint32_t s, uint32_t reach) {
    pa_slab_t *sl = pa_slab(k, s);
    if (!pa_slab_pages_move()) {     /* nothing to take: the slots' own pages fault in */
        pa_set_front(sl, reach);
        return;
    }
    size_t page = pa_os_page_size();
    uint32_t front = sl->front_pages, slab_pages = (uint32_t)(((size_t)1 << k->slab_shift) / page);
    uint32_t target = front * 2 > PA_MOVE_MIN_PAGES ? front * 2 : PA_MOVE_MIN_PAGES;
    /* A class that filled a slab lately will likely fill this one too: all in one move. */
    if (pool->filled_ms && pa_os_now_ms() - pool->filled_ms < PA_PEAK_WINDOW_MS) target = slab_pages;
    if (target < reach) target = reach;
    if (target > slab_pages) target = slab_pages;
    uint32_t adopted = (uint32_t)(pa_adopt_pages(k, s, (size_t)front * page, (size_t)target * page) / page);
    pa_set_front(sl, front + adopted > reach ? front + adopted : reach);
}

static void pa_decay_due_at_most(uint32_t due) {
    uint32_t was = atomic_load(&pa_decay_due_ms);
    while ((int32_t)(due - was) < 0 && !atomic_compare_exchange_weak(&pa_decay_due_ms, &was, due)) {
    }
}

/* Purges the pool's empty slabs that have waited purge_delay_ms for reuse, longest-idle first. */
static void pa_purge_expired(const pa_class_t *k, pa_pool_t *pool, uint32_t now) {
    for (uint32_t s; (s = pool->tail[PA_LIST_EMPTY]) != PA_NIL;) {
        if (now - pa_slab(k, s)->emptied_ms < pa_opt.purge_delay_ms) return;
        pa_list_remove(k, pool, s);
        pa_list_push(k, pool, s, pa_purge_slab(k, pool, s));
    }
}

/* Gives back the reserved but unused part of the layout, for a program lowering RLIMIT_AS:
 * from here on the heap grows lazily. */
void pa_slab_unreserve(void) {
    pa_lock(&pa_carve_lock);
    for (int i = 0; i < PA_NGROUP && !pa_lazy; i++) {
        const pa_group_t *g = &pa_groups[i];
        uint32_t n = pa_group_nslabs[i];
        size_t used = (size_t)n << g->slab_shift, region = (size_t)1 << pa_heap.region_shift;
        if (used < region) pa_os_unmap(g->base + used, region - used);
        size_t keep = pa_records_bytes(g, n), all = pa_records_bytes(g, g->max_slabs);
        if (keep < all) pa_os_unmap(g->records + keep, all - keep);
        pa_records_mapped[i] = keep;
    }
    __atomic_store_n(&pa_lazy, true, __ATOMIC_RELAXED);
    pa_unlock(&pa_carve_lock);
    /* Purged slabs still hold their address space: unmap them too. */
    uint32_t arenas = pa_arenas_used();
    for (int c = 0; c < PA_NCLASS; c++)
        for (uint32_t a = 0; a < arenas; a++) {
            pa_pool_t *pool = &pa_pools[a][c];
            pa_lock(&pool->lock);
            for (uint32_t s; (s = pool->head[PA_LIST_PURGED]) != PA_NIL;) {
                pa_list_remove(&pa_classes[c], pool, s);
                pa_os_unmap(pa_slab_start(&pa_classes[c], s), (size_t)1 << pa_classes[c].slab_shift);
                pa_list_push(&pa_classes[c], pool, s, PA_LIST_UNMAPPED);
            }
            pa_unlock(&pool->lock);
        }
}

/* Records the class and owner of slab s in the unit map. */
static void pa_slab_publish(int cls, const pa_class_t *k, uint32_t s, uint32_t arena) {
    size_t unit = (size_t)(pa_slab_start(k, s) - (char *)pa_heap.base) >> PA_UNIT_SHIFT;
    uint16_t entry = (uint16_t)((uint32_t)(cls + 1) | arena << 8);
    for (size_t u = 0; u < (size_t)1 << (k->slab_shift - PA_UNIT_SHIFT); u++)
        atomic_store_explicit(&pa_heap.units[unit + u], entry, memory_order_release);
}

/* Sets up slab s's record for class cls, all slots free, and names its class and owner
 * (arena) in the unit map. The record may hold another class's leftovers: state bytes are
 * cleared, since the slot grid changes with the class. */
static void pa_slab_format(int cls, const pa_class_t *k, uint32_t s, uint32_t arena, int former) {
    uint64_t *bits = pa_slab_bits(k, s);
    for (uint32_t w = 0; w < k->words; w++) {
        uint32_t left = k->nslots - w * 64;
        bits[w] = left >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << left) - 1);
    }
    memset(pa_slab_states(k, s), PA_SLOT_NEVER, ((size_t)1 << k->slab_shift) >> k->state_shift);
    pa_slab_t *sl = pa_slab(k, s);
    sl->nfree = (uint16_t)k->nslots;
    sl->list = PA_LIST_NONE;
    sl->former_class = (uint8_t)former;
    pa_slab_publish(cls, k, s, arena);
    atomic_fetch_add_explicit(&pa_class_slabs[cls], 1, memory_order_relaxed);
}

/* Makes slab pages accessible: maps them in the lazy layout, where nothing is mapped
 * ahead; opens the reserved PROT_NONE range otherwise. */
static bool pa_open_range(char *p, size_t bytes) {
    return pa_lazy ? pa_os_map_at(p, bytes) : pa_os_protect(p, bytes, true);
}

/* Makes a slab's memory accessible. With guard markers a guard slab before it is opened
 * with it, then marked, so the region stays one kernel mapping: left inaccessible, each
 * guard slab split it, and paranoid's heap ran out of kernel mappings (vm.max_map_count)
 * at about 2 GiB of 1000-byte blocks. In the lazy layout another mapping may sit where
 * the guard slab would; then it guards as it is. */
static bool pa_open_slab(char *slab, size_t bytes, bool after_guard) {
    if (after_guard && pa_light_guards) {
        char *guard = slab - bytes;
        if (pa_open_range(guard, 2 * bytes)) {
            if (!pa_os_guard(guard, bytes, true)) pa_os_protect(guard, bytes, false);
            return true;
        }
    }
    return pa_open_range(slab, bytes);
}

/* Claims the next unused slab of the group region for a class and arena and opens its
 * pages. Every pool of the group draws from the same region, so carving has a lock of its
 * own. Under guard_slab_interval every Nth slab is skipped: it stays inaccessible for good.
 * A slab that cannot be opened (out of mappings, RLIMIT_AS, something mapped in the way)
 * is reported as none left; the caller falls back to a bigger class or a dedicated mapping. */
static uint32_t pa_carve_slab(int cls, pa_class_t *k, uint32_t arena) {
    const pa_group_t *g = &pa_groups[k->group];
    pa_lock(&pa_carve_lock);
    uint32_t s = pa_group_nslabs[k->group];
    size_t every = pa_opt.guard_slab_interval;
    bool after_guard = every && s % every == every - 1;
    if (after_guard) s++;
    char *slab = pa_slab_start(k, s);
    size_t bytes = (size_t)1 << k->slab_shift;
    bool ok = s < g->max_slabs && (!pa_lazy || pa_meta_cover(k->group, s)) && pa_open_slab(slab, bytes, after_guard);
    if (ok) {
        /* Its unit map entries, written last, publish it: pa_small_find trusts them. */
        pa_slab_format(cls, k, s, arena, PA_NCLASS);
        pa_group_nslabs[k->group] = s + 1;
    }
    pa_unlock(&pa_carve_lock);
    return ok ? s : PA_NIL;
}

/* The longest idle resident empty slab of another arena's pool of the class, made this
 * arena's and taken off its list. Threads that take turns building and freeing big
 * structures then reuse each other's pages, where each pool would purge its own (they
 * count against the heap's peak while the other's fault in) and fault them in again. The
 * longest idle, because its owner reuses its most recently emptied first. An empty slab
 * holds no slot that a bin or a free could hand back to its old owner, so nothing else
 * reads the owner meanwhile. Only try-locks: the caller holds its own pool's lock. */
static uint32_t pa_take_foreign_empty(const pa_class_t *k, int cls, uint32_t arena) {
    uint32_t arenas = pa_arenas_used();
    for (uint32_t i = 1; i < arenas; i++) {
        pa_pool_t *other = &pa_pools[(arena + i) % arenas][cls];
        if (!__atomic_load_n(&other->count[PA_LIST_EMPTY], __ATOMIC_RELAXED) || !pa_trylock(&other->lock)) continue;
        uint32_t s = other->tail[PA_LIST_EMPTY];
        if (s != PA_NIL) {
            pa_list_remove(k, other, s);
            pa_slab_publish(cls, k, s, arena);
        }
        pa_unlock(&other->lock);
        if (s != PA_NIL) return s;
    }
    return PA_NIL;
}

/* A pool of another class of the group with a slab on `list`. Read without locks, as in
 * pa_oldest_empty. */
static pa_pool_t *pa_sibling_listing(const pa_group_t *g, int except, uint8_t list, int *cls_out) {
    uint32_t arenas = pa_arenas_used();
    for (int c = g->first_class; c < g->end_class; c++) {
        if (c == except) continue;
        for (uint32_t a = 0; a < arenas; a++)
            if (__atomic_load_n(&pa_pools[a][c].count[list], __ATOMIC_RELAXED)) {
                *cls_out = c;
                return &pa_pools[a][c];
            }
    }
    return NULL;
}

/* A slab of another class of the group on `list` (the longest idle of the resident empty
 * ones, or a purged one), made this class's and this arena's. A program that moves from
 * size to size (a parser's buffers, a sweep over sizes) then reuses the pages it just freed
 * in place: no page fault, no system call, and a peak RSS near what it holds at once; and
 * a purged slab spares carving a new one. Hardened, the slab's freed slots are checked for
 * writes after free first, as their reuse would have. Only try-locks: the caller holds its
 * own pool's lock. */
static uint32_t pa_take_sibling(int cls, const pa_class_t *k, uint32_t arena, uint8_t list) {
    const pa_group_t *g = &pa_groups[k->group];
    int dc = 0;
    pa_pool_t *donor = list == PA_LIST_EMPTY ? pa_oldest_empty(g->first_class, g->end_class, cls, &dc)
                                             : pa_sibling_listing(g, cls, list, &dc);
    if (!donor || !pa_trylock(&donor->lock)) return PA_NIL;
    const pa_class_t *dk = &pa_classes[dc];
    uint32_t s = donor->tail[list];
    if (s != PA_NIL) {
        pa_list_remove(dk, donor, s);
        donor->nrehomed++;
    }
    pa_unlock(&donor->lock);
    if (s == PA_NIL) return PA_NIL;
    /* Off every list, no slot out: nothing else reaches the record now. */
    pa_check_freed_slots(dc, s);
    atomic_fetch_sub_explicit(&pa_class_slabs[dc], 1, memory_order_relaxed);
    pa_slab_format(cls, k, s, arena, dc);
    return s;
}

/* The slab to take slots from: partially used first (keeps slabs dense so empty ones can be
 * returned), then resident empty, its own, another arena's or another class's, then
 * purged, its own or another class's, then a fresh one. */
static uint32_t pa_pick_slab(int cls, pa_class_t *k, pa_pool_t *pool, uint32_t arena) {
    for (int l = PA_LIST_PARTIAL; l <= PA_LIST_EMPTY; l++)
        if (pool->head[l] != PA_NIL) return pool->head[l];
    uint32_t s = pa_take_foreign_empty(k, cls, arena);
    if (s == PA_NIL) s = pa_take_sibling(cls, k, arena, PA_LIST_EMPTY);
    if (s != PA_NIL) return s;
    if (pool->head[PA_LIST_PURGED] != PA_NIL) return pool->head[PA_LIST_PURGED];
    s = pa_take_sibling(cls, k, arena, PA_LIST_PURGED);
    if (s != PA_NIL) return s;
    s = pool->head[PA_LIST_UNMAPPED];
    if (s != PA_NIL && pa_os_map_at(pa_slab_start(k, s), (size_t)1 << k->slab_shift)) return s;
    return pa_carve_slab(cls, k, arena);
}

/* Takes up to `left` free slots of a slab, scanning its bitmap in address order from slot
 * `start` and wrapping around (the first word is visited twice: the slots from start on,
 * and at the end those before). Writes them downward from out[left - 1]; returns how many
 * are still wanted, and raises *top_slot to one past the highest slot taken. The class
 * constants are copied to locals: the bitmap stores could otherwise alias them and force a
 * reload per slot. */
static uint32_t pa_slab_take(const pa_class_t *k, uint64_t *bits, char *slab_start, uint32_t start, void **out,
                             uint32_t left, uint32_t *top_slot) {
    const size_t size = k->size;
    const uint32_t words = k->words;
    const uint64_t from_start = ~(uint64_t)0 << (start % 64);
    void **top = out + left;
    uint32_t w = start / 64;
    for (uint32_t i = 0; i <= words; i++) {
        uint64_t mask = i == 0 ? from_start : i == words ? ~from_start : ~(uint64_t)0;
        uint64_t offered = bits[w] & mask;
        if (offered) {
            char *word_start = slab_start + (size_t)w * 64 * size;
            uint64_t avail = offered;
            do {
                *--top = word_start + (size_t)(uint32_t)__builtin_ctzll(avail) * size;
                avail &= avail - 1;
            } while (avail && top != out);
            uint64_t taken = offered ^ avail;
            bits[w] &= ~taken;
            uint32_t end = w * 64 + 64 - (uint32_t)__builtin_clzll(taken);
            if (end > *top_slot) *top_slot = end;
            if (top == out) break;
        }
        if (++w == words) w = 0;
    }
    return (uint32_t)(top - out);
}

/* Takes up to `want` free slots into out[0, n) and returns n. They are listed in stack
 * order, the lowest address last, so a bin popping from the top hands them out ascending. */
uint32_t pa_central_alloc(int cls, uint32_t arena, void **out, uint32_t want) {
    pa_class_t *k = &pa_classes[cls];
    pa_pool_t *pool = &pa_pools[arena][cls];
    uint32_t n = 0;
    pa_lock(&pool->lock);
    while (n < want) {
        uint32_t s = pa_pick_slab(cls, k, pool, arena);
        if (s == PA_NIL) break;
        pa_slab_t *sl = pa_slab(k, s);
        uint32_t n_before = n;
        uint32_t start = pa_opt.randomize ? (uint32_t)(pa_rng_next(&pool->rng) % k->nslots) : k->first_slot;
        uint32_t top = 0;
        n = want - pa_slab_take(k, pa_slab_bits(k, s), pa_slot_addr(cls, s, 0), start, out, want - n, &top);
        sl->nfree = (uint16_t)(sl->nfree - (n - n_before));
        if (sl->list != PA_LIST_PARTIAL) {
            pa_list_remove(k, pool, s);
            if (sl->nfree) pa_list_push(k, pool, s, PA_LIST_PARTIAL);
        } else if (!sl->nfree) {
            pa_list_remove(k, pool, s);
        }
        /* Off the empty list first: there the front is what pa_retained counts. */
        size_t page = pa_os_page_size();
        uint32_t reach = (uint32_t)(((size_t)top * k->size + page - 1) / page);
        if (reach > sl->front_pages) pa_grow_front(k, pool, s, reach);
        if (!sl->nfree) pool->filled_ms = pa_os_now_ms();
    }
    if (n < want) memmove(out, out + want - n, n * sizeof(void *));
    if (pa_opt.randomize >= 2)
        for (uint32_t i = n; i > 1; i--) {
            uint32_t j = (uint32_t)(pa_rng_next(&pool->rng) % i);
            void *t = out[i - 1];
            out[i - 1] = out[j];
            out[j] = t;
        }
    pool->handed += n;
    pa_unlock(&pool->lock);
    pa_handed_add((size_t)n * k->size);
    /* Committed bytes grow only as slots are taken (fronts grow, kept slabs are reused). */
    pa_raise_peak(&pa_committed_peak, pa_committed());
    return n;
}

__attribute__((noreturn)) static PA_COLD void pa_pool_double_free(void) {
    pa_fatal("internal error: slot freed twice into the central pool");
}

/* Marks slots free in a bitmap word; none of them may be free already. */
static inline void pa_bits_set(uint64_t *word, uint64_t slots) {
    if (pa_unlikely(*word & slots)) pa_pool_double_free();
    *word |= slots;
}

/* Slots go back to the pool owning their slab, which may be another thread's arena. A bin
 * lists runs of slots from one slab, so the slab's owner, list and counts are dealt with
 * once per run, and the lock only switched when the owner changes. */
void pa_central_free(int cls, void *const *ptrs, uint32_t n) {
    pa_class_t *k = &pa_classes[cls];
    /* Locals, for the reason given at pa_slab_take. */
    const uint32_t slab_shift = k->slab_shift;
    const size_t slab_bytes = (size_t)1 << slab_shift;
    const uint64_t recip = k->recip;
    pa_pool_t *pool = NULL;
    atomic_fetch_sub_explicit(&pa_handed_bytes, (size_t)n * k->size, memory_order_relaxed);
    for (void *const *it = ptrs, *const *end = ptrs + n; it != end;) {
        uint32_t s = (uint32_t)((size_t)((char *)*it - k->base) >> slab_shift);
        /* Only a free racing with the slab's change of class, itself a double free,
         * could bring a slot here under its old class. */
        uint16_t unit = pa_unit_entry((uintptr_t)*it - pa_heap.base);
        if (pa_unlikely(pa_unit_class(unit) != cls)) pa_pool_double_free();
        const char *slab_start = pa_slot_addr(cls, s, 0);
        pa_slab_t *sl = pa_slab(k, s);
        pa_pool_t *owner = &pa_pools[pa_unit_arena(unit)][cls];
        if (owner != pool) {
            if (pool) pa_unlock(&pool->lock);
            pool = owner;
            pa_lock(&pool->lock);
        }
        uint64_t *bits = pa_slab_bits(k, s);
        /* Bins hold runs of neighbours, so bits are gathered per bitmap word in a register
         * and the word written once per run. */
        void *const *run_start = it;
        uint32_t w = UINT32_MAX;
        uint64_t gathered = 0;
        for (size_t in_slab; it != end && (in_slab = (size_t)((char *)*it - slab_start)) < slab_bytes; it++) {
            uint32_t slot = pa_slot_of(in_slab, recip);
            uint64_t bit = (uint64_t)1 << (slot % 64);
            if (slot / 64 != w) {
                if (gathered) pa_bits_set(&bits[w], gathered);
                w = slot / 64;
                gathered = 0;
            }
            if (pa_unlikely(gathered & bit)) pa_pool_double_free();
            gathered |= bit;
        }
        pa_bits_set(&bits[w], gathered);
        uint32_t run = (uint32_t)(it - run_start);
        pool->handed -= run;
        uint32_t was_free = sl->nfree;
        sl->nfree = (uint16_t)(was_free + run);
        if (!was_free) pa_list_push(k, pool, s, PA_LIST_PARTIAL);
        if (sl->nfree == k->nslots) {
            pa_list_remove(k, pool, s);
            if (pa_retain(k, s)) {
                uint32_t now = pa_os_now_ms();
                pa_purge_expired(k, pool, now);
                sl->emptied_ms = now;
                pa_list_push(k, pool, s, PA_LIST_EMPTY);
                pa_decay_due_at_most(now + (uint32_t)pa_opt.purge_delay_ms);
            } else {
                pa_list_push(k, pool, s, pa_purge_slab(k, pool, s));
            }
        }
    }
    if (pool) pa_unlock(&pool->lock);
}

/* Purges the locked pool's resident empty slabs; returns the bytes given back. */
static size_t pa_purge_empty(const pa_class_t *k, pa_pool_t *pool) {
    size_t released = 0;
    while (pool->head[PA_LIST_EMPTY] != PA_NIL) {
        uint32_t s = pool->head[PA_LIST_EMPTY];
        pa_list_remove(k, pool, s);
        pa_list_push(k, pool, s, pa_purge_slab(k, pool, s));
        released += (size_t)1 << k->slab_shift;
    }
    return released;
}

/* The same for a pool that is not locked, which it locks only when it has an empty slab. */
size_t pa_central_purge(int cls, uint32_t arena) {
    pa_pool_t *pool = &pa_pools[arena][cls];
    if (!__atomic_load_n(&pool->count[PA_LIST_EMPTY], __ATOMIC_RELAXED)) return 0;
    pa_lock(&pool->lock);
    size_t released = pa_purge_empty(&pa_classes[cls], pool);
    pa_unlock(&pool->lock);
    return released;
}

/* A big slot freed in a slab that is still in use would keep its pages until the whole
 * slab empties, which for a program holding one neighbour may be never. Every pass turns
 * the pool's FREED slots IDLE and purges the slots already IDLE: a slot handed out in
 * between comes back FREED, so only slots left unused for a whole pass interval go. With
 * `all` (malloc_trim) every free slot goes at once. Returns the bytes purged. */
static size_t pa_purge_idle_slots(const pa_class_t *k, pa_pool_t *pool, bool all) {
    size_t released = 0;
    const size_t size = k->size;
    for (uint32_t s = pool->head[PA_LIST_PARTIAL]; s != PA_NIL; s = pa_slab(k, s)->next) {
        const uint64_t *bits = pa_slab_bits(k, s);
        uint8_t *states = pa_slab_states(k, s);
        char *slab = pa_slab_start(k, s), *run = NULL, *run_end = NULL;
        for (uint32_t w = 0; w < k->words; w++)
            for (uint64_t avail = bits[w]; avail; avail &= avail - 1) {
                uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(avail);
                uint8_t *state = pa_slot_state_at(k, states, slot);
                if (*state == PA_SLOT_FREED && !all) {
                    __atomic_store_n(state, PA_SLOT_IDLE, __ATOMIC_RELAXED);
                } else if (pa_slot_holds_free_fill(*state)) {
                    __atomic_store_n(state, PA_SLOT_PURGED, __ATOMIC_RELAXED);
                    char *p = slab + (size_t)slot * size;
                    if (p != run_end) { /* neighbours go in one call */
                        if (run) pa_os_purge(run, (size_t)(run_end - run));
                        run = p;
                    }
                    run_end = p + size;
                    pool->nslot_purge++;
                    released += size;
                }
            }
        if (run) pa_os_purge(run, (size_t)(run_end - run));
    }
    return released;
}

/* One idle-slot pass over the pools of big slots, every slot_purge_delay_ms at most: a
 * slot goes back after waiting between one and two of those. Shorter than an empty slab's
 * wait: a slot's few pages cost little to fault in again, and cannot move to other classes
 * as an empty slab's can. */
static void pa_idle_slots_pass(uint32_t now) {
    uint32_t last = atomic_load_explicit(&pa_idle_pass_ms, memory_order_relaxed);
    if (now - last < pa_opt.slot_purge_delay_ms ||
        !atomic_compare_exchange_strong_explicit(&pa_idle_pass_ms, &last, now, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    uint32_t arenas = pa_arenas_used();
    for (int c = 0; c < PA_NCLASS; c++) {
        const pa_class_t *k = &pa_classes[c];
        if (k->size < PA_IDLE_SLOT_MIN) continue;
        for (uint32_t a = 0; a < arenas; a++) {
            pa_pool_t *pool = &pa_pools[a][c];
            if (!__atomic_load_n(&pool->count[PA_LIST_PARTIAL], __ATOMIC_RELAXED)) continue;
            pa_lock(&pool->lock);
            pa_purge_idle_slots(k, pool, false);
            pa_unlock(&pool->lock);
        }
    }
}

/* Purges expired empty slabs of every pool, including those of classes and arenas no thread
 * touches any more, which nothing else would visit. Called from the cache sweep, so never on
 * a fast path; a pool is locked only when its longest-idle slab has expired. */
void pa_central_decay(void) {
    uint32_t now = pa_os_now_ms();
    uint32_t window = atomic_load_explicit(&pa_peak_window_ms, memory_order_relaxed);
    if (now - window >= PA_PEAK_WINDOW_MS &&
        atomic_compare_exchange_strong_explicit(&pa_peak_window_ms, &window, now, memory_order_relaxed,
                                                memory_order_relaxed)) {
        pa_new_window(&pa_handed_peak, &pa_handed_peak_before,
                      atomic_load_explicit(&pa_handed_bytes, memory_order_relaxed));
        pa_new_window(&pa_committed_peak, &pa_committed_peak_before, pa_committed());
    }
    pa_large_decay(now);
    pa_idle_slots_pass(now);
    if (!atomic_load_explicit(&pa_retained, memory_order_relaxed) || (int32_t)(now - atomic_load(&pa_decay_due_ms)) < 0)
        return;
    /* Slabs kept from now on expire no sooner than this; those still kept after the walk
     * lower it again. Raised before the walk by an exchange, which sees any lowering made
     * so far and with it the push that came before it: no kept slab is missed. */
    atomic_exchange(&pa_decay_due_ms, now + (uint32_t)pa_opt.purge_delay_ms);
    uint32_t arenas = pa_arenas_used();
    for (int c = 0; c < PA_NCLASS; c++) {
        const pa_class_t *k = &pa_classes[c];
        for (uint32_t a = 0; a < arenas; a++) {
            pa_pool_t *pool = &pa_pools[a][c];
            uint32_t s = __atomic_load_n(&pool->tail[PA_LIST_EMPTY], __ATOMIC_RELAXED);
            if (s == PA_NIL) continue;
            uint32_t emptied = __atomic_load_n(&pa_slab(k, s)->emptied_ms, __ATOMIC_RELAXED);
            if (now - emptied >= pa_opt.purge_delay_ms) {
                pa_lock(&pool->lock);
                pa_purge_expired(k, pool, now);
                s = pool->tail[PA_LIST_EMPTY];
                if (s != PA_NIL) emptied = pa_slab(k, s)->emptied_ms;
                pa_unlock(&pool->lock);
            }
            if (s != PA_NIL) pa_decay_due_at_most(emptied + (uint32_t)pa_opt.purge_delay_ms);
        }
    }
}

size_t pa_central_trim(void) {
    size_t released = 0;
    uint32_t arenas = pa_arenas_used();
    for (int c = 0; c < PA_NCLASS; c++)
        for (uint32_t a = 0; a < arenas; a++) {
            const pa_class_t *k = &pa_classes[c];
            pa_pool_t *pool = &pa_pools[a][c];
            pa_lock(&pool->lock);
            released += pa_purge_empty(k, pool);
            if (k->size >= PA_IDLE_SLOT_MIN) released += pa_purge_idle_slots(k, pool, true);
            pa_unlock(&pool->lock);
        }
    return released;
}

/* The class the slab at loc held before its last change of class, if p is a slot of it;
 * else -1. Not where a live block of the slab's class covers p now: p is then a pointer
 * into that block, and naming a block of the former class that once started there would
 * call the free of an interior pointer a double free. */
int pa_former_class(const void *p, const pa_loc_t *loc) {
    const pa_class_t *k = &pa_classes[loc->cls];
    int former = pa_slab(k, loc->slab)->former_class;
    if (former == PA_NCLASS) return -1;
    const pa_class_t *f = &pa_classes[former];
    size_t in_slab = (size_t)((const char *)p - pa_slab_start(k, loc->slab));
    uint32_t covering = pa_slot_of(in_slab, k->recip);
    if (covering < k->nslots &&
        __atomic_load_n(pa_slot_state_at(k, pa_slab_states(k, loc->slab), covering), __ATOMIC_RELAXED) == PA_SLOT_LIVE)
        return -1;
    return in_slab < (size_t)f->nslots * f->size && pa_slot_start(in_slab, f->recip) ? former : -1;
}

/* Slots of a class whose size is a multiple of the alignment start aligned, because slabs
 * are aligned to their (power-of-two) size. */
int pa_class_for_alignment(size_t size, size_t alignment) {
    size_t need = size > alignment ? size : alignment;
    if (need > PA_SMALL_MAX) return -1;
    for (int c = pa_size_class(need); c < PA_NCLASS; c++) {
        const pa_class_t *k = &pa_classes[c];
        if (k->size % alignment == 0 && (((size_t)1 << k->slab_shift) % alignment) == 0) return c;
    }
    return -1;
}

void pa_slab_stats(pyalloc_stats *st) {
    st->nclasses = PA_NCLASS;
    uint32_t arenas = pa_arenas_used();
    for (int c = 0; c < PA_NCLASS; c++) {
        pa_class_t *k = &pa_classes[c];
        pyalloc_class_stats *cs = &st->classes[c];
        size_t slab_bytes = (size_t)1 << k->slab_shift;
        size_t purged = 0;
        for (uint32_t a = 0; a < arenas; a++) {
            pa_pool_t *pool = &pa_pools[a][c];
            pa_lock(&pool->lock);
            purged += pool->count[PA_LIST_PURGED] + pool->count[PA_LIST_UNMAPPED];
            cs->in_use_count += pool->handed;   /* caches are subtracted by pa_tcache_stats */
            cs->nmalloc += pool->nmalloc_direct;
            cs->nfree += pool->nfree_direct;
            st->npurge += pool->npurge;
            st->nmoved += pool->nmoved;
            st->nrehomed += pool->nrehomed;
            st->nslot_purge += pool->nslot_purge;
            pa_unlock(&pool->lock);
        }
        size_t nslabs = atomic_load_explicit(&pa_class_slabs[c], memory_order_relaxed);
        cs->size = k->size;
        cs->slab_size = slab_bytes;
        cs->slabs = nslabs;
        cs->slabs_resident = nslabs - purged;
        st->mapped_bytes += nslabs * slab_bytes;
        st->resident_bytes += (nslabs - purged) * slab_bytes;
        st->metadata_bytes += nslabs * k->record_bytes;
    }
}

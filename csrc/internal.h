/* pyalloc internals shared by the csrc/ files. Prefix pa_ everywhere; nothing here is exported.
 *
 * Heap layout (SJMalloc-style, all metadata out of band):
 *   heap region   one reservation split into PA_NGROUP equal group regions of 2^region_shift
 *                 bytes; each is carved into slabs of one size, every slab holding slots of
 *                 one class of its group. A pointer's class is one byte of the unit map
 *                 (one per 64 KiB of the heap), its slab and slot follow from the address.
 *   meta region   a separate reservation holding, per group, the slab records: the central
 *                 free bitmap and one state byte per slot (never/allocated/freed). An empty
 *                 slab changes class within its group in place, so memory a program frees
 *                 in one class serves the next without a system call.
 *   large blocks  mmap'd individually, found through an out-of-band hash table.
 * User memory never holds allocator data, so overflows and use-after-free writes cannot
 * steer the allocator. */
#ifndef PA_INTERNAL_H
#define PA_INTERNAL_H

#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "pyalloc.h"

#define PA_HIDDEN __attribute__((visibility("hidden")))
#define PA_EXPORT __attribute__((visibility("default")))
#define pa_likely(x) __builtin_expect(!!(x), 1)
#define pa_unlikely(x) __builtin_expect(!!(x), 0)
#define PA_NOINLINE __attribute__((noinline))
#define PA_COLD __attribute__((cold, noinline))
/* libc names in the preload build, pyalloc_ names in the in-process build. */
#ifdef PA_PRELOAD
#define PA_API(name) name
#else
#define PA_API(name) pyalloc_##name
#endif
/* The preload build's TLS is in the initial static block, so its fast path is one %fs load;
 * the in-process build may be dlopen'ed and must use the dynamic model. */
#ifdef PA_PRELOAD
#define PA_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define PA_TLS __thread
#endif

/* ---- size classes ---------------------------------------------------------------------- */
#define PA_ALIGN 16                  /* glibc's MALLOC_ALIGNMENT on x86-64 */
#define PA_NCLASS 55                 /* 16..128 by 16, then 4 per power of two up to 256 KiB,
                                        plus one an eighth above 1, 2 and 4 KiB */
#define PA_CLASS_1K 20               /* the first class above 1 KiB: five per power of two ... */
#define PA_CLASS_8K 35               /* ... up to this one, the first above 8 KiB */
_Static_assert(PA_CLASS_8K == PA_CLASS_1K + 3 * 5 && PA_NCLASS == PA_CLASS_8K + 5 * 4, "class layout");
#define PA_SMALL_MAX (256u * 1024)
#define PA_LOOKUP_MAX 1024           /* sizes up to here map to a class by one table load */
/* Two slab sizes, so that an empty slab can go to most other classes as it is. 64 KiB
 * slabs amortise slab bookkeeping for tiny classes and hold 8 slots or more; the classes
 * above 8 KiB have slabs of 256 KiB, down to one slot: the tail past a slab's last slot is
 * never written, so it costs address space, not memory. The classes up to 48 bytes, whose
 * records hold a state byte per 16 or 32 bytes, form a group of their own: records are
 * as big as their group's biggest, and a small program's few slabs of other classes then
 * fit their records in a few pages. */
#define PA_SLAB_SMALL_SHIFT 16
#define PA_SLAB_BIG_SHIFT 18
#define PA_UNIT_SHIFT PA_SLAB_SMALL_SHIFT
#define PA_TINY_MAX 48
enum { PA_GROUP_TINY, PA_GROUP_SMALL, PA_GROUP_BIG, PA_NGROUP };
/* Slots this big are whole pages (slabs are aligned, sizes multiples of the page), which
 * they hold for as long as any neighbour in their slab lives: an idle one gives them back
 * on its own (pa_purge_idle_slots). Smaller slots share pages with their neighbours. */
#define PA_IDLE_SLOT_MIN (16u * 1024)

typedef struct pa_loc_s pa_loc_t;
/* PURGED: freed, then its page went back to the OS, so it reads as zeros; the write after
 * free check reads only the pages a big slot has again (harden.c) and skips a small one,
 * rather than fault in a zero page only to copy it on the first write.
 * IDLE: freed, and found still free in its pool by the last idle-slot pass (slab.c); it is
 * FREED in every other respect. Every state from FREED on is a freed slot. */
enum { PA_SLOT_NEVER = 0, PA_SLOT_LIVE = 1, PA_SLOT_FREED = 2, PA_SLOT_PURGED = 3, PA_SLOT_IDLE = 4 };
/* Freed with its pages still in place, so it holds what free left there (the fill, with
 * zero_on_free or junk). */
static inline bool pa_slot_holds_free_fill(uint8_t state) { return state == PA_SLOT_FREED || state == PA_SLOT_IDLE; }
/* Purged slabs keep their pages mapped (reserved layout); unmapped ones gave them back
 * (lazy layout, where mapped address space counts against RLIMIT_AS). */
enum { PA_LIST_NONE = 0, PA_LIST_PARTIAL, PA_LIST_EMPTY, PA_LIST_PURGED, PA_LIST_UNMAPPED, PA_NLISTS };
#define PA_NIL UINT32_MAX

/* Futex lock whose word holds the owner's id: atfork can skip a lock the forking thread
 * already holds (fork from a signal handler that interrupted the allocator). */
typedef struct pa_lock_s {
    _Atomic uint32_t word;           /* 0 free, else owner id | PA_LOCK_WAITERS */
} pa_lock_t;

/* A slab's record in the class's metadata: this struct, the slab's free bitmap, its slots'
 * state bytes and, with canaries, their requested sizes. */
typedef struct pa_slab_s {
    uint32_t next, prev;             /* links within the list named by `list` */
    uint16_t nfree;                  /* slots free in the pool's bitmap */
    uint8_t list;                    /* the owning arena is in the unit map (pa_unit_arena) */
    uint32_t emptied_ms;             /* on the empty list: when its last slot came back */
    uint16_t moved_ranges;           /* ranges of pages moved in, each a kernel mapping */
    uint8_t former_class;            /* the class it held before the last change, or PA_NCLASS:
                                        names the block in a late double free */
    uint16_t front_pages;            /* every slot handed out since the slab was carved or
                                        purged lies in its first front_pages pages; the
                                        rest have never been written. On the empty list,
                                        its share of pa_retained. */
} pa_slab_t;

/* Per-class constants, read-only after init and used by the fast paths. The geometry of
 * the class's group is copied in, so the fast paths read one struct. */
typedef struct pa_class_s {
    char *base;                      /* start of the group region */
    uint64_t recip;                  /* ceil(2^64 / size): divides offsets below 2^32 (slabs
                                        are at most 256 KiB) by size, and tests divisibility,
                                        with one multiplication (see pa_slot_of) */
    uint32_t size;
    uint32_t nslots;                 /* slots per slab */
    uint8_t state_shift;             /* log2 of the biggest power of two <= size: slots are
                                        at least that far apart, so the shifted offset names
                                        one slot without a division (at worst every other
                                        state byte is unused) */
    uint8_t slab_shift;
    uint8_t group;                   /* PA_GROUP_* */
    uint16_t words;                  /* bitmap words per slab */
    uint16_t tcache_cap;
    uint16_t first_slot;             /* where refills start scanning a slab (see pa_slab_init) */
    uint32_t slab_mask;              /* slab size - 1: the fast paths' offset within a slab */
    char *slab_records;              /* the group's: slab s at slab_records + s * record_bytes,
                                        all of a slab's metadata side by side */
    uint32_t record_bytes;           /* the group's stride, its biggest class's record: an odd
                                        number of cache lines, so no two slabs (which may
                                        belong to different arenas) share a line and the
                                        records' headers spread over the L1 sets */
    uint32_t state_offset;           /* in a record: one state byte per slot, at (offset in
                                        slab) >> state_shift */
    uint32_t reqsize_offset;         /* canary mode: uint32_t requested sizes, indexed alike */
} pa_class_t;

/* A central pool: the slabs of one class owned by one arena. Threads are spread over the
 * arenas, so threads working on separate data never take slots from the same slab, which
 * would make them write the same cache lines (user data and state bytes alike). */
typedef struct pa_pool_s {
    _Alignas(64) pa_lock_t lock;
    uint64_t rng;                    /* randomize: slot order within batches */
    uint32_t head[PA_NLISTS];        /* list heads, indexed by PA_LIST_* (NONE unused) */
    uint32_t tail[PA_NLISTS];        /* the empty list's tail is its longest-idle slab */
    uint32_t count[PA_NLISTS];
    size_t handed;                   /* slots out of the pool (programs + caches) */
    uint64_t nmalloc_direct, nfree_direct; /* ops that bypassed thread caches */
    uint64_t npurge;
    uint64_t nmoved;                 /* empty slabs whose pages moved to another slab */
    uint64_t nrehomed;               /* empty slabs taken by another class of the group */
    uint64_t nslot_purge;            /* idle big slots purged (pa_purge_idle_slots) */
    uint32_t filled_ms;              /* when a slab last ran out of free slots */
} pa_pool_t;

/* The slabs of one size, whichever class they hold. */
typedef struct pa_group_s {
    char *base;                      /* start of the group region */
    char *records;
    uint32_t record_bytes;
    uint32_t max_slabs;
    uint8_t slab_shift;
    uint8_t first_class, end_class;  /* its classes, [first_class, end_class) */
} pa_group_t;

#define PA_MAX_ARENAS 16

/* ---- thread caches ---------------------------------------------------------------------- */
#define PA_TCACHE_MAX_CAP 128        /* slots per bin */
/* Two stacks share items[cap]: slots of this thread's arena from the bottom (LIFO, most
 * recent on top, the ones handed out) and slots of other arenas from the top, which are
 * not handed out one by one: reusing a single foreign slot would have this thread write
 * cache lines it shares with the thread that allocated its neighbours (passive false
 * sharing). They go back to their pools in batches, or are adopted whole (alloc.c). */
typedef struct pa_bin_s {
    uint32_t count;                  /* local slots: items[0, count) */
    uint32_t limit;                  /* other arenas' slots: items[limit, cap); the bin is
                                        full when count reaches it, one comparison on free */
    uint32_t cap;
    uint32_t fill;                   /* slots the next refill asks for */
    void **items;
} pa_bin_t;

static inline uint32_t pa_bin_nremote(const pa_bin_t *b) { return b->cap - b->limit; }

typedef struct pa_tcache_s {
    pa_bin_t bins[PA_NCLASS];
    uint64_t nmalloc[PA_NCLASS];
    uint64_t nfree[PA_NCLASS];
    uint64_t ncalloc, nrealloc, naligned;
    uint64_t gc_seen[PA_NCLASS];     /* nmalloc + nfree of each bin at the last sweep */
    uint32_t gc_tick;                /* slow-path events since the last sweep */
    bool released_spent;             /* pa_tcache_release_spent gave bins back since the
                                        last sweep */
    uint32_t arena;
    void **quarantine;               /* FIFO ring of freed slots waiting to be reused */
    uint32_t qhead, qcount, qcap;
    size_t qbytes;
    struct pa_tcache_s *next, *prev; /* registry of live caches, for stats and fork */
    void *items[];                   /* backing store for the bins */
} pa_tcache_t;

/* ---- globals ---------------------------------------------------------------------------- */
typedef struct pa_heap_s {
    uintptr_t base;                  /* heap region start */
    uintptr_t span;                  /* PA_NGROUP << region_shift */
    uintptr_t region_mask;           /* region size - 1 */
    uint32_t region_shift;
    _Atomic uint16_t *units;         /* per 64 KiB of the heap: in the low byte 1 + the class
                                        of the slab there, 0 where no slab is carved; in the
                                        high byte its arena. Both change only while the slab
                                        is empty (pa_take_sibling, pa_take_foreign_empty).
                                        The owner sits here, not in the slab's record, so
                                        that free, which reads this line anyway, does not
                                        miss on the record's first line for it. */
    uint32_t hooks;                  /* PA_HOOK_*: per-block hardening work on alloc/free */
    size_t fast_end;                 /* mallocs below this size take the inline path:
                                        PA_SMALL_MAX + 1 without hooks, else (and until
                                        init) 0, so one comparison sends the rest out of line */
    _Atomic int ready;               /* 0 none, 1 initialising, 2 ready */
} pa_heap_t;
enum { PA_HOOK_CANARY = 1, PA_HOOK_FILL = 2, PA_HOOK_CHECK = 4, PA_HOOK_QUARANTINE = 8 };

/* ---- options (options.c) ---------------------------------------------------------------- */
/* Every option is a size_t so one table row describes parsing, profiles and printing. */
typedef struct pa_options_s {
    size_t profile;                  /* PA_PROFILE_* */
    size_t tcache;
    size_t retain_bytes;
    size_t retain_below_peak;
    size_t purge_delay_ms;
    size_t slot_purge_delay_ms;
    size_t large_cache_bytes;
    size_t large_cache_protect;
    size_t canary;
    size_t guard;
    size_t guard_slab_interval;
    size_t randomize;
    size_t quarantine_bytes;
    size_t zero_on_free;
    size_t junk;
    size_t check_write_after_free;
    size_t on_invalid_free;          /* PA_ON_INVALID_* */
    size_t protect_metadata;
    size_t print_stats;
} pa_options_t;
enum { PA_PROFILE_FAST, PA_PROFILE_DEFAULT, PA_PROFILE_HARDENED, PA_PROFILE_PARANOID, PA_NPROFILES };
enum { PA_ON_INVALID_ABORT, PA_ON_INVALID_REPORT, PA_ON_INVALID_IGNORE };
/* Everything the allocator decides at start-up, on pages of their own so that
 * protect_metadata can make them read-only once the heap is built. */
typedef struct pa_globals_s {
    pa_heap_t heap;
    pa_options_t opt;
    pa_class_t classes[PA_NCLASS];
    pa_group_t groups[PA_NGROUP];
    uint32_t narenas;
    uint64_t secret;                 /* canary key and randomisation seed */
    bool light_guards;               /* guard pages and guard slabs are page-table markers
                                        (pa_os_guard), not PROT_NONE mappings */
} pa_globals_t;
#define PA_PAGE 4096
extern union pa_ro_u {
    pa_globals_t g;
    char pad[(sizeof(pa_globals_t) + PA_PAGE - 1) / PA_PAGE * PA_PAGE];
} pa_ro PA_HIDDEN;
#define pa_heap (pa_ro.g.heap)
#define pa_classes (pa_ro.g.classes)
#define pa_groups (pa_ro.g.groups)
#define pa_opt (pa_ro.g.opt)
#define pa_narenas (pa_ro.g.narenas)
#define pa_secret (pa_ro.g.secret)
#define pa_light_guards (pa_ro.g.light_guards)

/* Whether the options ask for any guard pages: around large blocks or as guard slabs. */
static inline bool pa_guards_wanted(void) { return pa_opt.guard || pa_opt.guard_slab_interval; }

/* What zero_on_free and junk leave in freed memory. */
static inline uint8_t pa_fill_byte(void) { return pa_opt.junk ? 0xdf : 0; }

extern pa_lock_t pa_carve_lock PA_HIDDEN;
extern pa_pool_t pa_pools[PA_MAX_ARENAS][PA_NCLASS] PA_HIDDEN;
extern const uint8_t pa_class_lookup[PA_LOOKUP_MAX / 16 + 1] PA_HIDDEN;
extern pa_tcache_t pa_tcache_none PA_HIDDEN;
extern PA_TLS pa_tcache_t *pa_tcache_current PA_HIDDEN;
extern pa_tcache_t *pa_tcache_sole PA_HIDDEN; /* the only thread's cache, until a second one */

PA_HIDDEN void pa_options_init(void);

/* ---- os.c ------------------------------------------------------------------------------- */
PA_HIDDEN void *pa_os_reserve(size_t size, size_t align, bool accessible);
PA_HIDDEN void *pa_os_map(size_t size, bool accessible);
PA_HIDDEN bool pa_os_map_at(void *p, size_t size);
PA_HIDDEN void *pa_os_map_metadata(size_t size);
PA_HIDDEN void pa_os_unmap_metadata(void *p, size_t size);
PA_HIDDEN void pa_os_unmap(void *p, size_t size);
PA_HIDDEN void pa_os_purge(void *p, size_t size);
PA_HIDDEN bool pa_os_move(void *src, void *dst, size_t size, bool *supported);
PA_HIDDEN bool pa_os_reset(void *p, size_t size);
PA_HIDDEN void pa_os_clear(void *p, size_t size, int fill);
PA_HIDDEN bool pa_os_protect(void *p, size_t size, bool accessible);
PA_HIDDEN bool pa_os_light_guards(void);
PA_HIDDEN bool pa_os_guard(void *p, size_t size, bool guarded);
PA_HIDDEN bool pa_os_resident(const void *p, size_t size, unsigned char *pages);
PA_HIDDEN void pa_os_readonly(void *p, size_t size);
PA_HIDDEN uint64_t pa_os_random(void);
PA_HIDDEN uint32_t pa_os_now_ms(void);
PA_HIDDEN void *pa_os_remap(void *p, size_t old_size, size_t new_size);
PA_HIDDEN size_t pa_os_page_size(void);
PA_HIDDEN void pa_write_stderr(const char *s, size_t n);
PA_HIDDEN size_t pa_fmt_hex(char *out, uintptr_t v);
PA_HIDDEN size_t pa_fmt_dec(char *out, uint64_t v);
__attribute__((noreturn)) PA_HIDDEN void pa_fatal(const char *msg);
__attribute__((noreturn)) PA_HIDDEN void pa_misuse(const char *what, const void *p, int cls);
PA_HIDDEN void pa_report(const char *what, const void *p, int cls);
#define PA_WHERE_LARGE (-1)
#define PA_WHERE_NONE (-2)

/* ---- lock.c ----------------------------------------------------------------------------- */
PA_HIDDEN void pa_lock(pa_lock_t *l);
PA_HIDDEN void pa_unlock(pa_lock_t *l);
PA_HIDDEN bool pa_trylock(pa_lock_t *l);
PA_HIDDEN bool pa_lock_held_by_me(const pa_lock_t *l);
PA_HIDDEN uint32_t pa_thread_id(void);

/* ---- slab.c: size classes and central pools --------------------------------------------- */
PA_HIDDEN void pa_slab_init(void);
PA_HIDDEN void pa_arena_open(uint32_t arena);
PA_HIDDEN uint32_t pa_arenas_used(void);
PA_HIDDEN void pa_slab_unreserve(void);
PA_HIDDEN uint32_t pa_central_alloc(int cls, uint32_t arena, void **out, uint32_t want);
PA_HIDDEN void pa_central_free(int cls, void *const *ptrs, uint32_t n);
PA_HIDDEN size_t pa_central_purge(int cls, uint32_t arena);
PA_HIDDEN size_t pa_central_trim(void);
PA_HIDDEN bool pa_slab_pages_move(void);
PA_HIDDEN void pa_central_decay(void);
PA_HIDDEN int pa_class_for_alignment(size_t size, size_t alignment);
PA_HIDDEN int pa_former_class(const void *p, const pa_loc_t *loc);
PA_HIDDEN void pa_slab_stats(pyalloc_stats *st);

/* ---- large.c ---------------------------------------------------------------------------- */
PA_HIDDEN void *pa_large_alloc(size_t size, size_t alignment, bool zero);
PA_HIDDEN bool pa_large_free(void *p);            /* false: not a live large block */
PA_HIDDEN size_t pa_large_usable(const void *p);  /* 0: not a live large block */
PA_HIDDEN void *pa_large_realloc(void *p, size_t size);
PA_HIDDEN bool pa_large_was_freed(const void *p);
PA_HIDDEN size_t pa_large_trim(void);
PA_HIDDEN void pa_large_decay(uint32_t now_ms);   /* gives back ranges cached purge_delay_ms ago */
PA_HIDDEN void pa_large_stats(pyalloc_stats *st);
extern pa_lock_t pa_large_lock PA_HIDDEN;

/* ---- alloc.c --------------------------------------------------------------------------- */
PA_HIDDEN void *pa_small_take_slow(int cls);
PA_HIDDEN void *pa_large_checked(size_t n, size_t alignment, bool zero); /* sets errno */

/* A free slot of class cls, not yet marked live; NULL when the slab region is exhausted. */
/* A slot enters a bin before the count covers it. Another thread may fork at any moment
 * and the child flushes this cache: a count that ran ahead would hand it a stale item, a
 * slot that is live or already back in its pool. */
static inline void pa_bin_push(pa_bin_t *b, void *p) {
    b->items[b->count] = p;
    atomic_signal_fence(memory_order_seq_cst);
    b->count++;
}

static inline void pa_bin_push_remote(pa_bin_t *b, void *p) {
    b->items[b->limit - 1] = p;
    atomic_signal_fence(memory_order_seq_cst);
    b->limit--;
}

/* Moves the other arenas' slots to dst (which may overlap the bin) and returns how many.
 * They are copied out before the bin forgets them: a fork child flushing this cache in
 * between finds them once, in the bin. */
static inline uint32_t pa_bin_take_remote(pa_bin_t *b, void **dst) {
    uint32_t n = pa_bin_nremote(b);
    memmove(dst, b->items + b->limit, n * sizeof(void *));
    atomic_signal_fence(memory_order_seq_cst);
    b->limit = b->cap;
    atomic_signal_fence(memory_order_seq_cst);
    return n;
}

/* Hands out the bin's top slot; the bin must not be empty. */
static inline void *pa_bin_pop(pa_tcache_t *tc, int cls) {
    pa_bin_t *b = &tc->bins[cls];
    tc->nmalloc[cls]++;
    return b->items[--b->count];
}

static inline void *pa_small_take(int cls) {
    pa_tcache_t *tc = pa_tcache_current;
    if (pa_likely(tc->bins[cls].count)) return pa_bin_pop(tc, cls);
    return pa_small_take_slow(cls);
}

/* ---- harden.c -------------------------------------------------------------------------- */
PA_HIDDEN void pa_harden_init(void);
PA_HIDDEN void *pa_alloc_hardened(size_t n, size_t alignment, bool zero);
PA_HIDDEN void pa_free_hardened(void *p, const pa_loc_t *loc, pa_slab_t *slab);
PA_HIDDEN void pa_check_freed_slots(int cls, uint32_t slab);
PA_HIDDEN size_t pa_usable_hardened(const void *p, const pa_loc_t *loc);
PA_HIDDEN bool pa_resize_hardened(void *p, const pa_loc_t *loc, size_t n);
PA_HIDDEN void pa_quarantine_drain(pa_tcache_t *tc);
PA_HIDDEN size_t pa_quarantine_slots(void);
PA_HIDDEN void pa_invalid_free(const void *p, int cls);
PA_HIDDEN uint64_t pa_rng_next(uint64_t *state);

/* ---- tcache.c --------------------------------------------------------------------------- */
PA_HIDDEN pa_tcache_t *pa_tcache_init_thread(void);
PA_HIDDEN void pa_tcache_flush_bin(pa_tcache_t *tc, int cls, uint32_t keep);
PA_HIDDEN void pa_tcache_flush_remote(pa_tcache_t *tc, int cls);
PA_HIDDEN void pa_tcache_flush_all(pa_tcache_t *tc);
PA_HIDDEN void pa_tcache_gc_tick(pa_tcache_t *tc);
PA_HIDDEN void pa_tcache_release_spent(pa_tcache_t *tc, int cls);
PA_HIDDEN void pa_release_small(int cls, uint32_t arena, void *p);
PA_HIDDEN void pa_tcache_setup(void);
PA_HIDDEN void pa_tcache_stats(pyalloc_stats *st);
extern pa_lock_t pa_tcache_lock PA_HIDDEN;
PA_HIDDEN void pa_tcache_after_fork_child(void);

PA_HIDDEN void pa_stats_print(void);

/* ---- init.c ----------------------------------------------------------------------------- */
PA_HIDDEN void pa_init_slow(void);
static inline void pa_ensure_init(void) {
    if (pa_unlikely(atomic_load_explicit(&pa_heap.ready, memory_order_acquire) != 2))
        pa_init_slow();
}

/* ---- address arithmetic ----------------------------------------------------------------- */
static inline int pa_size_class(size_t n) {
    if (pa_likely(n <= PA_LOOKUP_MAX)) return pa_class_lookup[(n + 15) >> 4];
#ifdef PA_SEEDED_BUG
    /* Test-only off-by-one, never in a release build: a request one byte over a class
     * boundary (1025, 1281, ...) gets the class below. The fuzzer must find it. */
    size_t m = n - 2;
#else
    size_t m = n - 1;
#endif
    int b = 63 - __builtin_clzl(m);  /* n in (2^b, 2^(b+1)] */
    int quarter = (int)((m >> (b - 2)) & 3);
    if (b >= 13) return PA_CLASS_8K + (b - 13) * 4 + quarter;
    int eighth = PA_CLASS_1K + (b - 10) * 5; /* the class an eighth above 2^b */
    return ((m >> (b - 3)) & 7) == 0 ? eighth : eighth + 1 + quarter;
}

/* The slot at byte `in_slab` of a slab, given its class's recip: the high half of
 * in_slab * recip (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019). */
static inline uint32_t pa_slot_of(uint64_t in_slab, uint64_t recip) {
    return (uint32_t)(((unsigned __int128)in_slab * recip) >> 64);
}

/* Whether in_slab is a multiple of the class size: the low half of the same product is
 * below recip exactly then. */
static inline bool pa_slot_start(uint64_t in_slab, uint64_t recip) { return in_slab * recip < recip; }

/* Where a small-heap pointer lives. Valid only when off < pa_heap.span. */
typedef struct pa_loc_s {
    int cls;
    uint32_t slab;
    bool exact;                      /* p is a multiple of the class size into its slab; the
                                        slab's tail past its last slot passes too, but its
                                        state byte (below) reads NEVER for good, so every
                                        use, which wants a LIVE slot, turns it down */
    uint32_t index;                  /* of the slot's state byte (and requested size) in its record */
    uint8_t arena;                   /* the slab's owner */
} pa_loc_t;

/* The unit map's entry for a heap offset (below pa_heap.span). */
static inline uint16_t pa_unit_entry(uintptr_t off) {
    return atomic_load_explicit(&pa_heap.units[off >> PA_UNIT_SHIFT], memory_order_relaxed);
}

/* The class and the arena a carved slab's unit map entry names. */
static inline int pa_unit_class(uint16_t unit) { return (uint8_t)unit - 1; }
static inline uint8_t pa_unit_arena(uint16_t unit) { return (uint8_t)(unit >> 8); }

/* Where the slot at heap offset `off`, in a carved slab with unit map entry `unit`, lives. */
static inline pa_loc_t pa_locate_in(uint16_t unit, uintptr_t off) {
    pa_loc_t loc;
    int cls = pa_unit_class(unit);
    loc.cls = cls;
    loc.arena = pa_unit_arena(unit);
    const pa_class_t *k = &pa_classes[cls];
    uintptr_t in_region = off & pa_heap.region_mask;
    loc.slab = (uint32_t)(in_region >> k->slab_shift);
    uintptr_t in_slab = in_region & k->slab_mask;
    loc.exact = pa_slot_start(in_slab, k->recip);
    loc.index = (uint32_t)(in_slab >> k->state_shift);
    return loc;
}

/* The same for a heap offset in a carved slab, whatever its class. */
static inline pa_loc_t pa_locate(uintptr_t off) { return pa_locate_in(pa_unit_entry(off), off); }

/* Whether p lies in a carved slab, and where. A slab not carved yet holds nothing of ours
 * and may have no metadata mapped; in the lazy layout other mappings, our own large blocks
 * among them, can sit there. */
static inline bool pa_small_find(const void *p, pa_loc_t *loc) {
    uintptr_t off = (uintptr_t)p - pa_heap.base;
    if (off >= pa_heap.span) return false;
    uint16_t unit = pa_unit_entry(off);
    if (!(uint8_t)unit) return false;
    *loc = pa_locate_in(unit, off);
    return true;
}

static inline pa_slab_t *pa_slab(const pa_class_t *k, uint32_t s) {
    return (pa_slab_t *)(k->slab_records + (size_t)s * k->record_bytes);
}

static inline uint64_t *pa_slab_bits(const pa_class_t *k, uint32_t s) { return (uint64_t *)(pa_slab(k, s) + 1); }

static inline uint8_t *pa_record_states(const pa_class_t *k, pa_slab_t *record) {
    return (uint8_t *)record + k->state_offset;
}

static inline uint8_t *pa_slab_states(const pa_class_t *k, uint32_t s) { return pa_record_states(k, pa_slab(k, s)); }

/* The state byte of slot `slot` among a slab's `states`. */
static inline uint8_t *pa_slot_state_at(const pa_class_t *k, uint8_t *states, uint32_t slot) {
    return &states[((size_t)slot * k->size) >> k->state_shift];
}

static inline uint8_t *pa_slot_state(const pa_loc_t *loc) {
    return pa_slab_states(&pa_classes[loc->cls], loc->slab) + loc->index;
}

/* The record of p, a slot of class k that a bin handed out, and its state index there.
 * Such a pointer is a slot start by construction, so none of pa_locate's checks apply. */
static inline pa_slab_t *pa_handed_record(const pa_class_t *k, const void *p, uint32_t *index) {
    size_t off = (size_t)((const char *)p - k->base);
    *index = (uint32_t)((off & k->slab_mask) >> k->state_shift);
    return pa_slab(k, (uint32_t)(off >> k->slab_shift));
}

static inline uint32_t *pa_record_reqsize(const pa_class_t *k, pa_slab_t *record, uint32_t index) {
    return (uint32_t *)((char *)record + k->reqsize_offset) + index;
}

static inline uint32_t *pa_slot_reqsize(const pa_loc_t *loc) {
    const pa_class_t *k = &pa_classes[loc->cls];
    return pa_record_reqsize(k, pa_slab(k, loc->slab), loc->index);
}

static inline char *pa_slab_start(const pa_class_t *k, uint32_t slab) {
    return k->base + ((size_t)slab << k->slab_shift);
}

static inline char *pa_slot_addr(int cls, uint32_t slab, uint32_t slot) {
    const pa_class_t *k = &pa_classes[cls];
    return pa_slab_start(k, slab) + (size_t)slot * k->size;
}

#endif

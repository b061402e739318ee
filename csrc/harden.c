/* Per-block hardening: canaries, fill on free with verification on reuse, and quarantine.
 * The fast paths in alloc.c test one word (pa_heap.hooks) and come here only when one of
 * these options is on, so the `fast` and `default` profiles pay nothing for them. */
#include "internal.h"

#include <emmintrin.h>
#include <string.h>

#define PA_CANARY_SIZE 8
#define PA_QUARANTINE_SLOTS 4096     /* per thread, a power of two; the byte bound usually bites first */

uint64_t pa_rng_next(uint64_t *state) {
    uint64_t x = *state += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void pa_harden_init(void) {
    pa_secret = pa_os_random();
    uint32_t hooks = 0;
    if (pa_opt.canary) hooks |= PA_HOOK_CANARY;
    if (pa_opt.zero_on_free || pa_opt.junk) hooks |= PA_HOOK_FILL;
    if (pa_opt.check_write_after_free) hooks |= PA_HOOK_CHECK;
    if (pa_opt.quarantine_bytes && pa_opt.tcache) hooks |= PA_HOOK_QUARANTINE;
    pa_heap.hooks = hooks;
    pa_heap.fast_end = hooks ? 0 : PA_SMALL_MAX + 1;
}

_Static_assert((PA_QUARANTINE_SLOTS & (PA_QUARANTINE_SLOTS - 1)) == 0, "the ring wraps with a mask");

size_t pa_quarantine_slots(void) { return pa_heap.hooks & PA_HOOK_QUARANTINE ? PA_QUARANTINE_SLOTS : 0; }

/* Keyed by the slot address, so a canary read from one block is useless for another. The
 * top byte is zero, so string functions cannot forge it; the low byte never is, so the NUL
 * of a string that ends one past the block does change it. */
static uint64_t pa_canary(const void *p) {
    uint64_t c = (pa_secret ^ ((uintptr_t)p * 0x9e3779b97f4a7c15ull)) & 0x00ffffffffffffffull;
    return (c & 0xff) ? c : c | 0x5a;
}

static void pa_check_canary(const void *p, const uint32_t *reqsize, int cls) {
    uint64_t seen, want = pa_canary(p);
    memcpy(&seen, (const char *)p + *reqsize, sizeof seen);
    if (seen != want) pa_misuse("heap overflow", p, cls);
}

/* How much of a freed slot holds the fill: with canaries, what its last owner asked for
 * and the canary (rounded to whole vectors); the rest of the slot was fill or zero before
 * and nothing may write there. Otherwise the whole slot. Read on reuse before the new
 * owner's size replaces the old one's. */
static size_t pa_filled_bytes(int cls, const uint32_t *reqsize) {
    if (!(pa_heap.hooks & PA_HOOK_CANARY)) return pa_classes[cls].size;
    return (*reqsize + PA_CANARY_SIZE + 15) & ~(size_t)15;
}

/* Whether the first `bytes` of p (16-byte aligned, a multiple of 16) are all `fill` or all
 * zero. Purged slabs read back as zero, so with junk either pattern is accepted. */
static bool pa_holds_fill(const void *p, size_t bytes, uint8_t fill) {
    const __m128i *v = p, *end = v + bytes / 16;
    __m128i zero = _mm_setzero_si128(), any = zero;
    if (!fill) {                     /* zero_on_free: one OR per 16 bytes */
        for (; v + 4 <= end; v += 4)
            any = _mm_or_si128(any, _mm_or_si128(_mm_or_si128(v[0], v[1]), _mm_or_si128(v[2], v[3])));
        for (; v < end; v++) any = _mm_or_si128(any, *v);
        return _mm_movemask_epi8(_mm_cmpeq_epi8(any, zero)) == 0xffff;
    }
    __m128i pattern = _mm_set1_epi8((char)fill), differs = zero;
    for (; v < end; v++) {
        any = _mm_or_si128(any, *v);
        differs = _mm_or_si128(differs, _mm_xor_si128(*v, pattern));
    }
    return _mm_movemask_epi8(_mm_cmpeq_epi8(any, zero)) == 0xffff ||
           _mm_movemask_epi8(_mm_cmpeq_epi8(differs, zero)) == 0xffff;
}

/* Whether every byte of a page is `fill` or zero. A purged slot's page may hold both: with
 * canaries the fill ends where the freed block did, and what follows reads as zeros. */
static bool pa_page_fill_or_zero(const void *p, uint8_t fill) {
    const __m128i *v = p, *end = v + PA_PAGE / 16;
    __m128i zero = _mm_setzero_si128(), pattern = _mm_set1_epi8((char)fill), ok = _mm_set1_epi8(-1);
    for (; v < end; v++) ok = _mm_and_si128(ok, _mm_or_si128(_mm_cmpeq_epi8(*v, zero), _mm_cmpeq_epi8(*v, pattern)));
    return _mm_movemask_epi8(ok) == 0xffff;
}

/* Whether a purged slot of at least PA_IDLE_SLOT_MIN still reads as the fill or zeros. Its
 * pages went back to the OS, so only pages it has again can hold a write after free: those
 * are read, the others (which read as zeros) are not faulted in. */
static bool pa_purged_slot_clean(const void *p, size_t size, uint8_t fill) {
    unsigned char resident[PA_SMALL_MAX / PA_PAGE];
    if (!pa_os_resident(p, size, resident)) return true; /* cannot tell: nothing to report */
    for (size_t i = 0; i < size / PA_PAGE; i++)
        if ((resident[i] & 1) && !pa_page_fill_or_zero((const char *)p + i * PA_PAGE, fill)) return false;
    return true;
}

/* Aborts if a freed slot about to be reused no longer holds what free left there. Returns
 * how many of its leading bytes were seen to hold the fill. */
static size_t pa_check_reuse(int cls, const void *p, uint8_t state, const uint32_t *reqsize) {
    if (pa_slot_holds_free_fill(state)) {
        size_t filled = pa_filled_bytes(cls, reqsize);
        if (!pa_holds_fill(p, filled, pa_fill_byte())) pa_misuse("write after free", p, cls);
        return filled;
    }
    size_t size = pa_classes[cls].size;
    if (state == PA_SLOT_PURGED && size >= PA_IDLE_SLOT_MIN && !pa_purged_slot_clean(p, size, pa_fill_byte()))
        pa_misuse("write after free", p, cls);
    return 0;
}

/* An empty slab about to hold another class: its slots are checked now, since its state
 * bytes are about to be cleared. */
void pa_check_freed_slots(int cls, uint32_t s) {
    if (!(pa_heap.hooks & PA_HOOK_CHECK)) return;
    const pa_class_t *k = &pa_classes[cls];
    pa_slab_t *record = pa_slab(k, s);
    uint8_t *states = pa_record_states(k, record);
    for (uint32_t i = 0; i < k->nslots; i++) {
        const uint8_t *state = pa_slot_state_at(k, states, i);
        pa_check_reuse(cls, pa_slot_addr(cls, s, i), *state, pa_record_reqsize(k, record, (uint32_t)(state - states)));
    }
}

/* may_spill: an unaligned request may use a bigger class when its own region is full; an
 * aligned one may not, since other classes' slots need not be aligned. */
static void *pa_small_hardened(int cls, size_t n, bool zero, bool may_spill) {
    void *p = pa_small_take(cls);
    while (!p && may_spill && ++cls < PA_NCLASS) p = pa_small_take(cls);
    if (!p) return NULL;
    const pa_class_t *k = &pa_classes[cls];
    uint32_t index;
    pa_slab_t *slab = pa_handed_record(k, p, &index);
    uint8_t *state = pa_record_states(k, slab) + index;
    uint32_t *reqsize = pa_record_reqsize(k, slab, index);
    if (pa_heap.hooks & PA_HOOK_CHECK) {
        size_t filled = pa_check_reuse(cls, p, *state, reqsize);
        if (filled >= n && !pa_fill_byte()) zero = false; /* just seen to be zeros */
    }
    if (zero) memset(p, 0, n);
    if (pa_heap.hooks & PA_HOOK_CANARY) {
        *reqsize = (uint32_t)n;
        uint64_t c = pa_canary(p);
        memcpy((char *)p + n, &c, sizeof c);
    }
    __atomic_store_n(state, PA_SLOT_LIVE, __ATOMIC_RELAXED);
    return p;
}

/* Every allocation while a hook is on. */
void *pa_alloc_hardened(size_t n, size_t alignment, bool zero) {
    size_t need = n + (pa_heap.hooks & PA_HOOK_CANARY ? PA_CANARY_SIZE : 0);
    if (need <= PA_SMALL_MAX) {
        int cls = alignment ? pa_class_for_alignment(need, alignment) : pa_size_class(need);
        void *p = cls >= 0 ? pa_small_hardened(cls, n, zero, !alignment) : NULL;
        if (p) return p;
    }
    return pa_large_checked(n, alignment, zero); /* hooks are visible while init runs */
}

static void pa_quarantine_evict(pa_tcache_t *tc) {
    void *p = tc->quarantine[tc->qhead];
    tc->qhead = (tc->qhead + 1) & (tc->qcap - 1);
    tc->qcount--;
    uint16_t unit = pa_unit_entry((uintptr_t)p - pa_heap.base);
    int cls = pa_unit_class(unit);
    tc->qbytes -= pa_classes[cls].size;
    pa_release_small(cls, pa_unit_arena(unit), p);
}

void pa_quarantine_drain(pa_tcache_t *tc) {
    while (tc->qcount) pa_quarantine_evict(tc);
}

/* loc and slab: where the slot lives and its record, as free found them. */
void pa_free_hardened(void *p, const pa_loc_t *loc, pa_slab_t *slab) {
    uint32_t hooks = pa_heap.hooks;
    int cls = loc->cls;
    const pa_class_t *k = &pa_classes[cls];
    size_t size = k->size;
    const uint32_t *reqsize = pa_record_reqsize(k, slab, loc->index);
    if (hooks & PA_HOOK_CANARY) pa_check_canary(p, reqsize, cls);
    if (hooks & PA_HOOK_FILL) memset(p, pa_fill_byte(), pa_filled_bytes(cls, reqsize));
    pa_tcache_t *tc = pa_tcache_current;
    if ((hooks & PA_HOOK_QUARANTINE) && tc->qcap) {
        while (tc->qcount && (tc->qcount == tc->qcap || tc->qbytes + size > pa_opt.quarantine_bytes))
            pa_quarantine_evict(tc);
        tc->quarantine[(tc->qhead + tc->qcount) & (tc->qcap - 1)] = p;
        atomic_signal_fence(memory_order_seq_cst); /* see pa_bin_push */
        tc->qcount++;
        tc->qbytes += size;
        return;
    }
    pa_release_small(cls, loc->arena, p);
}

/* With canaries the usable size is what was asked for: writing up to it must not trip the
 * canary, and realloc checks the canary of the block it is given. */
size_t pa_usable_hardened(const void *p, const pa_loc_t *loc) {
    if (!(pa_heap.hooks & PA_HOOK_CANARY)) return pa_classes[loc->cls].size;
    uint32_t *reqsize = pa_slot_reqsize(loc);
    pa_check_canary(p, reqsize, loc->cls);
    return *reqsize;
}

/* realloc in place: the slot still fits n (with its canary) and is not more than twice
 * what n needs. The canary moves to the new end. Growing by small steps would otherwise
 * copy the block every time, quadratic in its size. */
bool pa_resize_hardened(void *p, const pa_loc_t *loc, size_t n) {
    size_t need = n + (pa_heap.hooks & PA_HOOK_CANARY ? PA_CANARY_SIZE : 0);
    size_t size = pa_classes[loc->cls].size;
    if (need > size || (need <= size / 2 && pa_size_class(need) != loc->cls)) return false;
    if (pa_heap.hooks & PA_HOOK_CANARY) {
        uint32_t *reqsize = pa_slot_reqsize(loc);
        size_t was_filled = pa_filled_bytes(loc->cls, reqsize);
        *reqsize = (uint32_t)n;
        uint64_t c = pa_canary(p);
        memcpy((char *)p + n, &c, sizeof c);
        /* free fills only up to the new size: what the block held beyond it goes now */
        size_t filled = pa_filled_bytes(loc->cls, reqsize);
        if ((pa_heap.hooks & PA_HOOK_FILL) && filled < was_filled)
            memset((char *)p + filled, pa_fill_byte(), was_filled - filled);
    }
    return true;
}

void pa_invalid_free(const void *p, int cls) {
    if (pa_opt.on_invalid_free == PA_ON_INVALID_ABORT) pa_misuse("invalid free", p, cls);
    if (pa_opt.on_invalid_free == PA_ON_INVALID_REPORT) pa_report("invalid free", p, cls);
}

/* Start-up and fork. Initialisation never calls malloc before the heap is usable: options
 * come from getenv, memory from mmap, and the only libc calls that may allocate
 * (pthread_atfork, atexit) run after `ready` is set, so their allocations recurse into a
 * working heap rather than into half-built state. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Exported by glibc (GLIBC_2.2.5): the stdio list lock that glibc's fork takes before its
 * own malloc locks. Taking it before ours keeps that order, so a thread inside stdio that
 * needs the allocator can never hold out against a forking thread that holds it. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

/* The locks fork holds, in the order it takes them: the cache registry first, since arenas
 * open only under it and the set of pools to lock must not grow meanwhile; then the pools
 * of the open arenas, carving (taken inside pool locks) and large blocks. */
#define PA_MAX_FORK_LOCKS (PA_NCLASS * PA_MAX_ARENAS + 3)
static uint32_t pa_fork_nlocks(uint32_t arenas) { return PA_NCLASS * arenas + 3; }
static pa_lock_t *pa_fork_lock(uint32_t i, uint32_t arenas) {
    if (i == 0) return &pa_tcache_lock;
    if (--i < PA_NCLASS * arenas) return &pa_pools[i % arenas][i / arenas].lock;
    return i == PA_NCLASS * arenas ? &pa_carve_lock : &pa_large_lock;
}

/* A signal handler may fork while this thread is inside fork's own handlers (glibc's
 * tst-mallocfork2 does exactly that), so each nesting level records its own locks. */
#define PA_MAX_FORK_NESTING 8
static struct {
    uint64_t taken[(PA_MAX_FORK_LOCKS + 63) / 64];
    uint32_t arenas;                 /* arenas open when this level took its locks */
    bool interrupted;                /* fork from a handler that interrupted the allocator */
} pa_fork_level[PA_MAX_FORK_NESTING];
static int pa_fork_depth;

static void pa_print_stats_at_exit(void);

/* A lock this very thread holds means fork was called from a signal handler that
 * interrupted us inside the allocator (or inside an outer fork); waiting would deadlock.
 * The interrupted code finishes (and unlocks) in both processes once the handler returns. */
static void pa_fork_take(int d, uint32_t i) {
    pa_lock_t *l = pa_fork_lock(i, pa_fork_level[d].arenas);
    if (pa_lock_held_by_me(l)) {
        pa_fork_level[d].interrupted = true;
    } else {
        pa_lock(l);
        pa_fork_level[d].taken[i / 64] |= (uint64_t)1 << (i % 64);
    }
}

static void pa_fork_prepare(void) {
    if (_IO_list_lock) _IO_list_lock();
    int d = __atomic_fetch_add(&pa_fork_depth, 1, __ATOMIC_RELAXED);
    if (d >= PA_MAX_FORK_NESTING) pa_fatal("fork nested in signal handlers too deeply");
    memset(&pa_fork_level[d], 0, sizeof pa_fork_level[d]);
    pa_fork_take(d, 0);
    pa_fork_level[d].arenas = pa_arenas_used();
    for (uint32_t i = 1; i < pa_fork_nlocks(pa_fork_level[d].arenas); i++) pa_fork_take(d, i);
}

/* Leaves the level only when done: a fork nested in here must not reuse its record. */
static bool pa_fork_release(void) {
    int d = __atomic_load_n(&pa_fork_depth, __ATOMIC_RELAXED) - 1;
    uint32_t arenas = pa_fork_level[d].arenas;
    for (uint32_t i = pa_fork_nlocks(arenas); i-- > 0;)
        if (pa_fork_level[d].taken[i / 64] >> (i % 64) & 1) pa_unlock(pa_fork_lock(i, arenas));
    bool interrupted = pa_fork_level[d].interrupted;
    __atomic_fetch_sub(&pa_fork_depth, 1, __ATOMIC_RELAXED);
    return interrupted;
}

static void pa_fork_parent(void) {
    pa_fork_release();
    if (_IO_list_unlock) _IO_list_unlock();
}

static void pa_fork_child(void) {
    /* The interrupted operation, not this child, owns the thread cache's consistency. */
    bool interrupted = pa_fork_release();
    if (_IO_list_resetlock) _IO_list_resetlock();
    if (!interrupted) pa_tcache_after_fork_child();
}

void pa_init_slow(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pa_heap.ready, &expected, 1)) {
        /* Another thread is initialising; it does not allocate until it is done. */
        while (atomic_load_explicit(&pa_heap.ready, memory_order_acquire) != 2) sched_yield();
        return;
    }
    pa_options_init();
    pa_harden_init();
    pa_light_guards = pa_guards_wanted() && pa_os_light_guards();
    pa_slab_init();
    pa_tcache_setup();
    atomic_store_explicit(&pa_heap.ready, 2, memory_order_release);
    /* Nothing writes the globals after this point; make that a guarantee. */
    if (pa_opt.protect_metadata) pa_os_readonly(&pa_ro, sizeof pa_ro);
    pthread_atfork(pa_fork_prepare, pa_fork_parent, pa_fork_child);
    if (pa_opt.print_stats) atexit(pa_print_stats_at_exit);
}

/* Initialise before main so option errors surface before the program does anything. */
__attribute__((constructor)) static void pa_constructor(void) { pa_ensure_init(); }

static void pa_print_stats_at_exit(void) { pa_stats_print(); }

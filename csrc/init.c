/* Start-up and fork. Initialisation never calls malloc before the heap is usable: options
 * come from getenv, memory from mmap, and the only libc calls that may allocate
 * (pthread_atfork, atexit) run after `ready` is set, so their allocations recurse into a
 * working heap rather than into half-built state. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/* Exported by glibc (GLIBC_2.2.5): the stdio list lock that glibc's fork takes before its
 * own malloc locks. Taking it before ours keeps that order, so a thread inside stdio that
 * needs the allocator can never hold out against a forking thread that holds it. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

#define PA_MAX_FORK_LOCKS (PA_NCLASS * PA_MAX_ARENAS + 2)
static pa_lock_t *pa_fork_locks[PA_MAX_FORK_LOCKS];
static bool pa_fork_taken[PA_MAX_FORK_LOCKS];
static int pa_nfork_locks;
static bool pa_fork_interrupted;     /* fork from a handler that interrupted the allocator */

static void pa_print_stats_at_exit(void);

static void pa_fork_prepare(void) {
    if (_IO_list_lock) _IO_list_lock();
    pa_fork_interrupted = false;
    for (int i = 0; i < pa_nfork_locks; i++) {
        /* A lock this very thread holds means fork was called from a signal handler that
         * interrupted us inside the allocator; waiting would deadlock. The interrupted
         * operation finishes (and unlocks) in both processes once the handler returns. */
        pa_fork_taken[i] = !pa_lock_held_by_me(pa_fork_locks[i]);
        if (pa_fork_taken[i]) pa_lock(pa_fork_locks[i]);
        else pa_fork_interrupted = true;
    }
}

static void pa_fork_release(void) {
    for (int i = pa_nfork_locks - 1; i >= 0; i--)
        if (pa_fork_taken[i]) pa_unlock(pa_fork_locks[i]);
}

static void pa_fork_parent(void) {
    pa_fork_release();
    if (_IO_list_unlock) _IO_list_unlock();
}

static void pa_fork_child(void) {
    pa_fork_release();
    if (_IO_list_resetlock) _IO_list_resetlock();
    if (!pa_fork_interrupted) pa_tcache_after_fork_child();
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
    if (!pa_slab_init()) pa_fatal("cannot reserve address space for the heap");
    pa_tcache_setup();
    for (int c = 0; c < PA_NCLASS; c++)
        for (uint32_t a = 0; a < pa_narenas; a++) pa_fork_locks[pa_nfork_locks++] = &pa_pools[c][a].lock;
    pa_fork_locks[pa_nfork_locks++] = &pa_large_lock;
    pa_fork_locks[pa_nfork_locks++] = &pa_tcache_lock;
    atomic_store_explicit(&pa_heap.ready, 2, memory_order_release);
    /* Nothing writes the globals after this point; make that a guarantee. */
    if (pa_opt.protect_metadata) pa_os_readonly(&pa_ro, sizeof pa_ro);
    pthread_atfork(pa_fork_prepare, pa_fork_parent, pa_fork_child);
    if (pa_opt.print_stats) atexit(pa_print_stats_at_exit);
}

/* Initialise before main so option errors surface before the program does anything. */
__attribute__((constructor)) static void pa_constructor(void) { pa_ensure_init(); }

static void pa_print_stats_at_exit(void) { pa_stats_print(); }

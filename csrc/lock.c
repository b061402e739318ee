/* A futex lock that records its owner. Owner ids come from a per-thread TLS slot so the
 * atfork handler can tell "held by the thread that is forking" (skip it: that thread is
 * inside the allocator, interrupted by a signal handler calling fork) from "held by another
 * thread" (wait for it). */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PA_LOCK_WAITERS 0x80000000u

static _Atomic uint32_t pa_next_thread_id = 1;
static PA_TLS uint32_t pa_my_id;

uint32_t pa_thread_id(void) {
    uint32_t id = pa_my_id;
    if (pa_unlikely(!id)) {
        do id = atomic_fetch_add_explicit(&pa_next_thread_id, 1, memory_order_relaxed) & ~PA_LOCK_WAITERS;
        while (!id);
        pa_my_id = id;
    }
    return id;
}

/* free() must preserve errno, and FUTEX_WAIT fails with EAGAIN routinely. */
static void pa_futex(_Atomic uint32_t *addr, int op, uint32_t val) {
    int saved = errno;
    syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
    errno = saved;
}

bool pa_trylock(pa_lock_t *l) {
    uint32_t expected = 0;
    return atomic_compare_exchange_strong_explicit(&l->word, &expected, pa_thread_id(), memory_order_acquire,
                                                   memory_order_relaxed);
}

void pa_lock(pa_lock_t *l) {
    if (pa_likely(pa_trylock(l))) return;
    uint32_t me = pa_thread_id(), expected;
    for (int spin = 0; spin < 100; spin++) {
        __builtin_ia32_pause();
        expected = 0;
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->word, &expected, me, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* Once we have slept, take the lock marked contended: another waiter may be asleep. */
    for (;;) {
        uint32_t cur = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (cur == 0) {
            if (atomic_compare_exchange_weak_explicit(&l->word, &cur, me | PA_LOCK_WAITERS, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        if (!(cur & PA_LOCK_WAITERS) &&
            !atomic_compare_exchange_weak_explicit(&l->word, &cur, cur | PA_LOCK_WAITERS, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue;
        pa_futex(&l->word, FUTEX_WAIT, cur | PA_LOCK_WAITERS);
    }
}

void pa_unlock(pa_lock_t *l) {
    uint32_t old = atomic_exchange_explicit(&l->word, 0, memory_order_release);
    if (pa_unlikely(old & PA_LOCK_WAITERS)) pa_futex(&l->word, FUTEX_WAKE, 1);
}

bool pa_lock_held_by_me(const pa_lock_t *l) {
    return (atomic_load_explicit(&l->word, memory_order_relaxed) & ~PA_LOCK_WAITERS) == pa_thread_id();
}

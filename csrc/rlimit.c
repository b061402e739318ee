/* Address-space limits. A reserved heap layout is hundreds of GiB of inaccessible address
 * space, and RLIMIT_AS counts it: once a program lowers the limit, every later mmap would
 * be refused (thread stacks, files, our own slabs) and malloc could never fail cleanly at
 * the limit. So the preloaded library sees the limit being lowered first and gives the
 * unused reservation back; the heap then grows lazily (slab.c). A program started under a
 * limit gets the lazy heap from the outset. */
#include "internal.h"

#ifdef PA_PRELOAD
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void pa_before_limit(pid_t pid, int resource, const struct rlimit *limit) {
    if (resource != RLIMIT_AS || !limit || limit->rlim_cur == RLIM_INFINITY) return;
    if (pid != 0 && pid != getpid()) return;
    pa_ensure_init();
    pa_slab_unreserve();
}

/* Straight to the system call libc itself uses: no lookup of the next definition, which
 * could allocate. struct rlimit and struct rlimit64 are the same on x86-64. */
static int pa_prlimit(pid_t pid, int resource, const struct rlimit *limit, struct rlimit *old) {
    pa_before_limit(pid, resource, limit);
    return (int)syscall(SYS_prlimit64, pid, resource, limit, old);
}

PA_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit) {
    return pa_prlimit(0, resource, limit, NULL);
}

PA_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *limit) {
    return pa_prlimit(0, resource, (const struct rlimit *)limit, NULL);
}

PA_EXPORT int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *limit, struct rlimit *old) {
    return pa_prlimit(pid, resource, limit, old);
}

PA_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *limit,
                        struct rlimit64 *old) {
    return pa_prlimit(pid, resource, (const struct rlimit *)limit, (struct rlimit *)old);
}
#endif

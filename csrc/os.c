/* Operating-system interface: every mapping pyalloc makes goes through here. mmap only,
 * never brk, so the program's own sbrk users and glibc's fallback arena are undisturbed. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

size_t pa_os_page_size(void) {
    static size_t page;
    if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

/* Address space backed on first touch. MAP_NORESERVE keeps a multi-GiB reservation from
 * counting against the overcommit heuristic; untouched pages cost no RSS. */
void *pa_os_reserve(size_t size, size_t align, bool accessible) {
    size_t span = size + align;
    char *p = mmap(NULL, span, accessible ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)p;
    if (head) munmap(p, head);
    size_t tail = span - head - size;
    if (tail) munmap((char *)start + size, tail);
    return (void *)start;
}

void *pa_os_map(size_t size, bool accessible) {
    void *p = mmap(NULL, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Maps exactly [p, p + size) read-write, or fails if anything is mapped there already:
 * MAP_FIXED_NOREPLACE never clobbers another mapping. Kernels before 4.17 take the flag as
 * a hint, so a mapping placed elsewhere counts as failure. */
bool pa_os_map_at(void *p, size_t size) {
    int saved = errno;
    void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q != MAP_FAILED && q != p) munmap(q, size);
    errno = saved;
    return q == p;
}

/* Metadata outside the slab layout (large-block table, thread caches). Under
 * protect_metadata it sits between inaccessible pages, so a linear overflow out of a
 * neighbouring mapping faults instead of rewriting it. */
void *pa_os_map_metadata(size_t size) {
    size_t guard = pa_opt.protect_metadata ? pa_os_page_size() : 0;
    char *p = pa_os_map(size + 2 * guard, !guard);
    if (!p || !guard) return p;
    if (!pa_os_protect(p + guard, size, true)) {
        pa_os_unmap(p, size + 2 * guard);
        return NULL;
    }
    return p + guard;
}

void pa_os_unmap_metadata(void *p, size_t size) {
    size_t guard = pa_opt.protect_metadata ? pa_os_page_size() : 0;
    pa_os_unmap((char *)p - guard, size + 2 * guard);
}

void pa_os_unmap(void *p, size_t size) {
    int saved = errno;
    munmap(p, size);
    errno = saved;
}

/* One byte per page of [p, p + size), bit 0 set where the page is resident; false when the
 * kernel cannot tell. Nothing is faulted in. */
bool pa_os_resident(const void *p, size_t size, unsigned char *pages) {
    int saved = errno;
    bool ok = mincore((void *)p, size, pages) == 0;
    errno = saved;
    return ok;
}

/* MADV_DONTNEED rather than MADV_FREE: RSS drops at once, which is what users measure, and
 * the pages read back as zero, which calloc relies on for fresh slabs. */
void pa_os_purge(void *p, size_t size) {
    int saved = errno;
    madvise(p, size, MADV_DONTNEED);
    errno = saved;
}

/* Moves the pages behind [src, src + size) to dst, which they replace; src stays mapped and
 * reads as zeros. Page tables move, the data is not copied: a slab changing class costs one
 * call instead of a fault per page plus a purge. False on failure, with dst still mapped
 * read-write (as zeros) and src untouched, or when the kernel lacks MREMAP_DONTUNMAP
 * (Linux 5.7 and later have it); *supported is then cleared for good. */
bool pa_os_move(void *src, void *dst, size_t size, bool *supported) {
    int saved = errno;
    void *q = mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst);
    bool ok = q == dst;
    if (!ok && errno == EINVAL) __atomic_store_n(supported, false, __ATOMIC_RELAXED);
    /* A failed move may have unmapped dst already (the kernel clears the target first). */
    if (!ok && !pa_os_reset(dst, size)) pa_fatal("cannot remap heap pages");
    errno = saved;
    return ok;
}

/* Replaces [p, p + size) of the heap with a fresh mapping like the one it was carved from:
 * its pages read as zeros, and it merges again with its neighbours, which a range moved in
 * by pa_os_move does not (it keeps its old offset), so the count of mappings stays bounded. */
bool pa_os_reset(void *p, size_t size) {
    int saved = errno;
    void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    errno = saved;
    return q == p;
}

/* Fills a page-aligned range, writing only the pages the program touched (mincore says
 * which): the others are dropped, which also discards swapped-out copies, and read as
 * zeros. Clearing a big block mostly never written does not fault it in page by page. */
void pa_os_clear(void *p, size_t size, int fill) {
    size_t page = pa_os_page_size();
    unsigned char resident[1024];
    for (char *chunk = p, *end = (char *)p + size; chunk < end; chunk += sizeof resident * page) {
        size_t pages = (size_t)(end - chunk) / page;
        if (pages > sizeof resident) pages = sizeof resident;
        if (!pa_os_resident(chunk, pages * page, resident)) {
            memset(chunk, fill, pages * page);
            continue;
        }
        for (size_t i = 0, j; i < pages; i = j) {
            for (j = i + 1; j < pages && (resident[j] & 1) == (resident[i] & 1); j++) {}
            if (resident[i] & 1) memset(chunk + i * page, fill, (j - i) * page);
            else pa_os_purge(chunk + i * page, (j - i) * page);
        }
    }
}

bool pa_os_protect(void *p, size_t size, bool accessible) {
    int saved = errno;
    bool ok = mprotect(p, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
    errno = saved;
    return ok;
}

#ifndef MADV_GUARD_INSTALL           /* Linux 6.13; glibc 2.36's headers predate it */
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* Sets or clears guard markers on anonymous memory mapped read-write (it may be PROT_NONE
 * meanwhile). Setting one drops the page under it, so a page guarded and then opened again
 * reads as zeros and faults in anew, where mprotect would have kept it. */
bool pa_os_guard(void *p, size_t size, bool guarded) {
    int saved = errno;
    bool ok = madvise(p, size, guarded ? MADV_GUARD_INSTALL : MADV_GUARD_REMOVE) == 0;
    errno = saved;
    return ok;
}

/* Whether the kernel has lightweight guard pages: page-table markers that fault on any
 * access, as PROT_NONE does, but are set and cleared without splitting the kernel mapping
 * as mprotect does. A pair (set, clear) took 1.35 us here against 5.3 us for an mprotect
 * pair, and neighbouring guarded blocks stay one kernel mapping instead of two each
 * (vm.max_map_count is 65,530 by default). */
bool pa_os_light_guards(void) {
    size_t page = pa_os_page_size();
    void *p = pa_os_map(page, true);
    if (!p) return false;
    bool ok = pa_os_guard(p, page, true);
    pa_os_unmap(p, page);
    return ok;
}

void pa_os_readonly(void *p, size_t size) {
    int saved = errno;
    mprotect(p, size, PROT_READ);
    errno = saved;
}

/* getrandom never allocates; if the kernel has no entropy API, fall back to ASLR bits and
 * the clock, which still differ per process. */
uint64_t pa_os_random(void) {
    uint64_t v;
    int saved = errno;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = (uint64_t)(uintptr_t)&v ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    }
    errno = saved;
    return v;
}

/* The coarse clock is read in the vDSO: no system call, a few nanoseconds, tick resolution
 * (a few ms), which is all the purge delay needs. Wraps after 49 days; callers subtract. */
uint32_t pa_os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Keeps errno: a failed remap is followed by a copy that may well succeed. */
void *pa_os_remap(void *p, size_t old_size, size_t new_size) {
    int saved = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    return q == MAP_FAILED ? NULL : q;
}

void pa_write_stderr(const char *s, size_t n) {
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

size_t pa_fmt_hex(char *out, uintptr_t v) {
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) out[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

size_t pa_fmt_dec(char *out, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* abort() without stdio or malloc: the heap may be what is broken. */
static __attribute__((noreturn)) void pa_abort(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGABRT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    abort();
}

void pa_fatal(const char *msg) {
    pa_write_stderr("pyalloc: ", 9);
    pa_write_stderr(msg, strlen(msg));
    pa_write_stderr("\n", 1);
    pa_abort();
}

/* One line, `pyalloc: <what> <pointer> (<where>)`, so logs and tests can match it. */
void pa_report(const char *what, const void *p, int cls) {
    char line[160];
    size_t n = 0;
    size_t wl = strlen(what);
    memcpy(line, "pyalloc: ", 9);
    n = 9;
    memcpy(line + n, what, wl);
    n += wl;
    line[n++] = ' ';
    n += pa_fmt_hex(line + n, (uintptr_t)p);
    line[n++] = ' ';
    line[n++] = '(';
    if (cls >= 0) {
        memcpy(line + n, "size class ", 11);
        n += 11;
        n += pa_fmt_dec(line + n, pa_classes[cls].size);
    } else {
        const char *where = cls == PA_WHERE_LARGE ? "large" : "no size class";
        memcpy(line + n, where, strlen(where));
        n += strlen(where);
    }
    line[n++] = ')';
    line[n++] = '\n';
    pa_write_stderr(line, n);
}

void pa_misuse(const char *what, const void *p, int cls) {
    pa_report(what, p, cls);
    pa_abort();
}

/* pyalloc public C interface.
 *
 * The same sources build two libraries:
 *  - libpyalloc.so (PA_PRELOAD): exports the unprefixed malloc family for LD_PRELOAD;
 *  - the in-process build: exports pyalloc_malloc, pyalloc_free, ... so a host (Python via
 *    cffi) gets a private heap without replacing its own malloc.
 * The pyalloc_stats / pyalloc_option_* introspection calls exist in both. */
#ifndef PYALLOC_H
#define PYALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYALLOC_VERSION "0.1.0"
#define PYALLOC_MAX_CLASSES 64

typedef struct pyalloc_class_stats {
    size_t size;            /* slot size of the class in bytes */
    size_t slab_size;       /* bytes per slab */
    size_t in_use_count;    /* slots held by the program */
    size_t cached_count;    /* free slots parked in thread caches */
    size_t slabs;           /* slabs holding the class */
    size_t slabs_resident;  /* slabs whose pages have not been returned to the OS */
    uint64_t nmalloc;       /* allocations served from this class */
    uint64_t nfree;         /* frees into this class */
} pyalloc_class_stats;

typedef struct pyalloc_stats {
    size_t in_use_bytes;        /* small slots (class size) + large usable bytes held by the program */
    size_t mapped_bytes;        /* address space backed on demand: slabs in use + large mappings */
    size_t resident_bytes;      /* estimate: resident slabs + large mappings + metadata */
    size_t metadata_bytes;      /* touched out-of-band metadata (slab tables, bitmaps, caches) */
    size_t small_in_use_bytes;
    size_t small_in_use_count;
    size_t large_in_use_bytes;
    size_t large_count;         /* live large blocks */
    size_t large_mapped_bytes;
    size_t large_cached_bytes;  /* freed large mappings kept for reuse */
    uint64_t nmalloc;           /* every successful allocation, whatever the entry point */
    uint64_t nfree;             /* every free of a non-NULL pointer */
    uint64_t ncalloc;
    uint64_t nrealloc;
    uint64_t naligned;          /* memalign family */
    uint64_t nlarge_malloc;
    uint64_t nlarge_free;
    uint64_t npurge;            /* slabs returned to the OS */
    uint64_t nmoved;            /* empty slabs whose pages moved to slabs of other classes */
    uint64_t nrehomed;          /* empty slabs taken over by another class of their slab size */
    uint64_t nslot_purge;       /* big free slots of slabs in use whose pages went back to the OS */
    size_t threads;             /* live thread caches */
    size_t nclasses;
    pyalloc_class_stats classes[PYALLOC_MAX_CLASSES];
} pyalloc_stats;

typedef struct pyalloc_option_info {
    const char *name;
    const char *allowed;        /* human-readable set of accepted values */
    const char *description;    /* why the option exists */
    char value[32];             /* current value, formatted */
    const char *source;         /* "default", "PYALLOC_OPTIONS" */
} pyalloc_option_info;

/* Fills *out with a consistent-enough snapshot (exact when no other thread allocates). */
void pyalloc_stats_get(pyalloc_stats *out);
size_t pyalloc_option_count(void);
/* Returns 0 and fills *out for 0 <= index < pyalloc_option_count(), else -1. */
int pyalloc_option_get(size_t index, pyalloc_option_info *out);
/* Human-readable build description (compiler, flags, build kind). */
const char *pyalloc_build_info(void);
/* How this process draws guard pages: with page-table markers where the kernel has them
 * (Linux 6.13), else with mprotect; or that the options turned them off. */
const char *pyalloc_guard_pages(void);

#ifndef PA_PRELOAD
/* In-process heap: same semantics as the libc functions of the same name. */
void *pyalloc_malloc(size_t size);
void pyalloc_free(void *p);
void *pyalloc_calloc(size_t n, size_t size);
void *pyalloc_realloc(void *p, size_t size);
void *pyalloc_reallocarray(void *p, size_t n, size_t size);
void *pyalloc_memalign(size_t alignment, size_t size);
void *pyalloc_aligned_alloc(size_t alignment, size_t size);
int pyalloc_posix_memalign(void **out, size_t alignment, size_t size);
void *pyalloc_valloc(size_t size);
void *pyalloc_pvalloc(size_t size);
size_t pyalloc_malloc_usable_size(void *p);
void pyalloc_free_sized(void *p, size_t size);
void pyalloc_free_aligned_sized(void *p, size_t alignment, size_t size);
int pyalloc_malloc_trim(size_t pad);
#endif

#ifdef __cplusplus
}
#endif
#endif

/* Statistics: assembled on demand from counters the allocator keeps anyway (central slot
 * counts, per-thread op counters, the large table), so collecting them costs nothing on
 * the fast paths. Also the glibc reporting calls built on them. */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

PA_EXPORT void pyalloc_stats_get(pyalloc_stats *st) {
    memset(st, 0, sizeof *st);
    pa_ensure_init();
    pa_slab_stats(st);
    pa_tcache_stats(st);
    pa_large_stats(st);
    for (size_t c = 0; c < st->nclasses; c++) {
        const pyalloc_class_stats *cs = &st->classes[c];
        st->small_in_use_count += cs->in_use_count;
        st->small_in_use_bytes += cs->in_use_count * cs->size;
        st->nmalloc += cs->nmalloc;
        st->nfree += cs->nfree;
    }
    st->in_use_bytes = st->small_in_use_bytes + st->large_in_use_bytes;
    st->mapped_bytes += st->large_mapped_bytes + st->large_cached_bytes;
    st->resident_bytes += st->large_mapped_bytes + st->large_cached_bytes + st->metadata_bytes;
    st->nmalloc += st->nlarge_malloc;
    st->nfree += st->nlarge_free;
}

PA_EXPORT const char *pyalloc_build_info(void) {
    return "pyalloc " PYALLOC_VERSION
#ifdef PA_PRELOAD
           ", preload build (libc names)"
#else
           ", in-process build (pyalloc_ names)"
#endif
#ifdef __OPTIMIZE__
           ", optimised"
#endif
           ", gcc " __VERSION__;
}

PA_EXPORT const char *pyalloc_guard_pages(void) {
    pa_ensure_init();
    if (!pa_guards_wanted()) return "none (guard and guard_slab_interval are 0)";
    return pa_light_guards ? "page-table markers (madvise MADV_GUARD_INSTALL)"
                           : "mprotect (each guard is a kernel mapping of its own, counted against vm.max_map_count)";
}

/* Formats into a stack buffer and writes with write(2): malloc_stats may be called from an
 * atexit handler after stdio is gone, and must not allocate. */
void pa_stats_print(void) {
    pyalloc_stats st;
    pyalloc_stats_get(&st);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "pyalloc %s: in use %zu bytes (small %zu in %zu blocks, large %zu in %zu blocks)\n"
                     "  mapped %zu, resident ~%zu, metadata %zu, large cache %zu, threads %zu\n",
                     PYALLOC_VERSION, st.in_use_bytes, st.small_in_use_bytes, st.small_in_use_count,
                     st.large_in_use_bytes, st.large_count, st.mapped_bytes, st.resident_bytes, st.metadata_bytes,
                     st.large_cached_bytes, st.threads);
    pa_write_stderr(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    n = snprintf(line, sizeof line, "  calls: malloc %llu free %llu calloc %llu realloc %llu aligned %llu; slabs purged %llu, "
                 "slabs giving pages to others %llu, slabs changing class %llu, idle big slots purged %llu\n",
                 (unsigned long long)st.nmalloc, (unsigned long long)st.nfree, (unsigned long long)st.ncalloc,
                 (unsigned long long)st.nrealloc, (unsigned long long)st.naligned, (unsigned long long)st.npurge,
                 (unsigned long long)st.nmoved, (unsigned long long)st.nrehomed, (unsigned long long)st.nslot_purge);
    pa_write_stderr(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    for (size_t c = 0; c < st.nclasses; c++) {
        const pyalloc_class_stats *cs = &st.classes[c];
        if (!cs->slabs) continue;
        n = snprintf(line, sizeof line,
                     "  class %6zu: in use %zu, cached %zu, slabs %zu (%zu resident), malloc %llu, free %llu\n", cs->size,
                     cs->in_use_count, cs->cached_count, cs->slabs, cs->slabs_resident,
                     (unsigned long long)cs->nmalloc, (unsigned long long)cs->nfree);
        pa_write_stderr(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
}

PA_EXPORT void PA_API(malloc_stats)(void) { pa_stats_print(); }

/* Field meanings follow glibc's where they exist: arena = small-heap bytes mapped, hblks /
 * hblkhd = large mappings, uordblks / fordblks = bytes in use / free inside the mappings. */
PA_EXPORT struct mallinfo2 PA_API(mallinfo2)(void) {
    pyalloc_stats st;
    pyalloc_stats_get(&st);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    size_t small_mapped = st.mapped_bytes - st.large_mapped_bytes - st.large_cached_bytes;
    mi.arena = small_mapped;
    mi.ordblks = st.large_cached_bytes ? 1 : 0;
    mi.hblks = st.large_count;
    mi.hblkhd = st.large_mapped_bytes;
    mi.uordblks = st.in_use_bytes;
    mi.fordblks = small_mapped - st.small_in_use_bytes + st.large_cached_bytes;
    for (size_t c = 0; c < st.nclasses; c++) mi.smblks += st.classes[c].cached_count;
    mi.fsmblks = 0;
    mi.keepcost = 0;
    return mi;
}

static int pa_clamp_int(size_t v) { return v > (size_t)__INT_MAX__ ? __INT_MAX__ : (int)v; }

PA_EXPORT struct mallinfo PA_API(mallinfo)(void) {
    struct mallinfo2 m2 = PA_API(mallinfo2)();
    struct mallinfo mi;
    mi.arena = pa_clamp_int(m2.arena);
    mi.ordblks = pa_clamp_int(m2.ordblks);
    mi.smblks = pa_clamp_int(m2.smblks);
    mi.hblks = pa_clamp_int(m2.hblks);
    mi.hblkhd = pa_clamp_int(m2.hblkhd);
    mi.usmblks = 0;
    mi.fsmblks = pa_clamp_int(m2.fsmblks);
    mi.uordblks = pa_clamp_int(m2.uordblks);
    mi.fordblks = pa_clamp_int(m2.fordblks);
    mi.keepcost = pa_clamp_int(m2.keepcost);
    return mi;
}

/* The statistics are gathered before any output: fprintf may allocate, and no allocator
 * lock is held while it does. */
PA_EXPORT int PA_API(malloc_info)(int options, FILE *fp) {
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    pyalloc_stats st;
    pyalloc_stats_get(&st);
    fprintf(fp, "<malloc version=\"pyalloc-%s\">\n<heap nr=\"0\">\n<sizes>\n", PYALLOC_VERSION);
    for (size_t c = 0; c < st.nclasses; c++) {
        const pyalloc_class_stats *cs = &st.classes[c];
        if (!cs->slabs) continue;
        fprintf(fp, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\" cached=\"%zu\" slabs=\"%zu\"/>\n",
                c ? st.classes[c - 1].size + 1 : 1, cs->size, cs->in_use_count * cs->size, cs->in_use_count,
                cs->cached_count, cs->slabs);
    }
    fprintf(fp, "</sizes>\n<total type=\"small\" count=\"%zu\" size=\"%zu\"/>\n", st.small_in_use_count,
            st.small_in_use_bytes);
    fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", st.large_count, st.large_in_use_bytes);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n", st.mapped_bytes,
            st.mapped_bytes);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n",
            st.mapped_bytes, st.mapped_bytes);
    fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"0\" size=\"0\"/>\n");
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n", st.mapped_bytes,
            st.mapped_bytes);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
            st.mapped_bytes, st.mapped_bytes);
    return 0;
}

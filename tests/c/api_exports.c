/* Under LD_PRELOAD every function of the malloc API resolves into libpyalloc, so no call
 * can slip through to glibc's heap (which would mix two allocators on one pointer).
 * Prints one line per symbol: "<name> <library path>". */
#include "common.h"

static const char *const names[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "aligned_alloc", "posix_memalign",
    "valloc", "pvalloc", "malloc_usable_size", "free_sized", "free_aligned_sized", "cfree", "mallinfo",
    "mallinfo2", "malloc_stats", "malloc_info", "malloc_trim", "mallopt", "__libc_malloc", "__libc_free",
    "__libc_calloc", "__libc_realloc", "__libc_memalign", "__libc_valloc", "__libc_pvalloc"};

int main(void) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        const char *where = "missing";
        if (sym && dladdr(sym, &info) && info.dli_fname) where = info.dli_fname;
        printf("%s %s\n", names[i], where);
    }
    return 0;
}

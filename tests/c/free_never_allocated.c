/* Free of a slot-aligned pointer inside the heap that was never handed out. One block of
 * class 48 is allocated (40 bytes: still class 48 when canaries take 8 more); the pointer freed is another slot of the same slab, half a slab
 * away, which this program never allocated. The slab geometry comes from the allocator's
 * own statistics so the pointer is exactly slot-aligned whatever the slab size. */
#include "pyalloc.h"

#include "common.h"

int main(void) {
    void (*stats_get)(pyalloc_stats *) = (void (*)(pyalloc_stats *))dlsym(RTLD_DEFAULT, "pyalloc_stats_get");
    CHECK(stats_get != NULL, "pyalloc_stats_get not found: not running under pyalloc");
    static pyalloc_stats st;
    stats_get(&st);
    size_t slab = 0;
    for (size_t c = 0; c < st.nclasses; c++)
        if (st.classes[c].size == 48) slab = st.classes[c].slab_size;
    CHECK(slab != 0 && (slab & (slab - 1)) == 0, "no class of 48 bytes with a power-of-two slab");

    char *p = malloc(40);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 40);
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(slab - 1);
    size_t nslots = slab / 48, idx = ((uintptr_t)p - base) / 48;
    CHECK(((uintptr_t)p - base) % 48 == 0, "p is not slot-aligned in a %zu-byte slab", slab);
    char *q = (char *)base + ((idx + nslots / 2) % nslots) * 48;
    show_pointer(q);
    free(q);
    printf("survived\n");
    return 0;
}

/* realloc of a large block that spans several kernel mappings: mremap refuses such a
 * range (EFAULT), so realloc must copy instead of failing. Two ways to get there: the
 * large cache merges freed neighbours that the kernel kept apart (CPython's JSON encoder
 * hit that under profile=fast), or the program splits the mapping itself, as RDMA
 * libraries do with madvise(MADV_DONTFORK) on buffers they register. The second is
 * deterministic, so it is the one built here. */
#include "common.h"

#include <sys/mman.h>

#define MIB ((size_t)1 << 20)

static int mappings_in(uintptr_t lo, uintptr_t hi) {
    FILE *maps = fopen("/proc/self/maps", "r");
    CHECK(maps != NULL, "cannot read /proc/self/maps");
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx", &start, &end) == 2 && start < hi && end > lo) n++;
    }
    fclose(maps);
    return n;
}

int main(void) {
    char *p = malloc(3 * MIB);
    fill_pattern(p, 3 * MIB, 11);
    uintptr_t middle = ((uintptr_t)p + MIB) & ~(uintptr_t)4095;
    CHECK(madvise((void *)middle, MIB, MADV_DONTFORK) == 0, "madvise: %s", strerror(errno));
    CHECK(mappings_in((uintptr_t)p, (uintptr_t)p + 3 * MIB) == 3, "the block is not split in three mappings");
    char *q = realloc(p, 5 * MIB);
    CHECK(q != NULL, "realloc of a block over three mappings failed: %s", strerror(errno));
    size_t bad = check_pattern(q, 3 * MIB, 11);
    CHECK(bad == 3 * MIB, "realloc lost byte %zu", bad);
    free(q);
    puts("OK");
    return 0;
}

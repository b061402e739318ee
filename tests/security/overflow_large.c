/* write 16 bytes past the end of a 300000-byte block */
/* 300000 is a multiple of 16, so with guard pages the block ends flush against the
 * trailing guard and the first byte past it faults. */
#include "probe.h"

int main(void) {
    size_t n = 300000;
    char *p = malloc(n);
    probe_target(p);
    memset(p, 0, n);
    volatile char *v = p;
    for (size_t i = 0; i < 16; i++) v[n + i] = 'A';
    free(p);
    probe_survived();
    return 0;
}

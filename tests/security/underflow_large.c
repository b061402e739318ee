/* write backward from the start of a 300000-byte block, up to 8 KiB */
/* A block ends flush against its trailing guard, so up to a page of slack lies before
 * it: a short underflow stays inside the mapping, a run of more than a page does not. */
#include <stddef.h>
#include "probe.h"

int main(void) {
    char *p = malloc(300000);
    probe_target(p);
    volatile char *v = p;
    for (size_t i = 1; i <= 8192; i++) v[-(ptrdiff_t)i] = 'A';
    free(p);
    probe_survived();
    return 0;
}

/* free(p); realloc(p, 100) for a 32-byte block */
#include "probe.h"

int main(void) {
    void *p = malloc(32);
    probe_target(p);
    free(p);
    p = realloc(p, 100);
    probe_survived();
    return 0;
}

/* free(p); realloc(p, 400000) for a 300000-byte block */
#include "probe.h"

int main(void) {
    void *p = malloc(300000);
    probe_target(p);
    free(p);
    p = realloc(p, 400000);
    probe_survived();
    return 0;
}

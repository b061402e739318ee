/* change the byte just past a 24-byte block, then realloc it */
#include "probe.h"

int main(void) {
    char *p = malloc(24);
    probe_target(p);
    volatile char *v = p;
    v[24] = (char)(v[24] + 1);
    p = realloc(p, 200);
    free(p);
    probe_survived();
    return 0;
}

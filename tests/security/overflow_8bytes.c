/* write 8 bytes past the end of a 40-byte block, then free it */
#include "probe.h"

int main(void) {
    char *p = malloc(40);
    probe_target(p);
    volatile char *v = p;
    for (int i = 0; i < 8; i++) v[40 + i] = 'A';
    free(p);
    probe_survived();
    return 0;
}

/* free(p + 16) for a live 64-byte block */
#include "probe.h"

int main(void) {
    char *p = malloc(64);
    probe_target(p + 16);
    free(p + 16);
    probe_survived();
    return 0;
}

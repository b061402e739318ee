/* free(p + 4096) for a live 300000-byte block */
#include "probe.h"

int main(void) {
    char *p = malloc(300000);
    probe_target(p + 4096);
    free(p + 4096);
    probe_survived();
    return 0;
}

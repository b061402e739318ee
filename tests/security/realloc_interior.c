/* realloc(p + 16, 128) for a live 64-byte block */
#include "probe.h"

int main(void) {
    char *p = malloc(64);
    probe_target(p + 16);
    p = realloc(p + 16, 128);
    probe_survived();
    return 0;
}

/* write into a freed 64 KiB block after its pages went back to the OS (it sat unused while a neighbour lived), then malloc and free that size until the slot comes back */
#include <sys/mman.h>
#include <time.h>

#include "probe.h"

#define BLOCK 65536

int main(void) {
    char *neighbour = malloc(BLOCK), *p = malloc(BLOCK);
    probe_target(p);
    memset(neighbour, 1, BLOCK);
    memset(p, 2, BLOCK);
    free(p);
    /* Small blocks come and go until p's pages are gone: that work drives the purge, and
     * pushes p out of the quarantine first. */
    static void *few[4096];
    unsigned char in_core = 1;
    for (int round = 0; in_core && round < 5000; round++) {
        for (int i = 0; i < 4096; i++) few[i] = malloc(48);
        for (int i = 0; i < 4096; i++) free(few[i]);
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
        if (mincore(p, 4096, &in_core) != 0) in_core = 1;
    }
    if (in_core) {
        puts("the freed block stayed resident");
        return 1;
    }
    ((volatile char *)p)[8] = 'X';
    probe_await_reuse(p, BLOCK);
    probe_survived();
    free(neighbour);
    return 0;
}

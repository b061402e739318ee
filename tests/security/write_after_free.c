/* write into a freed 64-byte block, then malloc and free that size until the slot comes back */
/* Quarantine holds a freed slot back for up to 4096 later frees (or its byte budget), so
 * the probe mallocs and frees the same size up to a million times; it reports whether
 * the program got the written slot back, which is when pyalloc can check it. */
#include "probe.h"

int main(void) {
    char *p = malloc(64);
    probe_target(p);
    free(p);
    ((volatile char *)p)[8] = 'X';
    for (int i = 1; i <= 1000000; i++) {
        void *q = malloc(64);
        if (q == p) {
            printf("slot reused after %d mallocs\n", i);
            probe_survived();
            return 0;
        }
        free(q);
    }
    puts("slot never reused");
    probe_survived();
    return 0;
}

/* An empty slab goes to another class of its group, in place. Blocks of 100 bytes (the
 * 112-byte class, canary or not) fill seven 64 KiB slabs and are freed, then written after
 * their free (whichever of their slabs stayed resident for the next class); then
 * 1000-byte blocks (same group), about half as many bytes, are allocated. Prints how many
 * 1000-byte blocks there are, how many landed where the 100-byte blocks were, how many
 * pages they faulted in and how many they span. Hardened, the write after free must be
 * caught when the slab changes class, since its slots' states are cleared then. With the
 * argument `spread`, the 100-byte blocks are freed in an order that visits every slab all
 * along, so the ones freed last, which a thread cache keeps, hold on to every slab. */
#include "common.h"

#define SMALL 100
#define NSMALL 4096
#define BIG 1000
#define NBIG 256

int main(int argc, char **argv) {
    /* 1237 is odd, so i * 1237 mod 4096 visits every index once. */
    int stride = argc > 1 && !strcmp(argv[1], "spread") ? 1237 : 1;
    static char *small[NSMALL], *big[NBIG];
    char *lo = NULL, *hi = NULL;
    for (int i = 0; i < NSMALL; i++) {
        small[i] = malloc(SMALL);
        CHECK(small[i] != NULL, "malloc(%d)", SMALL);
        memset(small[i], 1, SMALL);
        if (!lo || small[i] < lo) lo = small[i];
        if (!hi || small[i] > hi) hi = small[i];
    }
    printf("freed_from %p\nfreed_to %p\n", (void *)lo, (void *)hi);
    fflush(stdout);
    for (int i = 0; i < NSMALL; i++) free(small[(long)i * stride % NSMALL]);
    for (int i = 0; i < NSMALL; i++) ((volatile char *)launder(small[i]))[8] = 'X';
    long before = minor_faults();
    int landed = 0;
    for (int i = 0; i < NBIG; i++) {
        big[i] = malloc(BIG);
        CHECK(big[i] != NULL, "malloc(%d)", BIG);
        memset(big[i], 2, BIG);
        landed += big[i] >= lo && big[i] <= hi;
    }
    printf("blocks %d\nlanded %d\nfaults %ld\npages %d\n", NBIG, landed, minor_faults() - before, NBIG * BIG / 4096);
    for (int i = 0; i < NBIG; i++) free(big[i]);
    puts("done");
    return 0;
}

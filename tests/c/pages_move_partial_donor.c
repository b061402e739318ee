/* An empty slab that gives only some of its pages to another class keeps the rest, and
 * its class reuses it later. Its slots on the pages that left read as zeros from then on,
 * not as the junk written at free: the write after free check must not report them.
 * Run with profile=hardened,junk=1,quarantine_bytes=0. Prints whether the donor's last
 * page left (it reads zeros) while its first slot stayed (it still holds junk), so that a
 * run in which no page moved, or the whole slab was purged, cannot pass unnoticed. */
#include "common.h"

/* In the 40 KiB class, canary or not: 6 slots to a 256 KiB slab, and a bin caches one.
 * Slots of 10 pages straddle the runs of pages that move (multiples of 8), so a slot comes
 * back part zeros, part junk. The 1000-byte class has slabs of another size, so it can
 * take pages from the empty slab but not the slab itself. */
#define BIG 38000
#define SLOTS 6

int main(void) {
    unsigned char *donor[SLOTS], *other;
    /* One full slab, then a slot of the next: freed in this order, the bin ends up
     * holding the last one and the full slab goes back whole, empty. */
    for (int i = 0; i < SLOTS; i++) donor[i] = malloc(BIG);
    other = malloc(BIG);
    CHECK(other != NULL, "malloc(%d)", BIG);
    for (int i = 0; i < SLOTS; i++) {
        CHECK(donor[i] != NULL, "malloc(%d)", BIG);
        memset(donor[i], 0x5a, BIG);
    }
    for (int i = 0; i < SLOTS; i++) free(donor[i]);
    free(other);
    /* A fresh slab of another class takes its first pages from the empty one's end. */
    void *small = malloc(1000);
    CHECK(small != NULL, "malloc(1000)");
    memset(small, 1, 1000);
    unsigned char *lowest = donor[0], *highest = donor[0];
    for (int i = 1; i < SLOTS; i++) {
        if (donor[i] < lowest) lowest = donor[i];
        if (donor[i] > highest) highest = donor[i];
    }
    printf("donor_last_page_zero %d\n", ((volatile unsigned char *)launder(highest))[BIG - 1] == 0);
    printf("donor_first_slot_junk %d\n", ((volatile unsigned char *)launder(lowest))[0] == 0xdf);
    /* Reuse every slot of the class, the donor's included. */
    void *again[2 * SLOTS];
    for (int i = 0; i < 2 * SLOTS; i++) {
        again[i] = malloc(BIG);
        CHECK(again[i] != NULL, "malloc(%d) again", BIG);
        memset(again[i], 0x33, BIG);
    }
    for (int i = 0; i < 2 * SLOTS; i++) free(again[i]);
    free(small);
    puts("done");
    return 0;
}

/* One slot reused over and over by blocks of different sizes, some grown or shrunk in place
 * by realloc, so the canary sits somewhere new each time: the write-after-free check (run
 * with the quarantine off, so the slot comes straight back) must accept every such
 * history, with zeros or junk as the fill. Each block must read back what was written
 * to it. */
#include "common.h"

int main(void) {
    uint64_t rng = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int mark = (round & 0x7f) | 1;
        size_t n = 900 + rng % 100;  /* with a canary still within the 1 KiB class */
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc");
        memset(p, mark, n);
        if (rng & 0x100) {
            size_t m = 600 + (rng >> 12) % 400; /* more than half the slot: stays in place */
            unsigned char *q = realloc(p, m);
            CHECK(q != NULL, "realloc");
            for (size_t i = 0; i < (m < n ? m : n); i++) CHECK(q[i] == mark, "realloc lost a byte");
            if (m > n) memset(q + n, 0x77, m - n);
            p = q;
        }
        free(p);
    }
    puts("OK");
    return 0;
}

/* One slot reused over and over by blocks of different sizes, some grown or shrunk in place
 * by realloc, so the canary sits somewhere new each time: the write-after-free check (run
 * with the quarantine off, so the slot comes straight back) must accept every such
 * history, with zeros or junk as the fill. Each block must read back what was written
 * to it. */
#include "common.h"

int main(void) {
    uint64_t rng = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        uint64_t r = rng_next(&rng);
        size_t n = 900 + r % 100;  /* with a canary still within the 1 KiB class */
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc");
        fill_pattern(p, n, (uint64_t)round);
        if (r & 0x100) {
            size_t m = 600 + (r >> 12) % 400; /* more than half the slot: stays in place */
            unsigned char *q = realloc(p, m);
            CHECK(q != NULL, "realloc");
            size_t kept = m < n ? m : n;
            CHECK(check_pattern(q, kept, (uint64_t)round) == kept, "realloc lost a byte");
            if (m > n) memset(q + n, 0x77, m - n);
            p = q;
        }
        free(p);
    }
    puts("OK");
    return 0;
}

/* glibc keeps a chunk's size in the 8 bytes before the pointer; overwriting it (here with
 * huge, tiny and odd values, through an overflow of the preceding block) and freeing the
 * block is the start of many glibc exploits. pyalloc keeps sizes out of band: afterwards
 * large and small allocations must not overlap any live block, nor crash. */
#include "common.h"

#define NB 64

static void *find_follower(void **blk, size_t n, void **prev) {
    for (int i = 0; i < NB; i++) blk[i] = malloc(n);
    for (int i = 0; i < NB; i++)
        for (int j = 0; j < NB; j++)
            if ((uintptr_t)blk[j] == (uintptr_t)blk[i] + malloc_usable_size(blk[i])) {
                *prev = blk[i];
                return blk[j];
            }
    return NULL;
}

int main(void) {
    static const size_t sizes[] = {24, 200, 3000, 40000};
    static const uint64_t forged[] = {0xfffffffffffffff1ull, 0x100001ull, 0x21ull, 0x7ffffffffffff000ull, 0};
    static const size_t later[] = {(size_t)1 << 20, (size_t)3 << 20, 300000, 200, 1000, 24, 40000, 3000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t f = 0; f < sizeof forged / sizeof forged[0]; f++) {
            void *blk[NB], *prev = NULL;
            unsigned char *q = find_follower(blk, sizes[s], &prev);
            CHECK(q != NULL, "no two adjacent blocks of %zu bytes", sizes[s]);
            size_t prev_size = malloc_usable_size(prev);
            fill_pattern(prev, prev_size, 1);
            memcpy(launder(q - 8), &forged[f], 8);  /* the last 8 bytes of prev */
            free(q);

            void *got[sizeof later / sizeof later[0] * 2];
            range_t r[sizeof got / sizeof got[0] + NB];
            size_t n = 0;
            for (int rep = 0; rep < 2; rep++)
                for (size_t k = 0; k < sizeof later / sizeof later[0]; k++) {
                    got[n] = malloc(later[k]);
                    CHECK(got[n] != NULL, "malloc(%zu) after a forged size", later[k]);
                    fill_pattern(got[n], later[k], n + 100);
                    r[n].start = (uintptr_t)got[n];
                    r[n].size = later[k];
                    n++;
                }
            size_t ngot = n;
            for (int i = 0; i < NB; i++)
                if (blk[i] != q) r[n].start = (uintptr_t)blk[i], r[n++].size = sizes[s];
            long o = first_overlap(r, n);
            CHECK(o < 0, "blocks overlap after forging size %#llx: %#lx+%zu and %#lx", (unsigned long long)forged[f],
                  (unsigned long)r[o - 1].start, r[o - 1].size, (unsigned long)r[o].start);
            for (size_t k = 0; k < ngot; k++) {
                size_t want = later[k % (sizeof later / sizeof later[0])];
                CHECK(check_pattern(got[k], want, k + 100) == want, "new block changed");
            }
            CHECK(check_pattern(prev, prev_size - 8, 1) == prev_size - 8, "the preceding block changed");
            for (size_t k = 0; k < ngot; k++) free(got[k]);
            for (int i = 0; i < NB; i++)
                if (blk[i] != q) free(blk[i]);
        }
    }
    printf("OK\n");
    return 0;
}

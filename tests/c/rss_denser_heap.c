/* A program whose heap, after its peak, holds as many bytes in fewer pages. First 16 MiB
 * of small blocks with every other one freed (their slabs stay half full) and 8 MiB of
 * another small size; then, those gone, big blocks churning at nearly as many bytes as
 * were in use at the peak. The churn empties big slabs over and over while the heap stays
 * well under the pages it committed at its peak, so emptied slabs should be kept for the
 * next big blocks rather than purged and faulted in again. Prints the pages the churn's
 * blocks span, its page faults, and RSS at the peak and during the churn. Every block
 * carries a tag checked before it is freed. */
#include "common.h"

#define SMALL 64
#define SMALL_BYTES ((size_t)16 << 20)
#define NSMALL (SMALL_BYTES / SMALL)
#define OTHER 96
#define NOTHER (((size_t)8 << 20) / OTHER)
#define BIG_LIVE ((size_t)15 << 20)
#define NBIG_MAX (BIG_LIVE / (8 << 10))
#define CHURN 200000

/* 8 KiB to 64 KiB in 4 KiB steps (NBIG_MAX is for the smallest): slabs of many classes
 * empty and fill. */
static size_t big_size(uint64_t *rng) { return ((size_t)2 + rng_next(rng) % 15) << 12; }

/* Only the ends are written and checked: a churn that writes whole blocks is slow enough
 * that their free slots would go back to the OS between uses anyway. */
static void tag_ends(unsigned char *p, size_t n, uint64_t tag) {
    memcpy(p, &tag, sizeof tag);
    memcpy(p + n - sizeof tag, &tag, sizeof tag);
}

static int ends_tagged(const unsigned char *p, size_t n, uint64_t tag) {
    return !memcmp(p, &tag, sizeof tag) && !memcmp(p + n - sizeof tag, &tag, sizeof tag);
}

int main(void) {
    static void *small[NSMALL];
    static uint64_t small_tag[NSMALL];
    static void *other[NOTHER];
    static void *big[NBIG_MAX];
    static size_t big_len[NBIG_MAX];
    static uint64_t big_tag[NBIG_MAX];
    uint64_t rng = 7;

    for (size_t i = 0; i < NSMALL; i++) {
        small[i] = malloc(SMALL);
        CHECK(small[i] != NULL, "malloc(%d)", SMALL);
        small_tag[i] = rng_next(&rng);
        fill_pattern(small[i], SMALL, small_tag[i]);
    }
    for (size_t i = 0; i < NSMALL; i += 2) {
        CHECK(check_pattern(small[i], SMALL, small_tag[i]) == SMALL, "small block %p changed", small[i]);
        free(small[i]);
    }
    for (size_t i = 0; i < NOTHER; i++) {
        other[i] = malloc(OTHER);
        CHECK(other[i] != NULL, "malloc(%d)", OTHER);
        memset(other[i], 0x5a, OTHER);
    }
    long rss_peak = rss_kib();
    for (size_t i = 0; i < NOTHER; i++) free(other[i]);
    for (size_t i = 1; i < NSMALL; i += 2) {
        CHECK(check_pattern(small[i], SMALL, small_tag[i]) == SMALL, "small block %p changed", small[i]);
        free(small[i]);
    }

    size_t nbig = 0, live = 0;
    while (live < BIG_LIVE) {
        big_len[nbig] = big_size(&rng);
        big[nbig] = malloc(big_len[nbig]);
        CHECK(big[nbig] != NULL, "malloc(%zu)", big_len[nbig]);
        big_tag[nbig] = rng_next(&rng);
        tag_ends(big[nbig], big_len[nbig], big_tag[nbig]);
        live += big_len[nbig++];
    }
    long before = minor_faults(), rss_churn = 0;
    for (int op = 0; op < CHURN; op++) {
        size_t i = rng_next(&rng) % nbig;
        CHECK(ends_tagged(big[i], big_len[i], big_tag[i]), "%zu-byte block %p changed", big_len[i], big[i]);
        free(big[i]);
        big_len[i] = big_size(&rng);
        big[i] = malloc(big_len[i]);
        CHECK(big[i] != NULL, "malloc(%zu)", big_len[i]);
        big_tag[i] = rng_next(&rng);
        tag_ends(big[i], big_len[i], big_tag[i]);
        if (op % 10000 == 0 && rss_kib() > rss_churn) rss_churn = rss_kib();
    }
    long faults = minor_faults() - before;
    for (size_t i = 0; i < nbig; i++) free(big[i]);
    printf("big_pages %zu\nchurn_faults %ld\nrss_peak_kib %ld\nrss_churn_kib %ld\n", live / 4096, faults, rss_peak,
           rss_churn);
    return 0;
}

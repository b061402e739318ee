/* A freed large block handed out again from the large cache: every byte must be readable
 * and writable (the cache may have made the range inaccessible and split or merged it),
 * and the program reports whether it got the same address back and whether the bytes the
 * previous owner wrote are gone. Half the pages were never touched, so a cache that drops
 * untouched pages rather than writing them is exercised too. */
#include "common.h"

#define MIB ((size_t)1 << 20)
#define CHUNK ((size_t)64 * 1024)

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int main(void) {
    unsigned char *a = malloc(3 * MIB);
    CHECK(a != NULL, "malloc(3 MiB)");
    for (size_t off = 0; off < 3 * MIB; off += 2 * CHUNK) memset(a + off, 0xab, CHUNK);
    free(a);

    unsigned char *b = malloc(3 * MIB);
    CHECK(b != NULL, "malloc(3 MiB) again");
    int reused = b == a, zeroed = all_zero(b, 3 * MIB);
    fill_pattern(b, 3 * MIB, 1);
    CHECK(check_pattern(b, 3 * MIB, 1) == 3 * MIB, "3 MiB block does not hold what was written");
    free(b);

    /* A big cached range serves a smaller request and keeps the rest for the next one. */
    unsigned char *big = malloc(8 * MIB);
    CHECK(big != NULL, "malloc(8 MiB)");
    fill_pattern(big, 8 * MIB, 2);
    free(big);
    unsigned char *part = malloc(1 * MIB), *rest = calloc(1, 6 * MIB);
    CHECK(part && rest, "malloc(1 MiB) and calloc(6 MiB) after freeing 8 MiB");
    CHECK(all_zero(rest, 6 * MIB), "calloc(6 MiB) returned bytes that are not zero");
    fill_pattern(part, 1 * MIB, 3);
    fill_pattern(rest, 6 * MIB, 4);
    CHECK(check_pattern(part, 1 * MIB, 3) == 1 * MIB && check_pattern(rest, 6 * MIB, 4) == 6 * MIB,
          "blocks cut from one cached range overlap");
    free(part);
    free(rest);
    printf("OK reused=%d zeroed=%d\n", reused, zeroed);
    return 0;
}

/* mallinfo, mallinfo2, malloc_stats, malloc_info, malloc_trim and mallopt are callable and
 * give sane answers; malloc_info writes XML starting with <malloc. */
#include "common.h"

int main(void) {
    void *blocks[1000];
    for (int i = 0; i < 1000; i++) blocks[i] = malloc((size_t)i * 10 + 1);
    void *big = malloc((size_t)8 << 20);
    memset(big, 1, (size_t)8 << 20);

    struct mallinfo2 mi2 = mallinfo2();
    CHECK(mi2.uordblks + mi2.hblkhd >= ((size_t)8 << 20), "mallinfo2 counts %zu + %zu bytes in use, below 8 MiB live",
          mi2.uordblks, mi2.hblkhd);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo mi = mallinfo();
#pragma GCC diagnostic pop
    (void)mi;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL, "open_memstream");
    CHECK(malloc_info(0, f) == 0, "malloc_info returned nonzero");
    fclose(f);
    CHECK(len > 0 && strncmp(buf, "<malloc", 7) == 0, "malloc_info output does not start with <malloc: %.60s", buf ? buf : "");
    CHECK(strstr(buf, "</malloc>") != NULL, "malloc_info output is not closed by </malloc>");
    free(buf);

    malloc_stats();   /* prints to stderr */

    int m = mallopt(M_ARENA_MAX, 2);
    CHECK(m == 0 || m == 1, "mallopt returned %d", m);
    m = mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    CHECK(m == 0 || m == 1, "mallopt returned %d", m);

    for (int i = 0; i < 1000; i++) free(blocks[i]);
    free(big);
    int t = malloc_trim(0);
    CHECK(t == 0 || t == 1, "malloc_trim returned %d", t);
    t = malloc_trim(1 << 20);
    CHECK(t == 0 || t == 1, "malloc_trim returned %d", t);

    /* the heap still works after trimming */
    for (int i = 0; i < 1000; i++) {
        blocks[i] = malloc((size_t)i * 10 + 1);
        CHECK(blocks[i] != NULL, "malloc after trim");
        memset(blocks[i], 3, (size_t)i * 10 + 1);
    }
    for (int i = 0; i < 1000; i++) free(blocks[i]);
    printf("OK\n");
    return 0;
}

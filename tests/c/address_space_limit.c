/* Under an address-space limit (RLIMIT_AS) the heap must leave room for the program's own
 * mappings (thread stacks) and fail cleanly at the limit: malloc returns NULL with ENOMEM,
 * blocks allocated before stay intact, and memory freed can be allocated again.
 * argv[1]: "runtime" lowers the limit after allocating; "startup" re-executes itself
 * with the limit already in place, as `ulimit -v` does. */
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

#define LIMIT ((size_t)512 << 20)
#define KEEP 1000

static void limit_address_space(size_t bytes) {
    struct rlimit lim;
    CHECK(getrlimit(RLIMIT_AS, &lim) == 0, "getrlimit");
    lim.rlim_cur = bytes;
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit(RLIMIT_AS, %zu): %s", bytes, strerror(errno));
}

static void *spin(void *arg) { return arg; }

/* Allocates blocks of one size until the heap says no, then frees them all. */
static size_t exhaust(size_t size) {
    size_t cap = 1 << 16, n = 0;
    void **blocks = malloc(cap * sizeof(void *));
    CHECK(blocks != NULL, "malloc of the block list");
    for (;;) {
        if (n == cap) {
            void **grown = realloc(blocks, 2 * cap * sizeof(void *));
            if (!grown) break;
            blocks = grown;
            cap *= 2;
        }
        errno = 0;
        void *p = malloc(size);
        if (!p) {
            CHECK(errno == ENOMEM, "malloc(%zu) failed with errno %d, expected ENOMEM", size, errno);
            break;
        }
        *(volatile char *)p = 1;
        blocks[n++] = p;
        CHECK(n * size <= LIMIT, "malloc(%zu) never fails: %zu blocks", size, n);
    }
    for (size_t i = 0; i < n; i++) free(blocks[i]);
    free(blocks);
    return n;
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: address_space_limit runtime|startup|limited");
    if (!strcmp(argv[1], "startup")) {
        limit_address_space(LIMIT);
        execl("/proc/self/exe", argv[0], "limited", (char *)NULL);
        CHECK(0, "exec: %s", strerror(errno));
    }
    char *keep[KEEP];
    for (int i = 0; i < KEEP; i++) {
        size_t n = 1 + (size_t)i * 97 % 20000;
        keep[i] = malloc(n);
        CHECK(keep[i] != NULL, "malloc(%zu) before the limit", n);
        memset(keep[i], i & 0xff, n);
    }
    if (!strcmp(argv[1], "runtime")) limit_address_space(LIMIT);

    pthread_t t;
    int rc = pthread_create(&t, NULL, spin, NULL);
    CHECK(rc == 0, "pthread_create under the limit: %s", strerror(rc));
    pthread_join(t, NULL);

    size_t sizes[] = {48, 4000, 100000, 3 << 20};
    for (int i = 0; i < 4; i++) {
        size_t first = exhaust(sizes[i]);
        CHECK(first > 0, "no malloc(%zu) succeeded under the limit", sizes[i]);
        /* Freed memory is usable again: at least half as many fit the second time. */
        size_t again = exhaust(sizes[i]);
        CHECK(again >= first / 2, "malloc(%zu): %zu blocks fit, then only %zu after freeing", sizes[i], first, again);
    }
    for (int i = 0; i < KEEP; i++) {
        size_t n = 1 + (size_t)i * 97 % 20000;
        for (size_t j = 0; j < n; j++)
            CHECK((unsigned char)keep[i][j] == (i & 0xff), "block %d lost its contents", i);
        free(keep[i]);
    }
    printf("OK\n");
    return 0;
}

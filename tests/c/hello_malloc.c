/* Minimal allocating program: the options tests only need the library to start. */
#include "common.h"

int main(void) {
    for (int i = 0; i < 100; i++) {
        char *p = malloc((size_t)i * 100 + 1);
        CHECK(p != NULL, "malloc");
        memset(p, 1, (size_t)i * 100 + 1);
        free(p);
    }
    printf("OK\n");
    return 0;
}

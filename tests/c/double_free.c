/* Double free of a block that has left the thread cache: p is freed first, then enough
 * other blocks of its class are freed to overflow the cache and push p to the central pool;
 * nothing is allocated in between, so p cannot have been handed out again. */
#include "common.h"

#define N 4000

int main(void) {
    static void *others[N];
    for (int i = 0; i < N; i++) CHECK((others[i] = malloc(40)) != NULL, "malloc");
    char *p = malloc(40);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 40);
    free(p);
    for (int i = 0; i < N; i++) free(others[i]);
    show_pointer(p);
    free(p);
    printf("survived\n");
    return 0;
}

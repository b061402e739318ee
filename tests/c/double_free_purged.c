/* Double free of a block whose slab went back to the OS in between: every block of its
 * class is freed and malloc_trim purges the emptied slabs, which changes the slots'
 * recorded state (the write-after-free check relies on it); the second free must still be
 * named a double free. glibc aborts here too. */
#include "common.h"

#include <malloc.h>

#define N 64

int main(void) {
    static void *others[N];
    for (int i = 0; i < N; i++) CHECK((others[i] = malloc(20000)) != NULL, "malloc");
    char *p = malloc(20000);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 20000);
    free(p);
    for (int i = 0; i < N; i++) free(others[i]);
    malloc_trim(0);
    show_pointer(p);
    free(p);
    printf("survived\n");
    return 0;
}

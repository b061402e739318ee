/* A block allocated by main and freed by one thread is freed again by a second thread
 * that has never touched it (and whose cache is empty). argv[1] == "main": the second free
 * comes from main, the allocating thread, instead. */
#include <pthread.h>

#include "common.h"

static void *freer(void *p) {
    free(p);
    return NULL;
}

static void free_in_thread(void *p) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, freer, p) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

int main(int argc, char **argv) {
    char *p = malloc(40);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 40);
    free_in_thread(p);
    show_pointer(p);
    if (argc > 1 && !strcmp(argv[1], "main")) free(p);
    else free_in_thread(p);
    printf("survived\n");
    return 0;
}

/* free(p) in the main thread, free(p) again in a second thread */
/* The second free happens in a thread with its own cache, so a check that only looks at
 * the freeing thread's state would miss it. */
#include <pthread.h>
#include "probe.h"

static void *free_again(void *p) {
    free(p);
    return NULL;
}

int main(void) {
    pthread_t t;
    void *p = malloc(48);
    probe_target(p);
    free(p);
    if (pthread_create(&t, NULL, free_again, p) != 0) return 1;
    pthread_join(t, NULL);
    probe_survived();
    return 0;
}

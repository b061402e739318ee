/* Many short-lived threads, each allocating and freeing blocks of assorted sizes and
 * leaving one block behind for a later thread to free. A few run at a time. Prints the
 * resident set after `checkpoint` threads and after all of them: if dead threads' caches
 * leaked, RSS would grow with the thread count. argv: total checkpoint concurrent. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

#define HANDOFF 64

static _Atomic(unsigned char *) handoff[HANDOFF];

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *p[48];
    for (int i = 0; i < 48; i++) {
        size_t n = (i % 8 == 7) ? 20000 + rng_next(&rng) % 300000 : 1 + rng_next(&rng) % 2000;
        p[i] = malloc(n);
        CHECK(p[i] != NULL, "malloc");
        memset(p[i], (int)(n & 0xff), n < 64 ? n : 64);
    }
    for (int i = 1; i < 48; i++) free(p[i]);
    unsigned char *mine = p[0];
    mine[0] = 0xA5;
    unsigned char *old = atomic_exchange(&handoff[rng_next(&rng) % HANDOFF], mine);
    if (old) {
        CHECK(old[0] == 0xA5, "handed-off block corrupted");
        free(old);
    }
    return NULL;
}

int main(int argc, char **argv) {
    CHECK(argc == 4, "usage: thread_churn total checkpoint concurrent");
    long total = atol(argv[1]), checkpoint = atol(argv[2]);
    int conc = atoi(argv[3]);
    pthread_t t[16];
    CHECK(conc > 0 && conc <= 16, "concurrent");
    for (long done = 0; done < total; done += conc) {
        for (int i = 0; i < conc; i++)
            CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(done + i + 1)) == 0, "pthread_create");
        for (int i = 0; i < conc; i++) pthread_join(t[i], NULL);
        if (done + conc == checkpoint) printf("rss_checkpoint_kib %ld\n", rss_kib());
    }
    printf("rss_end_kib %ld\n", rss_kib());
    for (int i = 0; i < HANDOFF; i++) free(atomic_load(&handoff[i]));
    printf("OK\n");
    return 0;
}

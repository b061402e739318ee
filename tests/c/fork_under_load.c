/* Threads allocate and free continuously while the main thread forks repeatedly. Each
 * child allocates and frees (small and large, and in a new thread) and exits 0; a child
 * that deadlocks in the allocator is killed by its alarm and reported. argv: forks. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define WORKERS 4

static atomic_int stop;

static void *busy(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *keep[64] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        int k = (int)(rng_next(&rng) % 64);
        free(keep[k]);
        size_t n = rng_next(&rng) % 100 == 0 ? 300000 : 1 + rng_next(&rng) % 4000;
        keep[k] = malloc(n);
        CHECK(keep[k] != NULL, "malloc");
        memset(keep[k], 1, n < 128 ? n : 128);
    }
    for (int k = 0; k < 64; k++) free(keep[k]);
    return NULL;
}

static void *child_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) free(malloc(1 + (size_t)i * 37));
    return NULL;
}

static void child(void) {
    alarm(10);
    void *p[500];
    for (int i = 0; i < 500; i++) {
        size_t n = i % 50 == 0 ? 500000 : 1 + (size_t)i * 13;
        p[i] = malloc(n);
        if (!p[i]) _exit(3);
        memset(p[i], 2, n);
    }
    for (int i = 0; i < 500; i++) free(p[i]);
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(4);
    pthread_join(t, NULL);
    _exit(0);
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: fork_under_load forks");
    int forks = atoi(argv[1]);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) CHECK(pthread_create(&t[i], NULL, busy, (void *)(uintptr_t)(i + 1)) == 0, "create");
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) child();
        int status;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: %s %d%s", i,
              WIFEXITED(status) ? "exit status" : "killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
              WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (deadlocked in the child)" : "");
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    printf("OK\n");
    return 0;
}

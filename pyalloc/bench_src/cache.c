/* cache-thrash / cache-scratch (Hoard's false-sharing tests). Threads repeatedly allocate a
 * small object, write to it many times and free it. Nothing is shared by the program, so
 * any slowdown with more threads comes from the allocator placing different threads'
 * objects on one cache line.
 *   thrash:  each thread allocates its own objects from the start (active false sharing:
 *            the allocator itself hands neighbouring slots to different threads);
 *   scratch: the main thread first allocates one object per thread and hands them out;
 *            each thread frees its object and then works on its own allocations (passive
 *            false sharing: an allocator that reuses the freed slot in the freeing thread
 *            gives each thread a piece of the main thread's cache line).
 * Usage: cache [-t T] [-n OBJECTS] thrash|scratch */
#include "bench.h"

enum { OBJECT_SIZE = 8, WRITES = 400 };

typedef struct {
    _Alignas(64) long objects;
    char *inherited;
    uint64_t checksum;
} job;

static void *worker(void *arg) {
    job *j = arg;
    if (j->inherited) {
        if (j->inherited[0] != 0x5a) bench_corrupt("cache: handed-over object changed");
        free(j->inherited);
    }
    uint64_t sum = 0;
    for (long i = 0; i < j->objects; i++) {
        volatile char *o = xmalloc(OBJECT_SIZE);
        for (int b = 0; b < OBJECT_SIZE; b++) o[b] = (char)(i + b);
        for (int w = 0; w < WRITES; w++)
            for (int b = 0; b < OBJECT_SIZE; b++) o[b]++;
        for (int b = 0; b < OBJECT_SIZE; b++) {
            char want = (char)(i + b + WRITES);
            if (o[b] != want) bench_corrupt("cache: object written by one thread changed under it");
            sum += (unsigned char)o[b];
        }
        free((void *)o);
    }
    j->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 100000);
    const char *mode = optind < argc ? argv[optind] : "";
    int scratch = !strcmp(mode, "scratch");
    if (!scratch && strcmp(mode, "thrash")) bench_fail(PA_EXIT_USAGE, "usage: %s [-t T] [-n N] thrash|scratch", argv[0]);
    job jobs[256];
    for (int i = 0; i < a.threads; i++) {
        jobs[i].objects = a.work / a.threads;
        jobs[i].inherited = NULL;
        if (scratch) {
            jobs[i].inherited = xmalloc(OBJECT_SIZE);
            memset(jobs[i].inherited, 0x5a, OBJECT_SIZE);
        }
    }
    bench_run_threads(a.threads, worker, jobs, sizeof(job));
    uint64_t sum = 0;
    for (int i = 0; i < a.threads; i++) sum += jobs[i].checksum;
    bench_ok(scratch ? "cache-scratch" : "cache-thrash", sum);
    return 0;
}

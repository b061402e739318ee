/* xmalloc-like: producer/consumer. Threads form a ring; each allocates batches of blocks,
 * passes them to the next thread through a single-producer single-consumer queue, and
 * verifies and frees the batches it receives from the previous one. Every block is freed
 * by a thread other than its allocator (with one thread, the ring is a plain FIFO), so a
 * per-thread cache that never gives remote frees back grows without bound, and one that
 * locks per free serialises the ring. */
#include "bench.h"

#include <sched.h>
#include <stdatomic.h>

enum { BATCH = 64, QUEUE = 64, MIN_SIZE = 8, MAX_SIZE = 1024 };

typedef struct batch {
    void *block[BATCH];
    uint32_t size[BATCH];
    uint64_t tag[BATCH];
} batch;

/* Lock-free SPSC ring: head is written only by the consumer, tail only by the producer. */
typedef struct queue {
    _Alignas(64) _Atomic size_t head;
    _Alignas(64) _Atomic size_t tail;
    batch *slot[QUEUE];
} queue;

typedef struct worker {
    _Alignas(64) long batches;       /* to produce, and to consume */
    uint64_t rng;
    uint64_t produced_sum, consumed_sum;
    queue *in, *out;
} worker;

static int queue_push(queue *q, batch *b) {
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tail - atomic_load_explicit(&q->head, memory_order_acquire) == QUEUE) return 0;
    q->slot[tail % QUEUE] = b;
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    return 1;
}

static batch *queue_pop(queue *q) {
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (head == atomic_load_explicit(&q->tail, memory_order_acquire)) return NULL;
    batch *b = q->slot[head % QUEUE];
    atomic_store_explicit(&q->head, head + 1, memory_order_release);
    return b;
}

static void *run(void *arg) {
    worker *w = arg;
    long produced = 0, consumed = 0;
    batch *pending = NULL;
    while (produced < w->batches || consumed < w->batches) {
        int progress = 0;
        if (!pending && produced < w->batches) {
            pending = xmalloc(sizeof *pending);
            for (int i = 0; i < BATCH; i++) {
                size_t n = rng_logsize(&w->rng, MIN_SIZE, MAX_SIZE);
                pending->size[i] = (uint32_t)n;
                pending->tag[i] = rng_next(&w->rng);
                pending->block[i] = xmalloc(n);
                tag_fill(pending->block[i], n, pending->tag[i]);
                w->produced_sum += pending->tag[i];
            }
        }
        if (pending && queue_push(w->out, pending)) {
            pending = NULL;
            produced++;
            progress = 1;
        }
        batch *b = queue_pop(w->in);
        if (b) {
            for (int i = 0; i < BATCH; i++) {
                if (!tag_ok(b->block[i], b->size[i], b->tag[i]))
                    bench_corrupt("xmalloc: block received from another thread was changed");
                w->consumed_sum += b->tag[i];
                free(b->block[i]);
            }
            free(b);
            consumed++;
            progress = 1;
        }
        if (!progress) sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 100000);
    static worker workers[256];
    static queue queues[256];
    for (int i = 0; i < a.threads; i++) {
        workers[i].batches = a.work / a.threads;
        workers[i].rng = a.seed * 104729u + (uint64_t)i;
        workers[i].in = &queues[i];
        workers[i].out = &queues[(i + 1) % a.threads];
    }
    bench_run_threads(a.threads, run, workers, sizeof(worker));
    /* Everything produced was consumed: the sums over the ring must agree. */
    uint64_t produced = 0, consumed = 0;
    for (int i = 0; i < a.threads; i++) {
        produced += workers[i].produced_sum;
        consumed += workers[i].consumed_sum;
    }
    if (produced != consumed) bench_corrupt("xmalloc: blocks were lost or duplicated in transit");
    bench_ok("xmalloc", produced);
    return 0;
}

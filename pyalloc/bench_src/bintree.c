/* binary-trees (the Benchmarks Game program, also Boehm's GC benchmark): build complete
 * binary trees of small nodes, walk them, free them. Tests the allocation and free rate of
 * one small size class and how well the allocator keeps a thread's nodes together; with
 * more threads, each builds its own trees (threadtest-like), so an allocator that
 * serialises threads or lets their nodes share cache lines falls behind. */
#include "bench.h"

typedef struct node {
    struct node *left, *right;
    uint64_t value;
} node;

static node *build(int depth, uint64_t value) {
    node *n = xmalloc(sizeof *n);
    n->value = value;
    if (depth > 0) {
        n->left = build(depth - 1, 2 * value);
        n->right = build(depth - 1, 2 * value + 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

/* Counts the nodes and checks that each still holds the value it was built with. */
static long check(const node *n, uint64_t value) {
    if (n->value != value) bench_corrupt("tree node holds %llu, expected %llu", (unsigned long long)n->value,
                                         (unsigned long long)value);
    if (!n->left) return 1;
    return 1 + check(n->left, 2 * value) + check(n->right, 2 * value + 1);
}

static void destroy(node *n) {
    if (n->left) {
        destroy(n->left);
        destroy(n->right);
    }
    free(n);
}

enum { MAX_DEPTH = 16, MIN_DEPTH = 4 };

/* Thread i builds trees i, i + threads, ...: the set of trees, and so the checksum, does
 * not depend on the thread count. */
typedef struct {
    _Alignas(64) long first, stride, total;
    uint64_t checksum;
} job;

static void *worker(void *arg) {
    job *j = arg;
    /* A long-lived tree stays allocated throughout, as in the original: short-lived
     * trees must not be carved out of its pages' free space. */
    node *keep = build(MAX_DEPTH - 2, 1);
    uint64_t sum = 0;
    for (long t = j->first; t < j->total; t += j->stride) {
        int depth = MIN_DEPTH + (int)(t % (MAX_DEPTH - MIN_DEPTH + 1));
        uint64_t root = 1 + (uint64_t)t;
        node *tree = build(depth, root);
        long n = check(tree, root);
        if (n != (2L << depth) - 1) bench_corrupt("tree of depth %d has %ld nodes", depth, n);
        sum += (uint64_t)n;
        destroy(tree);
    }
    if (check(keep, 1) != (2L << (MAX_DEPTH - 2)) - 1) bench_corrupt("long-lived tree damaged");
    destroy(keep);
    j->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 400);
    job jobs[256];
    for (int i = 0; i < a.threads; i++) jobs[i] = (job){.first = i, .stride = a.threads, .total = a.work};
    bench_run_threads(a.threads, worker, jobs, sizeof(job));
    uint64_t sum = 0;
    for (int i = 0; i < a.threads; i++) sum += jobs[i].checksum;
    bench_ok("bintree", sum);
    return 0;
}

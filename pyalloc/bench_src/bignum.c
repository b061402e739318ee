/* cfrac-like: arbitrary-precision arithmetic where every intermediate result is a freshly
 * allocated number that dies a few operations later, so the heap sees a dense stream of
 * small (16..300 byte), short-lived blocks of varying size. Each product chain is checked
 * against the same chain computed modulo two primes in machine words. */
#include "bench.h"

typedef struct num {
    uint32_t len;
    uint32_t limb[];                 /* little-endian base 2^32 */
} num;

static num *num_new(uint32_t len) {
    num *n = xmalloc(sizeof(num) + (len ? len : 1) * sizeof(uint32_t));
    n->len = len;
    return n;
}

static num *num_trim(num *n) {
    while (n->len && !n->limb[n->len - 1]) n->len--;
    return n;
}

static num *num_random(uint64_t *rng, uint32_t len) {
    num *n = num_new(len);
    for (uint32_t i = 0; i < len; i++) n->limb[i] = (uint32_t)rng_next(rng);
    n->limb[len - 1] |= 1;
    return n;
}

static num *num_add(const num *a, const num *b) {
    if (a->len < b->len) {
        const num *t = a;
        a = b;
        b = t;
    }
    num *r = num_new(a->len + 1);
    uint64_t carry = 0;
    for (uint32_t i = 0; i < a->len; i++) {
        carry += (uint64_t)a->limb[i] + (i < b->len ? b->limb[i] : 0);
        r->limb[i] = (uint32_t)carry;
        carry >>= 32;
    }
    r->limb[a->len] = (uint32_t)carry;
    return num_trim(r);
}

static num *num_mul(const num *a, const num *b) {
    num *r = num_new(a->len + b->len);
    memset(r->limb, 0, r->len * sizeof(uint32_t));
    for (uint32_t i = 0; i < a->len; i++) {
        uint64_t carry = 0;
        for (uint32_t j = 0; j < b->len; j++) {
            carry += (uint64_t)a->limb[i] * b->limb[j] + r->limb[i + j];
            r->limb[i + j] = (uint32_t)carry;
            carry >>= 32;
        }
        r->limb[i + b->len] = (uint32_t)carry;
    }
    return num_trim(r);
}

static uint64_t num_mod(const num *a, uint64_t m) {
    uint64_t r = 0;
    for (uint32_t i = a->len; i-- > 0;) r = ((r << 32) | a->limb[i]) % m;
    return r;
}

static const uint64_t P1 = 4294967291u, P2 = 4294967279u; /* primes below 2^32 */

typedef struct {
    _Alignas(64) long chains;
    uint64_t seed, checksum;
} job;

/* One chain: acc = ((x1 * x2 + y1) * x3 + y2) ... of random 1..4-limb factors, with every
 * partial result and factor allocated and freed as it goes. */
static void *worker(void *arg) {
    job *j = arg;
    uint64_t rng = j->seed, sum = 0;
    for (long c = 0; c < j->chains; c++) {
        int steps = 4 + (int)(rng_next(&rng) % 12);
        num *acc = num_random(&rng, 1 + (uint32_t)(rng_next(&rng) % 4));
        uint64_t r1 = num_mod(acc, P1), r2 = num_mod(acc, P2);
        for (int s = 0; s < steps; s++) {
            num *x = num_random(&rng, 1 + (uint32_t)(rng_next(&rng) % 4));
            num *y = num_random(&rng, 1 + (uint32_t)(rng_next(&rng) % 4));
            num *prod = num_mul(acc, x);
            num *next = num_add(prod, y);
            r1 = (r1 * num_mod(x, P1) % P1 + num_mod(y, P1)) % P1;
            r2 = (r2 * num_mod(x, P2) % P2 + num_mod(y, P2)) % P2;
            free(prod);
            free(x);
            free(y);
            free(acc);
            acc = next;
        }
        if (num_mod(acc, P1) != r1 || num_mod(acc, P2) != r2)
            bench_corrupt("bignum chain %ld: residues differ from the word-size computation", c);
        sum = mix64(sum ^ r1 ^ (r2 << 32));
        free(acc);
    }
    j->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 200000);
    job jobs[256];
    for (int i = 0; i < a.threads; i++) {
        jobs[i].chains = a.work / a.threads + (i < a.work % a.threads);
        jobs[i].seed = a.seed * 1000003u + (uint64_t)i;
    }
    bench_run_threads(a.threads, worker, jobs, sizeof(job));
    uint64_t sum = 0;
    for (int i = 0; i < a.threads; i++) sum ^= jobs[i].checksum;
    bench_ok("bignum", sum);
    return 0;
}

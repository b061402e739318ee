/* pyalloc fuzz driver: runs a script of allocator operations against the malloc family
 * of its own process, which is libpyalloc.so when started with it in LD_PRELOAD. The
 * fuzzer (pyalloc/fuzz/model.py) writes the script to stdin one batch at a time and
 * checks the results against its model; a reproducer compiles this same file with the
 * failing script built in (PAF_SCRIPT), so what reproduces a failure is exactly what
 * found it.
 *
 * Usage: driver NTHREADS [STATS_BYTES] < script
 *
 * Script lines (numbers are decimal):
 *   T m ID N           b[ID] = malloc(N)
 *   T c ID K N         b[ID] = calloc(K, N), checked to be zero
 *   T rn ID N          b[ID] = realloc(NULL, N)
 *   T r ID N           b[ID] = realloc(b[ID], N)
 *   T ra ID K N        b[ID] = reallocarray(b[ID], K, N)
 *   T al ID A N        b[ID] = memalign(A, N)
 *   T aa ID A N        b[ID] = aligned_alloc(A, N)
 *   T pm ID A N        posix_memalign(&b[ID], A, N)
 *   T f ID             free(b[ID])
 *   T fs ID            free_sized(b[ID], requested size)
 *   T u ID             malloc_usable_size(b[ID]), which must not have changed
 *   T t PAD            malloc_trim(PAD)
 *   T df ID            free(b[ID]) again after it was freed (misuse)
 *   T fi ID OFF        free(b[ID] + OFF) (misuse)
 *   T ov ID K          flip the K bytes after b[ID]'s requested size (misuse)
 *   s                  run the batch, check every live block, report
 *   # ...              comment
 * T is the thread that runs the operation. An operation may end with xE (expect failure
 * with errno E; for posix_memalign, the returned code) or xabort (the allocator must
 * abort the process). Between two `s` lines the threads run concurrently, so the script
 * gives each block to at most one thread per batch; blocks move between threads across
 * batches.
 *
 * After each `s` the driver prints, for each operation of the batch,
 *   r PTR USABLE ERRNO RET  # the script line
 * then one `! message` line per violated check (a wrong result, a block whose bytes
 * changed, overlapping blocks), then `S HEX` (the raw struct pyalloc_stats, when
 * STATS_BYTES is given) and a line `.`.
 *
 * The driver itself never calls malloc: I/O goes through read(2) and write(2) and all of
 * its state is static, so the heap it sees holds exactly the script's blocks. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* C23, and in glibc only from 2.39: declared here, resolved to libpyalloc.so's at run time. */
extern void free_sized(void *p, size_t size) __attribute__((weak));

#define MAX_BLOCKS 65536
#define MAX_BATCH 4096
#define MAX_THREADS 64
#define MAX_VIOLATIONS 64
#define LINE_MAX_LEN 256

enum { B_NONE, B_LIVE, B_FREED };

typedef struct {
    char *p;
    size_t req;       /* requested size */
    size_t usable;    /* malloc_usable_size when allocated */
    size_t filled;    /* bytes holding the pattern */
    uint64_t seed;
    int state;
} block_t;

typedef struct {
    int thread;
    char code[4];
    uint64_t a[3];
    int expect;       /* 0 success, errno expected on failure, -1 abort expected */
    int lineno;
    char text[LINE_MAX_LEN];
    /* results */
    uintptr_t ptr;
    size_t usable;
    int err;
    long ret;
} op_t;

static block_t blocks[MAX_BLOCKS];
static op_t batch[MAX_BATCH];
static int nbatch;
static int nthreads;
static size_t stats_bytes;
static void (*stats_get)(void *);
static unsigned char stats_buf[1 << 16];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;
static unsigned generation;
static int done_count;

static char violations[MAX_VIOLATIONS][LINE_MAX_LEN + 128];
static int nviolations, total_violations;
static pthread_mutex_t vmu = PTHREAD_MUTEX_INITIALIZER;

/* ---- output without stdio (stdio allocates its buffers with malloc) ---- */
static char out[1 << 16];
static size_t outn;

static void flush_out(void) {
    size_t off = 0;
    while (off < outn) {
        ssize_t w = write(1, out + off, outn - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(3);
        off += (size_t)w;
    }
    outn = 0;
}

static void put(const char *s) {
    size_t n = strlen(s);
    if (outn + n > sizeof out) flush_out();
    memcpy(out + outn, s, n);
    outn += n;
}

static char *fmt_u(char *b, uint64_t v) {
    char t[24];
    int n = 0;
    do t[n++] = (char)('0' + v % 10); while (v /= 10);
    while (n) *b++ = t[--n];
    *b = 0;
    return b;
}

static char *fmt_x(char *b, uint64_t v) {
    char t[24];
    int n = 0;
    *b++ = '0';
    *b++ = 'x';
    do t[n++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
    while (n) *b++ = t[--n];
    *b = 0;
    return b;
}

static void put_u(uint64_t v) {
    char b[24];
    fmt_u(b, v);
    put(b);
}

static void put_x(uint64_t v) {
    char b[24];
    fmt_x(b, v);
    put(b);
}

static void die(const char *msg) {
    put("driver: ");
    put(msg);
    put("\n");
    flush_out();
    _exit(2);
}

/* A violation names the script line, so a reproducer's output points at the step. */
static void violation(const op_t *op, const char *a, uint64_t n1, const char *b, uint64_t n2, const char *c) {
    char *e;
    pthread_mutex_lock(&vmu);
    total_violations++;
    if (nviolations == MAX_VIOLATIONS) {
        pthread_mutex_unlock(&vmu);
        return;
    }
    e = violations[nviolations++];
    if (op) {
        e = stpcpy(e, "line ");
        e = fmt_u(e, (uint64_t)op->lineno);
        e = stpcpy(e, " (");
        e = stpcpy(e, op->text);
        e = stpcpy(e, "): ");
    }
    e = stpcpy(e, a);
    if (b) {
        e = fmt_u(e, n1);
        e = stpcpy(e, b);
        if (c) {
            e = fmt_u(e, n2);
            e = stpcpy(e, c);
        }
    }
    pthread_mutex_unlock(&vmu);
}

/* ---- block contents: a per-write pseudo-random pattern, so a block that lost its bytes,
 * got another block's or got them shifted never matches ---- */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t pattern_word(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s ^ (*s >> 29);
}

static void fill(char *p, size_t n, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = pattern_word(&s);
        memcpy(p + i, &w, n - i < 8 ? n - i : 8);
    }
}

/* Offset of the first byte of p[0..n) that differs from the pattern, or n. */
static size_t mismatch(const char *p, size_t n, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = pattern_word(&s);
        size_t len = n - i < 8 ? n - i : 8;
        if (memcmp(p + i, &w, len))
            for (size_t k = 0;; k++)
                if (p[i + k] != ((const char *)&w)[k]) return i + k;
    }
    return n;
}

static size_t first_nonzero(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return i;
    return n;
}

/* ---- operations ---- */
static size_t next_pow2(size_t a) {
    size_t p = 16;
    while (p < a && p) p <<= 1;
    return p ? p : a;
}

/* A new block: checks the outcome the script expects, then records and fills it. */
static void got_block(op_t *op, block_t *b, void *p, size_t req, size_t align) {
    op->ptr = (uintptr_t)p;
    if (!p) {
        if (op->expect <= 0) violation(op, "unexpected NULL, errno ", (uint64_t)op->err, NULL, 0, NULL);
        else if (op->err != op->expect)
            violation(op, "NULL as expected but errno ", (uint64_t)op->err, " instead of ", (uint64_t)op->expect, "");
        return;
    }
    if (op->expect > 0) violation(op, "expected failure with errno ", (uint64_t)op->expect, ", got a block", 0, NULL);
    size_t usable = malloc_usable_size(p);
    op->usable = usable;
    if (usable < req) violation(op, "usable size ", usable, " < requested ", req, "");
    if ((uintptr_t)p % align) violation(op, "block not aligned to ", align, NULL, 0, NULL);
    b->p = p;
    b->req = req;
    b->usable = usable;
    b->state = B_LIVE;
    b->seed = mix(((uint64_t)op->lineno << 20) ^ (uint64_t)(b - blocks));
    b->filled = usable >= req ? usable : req;
    fill(p, b->filled, b->seed);
}

static void do_realloc(op_t *op, block_t *b, size_t n, void *q) {
    op->ptr = (uintptr_t)q;
    if (n == 0 && op->expect == 0) {
        /* glibc's realloc(p, 0) frees p and returns NULL. */
        if (q) violation(op, "realloc to 0 returned a block", 0, NULL, 0, NULL);
        b->state = B_FREED;
        return;
    }
    if (!q) {
        got_block(op, b, NULL, n, 16);
        return;
    }
    size_t keep = b->req < n ? b->req : n;
    size_t bad = mismatch(q, keep, b->seed);
    if (bad < keep) violation(op, "realloc lost the old contents at offset ", bad, NULL, 0, NULL);
    got_block(op, b, q, n, 16);
}

static void run_op(op_t *op) {
    block_t *b = op->code[0] == 't' ? NULL : &blocks[op->a[0]];
    size_t n;
    void *p = NULL;
    errno = 0;
    switch (op->code[0] | op->code[1] << 8) {
    case 'm':
        p = malloc(op->a[1]);
        op->err = errno;
        got_block(op, b, p, op->a[1], 16);
        break;
    case 'c':
        p = calloc(op->a[1], op->a[2]);
        op->err = errno;
        if (p) {
            n = op->a[1] * op->a[2];
            size_t bad = first_nonzero(p, n);
            if (bad < n) violation(op, "calloc memory not zero at offset ", bad, NULL, 0, NULL);
        }
        got_block(op, b, p, op->a[1] * op->a[2], 16);
        break;
    case 'r' | 'n' << 8:
        p = realloc(NULL, op->a[1]);
        op->err = errno;
        got_block(op, b, p, op->a[1], 16);
        break;
    case 'r':
        p = realloc(b->p, op->a[1]);
        op->err = errno;
        do_realloc(op, b, op->a[1], p);
        break;
    case 'r' | 'a' << 8:
        p = reallocarray(b->p, op->a[1], op->a[2]);
        op->err = errno;
        do_realloc(op, b, op->a[1] * op->a[2], p);
        break;
    case 'a' | 'l' << 8:
    case 'a' | 'a' << 8:
        p = op->code[1] == 'l' ? memalign(op->a[1], op->a[2]) : aligned_alloc(op->a[1], op->a[2]);
        op->err = errno;
        got_block(op, b, p, op->a[2], next_pow2(op->a[1]));
        break;
    case 'p' | 'm' << 8:
        op->ret = posix_memalign(&p, op->a[1], op->a[2]);
        op->err = errno;
        /* glibc leaves errno at ENOMEM when it fails for memory, and untouched otherwise. */
        if (op->err && !(op->err == ENOMEM && op->ret == ENOMEM))
            violation(op, "posix_memalign changed errno to ", (uint64_t)op->err, NULL, 0, NULL);
        op->err = (int)op->ret;
        if (op->ret) p = NULL;
        else if (!p) violation(op, "posix_memalign returned 0 and NULL", 0, NULL, 0, NULL);
        got_block(op, b, p, op->a[2], next_pow2(op->a[1]));
        break;
    case 'f':
        free(b->p);
        b->state = B_FREED;
        break;
    case 'f' | 's' << 8:
        if (!free_sized) die("this libc has no free_sized");
        free_sized(b->p, b->req);
        b->state = B_FREED;
        break;
    case 'u':
        op->usable = malloc_usable_size(b->p);
        op->ptr = (uintptr_t)b->p;
        if (op->usable != b->usable)
            violation(op, "usable size changed from ", b->usable, " to ", op->usable, "");
        break;
    case 't':
        op->ret = malloc_trim(op->a[0]);
        break;
    case 'd' | 'f' << 8:
        free(b->p);
        break;
    case 'f' | 'i' << 8:
        free(b->p + op->a[1]);
        break;
    case 'o' | 'v' << 8:
        for (uint64_t i = 0; i < op->a[1]; i++) b->p[b->req + i] = (char)~b->p[b->req + i];
        break;
    default:
        die("unknown operation");
    }
    if (op->expect < 0) violation(op, "expected the allocator to abort, but the call returned", 0, NULL, 0, NULL);
}

/* ---- threads: each runs its own operations of the batch, in script order ---- */
static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    unsigned seen = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (generation == seen) pthread_cond_wait(&go, &mu);
        seen = generation;
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < nbatch; i++)
            if (batch[i].thread == t) run_op(&batch[i]);
        pthread_mutex_lock(&mu);
        if (++done_count == nthreads) pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void run_batch(void) {
    pthread_mutex_lock(&mu);
    done_count = 0;
    generation++;
    pthread_cond_broadcast(&go);
    while (done_count < nthreads) pthread_cond_wait(&done_cv, &mu);
    pthread_mutex_unlock(&mu);
}

/* ---- checks over every live block, run with all threads idle ---- */
static uint32_t order[MAX_BLOCKS];

static void check_heap(void) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < MAX_BLOCKS; i++) {
        block_t *b = &blocks[i];
        if (b->state != B_LIVE) continue;
        size_t bad = mismatch(b->p, b->filled, b->seed);
        if (bad < b->filled) violation(NULL, "block ", i, " changed at offset ", bad, "");
        /* Insertion sort by address (qsort may call malloc); live sets are small. */
        uint32_t j = n++;
        while (j && blocks[order[j - 1]].p > b->p) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (uint32_t k = 1; k < n; k++) {
        const block_t *lo = &blocks[order[k - 1]], *hi = &blocks[order[k]];
        if (lo->p + lo->filled > hi->p) violation(NULL, "block ", order[k - 1], " overlaps block ", order[k], "");
    }
}

static void report_batch(void) {
    for (int i = 0; i < nbatch; i++) {
        const op_t *op = &batch[i];
        put("r ");
        put_x(op->ptr);
        put(" ");
        put_u(op->usable);
        put(" ");
        put_u((uint64_t)op->err);
        put(" ");
        put_u((uint64_t)op->ret);
        put("  # ");
        put(op->text);
        put("\n");
    }
    for (int i = 0; i < nviolations; i++) {
        put("! ");
        put(violations[i]);
        put("\n");
    }
    if (stats_bytes) {
        stats_get(stats_buf);
        put("S ");
        for (size_t i = 0; i < stats_bytes; i++) {
            char h[3] = {"0123456789abcdef"[stats_buf[i] >> 4], "0123456789abcdef"[stats_buf[i] & 15], 0};
            put(h);
        }
        put("\n");
    }
    put(".\n");
    flush_out();
    nviolations = 0;
    nbatch = 0;
}

/* ---- script parsing ---- */
static const char *const codes[] = {"m", "c", "rn", "r", "ra", "al", "aa", "pm", "f", "fs", "u", "t", "df", "fi", "ov", NULL};
static const int nargs[] = {2, 3, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 2, 2};

static int next_token(const char **s, char *tok, size_t cap) {
    while (**s == ' ' || **s == '\t') (*s)++;
    size_t n = 0;
    while (**s && **s != ' ' && **s != '\t' && **s != '#') {
        if (n + 1 < cap) tok[n++] = **s;
        (*s)++;
    }
    tok[n] = 0;
    return n > 0;
}

static void parse_line(const char *line, int lineno) {
    char tok[32];
    const char *s = line;
    if (!next_token(&s, tok, sizeof tok)) return;
    if (!strcmp(tok, "s")) {
        run_batch();
        check_heap();
        report_batch();
        return;
    }
    if (nbatch == MAX_BATCH) die("batch too long");
    op_t *op = &batch[nbatch];
    memset(op, 0, sizeof *op);
    op->lineno = lineno;
    op->thread = atoi(tok);
    if (op->thread < 0 || op->thread >= nthreads) die("thread out of range");
    if (!next_token(&s, tok, sizeof tok)) die("missing operation");
    int k = 0;
    while (codes[k] && strcmp(codes[k], tok)) k++;
    if (!codes[k]) die("unknown operation");
    strcpy(op->code, tok);
    for (int i = 0; i < nargs[k]; i++) {
        if (!next_token(&s, tok, sizeof tok)) die("missing argument");
        op->a[i] = strtoull(tok, NULL, 10);
    }
    if (op->code[0] != 't' && op->a[0] >= MAX_BLOCKS) die("block id out of range");
    if (next_token(&s, tok, sizeof tok)) {
        if (tok[0] != 'x') die("bad expectation");
        op->expect = strcmp(tok, "xabort") ? atoi(tok + 1) : -1;
    }
    size_t len = strcspn(line, "#\n");
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    if (len >= LINE_MAX_LEN) len = LINE_MAX_LEN - 1;
    memcpy(op->text, line, len);
    op->text[len] = 0;
    nbatch++;
}

#ifdef PAF_SCRIPT
static const char script[] = PAF_SCRIPT;
static size_t script_pos;
#endif

/* Next line of the script into buf; 0 at the end. */
static int read_line(char *buf, size_t cap) {
#ifdef PAF_SCRIPT
    size_t n = 0;
    if (!script[script_pos]) return 0;
    while (script[script_pos] && script[script_pos] != '\n') {
        if (n + 1 < cap) buf[n++] = script[script_pos];
        script_pos++;
    }
    if (script[script_pos]) script_pos++;
    buf[n] = 0;
    return 1;
#else
    static char in[1 << 16];
    static size_t have, pos;
    size_t n = 0;
    for (;;) {
        if (pos == have) {
            ssize_t r = read(0, in, sizeof in);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                buf[n] = 0;
                return n > 0;
            }
            have = (size_t)r;
            pos = 0;
        }
        char c = in[pos++];
        if (c == '\n') break;
        if (n + 1 < cap) buf[n++] = c;
    }
    buf[n] = 0;
    return 1;
#endif
}

int main(int argc, char **argv) {
#ifdef PAF_SCRIPT
    nthreads = PAF_THREADS;
    (void)argc;
    (void)argv;
#else
    if (argc < 2) die("usage: driver NTHREADS [STATS_BYTES] < script");
    nthreads = atoi(argv[1]);
    stats_bytes = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
#endif
    if (nthreads < 1 || nthreads > MAX_THREADS) die("bad thread count");
    if (stats_bytes) {
        if (stats_bytes > sizeof stats_buf) die("stats struct too big");
        stats_get = (void (*)(void *))dlsym(RTLD_DEFAULT, "pyalloc_stats_get");
        if (!stats_get) die("pyalloc_stats_get not found: is libpyalloc.so preloaded?");
    }
    /* A misuse test's parent expects SIGABRT from the allocator, so a closed pipe must
     * end the driver quietly instead of with a signal of its own. */
    signal(SIGPIPE, SIG_IGN);
    /* Threads first: pthread_create allocates (TLS vectors), and that must happen before
     * the fuzzer takes its baseline statistics. */
    pthread_t tid;
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&tid, NULL, worker, (void *)(intptr_t)t)) die("pthread_create failed");
    char line[LINE_MAX_LEN * 2];
    int lineno = 0;
    while (read_line(line, sizeof line)) parse_line(line, ++lineno);
    if (nbatch) {
        run_batch();
        check_heap();
        report_batch();
    }
#ifdef PAF_SCRIPT
    malloc_stats();
    if (total_violations) {
        put("FAILED: ");
        put_u((uint64_t)total_violations);
        put(" violated check(s), see the ! lines above\n");
        flush_out();
        return 1;
    }
#endif
    return 0;
}

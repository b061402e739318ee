/* espresso-like mixed small objects: text processing. Lines of generated text are built
 * as heap strings, split into heap-allocated tokens and counted in a chained hash table
 * whose nodes and keys are heap objects too; each document's table is checked against
 * counts kept in a plain array, then torn down. Sizes range over 8..200 bytes with
 * lifetimes from one line (tokens) to one document (table entries). */
#include "bench.h"

enum { VOCABULARY = 20000, WORDS_PER_LINE = 24, LINES_PER_DOC = 500, MAX_WORD = 24 };

typedef struct entry {
    struct entry *next;
    char *key;
    uint32_t word;                   /* vocabulary index the key was made from */
    uint32_t count;
} entry;

typedef struct {
    entry **bucket;
    size_t nbuckets, nentries;
} table;

/* Word i of the vocabulary: 6..MAX_WORD-1 letters, derived from i alone and distinct for
 * distinct i (a letter giving the digit count, i in base 26, then filler letters). */
_Static_assert(VOCABULARY <= 26 * 26 * 26 * 26, "indices must fit in the 4 letters below 6");
static size_t make_word(uint32_t i, char *out) {
    uint64_t h = mix64((uint64_t)i * 0x9e3779b97f4a7c15ull + 1);
    size_t len = 6 + (size_t)(h % (MAX_WORD - 6)), n = 0;
    char digits[4];
    for (uint32_t v = i; n == 0 || v; v /= 26) digits[n++] = (char)('a' + v % 26);
    out[0] = (char)('a' + n);
    memcpy(out + 1, digits, n);
    for (size_t k = n + 1; k < len; k++) out[k] = (char)('a' + (h >> (k % 12 * 5)) % 26);
    out[len] = 0;
    return len;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static void table_grow(table *t) {
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    entry **b = xmalloc(n * sizeof *b);
    memset(b, 0, n * sizeof *b);
    for (size_t i = 0; i < t->nbuckets; i++)
        for (entry *e = t->bucket[i], *next; e; e = next) {
            next = e->next;
            size_t k = hash_str(e->key) & (n - 1);
            e->next = b[k];
            b[k] = e;
        }
    free(t->bucket);
    t->bucket = b;
    t->nbuckets = n;
}

static void table_count(table *t, const char *key, uint32_t word) {
    if (t->nentries >= t->nbuckets) table_grow(t);
    entry **slot = &t->bucket[hash_str(key) & (t->nbuckets - 1)];
    for (entry *e = *slot; e; e = e->next)
        if (!strcmp(e->key, key)) {
            e->count++;
            return;
        }
    entry *e = xmalloc(sizeof *e);
    size_t len = strlen(key);
    e->key = xmalloc(len + 1);
    memcpy(e->key, key, len + 1);
    e->word = word;
    e->count = 1;
    e->next = *slot;
    *slot = e;
    t->nentries++;
}

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 60);
    uint64_t rng = a.seed, sum = 0;
    static uint32_t expected[VOCABULARY];
    char word[MAX_WORD + 1];
    for (long doc = 0; doc < a.work; doc++) {
        table t = {0};
        memset(expected, 0, sizeof expected);
        for (int line = 0; line < LINES_PER_DOC; line++) {
            /* Build the line as one string, growing it as words are appended. */
            size_t len = 0, cap = 32;
            char *text = xmalloc(cap);
            uint32_t words[WORDS_PER_LINE];
            for (int w = 0; w < WORDS_PER_LINE; w++) {
                /* Cubing a uniform draw skews towards low indices: a few words are
                 * frequent and most are rare, as in real text. */
                uint64_t u = rng_next(&rng) >> 43;          /* 21 bits */
                words[w] = (uint32_t)((u * u >> 21) * u >> 21) % VOCABULARY;
                size_t wl = make_word(words[w], word);
                if (len + wl + 2 > cap) {
                    while (len + wl + 2 > cap) cap *= 2;
                    text = xrealloc(text, cap);
                }
                memcpy(text + len, word, wl);
                len += wl;
                text[len++] = ' ';
                text[len] = 0;
            }
            /* Tokenise into separately allocated strings, count, free the tokens. */
            char *tokens[WORDS_PER_LINE];
            int ntok = 0;
            for (char *s = text; *s;) {
                char *end = strchr(s, ' ');
                size_t tl = (size_t)(end - s);
                tokens[ntok] = xmalloc(tl + 1);
                memcpy(tokens[ntok], s, tl);
                tokens[ntok][tl] = 0;
                ntok++;
                s = end + 1;
            }
            if (ntok != WORDS_PER_LINE) bench_corrupt("wordfreq: line split into %d tokens", ntok);
            for (int w = 0; w < ntok; w++) {
                table_count(&t, tokens[w], words[w]);
                expected[words[w]]++;
                free(tokens[w]);
            }
            free(text);
        }
        /* Every entry must still name its word and hold that word's count. */
        size_t seen = 0;
        for (size_t b = 0; b < t.nbuckets; b++)
            for (entry *e = t.bucket[b], *next; e; e = next) {
                next = e->next;
                make_word(e->word, word);
                if (strcmp(e->key, word) || e->count != expected[e->word])
                    bench_corrupt("wordfreq: entry for word %u is wrong", e->word);
                sum += (uint64_t)e->count * e->word;
                seen++;
                free(e->key);
                free(e);
            }
        if (seen != t.nentries) bench_corrupt("wordfreq: table lost entries");
        free(t.bucket);
    }
    bench_ok("wordfreq", sum);
    return 0;
}

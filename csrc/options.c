/* The options table: the single description of every run-time knob. PYALLOC_OPTIONS
 * parsing, pyalloc_option_get (and through it `pyalloc info`, the docs and the Python
 * bindings) all read this table. A bad option is fatal before the program runs: silently
 * ignoring a misspelt hardening switch would be worse than not starting. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pa_options_t pa_opt;

typedef enum { PA_OPT_BOOL, PA_OPT_BYTES } pa_opt_kind_t;

typedef struct pa_option_def_s {
    const char *name;
    pa_opt_kind_t kind;
    size_t offset;
    size_t def;
    const char *allowed;
    const char *description;
} pa_option_def_t;

#define PA_OPT_FIELD(f) offsetof(pa_options_t, f)
static const pa_option_def_t pa_option_defs[] = {
    {"tcache", PA_OPT_BOOL, PA_OPT_FIELD(tcache), 1, "0 or 1",
     "per-thread caches of free slots; 0 sends every operation to the locked central pools"},
    {"retain_bytes", PA_OPT_BYTES, PA_OPT_FIELD(retain_bytes), 256u << 10, "bytes, e.g. 0, 512K, 4M",
     "empty slabs each pool (size class x arena) keeps resident before returning pages to the OS"},
    {"large_cache_bytes", PA_OPT_BYTES, PA_OPT_FIELD(large_cache_bytes), 16u << 20, "bytes, e.g. 0, 64M",
     "freed large mappings kept for reuse, sparing mmap and page faults in big-buffer loops"},
    {"print_stats", PA_OPT_BOOL, PA_OPT_FIELD(print_stats), 0, "0 or 1",
     "print malloc_stats() to stderr when the program exits"},
};
#define PA_NOPTIONS (sizeof(pa_option_defs) / sizeof(pa_option_defs[0]))
static bool pa_option_from_env[PA_NOPTIONS];

static void pa_opt_store(const pa_option_def_t *d, size_t v) {
    char *field = (char *)&pa_opt + d->offset;
    if (d->kind == PA_OPT_BOOL) *(bool *)field = v != 0;
    else *(size_t *)field = v;
}

static size_t pa_opt_load(const pa_option_def_t *d) {
    const char *field = (const char *)&pa_opt + d->offset;
    return d->kind == PA_OPT_BOOL ? *(const bool *)field : *(const size_t *)field;
}

static bool pa_parse_value(const pa_option_def_t *d, const char *s, size_t len, size_t *out) {
    if (d->kind == PA_OPT_BOOL) {
        if (len == 1 && (s[0] == '0' || s[0] == '1')) {
            *out = (size_t)(s[0] - '0');
            return true;
        }
        return false;
    }
    size_t v = 0, i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (SIZE_MAX - 9) / 10) return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (i == 0) return false;
    unsigned shift = 0;
    if (i + 1 == len) {
        switch (s[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return false;
        }
    } else if (i != len) {
        return false;
    }
    if (shift && v > (SIZE_MAX >> shift)) return false;
    *out = v << shift;
    return true;
}

static __attribute__((noreturn)) void pa_option_error(const char *what, const char *s, size_t len,
                                                       const pa_option_def_t *d) {
    char line[512];
    int n;
    if (d)
        n = snprintf(line, sizeof line, "PYALLOC_OPTIONS: bad value '%.*s' for option %s (allowed: %s)", (int)len, s,
                     d->name, d->allowed);
    else {
        n = snprintf(line, sizeof line, "PYALLOC_OPTIONS: %s '%.*s' (known options:", what, (int)len, s);
        for (size_t i = 0; i < PA_NOPTIONS && n > 0 && (size_t)n < sizeof line; i++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s %s", i ? "," : "", pa_option_defs[i].name);
        if (n > 0 && (size_t)n < sizeof line - 1) line[n++] = ')', line[n] = 0;
    }
    pa_fatal(line);
}

void pa_options_init(void) {
    for (size_t i = 0; i < PA_NOPTIONS; i++) pa_opt_store(&pa_option_defs[i], pa_option_defs[i].def);
    const char *env = getenv("PYALLOC_OPTIONS");
    if (!env) return;
    for (const char *item = env; *item;) {
        size_t len = strcspn(item, ",");
        if (len) {
            const char *eq = memchr(item, '=', len);
            if (!eq) pa_option_error("expected name=value, got", item, len, NULL);
            size_t nlen = (size_t)(eq - item);
            const pa_option_def_t *d = NULL;
            for (size_t i = 0; i < PA_NOPTIONS; i++)
                if (strlen(pa_option_defs[i].name) == nlen && !memcmp(pa_option_defs[i].name, item, nlen)) {
                    d = &pa_option_defs[i];
                    pa_option_from_env[i] = true;
                }
            if (!d) pa_option_error("unknown option", item, nlen, NULL);
            size_t v;
            const char *val = eq + 1;
            size_t vlen = len - nlen - 1;
            if (!pa_parse_value(d, val, vlen, &v)) pa_option_error(NULL, val, vlen, d);
            pa_opt_store(d, v);
        }
        item += len;
        if (*item == ',') item++;
    }
}

PA_EXPORT size_t pyalloc_option_count(void) { return PA_NOPTIONS; }

PA_EXPORT int pyalloc_option_get(size_t index, pyalloc_option_info *out) {
    if (index >= PA_NOPTIONS) return -1;
    pa_ensure_init();
    const pa_option_def_t *d = &pa_option_defs[index];
    out->name = d->name;
    out->allowed = d->allowed;
    out->description = d->description;
    out->source = pa_option_from_env[index] ? "PYALLOC_OPTIONS" : "default";
    snprintf(out->value, sizeof out->value, "%zu", pa_opt_load(d));
    return 0;
}

/* glibc's tunables describe glibc's heap (arenas, trim and mmap thresholds); pyalloc has its
 * own options. Accepting them keeps programs that tune glibc working unchanged. */
PA_EXPORT int PA_API(mallopt)(int param, int value) {
    (void)param;
    (void)value;
    return 1;
}

/* The options table: the single description of every run-time knob and of its value in
 * each profile. PYALLOC_OPTIONS parsing, pyalloc_option_get (and through it `pyalloc
 * info`, the docs and the Python bindings) all read this table. A bad option is fatal
 * before the program runs: silently ignoring a misspelt hardening switch would be worse
 * than not starting. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { PA_OPT_BOOL, PA_OPT_BYTES, PA_OPT_COUNT, PA_OPT_ENUM } pa_opt_kind_t;

typedef struct pa_option_def_s {
    const char *name;
    pa_opt_kind_t kind;
    size_t offset;
    size_t value[PA_NPROFILES];      /* fast, default, hardened, paranoid */
    const char *const *names;        /* PA_OPT_ENUM: value i is names[i] */
    const char *allowed;
    const char *description;
} pa_option_def_t;

static const char *const pa_profile_names[] = {"fast", "default", "hardened", "paranoid", NULL};
static const char *const pa_on_invalid_names[] = {"abort", "report", "ignore", NULL};

#define PA_OPT_FIELD(f) offsetof(pa_options_t, f)
#define K 1024u
#define M (1024u * 1024u)
static const pa_option_def_t pa_option_defs[] = {
    {"profile", PA_OPT_ENUM, PA_OPT_FIELD(profile), {0, 1, 2, 3}, pa_profile_names, "fast, default, hardened, paranoid",
     "sets every option below to the profile's value; single options given after it still win"},
    {"tcache", PA_OPT_BOOL, PA_OPT_FIELD(tcache), {1, 1, 1, 1}, NULL, "0 or 1",
     "per-thread caches of free slots; 0 sends every operation to the locked central pools"},
    {"retain_bytes", PA_OPT_BYTES, PA_OPT_FIELD(retain_bytes), {64 * M, 16 * M, 16 * M, 0}, NULL,
     "bytes, e.g. 0, 512K, 16M",
     "most bytes of empty slabs kept resident for reuse, over all size classes (see retain_below_peak)"},
    {"retain_below_peak", PA_OPT_BOOL, PA_OPT_FIELD(retain_below_peak), {0, 1, 1, 1}, NULL, "0 or 1",
     "1: of retain_bytes, only as much is kept as holds the heap under its peak of the last second "
     "or two, so peak RSS follows what the program holds; 0: all of it, fewer page faults for more memory"},
    {"purge_delay_ms", PA_OPT_COUNT, PA_OPT_FIELD(purge_delay_ms), {1000, 100, 100, 0}, NULL,
     "milliseconds, e.g. 0, 100, 1000",
     "how long a kept empty slab or cached large range waits for reuse before its pages go "
     "back to the OS"},
    {"slot_purge_delay_ms", PA_OPT_COUNT, PA_OPT_FIELD(slot_purge_delay_ms), {100, 10, 10, 0}, NULL,
     "milliseconds, e.g. 0, 10, 100",
     "how long a free slot of 16 KiB or more, in a slab still in use, waits for reuse before its pages "
     "go back to the OS (between one and two such periods)"},
    {"large_cache_bytes", PA_OPT_BYTES, PA_OPT_FIELD(large_cache_bytes), {64 * M, 64 * M, 64 * M, 0}, NULL,
     "bytes, e.g. 0, 64M",
     "most bytes of freed large mappings kept for reuse (each for up to purge_delay_ms), "
     "sparing mmap and page faults; 0 unmaps at once so use after free of a large block faults"},
    {"large_cache_protect", PA_OPT_BOOL, PA_OPT_FIELD(large_cache_protect), {0, 0, 1, 1}, NULL, "0 or 1",
     "cached large mappings are inaccessible until reused (one mprotect on free, one on reuse): use "
     "after free of a large block faults, yet its pages are reused without new page faults"},
    {"canary", PA_OPT_BOOL, PA_OPT_FIELD(canary), {0, 0, 1, 1}, NULL, "0 or 1",
     "8 secret bytes (one of them zero) after each small block's requested size, checked on free "
     "and realloc: catches 1-byte and string overflows"},
    {"guard", PA_OPT_BOOL, PA_OPT_FIELD(guard), {0, 1, 1, 1}, NULL, "0 or 1",
     "inaccessible pages before and after every large block (which ends flush against the trailing "
     "one): linear overflows and underflows fault at once"},
    {"guard_slab_interval", PA_OPT_COUNT, PA_OPT_FIELD(guard_slab_interval), {0, 0, 4, 2}, NULL,
     "0 (off) or N >= 2",
     "every Nth slab of a slab region is left inaccessible, so a linear overflow running across "
     "slabs faults"},
    {"randomize", PA_OPT_COUNT, PA_OPT_FIELD(randomize), {0, 0, 1, 2}, NULL, "0, 1 or 2",
     "1: each refill starts at a random slot of its slab, so where a block lands cannot be "
     "predicted from allocation order; 2: also hands each refill out in shuffled order (costs "
     "locality: CPython's GC ran 2.8x slower)"},
    {"quarantine_bytes", PA_OPT_BYTES, PA_OPT_FIELD(quarantine_bytes), {0, 0, 1 * M, 16 * M}, NULL,
     "bytes, e.g. 0, 1M, 64M",
     "freed small blocks (per thread) and large ranges wait this many bytes of later frees before "
     "reuse: a dangling pointer does not soon alias a new object"},
    {"zero_on_free", PA_OPT_BOOL, PA_OPT_FIELD(zero_on_free), {0, 0, 1, 1}, NULL, "0 or 1",
     "freed blocks are cleared: secrets do not survive free and reads after free see zeros"},
    {"junk", PA_OPT_BOOL, PA_OPT_FIELD(junk), {0, 0, 0, 0}, NULL, "0 or 1",
     "freed blocks are filled with 0xdf instead of zeros, so reads after free stand out in a debugger"},
    {"check_write_after_free", PA_OPT_BOOL, PA_OPT_FIELD(check_write_after_free), {0, 0, 1, 1}, NULL, "0 or 1",
     "when a freed slot is reused, verify it still holds the free fill and abort naming a write after "
     "free if not (implies zero_on_free unless junk); with canaries the fill covers the freed block "
     "and its canary, not the slot's rounding slack"},
    {"on_invalid_free", PA_OPT_ENUM, PA_OPT_FIELD(on_invalid_free), {0, 0, 0, 0}, pa_on_invalid_names,
     "abort, report, ignore",
     "what a free of a pointer this heap never handed out does: report prints the line and continues, "
     "for programs that mix allocators; double frees always abort"},
    {"protect_metadata", PA_OPT_BOOL, PA_OPT_FIELD(protect_metadata), {0, 1, 1, 1}, NULL, "0 or 1",
     "guard pages around the metadata regions and the allocator's global tables read-only after start-up"},
    {"print_stats", PA_OPT_BOOL, PA_OPT_FIELD(print_stats), {0, 0, 0, 0}, NULL, "0 or 1",
     "print malloc_stats() to stderr when the program exits"},
};
#undef K
#undef M
#define PA_NOPTIONS (sizeof(pa_option_defs) / sizeof(pa_option_defs[0]))
static bool pa_option_from_env[PA_NOPTIONS];

static size_t *pa_opt_field(const pa_option_def_t *d) { return (size_t *)((char *)&pa_opt + d->offset); }

static bool pa_parse_value(const pa_option_def_t *d, const char *s, size_t len, size_t *out) {
    if (d->kind == PA_OPT_ENUM) {
        for (size_t i = 0; d->names[i]; i++)
            if (strlen(d->names[i]) == len && !memcmp(d->names[i], s, len)) {
                *out = i;
                return true;
            }
        return false;
    }
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
    if (d->kind == PA_OPT_BYTES && i + 1 == len) {
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
    if (d->offset == PA_OPT_FIELD(guard_slab_interval) && v == 1) return false;
    if (d->offset == PA_OPT_FIELD(randomize) && v > 2) return false;
    *out = v << shift;
    return true;
}

static __attribute__((noreturn)) void pa_option_error(const char *what, const char *s, size_t len,
                                                       const pa_option_def_t *d) {
    char line[512];
    int n;
    if (d) {
        n = snprintf(line, sizeof line, "PYALLOC_OPTIONS: bad value '%.*s' for option %s (allowed: %s)", (int)len, s,
                     d->name, d->allowed);
    } else {
        n = snprintf(line, sizeof line, "PYALLOC_OPTIONS: %s '%.*s' (known options:", what, (int)len, s);
        for (size_t i = 0; i < PA_NOPTIONS && n > 0 && (size_t)n < sizeof line; i++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s %s", i ? "," : "", pa_option_defs[i].name);
        if (n > 0 && (size_t)n < sizeof line - 1) line[n++] = ')', line[n] = 0;
    }
    pa_fatal(line);
}

/* Calls fn for each `name=value` item; errors in the syntax or the name are fatal. */
static void pa_options_scan(const char *env, void (*fn)(size_t index, const char *val, size_t vlen)) {
    for (const char *item = env; *item;) {
        size_t len = strcspn(item, ",");
        if (len) {
            const char *eq = memchr(item, '=', len);
            if (!eq) pa_option_error("expected name=value, got", item, len, NULL);
            size_t nlen = (size_t)(eq - item), index = PA_NOPTIONS;
            for (size_t i = 0; i < PA_NOPTIONS; i++)
                if (strlen(pa_option_defs[i].name) == nlen && !memcmp(pa_option_defs[i].name, item, nlen)) index = i;
            if (index == PA_NOPTIONS) pa_option_error("unknown option", item, nlen, NULL);
            fn(index, eq + 1, len - nlen - 1);
        }
        item += len;
        if (*item == ',') item++;
    }
}

static void pa_apply_option(size_t index, const char *val, size_t vlen) {
    const pa_option_def_t *d = &pa_option_defs[index];
    size_t v;
    if (!pa_parse_value(d, val, vlen, &v)) pa_option_error(NULL, val, vlen, d);
    *pa_opt_field(d) = v;
    pa_option_from_env[index] = true;
}

static void pa_apply_profile(size_t index, const char *val, size_t vlen) {
    if (index == 0) pa_apply_option(index, val, vlen);
}

static void pa_apply_rest(size_t index, const char *val, size_t vlen) {
    if (index != 0) pa_apply_option(index, val, vlen);
}

/* The profile is applied first wherever it appears, so `canary=0,profile=hardened` means
 * "hardened without canaries", as it reads. */
void pa_options_init(void) {
    const char *env = getenv("PYALLOC_OPTIONS");
    pa_opt.profile = PA_PROFILE_DEFAULT;
    if (env) pa_options_scan(env, pa_apply_profile);
    for (size_t i = 1; i < PA_NOPTIONS; i++) *pa_opt_field(&pa_option_defs[i]) = pa_option_defs[i].value[pa_opt.profile];
    if (env) pa_options_scan(env, pa_apply_rest);
    if (pa_opt.check_write_after_free && !pa_opt.junk) pa_opt.zero_on_free = 1;
}

PA_EXPORT size_t pyalloc_option_count(void) { return PA_NOPTIONS; }

PA_EXPORT int pyalloc_option_get(size_t index, pyalloc_option_info *out) {
    if (index >= PA_NOPTIONS) return -1;
    pa_ensure_init();
    const pa_option_def_t *d = &pa_option_defs[index];
    size_t v = *pa_opt_field(d);
    out->name = d->name;
    out->allowed = d->allowed;
    out->description = d->description;
    out->source = pa_option_from_env[index] ? "PYALLOC_OPTIONS" : pa_option_from_env[0] ? "profile" : "default";
    if (d->kind == PA_OPT_ENUM) snprintf(out->value, sizeof out->value, "%s", d->names[v]);
    else snprintf(out->value, sizeof out->value, "%zu", v);
    return 0;
}

/* glibc's tunables describe glibc's heap (arenas, trim and mmap thresholds); pyalloc has its
 * own options. Accepting them keeps programs that tune glibc working unchanged. */
PA_EXPORT int PA_API(mallopt)(int param, int value) {
    (void)param;
    (void)value;
    return 1;
}

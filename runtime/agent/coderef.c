/*
 * The code-object registry of coderef.h.
 *
 * An entry describes one code object for one span of epochs: it answers for
 * samples taken with born <= epoch < dead. The signal handler stamps each
 * sample with the epoch and sets the code addresses' bits in an in-flight
 * filter. When a code object that has an entry, or that a queued sample may
 * name, is deallocated, the dealloc hook closes its entry (describing it
 * first when it had none) and moves the epoch on, so samples taken after
 * that, which can only name a new object at the same address, find no
 * entry and get a fresh one.
 *
 * Locks: reg_lock guards the entries. Lock order: the GIL, then the thread
 * registry's lock, then reg_lock; the emitter takes the GIL only while it
 * holds neither of the others.
 */
#define _GNU_SOURCE
#include "coderef.h"
#include "error.h"
#include "codewatch.h"
#include "pyframe.h"
#include "rawrec.h"
#include "util.h"
#include "wire.h"

#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_WORDS 1024 /* 65,536 bits per in-flight filter */
#define KNOWN_WORDS 16384 /* 1,048,576 bits: addresses that have had an entry */
#define DEAD_KEEP_CYCLES 200
#define SWEEP_EVERY 64     /* cycles between looks for dead entries to free: a pass over all */
#define BUCKETS_FIRST 1024 /* the code objects of a small program's first samples */

struct centry {
    void *ptr;
    uint64_t key;
    uint64_t born, dead; /* dead is UINT64_MAX while the object lives */
    uint64_t dead_cycle;
    int sent;            /* the recorder has its WIRE_CODE (2: to go with this sample) */
    uint32_t sent_round; /* sent counts only in this round (sent_round below) */
    int tomb;            /* dead long enough that its description was freed */
    struct pyframe_code info;
    struct centry *next; /* bucket chain */
};

/*
 * The entries, chained in buckets by address. Not an imap: one address has
 * an entry for each code object that lived there, found by the epoch a
 * sample was taken in (a range, not a key); entries are structures of
 * their own, pointed to while a sample is resolved; and the sweep walks
 * them all. The lookups are the emitter's, under reg_lock.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct centry **buckets;
static size_t nbuckets, nentries;
static _Atomic uint64_t epoch = 1;
static _Atomic uint64_t deaths; /* code objects deallocated, ever */
static _Atomic uint64_t inflight[2][FILTER_WORDS];
static _Atomic unsigned cur_filter;
static _Atomic int filter_users[2]; /* handlers marking, per filter */
static int other_clean = 1;         /* the filter not current is all zero */
/* Raised in a fork child, whose recorder connection has seen no code yet:
 * every entry counts as unsent without being written to (which would copy
 * every page of the registry from the parent). */
static uint32_t sent_round;
static _Atomic uint64_t known[KNOWN_WORDS];
static uint64_t cycle, next_key = 1, ndropped;
static void **waiting; /* addresses samples wait on, not yet described */
static size_t nwaiting, capwaiting;
#define WAITING_FIRST 64 /* code objects first seen in one round of samples */
static int give_up; /* Python is gone: drop samples that wait */

/* Fibonacci hashing of an address: the low 4 bits are alignment. The
 * filters take different bits of it (>> 16, >> 8) from the buckets'. */
static uint64_t hash_ptr(const void *p)
{
    return ((uint64_t)(uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull;
}

static void bit_set(_Atomic uint64_t *words, size_t nwords, uint64_t h)
{
    size_t bit = (size_t)(h % (nwords * 64));
    atomic_fetch_or_explicit(&words[bit / 64], 1ull << (bit % 64), memory_order_relaxed);
}

static int bit_test(_Atomic uint64_t *words, size_t nwords, uint64_t h)
{
    size_t bit = (size_t)(h % (nwords * 64));
    return (atomic_load_explicit(&words[bit / 64], memory_order_relaxed) >> (bit % 64)) & 1;
}

uint64_t coderef_epoch(void)
{
    return atomic_load_explicit(&epoch, memory_order_acquire);
}

uint64_t coderef_deaths(void)
{
    return atomic_load_explicit(&deaths, memory_order_seq_cst);
}

unsigned coderef_enter(void)
{
    unsigned f = atomic_load_explicit(&cur_filter, memory_order_acquire) & 1;
    atomic_fetch_add_explicit(&filter_users[f], 1, memory_order_acq_rel);
    return f;
}

void coderef_mark_sampled(unsigned filter, void *code)
{
    bit_set(inflight[filter], FILTER_WORDS, hash_ptr(code) >> 16);
}

void coderef_leave(unsigned filter)
{
    atomic_fetch_sub_explicit(&filter_users[filter], 1, memory_order_acq_rel);
}

static int maybe_inflight(void *code)
{
    uint64_t h = hash_ptr(code) >> 16;
    return bit_test(inflight[0], FILTER_WORDS, h) || bit_test(inflight[1], FILTER_WORDS, h);
}

/* ---- entries (reg_lock held) ------------------------------------------- */

static struct centry *find_unlocked(void *ptr, uint64_t ep)
{
    if (!nbuckets)
        return NULL;
    for (struct centry *e = buckets[hash_ptr(ptr) % nbuckets]; e; e = e->next)
        if (e->ptr == ptr && e->born <= ep && ep < e->dead)
            return e;
    return NULL;
}

/* The epoch a new entry for ptr starts at: after every closed one. */
static uint64_t born_after_unlocked(void *ptr)
{
    uint64_t born = 0;
    if (nbuckets)
        for (struct centry *e = buckets[hash_ptr(ptr) % nbuckets]; e; e = e->next)
            if (e->ptr == ptr && e->dead != UINT64_MAX && e->dead > born)
                born = e->dead;
    return born;
}

static int grow_unlocked(void)
{
    size_t n = nbuckets ? nbuckets * 2 : BUCKETS_FIRST;
    struct centry **b = calloc(n, sizeof *b);
    if (!b)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < nbuckets; i++) {
        struct centry *e = buckets[i];
        while (e) {
            struct centry *next = e->next;
            size_t k = hash_ptr(e->ptr) % n;
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(buckets);
    buckets = b;
    nbuckets = n;
    return 0;
}

/* Describe the live code object ptr (GIL held) as a new entry. */
static struct centry *add_unlocked(void *ptr)
{
    if (nentries >= nbuckets && grow_unlocked() < 0)
        return NULL;
    struct centry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (pyframe_describe(ptr, &e->info) < 0) {
        /* Not a code object after all: name it so its samples still count. */
        e->info.filename = NULL;
        e->info.name = strdup("<unknown>");
        e->info.qualname = strdup("<unknown>");
    }
    e->ptr = ptr;
    e->key = next_key++;
    e->born = born_after_unlocked(ptr);
    e->dead = UINT64_MAX;
    size_t k = hash_ptr(ptr) % nbuckets;
    e->next = buckets[k];
    buckets[k] = e;
    nentries++;
    bit_set(known, KNOWN_WORDS, hash_ptr(ptr) >> 8);
    return e;
}

/* ---- the dealloc hook (GIL held) --------------------------------------- */

static void on_code_dealloc(void *code)
{
    /* Counted before the filters are read: a reading of frames that saw
     * no death between its start and its marks needs no second reading. */
    atomic_fetch_add_explicit(&deaths, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    int flight = maybe_inflight(code);
    if (!flight && !bit_test(known, KNOWN_WORDS, hash_ptr(code) >> 8))
        return;
    pthread_mutex_lock(&reg_lock);
    /* A sample waits on it: it is described here, whole, and must not be
     * described again by coderef_resolve once it is gone. */
    for (size_t i = 0; i < nwaiting; i++) {
        if (waiting[i] == code) {
            waiting[i] = waiting[--nwaiting];
            flight = 1;
            break;
        }
    }
    struct centry *e = find_unlocked(code, UINT64_MAX - 1);
    if (!e && flight)
        e = add_unlocked(code);
    if (e) {
        e->dead = atomic_fetch_add_explicit(&epoch, 1, memory_order_acq_rel) + 1;
        e->dead_cycle = cycle;
    }
    pthread_mutex_unlock(&reg_lock);
}

int coderef_install(void)
{
    int err = codewatch_add(on_code_dealloc);
    return err == PYSCOPE_EEXISTS ? 0 : err;
}

/* ---- the emitter's side ------------------------------------------------- */

/*
 * The in-flight filters take turns. The current one collects the bits of new
 * samples; the other is cleared only once no handler is still marking it and
 * a drain has passed every sample marked in it through the sink with none
 * left waiting (coderef_settle), and only a clean one becomes current.
 */
void coderef_cycle(int python_usable)
{
    pthread_mutex_lock(&reg_lock);
    cycle++;
    give_up = !python_usable;
    if (other_clean) {
        unsigned next = (atomic_load(&cur_filter) + 1) & 1;
        atomic_store_explicit(&cur_filter, next, memory_order_release);
        other_clean = 0;
    }

    /* A dead code object's description is freed after a while, but its
     * entry stays as a tombstone: a sample that still names it, however
     * late, must not be mistaken for one of whatever lives there now. One
     * tombstone per address, spanning the epochs of all the dead ones
     * there: a sample that late is dropped whichever it named, and a
     * program that makes code again and again (exec in a loop) would
     * otherwise leave one for each code object sampled. */
    for (size_t i = 0; i < nbuckets && cycle % SWEEP_EVERY == 0; i++) {
        for (struct centry **link = &buckets[i]; *link;) {
            struct centry *e = *link;
            if (!e->tomb && e->dead != UINT64_MAX && e->dead_cycle + DEAD_KEEP_CYCLES < cycle) {
                pyframe_code_release(&e->info);
                e->tomb = 1;
            }
            struct centry *t = e->tomb ? buckets[i] : NULL;
            while (t && (t == e || !t->tomb || t->ptr != e->ptr))
                t = t->next;
            if (t) { /* another tombstone of the address: e joins it */
                t->born = e->born < t->born ? e->born : t->born;
                t->dead = e->dead > t->dead ? e->dead : t->dead;
                *link = e->next;
                free(e);
                nentries--;
                continue;
            }
            link = &e->next;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

static void wait_for_unlocked(void *ptr)
{
    for (size_t i = 0; i < nwaiting; i++)
        if (waiting[i] == ptr)
            return;
    if (util_reserve((void **)&waiting, &capwaiting, nwaiting + 1, sizeof *waiting, WAITING_FIRST) <
        0)
        return;
    waiting[nwaiting++] = ptr;
}

/* The strings of e's WIRE_CODE record: filename, name, qualname. */
static void code_strings(const struct centry *e, struct wire_str s[3])
{
    const char *v[3] = {e->info.filename ? e->info.filename : "", e->info.name, e->info.qualname};
    for (int i = 0; i < 3; i++)
        s[i] = (struct wire_str){v[i], (uint32_t)strlen(v[i])};
}

static size_t code_record_size(const struct centry *e)
{
    struct wire_str s[3];
    code_strings(e, s);
    return wire_size(sizeof(struct wire_code), s, 3);
}

static size_t put_code(const struct centry *e, uint8_t *dst, size_t cap)
{
    struct wire_code c = {.key = e->key, .firstlineno = e->info.firstlineno};
    struct wire_str s[3];
    code_strings(e, s);
    return wire_encode(dst, cap, WIRE_CODE, &c, sizeof c, s, 3);
}

static int sent_state(const struct centry *e)
{
    return e->sent_round == sent_round ? e->sent : 0;
}

static void set_sent(struct centry *e, int state)
{
    e->sent = state;
    e->sent_round = sent_round;
}

/* Undo the "to send with this sample" marks of entries[0..n). */
static void unmark_unlocked(struct centry **entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (entries[i] && sent_state(entries[i]) == 2)
            set_sent(entries[i], 0);
}

/*
 * One stack of a sample's native return addresses ns (innermost first) and
 * its Python frames py (n, innermost first, entry[] marking the outermost
 * frame of each run of the eval loop) into out: the frames above the signal
 * trampoline are pyscope's handler and go; each eval-loop frame becomes the
 * Python frames it runs; interpreter internals are hidden. The native
 * functions' keys go to keys (*nkeys). Returns the frame count.
 */
static struct coderef_natives natives_ops; /* none until coderef_set_natives */

void coderef_set_natives(const struct coderef_natives *ops)
{
    natives_ops = *ops;
}

/* A raw sample or collection as its WIRE_SAMPLE or WIRE_GC, after the
 * WIRE_CODE records of code objects the recorder has not seen. */
static long transform_unlocked(const struct wire_rec *rec, uint8_t *dst, size_t cap)
{
    struct rawrec_sample raw;
    struct rawrec_gc rawgc;
    struct wire_str fs;
    int is_gc = rec->type == RAWREC_GC;
    if (is_gc) {
        wire_fixed(rec, &rawgc, sizeof rawgc);
        raw.epoch = rawgc.epoch;
    } else {
        wire_fixed(rec, &raw, sizeof raw);
    }
    if (wire_string(rec, 0, &fs) < 0)
        return 0;
    size_t n = fs.len / sizeof(struct pyframe_raw);
    struct wire_frame frames[WIRE_SAMPLE_MAX_DEPTH];
    struct centry *entries[WIRE_SAMPLE_MAX_DEPTH];
    uint8_t entry[WIRE_SAMPLE_MAX_DEPTH]; /* PYFRAME_ENTRY of each */
    if (n > WIRE_SAMPLE_MAX_DEPTH)
        n = WIRE_SAMPLE_MAX_DEPTH;
    int missing = 0;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        struct pyframe_raw f;
        memcpy(&f, fs.p + i * sizeof f, sizeof f);
        entries[i] = find_unlocked(f.code, raw.epoch);
        entry[i] = (f.reserved & PYFRAME_ENTRY) != 0;
        if (entries[i] && entries[i]->tomb) {
            ndropped++; /* queued for longer than its description was kept */
            unmark_unlocked(entries, i);
            return 0;
        }
        if (!entries[i]) {
            missing = 1;
            wait_for_unlocked(f.code);
            continue;
        }
        frames[i] = (struct wire_frame){.code = entries[i]->key,
                                        .line = pyframe_line(&entries[i]->info, f.lasti)};
        if (!sent_state(entries[i])) {
            need += code_record_size(entries[i]);
            set_sent(entries[i], 2); /* counted once even if the stack repeats it */
        }
    }
    if (missing || need > cap)
        unmark_unlocked(entries, n);
    if (missing) {
        if (give_up) {
            ndropped++;
            return 0;
        }
        return -1;
    }
    struct wire_sample s = {0};
    if (!is_gc)
        s = (struct wire_sample){.tid = raw.tid,
                                 .t_ns = raw.t_ns,
                                 .cpu_ns = raw.cpu_ns,
                                 .state = raw.state,
                                 .flags = raw.flags};
    const void *fixed = is_gc ? (const void *)&rawgc.gc : (const void *)&s;
    size_t fixed_size = is_gc ? sizeof rawgc.gc : sizeof s;
    struct wire_str str = {(const char *)frames, (uint32_t)(n * sizeof *frames)};
    static struct wire_frame merged[WIRE_SAMPLE_MAX_DEPTH + RAWREC_NATIVE_MAX]; /* reg_lock */
    static uint64_t natives[RAWREC_NATIVE_MAX];
    size_t nnatives = 0;
    struct wire_str ns;
    if (!is_gc && natives_ops.merge && rec->nstr >= 2 && wire_string(rec, 1, &ns) == 0 &&
        ns.len) {
        uint64_t ips[RAWREC_NATIVE_MAX];
        size_t nips = ns.len / sizeof *ips;
        if (nips > RAWREC_NATIVE_MAX)
            nips = RAWREC_NATIVE_MAX;
        memcpy(ips, ns.p, nips * sizeof *ips);
        size_t m = natives_ops.merge(ips, nips, 1, frames, entry, n,
                                     (raw.flags & WIRE_SAMPLE_TRUNCATED) != 0, merged, natives,
                                     &nnatives);
        for (size_t k = 0; k < nnatives; k++)
            need += (size_t)natives_ops.put(natives[k], NULL, 0, 1);
        str = (struct wire_str){(const char *)merged, (uint32_t)(m * sizeof *merged)};
    }
    need += wire_size(fixed_size, &str, 1);
    if (need > cap) {
        unmark_unlocked(entries, n);
        return -1;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (sent_state(entries[i]) == 2) {
            out += put_code(entries[i], dst + out, cap - out);
            set_sent(entries[i], 1);
        }
    }
    for (size_t k = 0; k < nnatives; k++)
        out += (size_t)natives_ops.put(natives[k], dst + out, cap - out, 0);
    out += wire_encode(dst + out, cap - out, is_gc ? WIRE_GC : WIRE_SAMPLE, fixed, fixed_size, &str,
                       1);
    return (long)out;
}

long coderef_sink(const uint8_t *rec, size_t len, uint8_t *dst, size_t cap, void *ctx)
{
    struct wire_hdr h;
    memcpy(&h, rec, sizeof h);
    if (h.type != RAWREC_SAMPLE && h.type != RAWREC_GC) {
        if (len > cap)
            return -1;
        memcpy(dst, rec, len);
        return (long)len;
    }
    struct wire_rec r;
    if (wire_decode(rec, len, &r) < 0)
        return 0;
    pthread_mutex_lock(&reg_lock);
    long n = transform_unlocked(&r, dst, cap);
    pthread_mutex_unlock(&reg_lock);
    return n;
}

int coderef_settle_ready(void)
{
    unsigned old = (atomic_load(&cur_filter) + 1) & 1;
    return !other_clean && atomic_load_explicit(&filter_users[old], memory_order_acquire) == 0;
}

void coderef_settle(void)
{
    pthread_mutex_lock(&reg_lock);
    unsigned old = (atomic_load(&cur_filter) + 1) & 1;
    if (!other_clean && nwaiting == 0 &&
        atomic_load_explicit(&filter_users[old], memory_order_acquire) == 0) {
        for (size_t i = 0; i < FILTER_WORDS; i++)
            atomic_store_explicit(&inflight[old][i], 0, memory_order_relaxed);
        other_clean = 1;
    }
    pthread_mutex_unlock(&reg_lock);
}

int coderef_pending(void)
{
    pthread_mutex_lock(&reg_lock);
    int n = nwaiting > 0;
    pthread_mutex_unlock(&reg_lock);
    return n;
}

void coderef_resolve(int allow_gil)
{
    int g = allow_gil ? pyframe_gil_take() : -1;
    if (g < 0) {
        /* Until the next cycle, samples that wait are dropped. */
        pthread_mutex_lock(&reg_lock);
        give_up = 1;
        nwaiting = 0;
        pthread_mutex_unlock(&reg_lock);
        return;
    }
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nwaiting; i++) {
        /* With the GIL held nothing can free it now; if it died while we
         * waited, the dealloc hook has closed an entry for it already and
         * what lives at the address is a new object, described afresh. */
        if (!find_unlocked(waiting[i], UINT64_MAX - 1))
            add_unlocked(waiting[i]);
    }
    nwaiting = 0;
    pthread_mutex_unlock(&reg_lock);
    pyframe_gil_drop(g);
}

uint64_t coderef_dropped(void)
{
    pthread_mutex_lock(&reg_lock);
    uint64_t n = ndropped;
    pthread_mutex_unlock(&reg_lock);
    return n;
}

void coderef_fork_prepare(void)
{
    pthread_mutex_lock(&reg_lock);
}

void coderef_fork_parent(void)
{
    pthread_mutex_unlock(&reg_lock);
}

void coderef_fork_child(void)
{
    sent_round++;
    nwaiting = 0;
    give_up = 0;
    for (int f = 0; f < 2; f++) {
        atomic_store(&filter_users[f], 0); /* handlers of other threads are gone */
        for (size_t i = 0; i < FILTER_WORDS; i++)
            atomic_store_explicit(&inflight[f][i], 0, memory_order_relaxed);
    }
    other_clean = 1;
    pthread_mutex_unlock(&reg_lock);
}

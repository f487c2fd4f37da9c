/*
 * The sampling profiler's read side (samples.h). A run may hold millions of
 * samples but only thousands of distinct stacks, so the work is shaped
 * around the stacks: the samples are read once, in the table's own order
 * (thread_id, t_ns), and summed per distinct (thread, stack) in a hash table
 * in memory; every view then walks each distinct stack once through an
 * in-memory copy of the functions, frames and stacks tables.
 *
 * Why not GROUP BY in SQL: the samples table is keyed by (thread_id, t_ns),
 * so grouping by stack_id makes SQLite sort every row through a temporary
 * b-tree, three to five times slower than one plain scan summed here (0.3 to
 * 0.5 s against 0.1 s for a million samples). The scan also gives each
 * thread's first and last sample times, from which the mean sampling
 * interval follows when the run did not record its rate.
 *
 * A memory snapshot is read the same way: its snapshot_traces rows are the
 * aggregates (bytes and blocks per allocation traceback), the stacks the
 * same tree, so every view of samples is also a view of live memory.
 *
 * Ids from the database are mapped to dense indices; a row that points to
 * an id the database lacks (a run cut short, a damaged file) becomes an
 * "[unknown]" pseudo-function instead of an error, and a parent chain that
 * loops is cut, so no database can make a view crash or spin.
 */
#define _GNU_SOURCE /* fnmatch */
#include "samples.h"
#include "samples_internal.h"
#include "util.h"
#include "db.h"
#include "error.h"
#include "intern.h"
#include "memsnap.h"
#include "stacks.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NULL_STACK INT64_MIN /* the key of samples whose stack_id is NULL */

void smp_free(struct smp_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nthreads; i++)
        free((char *)p->threads[i].name);
    stacks_free(p->st);
    free(p->fns);
    free(p->frames);
    free(p->lines);
    free(p->node_parent);
    free(p->node_frame);
    free(p->threads);
    free(p->spans);
    free(p->aggs);
    free(p->cwd);
    free((char *)p->snap.label);
    free((char *)p->snap.trigger);
    free(p);
}

/* The index of line (fn, line) in p->lines, added when new. */
static int intern_line(struct smp_profile *p, struct pmap *map, uint32_t fn, int64_t line,
                       uint32_t *idx)
{
    int err = pmap_intern(map, fn, line, (uint32_t)p->nlines, idx);
    if (err < 0 || *idx != p->nlines)
        return err;
    if ((err = util_grow((void **)&p->lines, &p->caplines, p->nlines, sizeof *p->lines)) < 0)
        return err;
    p->lines[p->nlines++] = (struct linekey){fn, line};
    return 0;
}

/* The pseudo-function of kind sp, made on first use. */
static int special_function(struct smp_profile *p, enum smp_special sp, uint32_t *idx)
{
    static const char *const names[] = {
        [SMP_TRUNCATED] = "[truncated]",
        [SMP_NOSTACK] = "[no Python frame]",
        [SMP_UNKNOWN] = "[unknown]",
        [SMP_OWN] = "[pyscope]",
    };
    int err;
    if ((*idx = p->special_fn[sp]) != SMP_NONE)
        return 0;
    if ((err = util_grow((void **)&p->fns, &p->capfns, p->nfns, sizeof *p->fns)) < 0)
        return err;
    p->fns[p->nfns] = (struct smp_function){.kind = SMP_KIND_PYTHON,
                                            .special = sp,
                                            .name = names[sp],
                                            .qualname = names[sp],
                                            .matched = !p->has_filter_fn};
    *idx = p->special_fn[sp] = (uint32_t)p->nfns++;
    return 0;
}

/* A frame of pseudo-function sp without a line, made on first use. */
static int special_frame(struct smp_profile *p, struct pmap *lines, enum smp_special sp,
                         uint32_t *idx)
{
    uint32_t fn, li;
    int err;
    if ((err = special_function(p, sp, &fn)) < 0 || (err = intern_line(p, lines, fn, 0, &li)) < 0)
        return err;
    if ((err = util_grow((void **)&p->frames, &p->capframes, p->nframes, sizeof *p->frames)) < 0)
        return err;
    p->frames[p->nframes] = (struct frame){.fn = fn, .lineidx = li};
    *idx = (uint32_t)p->nframes++;
    return 0;
}

/* A root stack node of frame, for samples without a usable stack. */
static int special_node(struct smp_profile *p, uint32_t frame, uint32_t *idx)
{
    int err;
    if ((err = util_grow((void **)&p->node_parent, &p->capnodes, p->nnodes,
                         sizeof *p->node_parent)) < 0)
        return err;
    void *nf = realloc(p->node_frame, p->capnodes * sizeof *p->node_frame);
    if (!nf)
        return PYSCOPE_ENOMEM;
    p->node_frame = nf;
    p->node_parent[p->nnodes] = SMP_NONE;
    p->node_frame[p->nnodes] = frame;
    *idx = (uint32_t)p->nnodes++;
    return 0;
}

static int load_meta(sqlite3 *db, struct smp_profile *p, double *rate_hz)
{
    char *cwd = NULL, *rate = NULL;
    int err;
    *rate_hz = 0;
    if ((err = vdb_meta(db, "cwd", &cwd)) < 0 || (err = vdb_meta(db, "sample_rate_hz", &rate)) < 0)
        goto out;
    if (rate) {
        char *end;
        errno = 0;
        double hz = strtod(rate, &end);
        if (!errno && end != rate && !*end && isfinite(hz) && hz > 0)
            *rate_hz = hz;
    }
    if (cwd) {
        size_t n = strlen(cwd);
        while (n > 0 && cwd[n - 1] == '/')
            cwd[--n] = '\0';
        if (n) {
            p->cwd = cwd;
            p->cwdlen = n;
            cwd = NULL;
        }
    }
out:
    free(cwd);
    free(rate);
    return err;
}

static int load_threads(sqlite3 *db, struct smp_profile *p, struct pmap *map)
{
    sqlite3_stmt *st;
    int rc, err = vdb_prepare(db,
                              "SELECT t.id, t.name, t.os_tid, p.pid FROM threads t"
                              " LEFT JOIN processes p ON p.id = t.process_id ORDER BY t.id",
                              &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t idx;
        if ((err = util_grow((void **)&p->threads, &p->capthreads, p->nthreads,
                             sizeof *p->threads)) < 0)
            goto out;
        struct smp_thread *t = &p->threads[p->nthreads];
        *t = (struct smp_thread){.id = sqlite3_column_int64(st, 0),
                                 .os_tid = sqlite3_column_int64(st, 2),
                                 .pid = sqlite3_column_int64(st, 3)};
        char *name;
        if ((err = vdb_col_text(st, 1, &name)) < 0)
            goto out;
        t->name = name;
        p->nthreads++;
        if ((err = pmap_intern(map, t->id, 0, (uint32_t)(p->nthreads - 1), &idx)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

/* The index of thread id, adding a nameless one for an id the threads table lacks. */
static int thread_index(struct smp_profile *p, struct pmap *map, int64_t id, uint32_t *idx)
{
    int err = pmap_intern(map, id, 0, (uint32_t)p->nthreads, idx);
    if (err < 0 || *idx != p->nthreads)
        return err;
    if ((err = util_grow((void **)&p->threads, &p->capthreads, p->nthreads, sizeof *p->threads)) <
        0)
        return err;
    p->threads[p->nthreads++] = (struct smp_thread){.id = id};
    return 0;
}

/*
 * Mark in sel (one flag per thread) the threads f selects by thread and
 * process; PYSCOPE_ENOTFOUND with msg set when none.
 */
static int select_threads(const struct smp_profile *p, const struct smp_filter *f, const char *path,
                          unsigned char *sel, char *msg, size_t msglen)
{
    int64_t id = -1;
    size_t nsel = 0;
    if (f->thread && util_parse_i64(f->thread, &id) < 0)
        id = -1; /* a name */
    for (size_t i = 0; i < p->nthreads; i++) {
        const struct smp_thread *t = &p->threads[i];
        int ok = 1;
        if (f->thread)
            ok = t->id == id || (t->name && !strcmp(t->name, f->thread));
        if (f->has_pid)
            ok = ok && t->pid == f->pid;
        sel[i] = (unsigned char)ok;
        nsel += ok;
    }
    if (nsel)
        return 0;
    if (f->thread && f->has_pid)
        vdb_msg(msg, msglen, "no thread '%s' in process %lld in '%s'", f->thread, (long long)f->pid,
                path);
    else if (f->thread)
        vdb_msg(msg, msglen, "no thread '%s' in '%s'", f->thread, path);
    else
        vdb_msg(msg, msglen, "no process with pid %lld in '%s'", (long long)f->pid, path);
    return PYSCOPE_ENOTFOUND;
}

_Static_assert((int)SMP_KIND_PYTHON == (int)STACKS_PYTHON &&
                   (int)SMP_KIND_BUILTIN == (int)STACKS_BUILTIN &&
                   (int)SMP_KIND_NATIVE == (int)STACKS_NATIVE,
               "a function's kind reads the same in both");

/*
 * The run's functions, frames and whole stack tree (read into st, which p
 * takes and whose names its functions borrow) as p's: every frame with its
 * line interned, every id st lacks pointing at the "[unknown]"
 * pseudo-function. pattern is the function filter, or NULL.
 */
static int take_stacks(struct smp_profile *p, struct stacks *st, struct pmap *lines,
                       const char *pattern)
{
    int err;
    p->st = st;
    if ((err = stacks_load(st, INT64_MAX)) < 0)
        return err;
    p->capfns = st->fn_ids.n + 1;
    p->capframes = st->frame_ids.n + 1;
    p->capnodes = st->node_ids.n + 1;
    if (!(p->fns = malloc(p->capfns * sizeof *p->fns)) ||
        !(p->frames = malloc(p->capframes * sizeof *p->frames)) ||
        !(p->node_parent = malloc(p->capnodes * sizeof *p->node_parent)) ||
        !(p->node_frame = malloc(p->capnodes * sizeof *p->node_frame)))
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < st->fn_ids.n; i++) {
        const struct stacks_function *f = &st->fns[i];
        const char *name = f->name ? f->name : "?";
        const char *qualname = f->qualname ? f->qualname : name;
        p->fns[p->nfns++] = (struct smp_function){
            .id = f->id,
            .kind = (enum smp_kind)f->kind,
            .special = f->marker ? SMP_TRUNCATED : f->own ? SMP_OWN : SMP_REAL,
            .filename = f->filename,
            .name = name,
            .qualname = qualname,
            .firstlineno = f->firstlineno,
            .source = f->source,
            .matched = !pattern || !fnmatch(pattern, qualname, 0) || !fnmatch(pattern, name, 0)};
    }
    p->nreal_fns = p->nfns;
    for (size_t i = 0; i < st->frame_ids.n; i++) {
        uint32_t fn = st->frames[i].fn;
        int64_t line = st->frames[i].line;
        if (fn == STACKS_NONE && (err = special_function(p, SMP_UNKNOWN, &fn)) < 0)
            return err;
        if ((err = util_grow((void **)&p->frames, &p->capframes, p->nframes, sizeof *p->frames)) <
            0)
            return err;
        struct frame *f = &p->frames[p->nframes];
        f->fn = fn;
        f->line = line > 0 ? line : 0;
        if ((err = intern_line(p, lines, fn, f->line, &f->lineidx)) < 0)
            return err;
        p->nframes++;
    }
    /* A parent the table lacks makes its child a root: the stack is shown shorter. */
    for (size_t i = 0; i < st->node_ids.n; i++) {
        uint32_t frame = st->nodes[i].frame;
        if (frame == STACKS_NONE) {
            if (p->unknown_frame == SMP_NONE &&
                (err = special_frame(p, lines, SMP_UNKNOWN, &p->unknown_frame)) < 0)
                return err;
            frame = p->unknown_frame;
        }
        p->node_parent[i] = st->nodes[i].parent;
        p->node_frame[i] = frame;
    }
    p->nnodes = st->node_ids.n;
    return 0;
}

/* Count one sample row in its thread's span, and add it to its (thread,
 * stack) aggregate when the state filter keeps it. */
/* 35 years of ticks at 1 kHz: more than any row of a run can hold, small
 * enough that millions of rows add up without overflow. */
#define SMP_TICKS_MAX ((int64_t)1 << 40)

static int add_sample(struct smp_profile *p, struct pmap *aggmap, uint32_t thread, int64_t stack_id,
                      int64_t t_ns, int64_t cpu_ns, int64_t state, int64_t ticks, uint32_t *last,
                      int64_t *last_stack)
{
    struct span *s = &p->spans[thread];
    if (ticks < 1)
        ticks = 1;
    if (ticks > SMP_TICKS_MAX) /* a damaged row: no sum may overflow */
        ticks = SMP_TICKS_MAX;
    if (!s->count) {
        s->first = s->last = t_ns;
        s->last_ticks = ticks;
    } else {
        if (t_ns < s->first)
            s->first = t_ns;
        if (t_ns > s->last) {
            s->last = t_ns;
            s->last_ticks = ticks;
        }
    }
    s->count += ticks;
    if (state >= 0 && state < SMP_NSTATES)
        p->totals.by_state[state] += ticks;
    if (p->states && (state < 0 || state >= SMP_NSTATES || !(p->states & (1u << state))))
        return 0;

    uint32_t idx = *last;
    int err, st = p->by_state ? (int)state : -1;
    if (idx == SMP_NONE || *last_stack != stack_id || p->aggs[idx].thread != thread ||
        p->aggs[idx].state != st) {
        /* by state: the state in the key's top bits, above any thread index */
        uint32_t key = p->by_state ? thread | (uint32_t)state << 29 : thread;
        if (p->by_state && thread >= 1u << 29)
            return PYSCOPE_ENOMEM;
        if ((err = pmap_intern(aggmap, key, stack_id, (uint32_t)p->naggs, &idx)) < 0)
            return err;
        if (idx == p->naggs) {
            if ((err = util_grow((void **)&p->aggs, &p->capaggs, p->naggs, sizeof *p->aggs)) < 0)
                return err;
            p->aggs[p->naggs++] = (struct agg){.thread = thread, .state = st, .stack_id = stack_id};
        }
        *last = idx;
        *last_stack = stack_id;
    }
    struct agg *a = &p->aggs[idx];
    if (cpu_ns < 0)
        cpu_ns = 0;
    a->count += ticks;
    a->cpu_ns += cpu_ns;
    a->cpu_count += cpu_ns > 0 ? ticks : 0;
    return 0;
}

/*
 * Scan the samples of the selected threads (all of them when sel is NULL)
 * into p->aggs.
 */
static int scan_samples(sqlite3 *db, struct smp_profile *p, struct pmap *threadmap,
                        const unsigned char *sel)
{
    struct pmap aggmap = {0};
    sqlite3_stmt *st = NULL;
    uint32_t last = SMP_NONE;
    int64_t last_stack = 0;
    size_t nsel = sel ? p->nthreads : 1;
    int rc = SQLITE_DONE, err;

    p->spans = calloc(p->nthreads + 1, sizeof *p->spans);
    if (!p->spans)
        return PYSCOPE_ENOMEM;
    char *sql = sqlite3_mprintf("SELECT %s, stack_id, t_ns, cpu_ns, state, %s FROM samples%s",
                                sel ? "?1" : "thread_id", vdb_sample_ticks(db),
                                sel ? " WHERE thread_id = ?1" : "");
    err = sql ? vdb_prepare(db, sql, &st) : PYSCOPE_ENOMEM;
    sqlite3_free(sql);
    for (size_t k = 0; !err && k < nsel; k++) {
        if (sel && !sel[k])
            continue;
        if (sel) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, p->threads[k].id);
        }
        int64_t last_tid = 0;
        uint32_t thread = sel ? (uint32_t)k : SMP_NONE;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t tid = sqlite3_column_int64(st, 0);
            if (thread == SMP_NONE || tid != last_tid) {
                size_t had = p->nthreads;
                if ((err = thread_index(p, threadmap, tid, &thread)) < 0)
                    break;
                if (p->nthreads != had) { /* a thread the threads table lacks */
                    struct span *s = realloc(p->spans, (p->nthreads + 1) * sizeof *s);
                    if (!s) {
                        err = PYSCOPE_ENOMEM;
                        break;
                    }
                    p->spans = s;
                    p->spans[p->nthreads - 1] = (struct span){0};
                }
                last_tid = tid;
            }
            int64_t stack = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL_STACK
                                                                      : sqlite3_column_int64(st, 1);
            if ((err = add_sample(p, &aggmap, thread, stack, sqlite3_column_int64(st, 2),
                                  sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                                  sqlite3_column_int64(st, 5), &last, &last_stack)) < 0)
                break;
        }
        if (!err && rc != SQLITE_DONE)
            err = vdb_err(rc);
    }
    sqlite3_finalize(st);
    pmap_release(&aggmap);
    return err;
}

/* Leaf node of each aggregate, and what the clock makes of its samples. */
/*
 * --no-native: each node of a native frame stands for its nearest caller
 * that is not native (SMP_NONE: none, the stack has no Python frame), as if
 * the run had been recorded without --native. Children are hung under it
 * too; *fold_out maps every node to the node that stands for it.
 */
#define FOLD_UNKNOWN (SMP_NONE - 1)

static int fold_native(struct smp_profile *p, uint32_t **fold_out)
{
    uint32_t *fold = malloc((p->nnodes ? p->nnodes : 1) * sizeof *fold);
    uint32_t *path = malloc((walk_cap(p) + 1) * sizeof *path);
    if (!fold || !path) {
        free(fold);
        free(path);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < p->nnodes; i++)
        fold[i] = FOLD_UNKNOWN;
    const size_t cap = walk_cap(p);
    for (size_t i = 0; i < p->nnodes; i++) {
        size_t len = 0;
        uint32_t n = (uint32_t)i, found = SMP_NONE;
        while (n != SMP_NONE && len < cap) {
            if (fold[n] != FOLD_UNKNOWN) {
                found = fold[n];
                break;
            }
            if (p->fns[p->frames[p->node_frame[n]].fn].kind != SMP_KIND_NATIVE) {
                found = n;
                break;
            }
            path[len++] = n;
            n = p->node_parent[n];
        }
        while (len > 0)
            fold[path[--len]] = found;
        if (fold[i] == FOLD_UNKNOWN)
            fold[i] = found; /* i itself is not native */
    }
    for (size_t i = 0; i < p->nnodes; i++)
        if (fold[i] == i && p->node_parent[i] != SMP_NONE)
            p->node_parent[i] = fold[p->node_parent[i]];
    free(path);
    *fold_out = fold;
    return 0;
}

/* The node of stack id, or SMP_NONE when the stacks table lacks it. */
static uint32_t leaf_node(const struct smp_profile *p, int64_t id)
{
    size_t i = stacks_index(&p->st->node_ids, id);
    return i == SIZE_MAX ? SMP_NONE : (uint32_t)i;
}

static int resolve_aggs(struct smp_profile *p, struct pmap *lines, const uint32_t *fold)
{
    int err;
    for (size_t i = 0; i < p->naggs; i++) {
        struct agg *a = &p->aggs[i];
        enum smp_special sp = SMP_REAL;
        uint32_t *node = NULL;
        a->leaf = SMP_NONE;
        if (a->stack_id == NULL_STACK) {
            sp = SMP_NOSTACK;
            node = &p->nostack_node;
        } else if ((a->leaf = leaf_node(p, a->stack_id)) == SMP_NONE) {
            sp = SMP_UNKNOWN;
            node = &p->unknown_node;
        } else if (fold && (a->leaf = fold[a->leaf]) == SMP_NONE) {
            sp = SMP_NOSTACK; /* only native frames */
            node = &p->nostack_node;
        }
        if (node && *node == SMP_NONE) {
            uint32_t frame;
            if (sp == SMP_UNKNOWN && p->unknown_frame != SMP_NONE)
                frame = p->unknown_frame;
            else if ((err = special_frame(p, lines, sp, &frame)) < 0)
                return err;
            if (sp == SMP_UNKNOWN)
                p->unknown_frame = frame;
            if ((err = special_node(p, frame, node)) < 0)
                return err;
        }
        if (node)
            a->leaf = *node;
        a->samples = p->clock == SMP_CLOCK_CPU ? a->cpu_count : a->count;
        a->weight = p->clock == SMP_CLOCK_CPU     ? a->cpu_ns
                    : p->clock == SMP_CLOCK_BYTES ? a->bytes
                                                  : a->count;
    }
    return 0;
}

/*
 * Keep the aggregates that count under the clock and pass the function
 * filter, and sum the totals. through[] memoises per node whether the
 * stack up to it holds a matching function (0 not known, 1 no, 2 yes).
 */
static int select_aggs(struct smp_profile *p)
{
    unsigned char *through = NULL;
    uint32_t *path = NULL;
    struct smp_totals *t = &p->totals;
    size_t kept = 0;

    const size_t cap = walk_cap(p);
    if (p->has_filter_fn) {
        through = calloc(p->nnodes ? p->nnodes : 1, 1);
        path = malloc((cap + 1) * sizeof *path);
        if (!through || !path) {
            free(through);
            free(path);
            return PYSCOPE_ENOMEM;
        }
    }
    for (size_t i = 0; i < p->naggs; i++) {
        struct agg *a = &p->aggs[i];
        if (a->samples <= 0 && a->weight <= 0)
            continue;
        t->all_samples += a->samples;
        t->all_weight += a->weight;

        /* The root, to see a cut stack; and, with a filter, whether it passes. */
        size_t len = 0;
        uint32_t n = a->leaf, root = n;
        int pass = 1;
        while (n != SMP_NONE && len < cap) {
            if (through && through[n])
                break;
            if (path)
                path[len] = n;
            len++;
            root = n;
            n = p->node_parent[n];
        }
        if (through) {
            int yes = n != SMP_NONE && through[n] == 2;
            for (size_t k = len; k-- > 0;) {
                uint32_t m = path[k];
                yes = yes || p->fns[p->frames[p->node_frame[m]].fn].matched;
                through[m] = yes ? 2 : 1;
            }
            pass = a->leaf != SMP_NONE && through[a->leaf] == 2;
            /* The walk stopped at a known node: finish it for the root. */
            while (n != SMP_NONE && len++ < cap) {
                root = n;
                n = p->node_parent[n];
            }
        }
        if (!pass)
            continue;
        if (a->leaf != SMP_NONE && p->fns[p->frames[p->node_frame[a->leaf]].fn].special == SMP_OWN) {
            t->own_samples += a->samples;
            t->own_weight += a->weight;
            if (!p->with_own)
                continue;
        }
        if (root != SMP_NONE &&
            p->fns[p->frames[p->node_frame[root]].fn].special == SMP_TRUNCATED) {
            t->truncated_samples += a->samples;
            t->truncated_weight += a->weight;
        }
        t->samples += a->samples;
        t->weight += a->weight;
        p->aggs[kept++] = *a;
    }
    p->naggs = kept;
    t->nstacks = kept;
    free(through);
    free(path);
    return 0;
}

static void compute_interval(struct smp_profile *p, double rate_hz)
{
    int64_t span = 0, gaps = 0;
    if (rate_hz > 0) {
        p->totals.interval_ns = llround(1e9 / rate_hz);
        return;
    }
    for (size_t i = 0; i < p->nthreads; i++) {
        /* The ticks from the first row's first to the last row's first. */
        if (p->spans[i].count - p->spans[i].last_ticks >= 1) {
            span += p->spans[i].last - p->spans[i].first;
            gaps += p->spans[i].count - p->spans[i].last_ticks;
        }
    }
    p->totals.interval_ns = gaps > 0 && span > 0 ? (span + gaps / 2) / gaps : 0;
}

/* An empty profile weighed by clock; NULL when out of memory. */
static struct smp_profile *profile_new(enum smp_clock clock, const char *function)
{
    struct smp_profile *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->clock = clock;
    p->totals.clock = clock;
    p->has_filter_fn = function != NULL;
    memset(p->special_fn, 0xff, sizeof p->special_fn);
    p->unknown_frame = p->nostack_node = p->unknown_node = SMP_NONE;
    return p;
}

/*
 * The stack tree of db into p, its functions matched against f's filter,
 * and with --no-native *fold (the caller frees it) as fold_native makes it.
 */
static int load_tree(sqlite3 *db, struct smp_profile *p, const struct smp_filter *f,
                     struct pmap *lines, uint32_t **fold)
{
    struct stacks *st;
    int err = stacks_open(db, &st);
    if (err < 0 || (err = take_stacks(p, st, lines, f->function)) < 0)
        return err; /* p owns st from take_stacks on */
    return f->no_native ? fold_native(p, fold) : 0;
}

/* The message for a load that failed with err, when the step that failed left none. */
static void load_failed(sqlite3 *db, const char *path, int err, char *msg, size_t msglen)
{
    if (err == PYSCOPE_EDB)
        vdb_msg(msg, msglen, "cannot read '%s': %s", path, sqlite3_errmsg(db));
    else if (err == PYSCOPE_ENOMEM)
        vdb_msg(msg, msglen, "cannot read '%s': %s", path, pyscope_strerror(err));
}

int smp_load(sqlite3 *db, const char *path, const struct smp_filter *f, struct smp_profile **out,
             char *msg, size_t msglen)
{
    static const struct smp_filter all = {0};
    struct pmap threadmap = {0}, lines = {0};
    unsigned char *sel = NULL;
    uint32_t *fold = NULL;
    struct smp_profile *p;
    double rate_hz = 0;
    int err;

    *out = NULL;
    vdb_msg(msg, msglen, "%s", "");
    if (!f)
        f = &all;
    if (!(p = profile_new(f->clock, f->function)))
        return PYSCOPE_ENOMEM;
    p->states = f->states;
    p->with_own = f->with_own;
    p->by_state = f->by_state;

    if ((err = load_meta(db, p, &rate_hz)) < 0 || (err = load_threads(db, p, &threadmap)) < 0)
        goto out;
    if (f->thread || f->has_pid) {
        if (!(sel = calloc(p->nthreads + 1, 1))) {
            err = PYSCOPE_ENOMEM;
            goto out;
        }
        if ((err = select_threads(p, f, path, sel, msg, msglen)) < 0)
            goto out;
    }
    if ((err = load_tree(db, p, f, &lines, &fold)) < 0 ||
        (err = scan_samples(db, p, &threadmap, sel)) < 0 ||
        (err = resolve_aggs(p, &lines, fold)) < 0 || (err = select_aggs(p)) < 0)
        goto out;
    compute_interval(p, rate_hz);
out:
    if (err < 0) {
        load_failed(db, path, err, msg, msglen);
        smp_free(p);
        p = NULL;
    }
    free(sel);
    free(fold);
    pmap_release(&threadmap);
    pmap_release(&lines);
    *out = p;
    return err;
}

/* The snapshots row of p->snap.id into p->snap; PYSCOPE_ENOTFOUND with msg set when none. */
static int load_snapshot_row(sqlite3 *db, struct smp_profile *p, const char *path, char *msg,
                             size_t msglen)
{
    struct memsnap row;
    int err = memsnap_find(db, path, p->snap.id, &row, msg, msglen);
    if (err < 0)
        return err;
    p->snap = (struct smp_snapshot){.id = row.id,
                                    .process_id = row.process_id,
                                    .pid = row.pid,
                                    .label = row.label, /* p takes them */
                                    .trigger = row.trigger,
                                    .t_ns = row.t_ns,
                                    .traced_bytes = row.traced_bytes,
                                    .traced_blocks = row.traced_blocks,
                                    .peak_bytes = row.peak_bytes,
                                    .rss_bytes = row.rss_bytes};
    return 0;
}

/* The snapshot's traces into p->aggs, one per stack (rows of one stack are summed). */
static int scan_traces(sqlite3 *db, struct smp_profile *p)
{
    struct pmap aggmap = {0};
    sqlite3_stmt *st;
    int rc,
        err = vdb_prepare(
            db, "SELECT stack_id, size, count FROM snapshot_traces WHERE snapshot_id = ?1", &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, p->snap.id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t stack =
            sqlite3_column_type(st, 0) == SQLITE_NULL ? NULL_STACK : sqlite3_column_int64(st, 0);
        int64_t size = sqlite3_column_int64(st, 1), count = sqlite3_column_int64(st, 2);
        uint32_t idx = 0;
        if ((err = pmap_intern(&aggmap, 0, stack, (uint32_t)p->naggs, &idx)) < 0)
            break;
        if (idx == p->naggs) {
            if ((err = util_grow((void **)&p->aggs, &p->capaggs, p->naggs, sizeof *p->aggs)) < 0)
                break;
            p->aggs[p->naggs++] = (struct agg){.state = -1, .stack_id = stack};
        }
        /* A damaged row's negative numbers would take from the others. */
        p->aggs[idx].bytes += size > 0 ? size : 0;
        p->aggs[idx].count += count > 0 ? count : 0;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    pmap_release(&aggmap);
    return err;
}

int smp_load_snapshot(sqlite3 *db, const char *path, int64_t id, const struct smp_filter *f,
                      struct smp_profile **out, char *msg, size_t msglen)
{
    static const struct smp_filter all = {0};
    struct pmap lines = {0};
    uint32_t *fold = NULL;
    struct smp_profile *p;
    double rate_hz;
    int err;

    if (!f)
        f = &all;
    *out = NULL;
    vdb_msg(msg, msglen, "%s", "");
    if (!(p = profile_new(SMP_CLOCK_BYTES, f->function)))
        return PYSCOPE_ENOMEM;
    p->snap.id = id;
    if ((err = load_snapshot_row(db, p, path, msg, msglen)) == 0 &&
        (err = load_meta(db, p, &rate_hz)) == 0 &&
        (err = load_tree(db, p, f, &lines, &fold)) == 0 && (err = scan_traces(db, p)) == 0 &&
        (err = resolve_aggs(p, &lines, fold)) == 0)
        err = select_aggs(p);
    free(fold);
    if (err < 0) {
        load_failed(db, path, err, msg, msglen);
        smp_free(p);
        p = NULL;
    }
    pmap_release(&lines);
    *out = p;
    return err;
}

const struct smp_snapshot *smp_snapshot(const struct smp_profile *p)
{
    return p->clock == SMP_CLOCK_BYTES ? &p->snap : NULL;
}

char *smp_snapshot_label(const struct smp_snapshot *s, char *buf, size_t len)
{
    if (s->label)
        snprintf(buf, len, "snapshot %lld '%s' (%s)", (long long)s->id, s->label, s->trigger);
    else
        snprintf(buf, len, "snapshot %lld (%s)", (long long)s->id, s->trigger);
    return buf;
}

const struct smp_totals *smp_totals(const struct smp_profile *p)
{
    return &p->totals;
}

int64_t smp_weight_ns(const struct smp_profile *p, int64_t weight)
{
    if (p->clock == SMP_CLOCK_CPU)
        return weight;
    if (p->clock == SMP_CLOCK_BYTES)
        return -1;
    return p->totals.interval_ns > 0 ? weight * p->totals.interval_ns : -1;
}

const char *smp_cwd(const struct smp_profile *p)
{
    return p->cwd;
}

const char *smp_short_path(const struct smp_profile *p, const char *filename)
{
    if (filename && p->cwd && !strncmp(filename, p->cwd, p->cwdlen) && filename[p->cwdlen] == '/' &&
        filename[p->cwdlen + 1])
        return filename + p->cwdlen + 1;
    return filename;
}

size_t smp_nthreads(const struct smp_profile *p)
{
    return p->nthreads;
}

const struct smp_thread *smp_thread(const struct smp_profile *p, size_t i)
{
    return i < p->nthreads ? &p->threads[i] : NULL;
}

char *smp_thread_label(const struct smp_thread *t, char *buf, size_t len)
{
    char name[64];
    size_t n;
    if (t->name)
        n = (size_t)snprintf(buf, len, "%s (", t->name);
    else
        n = (size_t)snprintf(buf, len, "thread %lld (", (long long)t->id);
    if (n >= len)
        return buf;
    if (t->pid)
        snprintf(name, sizeof name, "pid %lld%s", (long long)t->pid, t->os_tid ? ", " : "");
    else
        name[0] = '\0';
    if (t->os_tid)
        snprintf(buf + n, len - n, "%stid %lld)", name, (long long)t->os_tid);
    else if (*name)
        snprintf(buf + n, len - n, "%s)", name);
    else
        snprintf(buf + n, len - n, "id %lld)", (long long)t->id);
    return buf;
}

char *smp_location(const struct smp_profile *p, const struct smp_function *fn, int64_t line,
                   char *buf, size_t len)
{
    if (!line)
        line = fn->firstlineno;
    if (fn->special || !fn->filename)
        snprintf(buf, len, "%s", "");
    else if (fn->kind == SMP_KIND_NATIVE && fn->source && line > 0)
        snprintf(buf, len, "%s:%lld", smp_short_path(p, fn->source), (long long)line);
    else if (fn->kind == SMP_KIND_NATIVE || line <= 0)
        snprintf(buf, len, "%s", smp_short_path(p, fn->filename));
    else
        snprintf(buf, len, "%s:%lld", smp_short_path(p, fn->filename), (long long)line);
    return buf;
}

/* ---- per function and per line ---- */

/*
 * Sum self and total per key over the selected stacks, where key_of maps a
 * frame to a key below nkeys; total counts a key once per stack, however
 * often it recurs (stamp[key] remembers the last stack that counted it).
 */
static int sum_by_key(const struct smp_profile *p, size_t nkeys, int by_line, struct smp_stat **out)
{
    const size_t cap = walk_cap(p);
    struct smp_stat *stat = calloc(nkeys ? nkeys : 1, sizeof *stat);
    uint32_t *stamp = calloc(nkeys ? nkeys : 1, sizeof *stamp);
    if (!stat || !stamp) {
        free(stat);
        free(stamp);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < p->naggs; i++) {
        const struct agg *a = &p->aggs[i];
        uint32_t n = a->leaf;
        for (size_t depth = 0; n != SMP_NONE && depth < cap; depth++) {
            const struct frame *fr = &p->frames[p->node_frame[n]];
            uint32_t key = by_line ? fr->lineidx : fr->fn;
            if (!depth) {
                stat[key].self_samples += a->samples;
                stat[key].self_weight += a->weight;
            }
            if (stamp[key] != i + 1) {
                stamp[key] = (uint32_t)i + 1;
                stat[key].total_samples += a->samples;
                stat[key].total_weight += a->weight;
            }
            n = p->node_parent[n];
        }
    }
    free(stamp);
    *out = stat;
    return 0;
}

int smp_functions(const struct smp_profile *p, struct smp_fn_stat **rows, size_t *n)
{
    struct smp_stat *stat;
    int err = sum_by_key(p, p->nfns, 0, &stat);
    *rows = NULL;
    *n = 0;
    if (err < 0)
        return err;
    size_t count = 0;
    for (size_t i = 0; i < p->nfns; i++)
        count += stat[i].total_samples > 0 || stat[i].total_weight > 0;
    struct smp_fn_stat *r = malloc((count ? count : 1) * sizeof *r);
    if (!r) {
        free(stat);
        return PYSCOPE_ENOMEM;
    }
    count = 0;
    for (size_t i = 0; i < p->nfns; i++)
        if (stat[i].total_samples > 0 || stat[i].total_weight > 0)
            r[count++] = (struct smp_fn_stat){&p->fns[i], stat[i]};
    free(stat);
    *rows = r;
    *n = count;
    return 0;
}

int smp_lines(const struct smp_profile *p, struct smp_line_stat **rows, size_t *n)
{
    struct smp_stat *stat;
    int err = sum_by_key(p, p->nlines, 1, &stat);
    *rows = NULL;
    *n = 0;
    if (err < 0)
        return err;
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < p->nlines; i++) {
            const struct smp_function *fn = &p->fns[p->lines[i].fn];
            if (fn->special || !fn->matched ||
                !(stat[i].total_samples > 0 || stat[i].total_weight > 0))
                continue;
            if (pass)
                (*rows)[(*n)++] = (struct smp_line_stat){fn, p->lines[i].line, stat[i]};
            else
                count++;
        }
        if (!pass && !(*rows = malloc((count ? count : 1) * sizeof **rows))) {
            free(stat);
            return PYSCOPE_ENOMEM;
        }
    }
    free(stat);
    return 0;
}

static int function_id_cmp(const void *key, const void *elem)
{
    int64_t id = *(const int64_t *)key, other = ((const struct smp_function *)elem)->id;
    return (id > other) - (id < other);
}

const struct smp_function *smp_function_by_id(const struct smp_profile *p, int64_t id)
{
    /* The functions table comes first, in id order; pseudo-functions follow. */
    return p->nreal_fns ? bsearch(&id, p->fns, p->nreal_fns, sizeof *p->fns, function_id_cmp)
                        : NULL;
}

const char *smp_state_name(int state)
{
    static const char *const names[SMP_NSTATES] = {
        [SMP_STATE_RUNNING] = "running",   [SMP_STATE_NATIVE] = "native",
        [SMP_STATE_IDLE] = "idle",         [SMP_STATE_GIL] = "gil",
        [SMP_STATE_RUNNABLE] = "runnable",
    };
    return state >= 0 && state < SMP_NSTATES ? names[state] : "";
}

/* ---- stack by stack ---- */

/* smp_each_stack: each stack with its state (-1 when not by state). */
static int each_stack(const struct smp_profile *p, int (*fn)(void *ctx, const struct smp_stack *s),
                      void *ctx)
{
    const size_t cap = walk_cap(p);
    const struct smp_function **fns = malloc((cap ? cap : 1) * sizeof *fns);
    int64_t *lines = malloc((cap ? cap : 1) * sizeof *lines);
    int err = fns && lines ? 0 : PYSCOPE_ENOMEM;
    for (size_t i = 0; i < p->naggs && !err; i++) {
        const struct agg *a = &p->aggs[i];
        size_t depth = 0;
        for (uint32_t n = a->leaf; n != SMP_NONE && depth < cap; n = p->node_parent[n]) {
            const struct frame *fr = &p->frames[p->node_frame[n]];
            fns[depth] = &p->fns[fr->fn];
            lines[depth++] = fr->line;
        }
        struct smp_stack s = {
            .thread = p->clock == SMP_CLOCK_BYTES ? NULL : &p->threads[a->thread],
            .state = a->state,
            .stack_id = a->stack_id,
            .interval_ns = p->totals.interval_ns > 0 ? p->totals.interval_ns : 0,
            .fns = fns,
            .lines = lines,
            .depth = depth,
            .samples = a->count,
            .cpu_samples = a->cpu_count,
            .cpu_ns = a->cpu_ns,
            .bytes = a->bytes,
        };
        err = fn(ctx, &s);
    }
    free(fns);
    free(lines);
    return err < 0 ? err : 0;
}

int smp_each_stack(const struct smp_profile *p, int (*fn)(void *ctx, const struct smp_stack *s),
                   void *ctx)
{
    return each_stack(p, fn, ctx);
}

int smp_each_state_stack(sqlite3 *db, const char *path, const struct smp_filter *f,
                         int (*fn)(void *ctx, const struct smp_stack *s), void *ctx, char *msg,
                         size_t msglen)
{
    struct smp_filter all = *f;
    all.clock = SMP_CLOCK_WALL; /* every sample, idle or not */
    all.by_state = 1;
    struct smp_profile *p;
    int err = smp_load(db, path, &all, &p, msg, msglen);
    if (err < 0)
        return err;
    err = each_stack(p, fn, ctx);
    smp_free(p);
    return err;
}

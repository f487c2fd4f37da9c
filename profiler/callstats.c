/*
 * The call profiler of callstats.h, with the accounting of CPython's
 * _lsprof (cProfile), event for event:
 *
 *  - the profile callback sees a call and a return for every Python frame
 *    run (each resumption of a generator or coroutine is a call, each
 *    suspension a return) and for every call of a builtin function or
 *    method, named the way cProfile names it;
 *  - a call pushes a context with its start time; its return charges the
 *    elapsed time to the callee (cumulative) and, less what its own callees
 *    took, as the callee's own time (tottime);
 *  - the profiler's own time is not the program's: what one event costs
 *    (the interpreter delivering it and this callback handling it) is
 *    measured once at start and taken off the thread's clock at every
 *    event; the rare slow path (naming a new function) is timed where it
 *    happens and taken off too;
 *  - a call made while the same function is already running on the thread
 *    is recursive: it counts in ncalls, not in the primitive calls, and its
 *    time does not count again in the cumulative time. The same holds per
 *    caller → callee pair.
 *
 * Functions are numbered once per process: a Python function through the
 * code object's extra slot (so a freed code object's address can be reused
 * without confusion), a builtin by its method definition. Each thread
 * counts into tables of its own; what changed since the last flush goes out
 * as increments, through one ring that only threads holding the GIL write.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "callstats.h"
#include "emitter.h"
#include "error.h"
#include "evalhook.h"
#include "intern.h"
#include "monitor.h"
#include "ownwork.h"
#include "pyapi.h"
#include "pyframe.h"
#include "ring.h"
#include "threads.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CALLS_RING_BYTES (1u << 20)
#define FLUSH_ROOM (16u * 1024) /* leave this much of the ring free */

/* One function, numbered from 1. */
struct cs_fn {
    uint32_t kind; /* WIRE_FUNCTION_* */
    int32_t firstlineno;
    char *filename, *name, *qualname;
    uint32_t announced; /* its WIRE_FUNCTION record went into the ring in this announce_round */
};

/* What a thread counted for one function or one pair since the last flush. */
struct cs_stat {
    int64_t level;    /* calls under way: kept across flushes */
    uint64_t ncalls;  /* calls that returned */
    uint64_t rcalls;  /* of which recursive */
    int64_t cum_ns;   /* time of the outermost calls, callees included */
    int64_t own_ns;   /* time in the function itself */
    uint32_t dirty;   /* on the dirty list */
    uint32_t caller;  /* pairs only: the pair */
    uint32_t callee;
    uint32_t last_caller; /* functions only: the caller of the last call, plus 1 (0: none yet) */
    uint32_t last_pair;   /* and that call's pair */
};

/* A call under way. */
struct cs_ctx {
    uint32_t fn;
    uint32_t pair;
    int64_t t0;
    int64_t sub_ns; /* time of its callees so far */
};

#define DIRTY_TOTAL 0x80000000u /* a dirty entry naming fns[], not pairs[] */

/* A thread's first room: the functions it counts (by number), and the
 * depth of its call stack; the stack starts deep enough for most programs
 * never to grow it inside the profile callback. */
#define FNS_FIRST 64
#define STACK_FIRST 256

struct cs_thread {
    struct cs_thread *next;
    uint64_t tid;
    int ended;
    struct cs_ctx *stack;
    size_t depth, cap;
    size_t base;          /* contexts below this one began before a fork: not counted */
    struct cs_stat *fns;  /* by function number */
    size_t nfns;
    struct cs_stat *pairs;
    size_t npairs, cappairs;
    struct imap *pair_index; /* (caller, callee) -> index in pairs */
    uint32_t *dirty;
    size_t ndirty, capdirty;
    int64_t overhead_ns; /* the profiler's time so far, kept out of the thread's clock */
    int64_t overhead_sent_ns;
};

static struct cs_fn *fns; /* fns[0] stands for a function that could not be named */
static size_t nfns, capfns;
static struct imap *cfuncs; /* builtins: (PyMethodDef address, 0) -> fn number */
/* Python functions: pyframe_code_identity -> fn number. A code object made
 * from the same source as one seen before (a program that compiles the same
 * text again and again) is the same function, as pstats names it, and costs
 * no new number, name or table entry: the tables grow with the program's
 * distinct code, not with the code objects it makes. */
static struct imap *pyfuncs;
static long extra_index = -1;

/* Raised in a fork child: every function is to be announced again on the
 * child's own connection, without writing to each (which would copy every
 * page of fns from the parent). */
static uint32_t announce_round = 1;
/* A count that could not be put on its table's dirty list (no memory): a
 * fork child then clears whole tables, not just their dirty entries. */
static int dirty_lost;

static struct cs_thread *tables;
static __thread struct cs_thread *self __attribute__((tls_model("initial-exec")));
static struct ring *cring;
static PyObject *main_dict; /* counting begins in the first frame that runs in it */
static int started, armed, stopped;
static _Atomic int unsent; /* some table has counts not yet queued */
/* The emitter asks for a flush: the next event on any counted thread does
 * it, holding the GIL it holds anyway (flush_at_event). */
static _Atomic int flush_asked;
/*
 * What one event costs the program, by the kind of event that ends the
 * interval being charged: the interpreter delivering that event plus this
 * callback's tail after its clock read of the previous one. Measured at
 * start (measure_event_costs).
 */
enum { EV_PY_CALL, EV_PY_RETURN, EV_C_CALL, EV_C_RETURN, EV_KINDS };
static int64_t event_cost_ns[EV_KINDS];

/*
 * The clock: read at every event, so its cost is most of what the callback
 * costs. Where the TSC can be trusted, the counter is read directly and
 * scaled with a factor measured against CLOCK_MONOTONIC at start, which is
 * a third to a half cheaper than clock_gettime on a virtual machine;
 * elsewhere, clock_gettime. Trusted: the kernel keeps time with it itself
 * (it has checked the counter is invariant and in step across CPUs), or
 * the processor says it is invariant (constant_tsc, nonstop_tsc) and the
 * hypervisor that the counters of its CPUs are in step (tsc_reliable),
 * where the kernel keeps time with the hypervisor's clock instead
 * (kvm-clock reads the TSC too, and scales it at every read).
 */
static int use_tsc;
static uint64_t tsc_base;
static unsigned __int128 tsc_mult; /* ns per tick, << 64 */

static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__x86_64__)
#include <x86intrin.h>

static inline int64_t now_ns(void)
{
    if (use_tsc)
        return (int64_t)(((unsigned __int128)(__rdtsc() - tsc_base) * tsc_mult) >> 64);
    return mono_ns();
}

static int kernel_uses_tsc(void)
{
    char buf[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (!f)
        return 0;
    int ok = fgets(buf, sizeof buf, f) && !strcmp(buf, "tsc\n");
    fclose(f);
    return ok;
}

/* Whether the flags line of /proc/cpuinfo has flag as a word. */
static int has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = strstr(flags, flag); p; p = strstr(p + 1, flag))
        if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static int tsc_vouched_for(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[8192];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        ok = has_flag(line, "constant_tsc") && has_flag(line, "nonstop_tsc") &&
             has_flag(line, "tsc_reliable");
        break;
    }
    fclose(f);
    return ok;
}

/* Time the TSC against CLOCK_MONOTONIC for span_ns; use it when that works out. */
static void clock_setup(int64_t span_ns)
{
    if (!kernel_uses_tsc() && !tsc_vouched_for())
        return;
    int64_t m0 = mono_ns();
    uint64_t t0 = __rdtsc();
    while (mono_ns() - m0 < span_ns)
        ;
    int64_t m1 = mono_ns();
    uint64_t t1 = __rdtsc();
    if (t1 <= t0 || m1 <= m0)
        return;
    tsc_mult = ((unsigned __int128)(uint64_t)(m1 - m0) << 64) / (t1 - t0);
    tsc_base = t0 - (uint64_t)(((unsigned __int128)(uint64_t)m0 << 64) / tsc_mult);
    use_tsc = 1;
}
#else
static inline int64_t now_ns(void)
{
    return mono_ns();
}

static void clock_setup(int64_t span_ns)
{
    (void)span_ns;
}
#endif

/*
 * The clock for the work of pyscope's that the thread's clock leaves out
 * (ownwork_clock): clock_gettime, whichever clock the events read. The
 * counter alone may be read while the work before it is still under way:
 * the time then moves to the next interval, which does not matter between
 * two events (it stays on the thread, a few cycles either way) but does for
 * the memory tracer's short pieces of work, which are taken off the
 * function that allocated: read so, a piece came out a quarter short.
 * clock_gettime's own ordering, with a full fence before the read that
 * ends a piece (ownwork_timed_end), gives the shares measured against the
 * function's time without the tracer (test_calls' CallsWithMemory).
 */
static int64_t own_clock(void)
{
    return mono_ns();
}

/*
 * Keep an event's cost, and the time pyscope's other hooks took on the
 * thread since its last event (ownwork_ns), out of the thread's clock:
 * called first at every event, before the clock is read.
 */
static void flush_at_event(struct cs_thread *t);

static inline void charge_overhead(struct cs_thread *t, int kind)
{
    t->overhead_ns += event_cost_ns[kind] + ownwork_ns;
    ownwork_ns = 0;
    if (__builtin_expect(atomic_load_explicit(&flush_asked, memory_order_relaxed), 0))
        flush_at_event(t);
}

/* A new function number; 0 without memory. */
static uint32_t fn_new(uint32_t kind, int firstlineno, char *filename, char *name, char *qualname)
{
    if (!name || !qualname || (kind == WIRE_FUNCTION_PYTHON && !filename) ||
        util_grow((void **)&fns, &capfns, nfns, sizeof *fns) < 0) {
        free(filename);
        free(name);
        free(qualname);
        return 0;
    }
    fns[nfns] = (struct cs_fn){.kind = kind, .firstlineno = firstlineno, .filename = filename,
                               .name = name, .qualname = qualname};
    return (uint32_t)nfns++;
}

static uint32_t code_fn(void *code)
{
    void *extra = pyapi_code_extra(code, extra_index);
    if (extra)
        return (uint32_t)(uintptr_t)extra;
    int64_t t0 = now_ns();
    struct pyframe_code_id id = pyframe_code_identity(code);
    int64_t known;
    uint32_t fn = 0;
    struct pyframe_code names;
    if (imap_get(pyfuncs, id.a, id.b, &known))
        fn = (uint32_t)known;
    else if (pyframe_names(code, &names) == 0 &&
             (fn = fn_new(WIRE_FUNCTION_PYTHON, names.firstlineno, names.filename, names.name,
                          names.qualname)))
        imap_put(pyfuncs, id.a, id.b, fn); /* without room, named again next time */
    if (fn)
        pyapi_set_code_extra(code, extra_index, (void *)(uintptr_t)fn); /* else named again */
    if (self)
        self->overhead_ns += now_ns() - t0;
    return fn;
}

static char *kept_label(PyObject *label, const char *ml_name);

/*
 * cProfile's name for a builtin: "<built-in method builtins.sorted>",
 * "<method 'append' of 'list' objects>" (the repr of what the type of
 * __self__ has under that name), "<len>"; kept as pstats prints it, with
 * braces for the outer angle brackets.
 */
static char *cfunc_label(PyCFunctionObject *f)
{
    PyObject *label = NULL;
    const char *ml_name = f->m_ml->ml_name;
    PyObject *module = f->m_module;
    if (!f->m_self) {
        PyObject *modname = NULL;
        if (module && PyUnicode_Check(module)) {
            modname = Py_NewRef(module);
        } else if (module && PyModule_Check(module)) {
            modname = PyModule_GetNameObject(module);
            if (!modname)
                PyErr_Clear();
        }
        if (modname && !pyapi_str_is(modname, "builtins"))
            label = PyUnicode_FromFormat("<%U.%s>", modname, ml_name);
        else
            label = PyUnicode_FromFormat("<%s>", ml_name);
        Py_XDECREF(modname);
    } else {
        PyObject *name = PyUnicode_FromString(ml_name);
        PyObject *found = name ? pyapi_type_lookup(Py_TYPE(f->m_self), name) : NULL;
        Py_XDECREF(name);
        if (found) {
            Py_INCREF(found);
            label = PyObject_Repr(found);
            Py_DECREF(found);
        }
        if (!label) {
            PyErr_Clear();
            if (module && PyUnicode_Check(module))
                label = PyUnicode_FromFormat("<built-in method %S.%s>", module, ml_name);
            else
                label = PyUnicode_FromFormat("<built-in method %s>", ml_name);
        }
    }
    return kept_label(label, ml_name);
}

/* A builtin's label (a str, stolen; may be NULL) as pyscope keeps it, or
 * ml_name when there is none. */
static char *kept_label(PyObject *label, const char *ml_name)
{
    PyErr_Clear();
    char *s = label ? pyframe_str_dup(label) : NULL;
    if (!s)
        s = strdup(ml_name);
    Py_XDECREF(label);
    size_t n = s ? strlen(s) : 0;
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s[0] = '{';
        s[n - 1] = '}';
    }
    return s;
}

/* The number of the builtin callable: a PyCFunction, or a method
 * descriptor called with its self (monitor.h), which is the method its
 * bound form would be: the same definition, the same name. */
static uint32_t builtin_fn(PyObject *callable)
{
    int descr = !PyCFunction_Check(callable);
    PyMethodDef *def = descr ? ((PyMethodDescrObject *)callable)->d_method
                             : ((PyCFunctionObject *)callable)->m_ml;
    int64_t fn;
    if (imap_get(cfuncs, (uint64_t)(uintptr_t)def, 0, &fn))
        return (uint32_t)fn;
    PyObject *et, *ev, *tb;
    int64_t t0 = now_ns();
    PyErr_Fetch(&et, &ev, &tb);
    char *label = descr ? kept_label(PyObject_Repr(callable), def->ml_name)
                        : cfunc_label((PyCFunctionObject *)callable);
    PyErr_Restore(et, ev, tb);
    if (self)
        self->overhead_ns += now_ns() - t0;
    fn = fn_new(WIRE_FUNCTION_BUILTIN, 0, NULL, label, label ? strdup(label) : NULL);
    if (fn && imap_put(cfuncs, (uint64_t)(uintptr_t)def, 0, fn) < 0)
        return 0;
    return (uint32_t)fn;
}

static uint32_t cfunc_fn(PyCFunctionObject *f)
{
    return builtin_fn((PyObject *)f);
}

static void mark_dirty(struct cs_thread *t, struct cs_stat *s, uint32_t entry)
{
    if (s->dirty)
        return;
    if (util_grow((void **)&t->dirty, &t->capdirty, t->ndirty, sizeof *t->dirty) < 0) {
        dirty_lost = 1;
        return; /* counted still; sent once memory allows */
    }
    t->dirty[t->ndirty++] = entry;
    s->dirty = 1;
    atomic_store_explicit(&unsent, 1, memory_order_relaxed);
}

static struct cs_stat *fn_stat(struct cs_thread *t, uint32_t fn)
{
    if (fn >= t->nfns) {
        size_t had = t->nfns;
        if (util_reserve((void **)&t->fns, &t->nfns, (size_t)fn + 1, sizeof *t->fns, FNS_FIRST) < 0)
            return NULL;
        memset(t->fns + had, 0, (t->nfns - had) * sizeof *t->fns);
    }
    return &t->fns[fn];
}

/* The pair's index, made when new; UINT32_MAX without memory. */
static uint32_t pair_get(struct cs_thread *t, uint32_t caller, uint32_t callee)
{
    int64_t i;
    /* Room for one more first, so that a new index always gets its pair. */
    if ((!t->pair_index && !(t->pair_index = imap_new())) ||
        util_grow((void **)&t->pairs, &t->cappairs, t->npairs, sizeof *t->pairs) < 0 ||
        imap_intern(t->pair_index, caller, callee, (int64_t)t->npairs, &i) < 0)
        return UINT32_MAX;
    if ((size_t)i == t->npairs)
        t->pairs[t->npairs++] = (struct cs_stat){.caller = caller, .callee = callee};
    return (uint32_t)i;
}

static void enter(struct cs_thread *t, uint32_t fn, int64_t now)
{
    if (t->depth == t->cap &&
        util_reserve((void **)&t->stack, &t->cap, t->depth + 1, sizeof *t->stack, STACK_FIRST) < 0)
        return; /* its return finds the wrong context: counts stay whole, times blur */
    uint32_t caller = t->depth > t->base ? t->stack[t->depth - 1].fn : 0;
    struct cs_stat *s = fn_stat(t, fn);
    uint32_t pair;
    /* A function is mostly called from where it was last called from
     * (a loop, a recursion): the pair is then known without a lookup. */
    if (s && s->last_caller == caller + 1) {
        pair = s->last_pair;
    } else {
        pair = pair_get(t, caller, fn);
        if (s && pair != UINT32_MAX) {
            s->last_caller = caller + 1;
            s->last_pair = pair;
        }
    }
    if (s)
        s->level++;
    if (pair != UINT32_MAX)
        t->pairs[pair].level++;
    t->stack[t->depth++] = (struct cs_ctx){.fn = fn, .pair = pair, .t0 = now};
}

static void charge(struct cs_thread *t, struct cs_stat *s, uint32_t entry, int64_t cum,
                   int64_t own)
{
    if (--s->level == 0)
        s->cum_ns += cum;
    else
        s->rcalls++;
    s->own_ns += own;
    s->ncalls++;
    mark_dirty(t, s, entry);
}

static void leave(struct cs_thread *t, int64_t now)
{
    if (t->depth == 0)
        return; /* a frame that began before counting did */
    struct cs_ctx c = t->stack[--t->depth];
    int64_t cum = now - c.t0, own = cum - c.sub_ns;
    if (t->depth > 0)
        t->stack[t->depth - 1].sub_ns += cum;
    if (t->depth < t->base) {
        /* begun before the fork: the parent counts it */
        t->base = t->depth;
        if (c.fn < t->nfns)
            t->fns[c.fn].level--;
        if (c.pair != UINT32_MAX)
            t->pairs[c.pair].level--;
        return;
    }
    struct cs_stat *s = fn_stat(t, c.fn);
    if (s)
        charge(t, s, DIRTY_TOTAL | c.fn, cum, own);
    if (c.pair != UINT32_MAX)
        charge(t, &t->pairs[c.pair], c.pair, cum, own);
}

static struct cs_thread *table_new(void)
{
    struct cs_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tid = (uint64_t)syscall(SYS_gettid);
    t->next = tables;
    tables = t;
    return t;
}

static void table_free(struct cs_thread *t);

static int on_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg);
static void *before_frame(const struct evalhook_frame *f);
static void after_frame(void *ctx);
static enum callstats_mode mode;
/*
 * --calls=python through the profile callback, its builtin events ignored:
 * where the interpreter could not be made to show every call to the
 * frame-evaluation hook. The same counts, at the profile callback's cost.
 */
static int python_via_profile;

/*
 * Where the interpreter has call events for tools (monitor.h), every mode
 * counts through them, for every thread at once, as cProfile does there:
 * no frame object per event, and no install per thread.
 */
static int via_monitor;
static const struct monitor_events monitor_counting;

static int uses_eval_hook(void)
{
    return mode == CALLSTATS_PYTHON && !python_via_profile && !via_monitor;
}

/* Put the counting hook in place for the calling thread (the profile
 * callback) or the interpreter (the frame-evaluation hook, the events). */
static void hook_install(void)
{
    if (via_monitor)
        monitor_start(&monitor_counting, mode == CALLSTATS_ALL);
    else if (uses_eval_hook())
        evalhook_set(before_frame, after_frame);
    else
        PyEval_SetProfile(on_event, NULL);
}

void *callstats_profile_function(void)
{
    return (void *)on_event;
}

static void hook_remove(void)
{
    if (via_monitor)
        monitor_stop();
    else if (uses_eval_hook())
        evalhook_clear();
    else
        PyEval_SetProfile(NULL, NULL);
}

/*
 * --calls=python: every frame the interpreter evaluates comes through here
 * (evalhook_see_every_call made sure that no call goes past it), a
 * generator's or coroutine's at each resumption, as cProfile counts them.
 */
/* The thread's table is handed from before to after: the frame's return is
 * counted where its call was. */
static void *before_frame(const struct evalhook_frame *f)
{
    struct cs_thread *t = self;
    if (!t) {
        if (stopped || (!armed && f->globals != main_dict))
            return NULL;
        armed = 1;
        if (!(t = self = table_new()))
            return NULL;
    }
    /* A generator function's first frame only makes the generator: not a
     * call to cProfile, whose events begin when the generator first runs. */
    if (stopped || f->makes_generator)
        return NULL;
    ownwork_begin();
    charge_overhead(t, EV_PY_CALL);
    enter(t, code_fn(f->code), now_ns() - t->overhead_ns);
    ownwork_end();
    return t;
}

static void after_frame(void *ctx)
{
    struct cs_thread *t = ctx;
    ownwork_begin();
    charge_overhead(t, EV_PY_RETURN);
    leave(t, now_ns() - t->overhead_ns);
    ownwork_end();
}

static int on_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj;
    if (mode == CALLSTATS_PYTHON && what != PyTrace_CALL && what != PyTrace_RETURN)
        return 0;
    struct cs_thread *t = self;
    if (!t) {
        if (stopped)
            return 0;
        if (!armed) {
            if (what != PyTrace_CALL || pyapi_frame_globals(frame) != main_dict)
                return 0;
            armed = 1;
        }
        if (!(t = self = table_new()))
            return 0;
    }
    if (stopped)
        return 0;
    int kind = what == PyTrace_CALL     ? EV_PY_CALL
               : what == PyTrace_RETURN ? EV_PY_RETURN
               : what == PyTrace_C_CALL ? EV_C_CALL
                                        : EV_C_RETURN;
    ownwork_begin();
    charge_overhead(t, kind);
    int64_t now = now_ns() - t->overhead_ns;
    switch (what) {
    case PyTrace_CALL:
        enter(t, code_fn(pyapi_frame_code(frame)), now);
        break;
    case PyTrace_RETURN:
        leave(t, now);
        break;
    case PyTrace_C_CALL:
        if (PyCFunction_Check(arg))
            enter(t, cfunc_fn((PyCFunctionObject *)arg), now);
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (PyCFunction_Check(arg))
            leave(t, now);
        break;
    default:
        break;
    }
    ownwork_end();
    return 0;
}

/* The calling thread's table for an event that may begin counting: the
 * first Python frame to run in __main__ arms counting, and each thread's
 * first event after that makes its table. NULL: not counted. */
static struct cs_thread *monitor_table(int py_start)
{
    struct cs_thread *t = self;
    if (t || stopped)
        return stopped ? NULL : t;
    if (!armed) {
        if (!py_start || PyEval_GetGlobals() != main_dict)
            return NULL;
        armed = 1;
    }
    return self = table_new();
}

static void monitor_py_start(void *code)
{
    struct cs_thread *t = monitor_table(1);
    if (!t)
        return;
    ownwork_begin();
    charge_overhead(t, EV_PY_CALL);
    enter(t, code_fn(code), now_ns() - t->overhead_ns);
    ownwork_end();
}

static void monitor_py_end(void *code)
{
    (void)code;
    struct cs_thread *t = self;
    if (!t || stopped)
        return;
    ownwork_begin();
    charge_overhead(t, EV_PY_RETURN);
    leave(t, now_ns() - t->overhead_ns);
    ownwork_end();
}

static void monitor_c_start(void *callable)
{
    struct cs_thread *t = monitor_table(0);
    if (!t)
        return;
    ownwork_begin();
    charge_overhead(t, EV_C_CALL);
    int64_t now = now_ns() - t->overhead_ns;
    enter(t, builtin_fn(callable), now);
    ownwork_end();
}

static void monitor_c_end(void *callable)
{
    (void)callable;
    struct cs_thread *t = self;
    if (!t || stopped)
        return;
    ownwork_begin();
    charge_overhead(t, EV_C_RETURN);
    leave(t, now_ns() - t->overhead_ns);
    ownwork_end();
}

static const struct monitor_events monitor_counting = {
    monitor_py_start, monitor_py_end, monitor_c_start, monitor_c_end};

#define PROBE_ROUNDS 5

/*
 * Run loop(n) (a function of globals that calls callee n times) without the
 * callback and with it, a few rounds each, counting into a scratch table:
 * the best plain time in *plain; in *inside the best mean time a call of
 * callee took (from its call event to its return event), in *between the
 * best mean time loop took between two calls (from a return event to the
 * next call event). python: callee is a Python function, else a builtin.
 * 0, or -1 when it could not be run.
 */
static int time_loop(PyObject *loop, PyObject *callee_key, int python, long n, int64_t *plain,
                     double *inside, double *between)
{
    PyObject *arg = PyLong_FromLong(n);
    int64_t best_plain = INT64_MAX;
    double best_in = 1e30, best_between = 1e30;
    if (!arg)
        return -1;
    for (int r = 0; r < PROBE_ROUNDS; r++) {
        int64_t t0 = now_ns();
        PyObject *out = PyObject_CallOneArg(loop, arg);
        int64_t t = now_ns() - t0;
        Py_XDECREF(out);
        if (t < best_plain)
            best_plain = t;
        struct cs_thread *scratch = calloc(1, sizeof *scratch);
        if (!scratch)
            break;
        self = scratch;
        hook_install();
        out = PyObject_CallOneArg(loop, arg);
        hook_remove();
        self = NULL;
        Py_XDECREF(out);
        uint32_t fl = code_fn((PyCodeObject *)PyFunction_GET_CODE(loop));
        uint32_t fc = python ? code_fn((PyCodeObject *)PyFunction_GET_CODE(callee_key))
                             : cfunc_fn((PyCFunctionObject *)callee_key);
        if (fl < scratch->nfns && fc < scratch->nfns && scratch->fns[fc].ncalls == (uint64_t)n) {
            double in = (double)scratch->fns[fc].own_ns / (double)n;
            double out_ns = (double)scratch->fns[fl].own_ns / (double)n;
            if (in < best_in)
                best_in = in;
            if (out_ns < best_between)
                best_between = out_ns;
        }
        table_free(scratch);
    }
    Py_DECREF(arg);
    *plain = best_plain;
    *inside = best_in;
    *between = best_between;
    return PyErr_Occurred() || best_in >= 1e30 ? -1 : 0;
}

/*
 * Four fifths of a measured cost: the machine's speed drifts between the
 * measurement and the program (other tenants, frequency), and taking off a
 * little less than measured keeps a small function's time from going below
 * zero when it speeds up.
 */
static int64_t cost_of(double ns)
{
    return ns > 0 ? (int64_t)(ns * 0.8 + 0.5) : 0;
}

/*
 * What one event costs the program, by kind (event_cost_ns): an empty
 * Python function, and a builtin, called in loops. Between two calls the
 * program runs its loop and the call, which it runs without the profiler
 * too: the rest is the profiler's, charged to the call event that ends the
 * interval. Inside a call of the empty function (or of len on an empty
 * tuple) the program does next to nothing: all of it is the profiler's,
 * charged to the return event. Left at 0 when it cannot be measured.
 */
static void measure_event_costs(void)
{
    enum { CALLS = 5000 };
    static const char src[] = "def f():\n    pass\n"
                              "def loop(n):\n    for _ in range(n):\n        f()\n"
                              "def loop_c(n):\n    t = ()\n    for _ in range(n):\n        len(t)\n";
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *globals = PyDict_New(), *res = NULL;
    if (globals)
        res = PyRun_String(src, Py_file_input, globals, globals);
    PyObject *loop = res ? PyDict_GetItemString(globals, "loop") : NULL;
    PyObject *loop_c = res ? PyDict_GetItemString(globals, "loop_c") : NULL;
    PyObject *f = res ? PyDict_GetItemString(globals, "f") : NULL;
    PyObject *len = PyDict_GetItemString(PyEval_GetBuiltins(), "len");
    int64_t plain;
    double inside, between;
    if (loop && f && time_loop(loop, f, 1, CALLS, &plain, &inside, &between) == 0) {
        event_cost_ns[EV_PY_CALL] = cost_of(between - (double)plain / CALLS);
        event_cost_ns[EV_PY_RETURN] = cost_of(inside);
    }
    if (mode == CALLSTATS_ALL && loop_c && len && PyCFunction_Check(len) &&
        time_loop(loop_c, len, 0, CALLS, &plain, &inside, &between) == 0) {
        event_cost_ns[EV_C_CALL] = cost_of(between - (double)plain / CALLS);
        event_cost_ns[EV_C_RETURN] = cost_of(inside);
    }
    Py_XDECREF(res);
    Py_XDECREF(globals);
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
}

/*
 * The tables' increments are queued every FLUSH_EVERY_PERIODS of the
 * emitter's periods (100 ms), and at the last flush. The emitter does not
 * take the GIL for it while the program runs: asking for the GIL makes the
 * thread that holds it let go at whatever it is doing, which a program
 * without pyscope would not see (3.11's sys.settrace() fails in another
 * thread when the GIL passes at the wrong moment). It asks instead, and the
 * next event of a counted thread queues every table, holding the GIL it
 * holds anyway. Counts still unsent a period after the ask are those of
 * threads that make no events (they wait, or run code without calls): the
 * GIL is then taken, once, and mostly free.
 */
#define FLUSH_EVERY_PERIODS 10

static int flush_wanted(int last)
{
    if (!callstats_wants_flush())
        return 0;
    if (last)
        return 1;
    return atomic_exchange(&flush_asked, 1); /* asked a period ago, still not done */
}

static void flush_run(int last)
{
    (void)last;
    atomic_store_explicit(&flush_asked, 0, memory_order_relaxed); /* answered here */
    callstats_flush();
}

int callstats_start(enum callstats_mode how)
{
    if (started)
        return 0;
    mode = how;
    if (extra_index < 0 && (extra_index = pyapi_code_extra_index()) < 0)
        return PYSCOPE_ENOMEM;
    if (!nfns) {
        /* number 0: a function that could not be named (never sent) */
        if (util_grow((void **)&fns, &capfns, 0, sizeof *fns) < 0)
            return PYSCOPE_ENOMEM;
        fns[0] = (struct cs_fn){.kind = WIRE_FUNCTION_BUILTIN};
        nfns = 1;
    }
    if (!cring && !(cring = ring_new(CALLS_RING_BYTES)))
        return PYSCOPE_ENOMEM;
    if ((!cfuncs && !(cfuncs = imap_new())) || (!pyfuncs && !(pyfuncs = imap_new())))
        return PYSCOPE_ENOMEM;
    PyObject *main = PyImport_AddModule("__main__"); /* borrowed */
    if (!main) {
        PyErr_Clear();
        return PYSCOPE_ENOMEM;
    }
    main_dict = PyModule_GetDict(main);
    static const struct emitter_task task = {FLUSH_EVERY_PERIODS, flush_wanted, flush_run};
    if (emitter_add_task(&task) < 0 || emitter_add_ring(callstats_ring) < 0)
        return PYSCOPE_ENOMEM;
    /* Tried once: the events, where the interpreter has them for tools. */
    via_monitor = monitor_start(&monitor_counting, 0) == 0;
    if (via_monitor)
        monitor_stop();
    python_via_profile =
        !via_monitor && mode == CALLSTATS_PYTHON && evalhook_see_every_call() < 0;
    clock_setup(2000000);
    measure_event_costs();
    int64_t least = INT64_MAX;
    for (int i = 0; i < 1000; i++) {
        int64_t t0 = own_clock(), t1 = own_clock();
        least = t1 - t0 < least ? t1 - t0 : least;
    }
    ownwork_clock_ns = least;
    atomic_store(&ownwork_clock, own_clock);
    started = 1;
    hook_install();
    return 0;
}

/*
 * 3.11 guards the install of a profile function with one flag for the
 * whole process, and with the flag set it calls the program's audit hooks
 * (regrtest installs one), which may let the GIL go: a thread that installs
 * meanwhile fails ("Cannot install a profile function while another
 * profile function is being installed"), where PyEval_SetProfile would
 * print it and leave the thread uncounted. The install is tried again with
 * the GIL let go in between, so that the other thread can finish; one that
 * still fails (an audit hook of the program's refuses it) leaves the thread
 * uncounted without a word, as the program without pyscope would print
 * none.
 */
#define INSTALL_TRIES 100

static void pause_briefly(void)
{
    struct timespec pause = {0, 100000}; /* 0.1 ms */
    nanosleep(&pause, NULL);
}

void callstats_thread_begin(void)
{
    if (!started || stopped || uses_eval_hook() || via_monitor)
        return;
    for (int tries = 1; pyapi_set_profile(on_event) < 0; tries++) {
        PyErr_Clear();
        if (tries == INSTALL_TRIES)
            return;
        Py_BEGIN_ALLOW_THREADS pause_briefly();
        Py_END_ALLOW_THREADS
    }
}

void callstats_thread_end(void)
{
    if (self)
        self->ended = 1;
    self = NULL;
}

void callstats_stop(void)
{
    if (!started)
        return;
    stopped = 1;
    hook_remove();
}

struct ring *callstats_ring(void)
{
    return cring;
}

static int announce(uint32_t fn)
{
    struct cs_fn *f = &fns[fn];
    if (f->announced == announce_round)
        return 0;
    struct wire_function rec = {.key = fn, .kind = f->kind, .firstlineno = f->firstlineno};
    const char *file = f->filename ? f->filename : "";
    struct wire_str s[3] = {
        {file, (uint32_t)strlen(file)},
        {f->name, (uint32_t)strlen(f->name)},
        {f->qualname, (uint32_t)strlen(f->qualname)},
    };
    if (ring_put(cring, WIRE_FUNCTION, &rec, sizeof rec, s, 3) < 0)
        return -1;
    f->announced = announce_round;
    return 0;
}

/* Queue one dirty entry of t; -1 when the ring is too full. */
static int flush_entry(struct cs_thread *t, uint32_t entry)
{
    struct cs_stat *s;
    uint32_t caller = 0, callee, flags = 0;
    if (entry & DIRTY_TOTAL) {
        callee = entry & ~DIRTY_TOTAL;
        s = &t->fns[callee];
        flags = WIRE_CALLS_TOTAL;
    } else {
        s = &t->pairs[entry];
        caller = s->caller;
        callee = s->callee;
    }
    if (ring_used(cring) + FLUSH_ROOM > CALLS_RING_BYTES)
        return -1;
    if ((caller && announce(caller) < 0) || announce(callee) < 0)
        return -1;
    struct wire_calls rec = {
        .tid = t->tid,
        .caller = caller,
        .callee = callee,
        .ncalls = s->ncalls,
        .pcalls = s->ncalls - s->rcalls,
        .tottime_ns = (uint64_t)(s->own_ns > 0 ? s->own_ns : 0),
        .cumtime_ns = (uint64_t)(s->cum_ns > 0 ? s->cum_ns : 0),
        .flags = flags,
    };
    if (ring_put(cring, WIRE_CALLS, &rec, sizeof rec, NULL, 0) < 0)
        return -1;
    s->ncalls = s->rcalls = 0;
    s->cum_ns = s->own_ns = 0;
    s->dirty = 0;
    return 0;
}

static void table_free(struct cs_thread *t)
{
    free(t->stack);
    free(t->fns);
    free(t->pairs);
    imap_free(t->pair_index);
    free(t->dirty);
    free(t);
}

/* Queue the profiler's time on t since the last report; -1 when the ring is too full. */
static int flush_overhead(struct cs_thread *t)
{
    if (t->overhead_ns <= t->overhead_sent_ns)
        return 0;
    if (ring_used(cring) + FLUSH_ROOM > CALLS_RING_BYTES)
        return -1;
    struct wire_calls rec = {.tid = t->tid,
                             .tottime_ns = (uint64_t)(t->overhead_ns - t->overhead_sent_ns),
                             .flags = WIRE_CALLS_OVERHEAD};
    if (ring_put(cring, WIRE_CALLS, &rec, sizeof rec, NULL, 0) < 0)
        return -1;
    t->overhead_sent_ns = t->overhead_ns;
    return 0;
}

int callstats_wants_flush(void)
{
    return atomic_load_explicit(&unsent, memory_order_relaxed);
}

int callstats_flush(void)
{
    if (!cring)
        return 0;
    atomic_store_explicit(&unsent, 0, memory_order_relaxed);
    struct cs_thread **link = &tables;
    while (*link) {
        struct cs_thread *t = *link;
        if (flush_overhead(t) < 0) {
            atomic_store_explicit(&unsent, 1, memory_order_relaxed);
            return 1;
        }
        size_t i = 0;
        for (; i < t->ndirty; i++) {
            uint32_t e = t->dirty[i];
            /* fn 0 is a function that could not be named: not sent */
            if (e == DIRTY_TOTAL) {
                t->fns[0].dirty = 0;
                continue;
            }
            if (!(e & DIRTY_TOTAL) && t->pairs[e].callee == 0) {
                t->pairs[e].dirty = 0;
                continue;
            }
            if (flush_entry(t, e) < 0)
                break;
        }
        if (i && i < t->ndirty) /* (a table that was never dirty has no list) */
            memmove(t->dirty, t->dirty + i, (t->ndirty - i) * sizeof *t->dirty);
        t->ndirty -= i;
        if (t->ndirty) {
            atomic_store_explicit(&unsent, 1, memory_order_relaxed);
            return 1;
        }
        if (t->ended) {
            *link = t->next;
            table_free(t);
            continue;
        }
        link = &t->next;
    }
    return 0;
}

/* The flush the emitter asked for, from an event of t's thread: its time is
 * the profiler's, not the running function's. */
static void flush_at_event(struct cs_thread *t)
{
    atomic_store_explicit(&flush_asked, 0, memory_order_relaxed);
    int64_t t0 = now_ns();
    callstats_flush();
    t->overhead_ns += now_ns() - t0;
}

/* What a table entry counted, gone; calls under way stay under way. */
static void clear_counts(struct cs_stat *s)
{
    s->ncalls = s->rcalls = 0;
    s->cum_ns = s->own_ns = 0;
    s->dirty = 0;
}

void callstats_fork_child(void)
{
    if (!started)
        return;
    struct cs_thread *t = tables, *keep = self;
    while (t) {
        struct cs_thread *next = t->next;
        if (t != keep)
            table_free(t);
        t = next;
    }
    tables = NULL;
    if (keep) {
        keep->next = NULL;
        keep->tid = (uint64_t)syscall(SYS_gettid);
        /* Only the dirty entries count what the parent has not sent: the
         * others are all zero but for calls under way, and are left
         * unwritten (a table the size of the parent's program is not copied
         * into every child). */
        if (dirty_lost) {
            for (size_t i = 0; i < keep->nfns; i++)
                clear_counts(&keep->fns[i]);
            for (size_t i = 0; i < keep->npairs; i++)
                clear_counts(&keep->pairs[i]);
        }
        for (size_t i = 0; i < keep->ndirty; i++) {
            uint32_t e = keep->dirty[i];
            clear_counts(e & DIRTY_TOTAL ? &keep->fns[e & ~DIRTY_TOTAL] : &keep->pairs[e]);
        }
        keep->ndirty = 0;
        keep->base = keep->depth;
        keep->overhead_sent_ns = keep->overhead_ns;
        tables = keep;
    }
    announce_round++;
    atomic_store_explicit(&flush_asked, 0, memory_order_relaxed);
    /* What the parent queued is the parent's to send. */
    ring_clear(cring);
}

/*
 * CPython 3.12's frames (pyframe.h; what every version shares is in
 * pyframe.c). As in 3.11, a thread's frames are the chain of
 * _PyInterpreterFrame from tstate->cframe->current_frame through previous,
 * each naming its code object and the code unit before its next
 * instruction, and frames that have not started yet are skipped. What
 * changed: a frame no longer says it is the first of its eval-loop call
 * (3.11's is_entry). Each call of the eval loop puts a frame of its own, on
 * the C stack, under the first frame it runs (owned by the C stack, running
 * the interpreter's trampoline code): crossing one is crossing from one
 * eval-loop call to its caller's. Such a frame is never a frame of the
 * program. The GIL is the main interpreter's own, and code objects are
 * watched with a code watcher instead of a wrapped tp_dealloc.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gil.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>

#include <stddef.h>

#include "error.h"
#include "pyframe.h"

#include <string.h>

/*
 * Whether p can be read at all: aligned, above the lowest page a process
 * may map (64 KiB by default) and below the top of user space (47 bits: the
 * kernel maps above that only for a program that asks). A C frame the thread has left
 * while the sampler reads it is written over by other calls; what the walk
 * then finds in it can be any value (a double's bits, a small int), and
 * reading through it would fault. The fault guard would end the walk, but
 * only if it sees the fault first: faulthandler's handler, installed by the
 * program after pyscope's, reports it as a crash of the program.
 */
static int readable(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a % sizeof(void *) == 0 && a >= 65536 && (a >> 47) == 0;
}

/* Whether c can be a C frame of the thread further out than inner (NULL
 * for none): on its stack above inner (stacks grow down here) and below the
 * stack's top. The root C frame is in the thread state, and checked apart. */
static int on_stack(const _PyCFrame *c, const _PyCFrame *inner, uintptr_t stack_top)
{
    uintptr_t a = (uintptr_t)c;
    return readable(c) && (!inner || a > (uintptr_t)inner) &&
           (!stack_top || a + sizeof *c <= stack_top);
}

/* Whether cframe, one further out than inner (NULL for the thread's
 * current one), can be a C frame of the thread, and so can its previous
 * one, put in *previous. Reads cframe only once it passed, and its
 * previous once. */
static int cframe_sound(PyThreadState *tstate, const _PyCFrame *inner, _PyCFrame *cframe,
                        uintptr_t stack_top, _PyCFrame **previous)
{
    if (cframe == &tstate->root_cframe) {
        *previous = NULL; /* the walk ends there */
        return 1;
    }
    if (!on_stack(cframe, inner, stack_top))
        return 0;
    *previous = *(_PyCFrame *volatile *)&cframe->previous;
    return *previous == &tstate->root_cframe || on_stack(*previous, cframe, stack_top);
}

/*
 * Whether f lies where a live frame of the thread can: in the used part of
 * one of the thread's data-stack chunks, or inside the running generator or
 * the frame object that owns it. A C frame caught half-built names whatever
 * its stack slot held before, often a frame of a call that has ended.
 * Reads only; a wild pointer faults into the walk's guard (sampler.c).
 */
static int frame_in_place(PyThreadState *tstate, const _PyInterpreterFrame *f, uint8_t owner)
{
    uintptr_t a = (uintptr_t)f;
    switch (owner) {
    case FRAME_OWNED_BY_THREAD: {
        const _PyStackChunk *c = tstate->datastack_chunk;
        uintptr_t used_end = (uintptr_t)tstate->datastack_top;
        for (int i = 0; c && i < 64; i++) {
            uintptr_t lo = (uintptr_t)&c->data[0];
            if (i > 0)
                used_end = lo + c->top * sizeof(PyObject *);
            if (a >= lo && a < used_end &&
                used_end - a >= offsetof(_PyInterpreterFrame, localsplus))
                return 1;
            c = c->previous;
        }
        return 0;
    }
    case FRAME_OWNED_BY_GENERATOR: {
        const PyGenObject *gen = (const PyGenObject *)(a - offsetof(PyGenObject, gi_iframe));
        const PyTypeObject *t = Py_TYPE(gen);
        return (t == &PyGen_Type || t == &PyCoro_Type || t == &PyAsyncGen_Type) &&
               gen->gi_frame_state == FRAME_EXECUTING;
    }
    case FRAME_OWNED_BY_FRAME_OBJECT: {
        const PyFrameObject *fo = (const PyFrameObject *)(a - offsetof(PyFrameObject, _f_frame_data));
        return Py_TYPE(fo) == &PyFrame_Type && fo->f_frame == f;
    }
    }
    return 0;
}

/* How far an eval-loop call's own frame may lie from its C frame: both are
 * locals of the one call of _PyEval_EvalFrameDefault. */
#define SHIM_REACH 16384

/* Whether shim, a frame owned by the C stack, can be the own frame of the
 * eval-loop call whose C frame is cframe. */
static int shim_sound(const _PyInterpreterFrame *shim, const _PyCFrame *cframe, uintptr_t stack_top)
{
    uintptr_t a = (uintptr_t)shim, c = (uintptr_t)cframe;
    return (a > c ? a - c : c - a) < SHIM_REACH && (!stack_top || a + sizeof *shim <= stack_top);
}

int pyframe_walk(void *tstate_p, uintptr_t stack_top, struct pyframe_raw *out, int max,
                 int *truncated)
{
    PyThreadState *tstate = tstate_p;
    *truncated = 0;
    if (!tstate || !tstate->cframe)
        return 0;
    /* As in 3.11 (pyframe311.c): each eval-loop call has a C frame whose
     * current frame is the innermost it runs, and the walk takes each
     * caller's frames from the caller's C frame. An eval-loop call's own
     * frame on the C stack ends its frames: its previous frame is the
     * current frame of the C frame before, and the frame just inside it was
     * the call's first. While a call returns, its C frame's current frame
     * is that own frame for a few instructions. Every field is checked
     * before it is trusted; a chain that breaks the rules is being built or
     * left, and the sample is dropped. */
    _PyCFrame *cframe = tstate->cframe, *outer;
    if (!cframe_sound(tstate, NULL, cframe, stack_top, &outer))
        return -1;
    _PyInterpreterFrame *top = cframe->current_frame;
    if (!top && outer) {
        _PyCFrame *inner = cframe;
        cframe = outer;
        if (!cframe_sound(tstate, inner, cframe, stack_top, &outer))
            return -1;
        top = cframe->current_frame;
    }
    int n = 0, crossed = 0, steps = 0, last = -1; /* last: out[] index of the frame just inside */
    for (_PyInterpreterFrame *f = top, *next; f; f = next) {
        if (!readable(f) || ++steps > 2 * max + 64)
            return -1; /* not a frame, or a loop: the chain is being built */
        uint8_t owner;
        memcpy(&owner, (const char *)f + offsetof(_PyInterpreterFrame, owner), 1);
        if (owner > FRAME_OWNED_BY_CSTACK)
            return -1;
        next = f->previous;
        if (owner == FRAME_OWNED_BY_CSTACK) {
            _PyCFrame *further;
            if (!outer || !shim_sound(f, cframe, stack_top) ||
                !cframe_sound(tstate, cframe, outer, stack_top, &further) ||
                next != outer->current_frame)
                return -1;
            if (last >= 0)
                out[last].reserved = PYFRAME_ENTRY;
            cframe = outer;
            outer = further;
            crossed = 1;
            last = -1;
            continue;
        }
        last = -1;
        if (!frame_in_place(tstate, f, owner)) {
            /* The innermost frame of the innermost C frame is in its last
             * instructions: its caller is right. Anywhere else, the chain is
             * not the thread's. */
            if (n == 0 && !crossed)
                continue;
            return -1;
        }
        PyCodeObject *code = f->f_code;
        if (code && !readable(code))
            return -1;
        if (!code || Py_TYPE(code) != &PyCode_Type)
            continue; /* being cleared */
        /* Integer arithmetic: a torn chain must not make pointer arithmetic
         * overflow before the check below can see it. */
        uintptr_t first = (uintptr_t)_PyCode_CODE(code), instr = (uintptr_t)f->prev_instr;
        uintptr_t traceable = first + (uintptr_t)code->_co_firsttraceable * sizeof(_Py_CODEUNIT);
        if (instr < first || (owner != FRAME_OWNED_BY_GENERATOR && instr < traceable))
            continue; /* not started yet */
        if (instr - first > (uintptr_t)Py_SIZE(code) * sizeof(_Py_CODEUNIT))
            return -1; /* an instruction outside its code: not a whole frame */
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = code;
        out[n].lasti = (int32_t)(instr - first);
        out[n].reserved = 0;
        last = n++;
    }
    return n;
}

int pyframe_walk_own(void *tstate_p, struct pyframe_raw *out, int max, int *truncated, int entries)
{
    PyThreadState *tstate = tstate_p;
    *truncated = 0;
    if (!tstate || !tstate->cframe)
        return 0;
    /* tracemalloc's frames from 3.12 on: each frame that has started
     * (_PyFrame_GetFirstComplete), which leaves out the eval loop's own
     * frames on the C stack and the frame that finishes a class's
     * __init__ call. */
    int n = 0;
    for (_PyInterpreterFrame *f = tstate->cframe->current_frame; f; f = f->previous) {
        PyCodeObject *code = f->f_code;
        if (!code || f->owner == FRAME_OWNED_BY_CSTACK)
            continue; /* being cleared, or the eval loop's own */
        _Py_CODEUNIT *first = _PyCode_CODE(code);
        if (f->owner != FRAME_OWNED_BY_GENERATOR && f->prev_instr < first + code->_co_firsttraceable)
            continue; /* not started yet */
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = code;
        out[n].lasti = (int32_t)((char *)f->prev_instr - (char *)first);
        out[n].reserved =
            entries && f->previous && f->previous->owner == FRAME_OWNED_BY_CSTACK ? PYFRAME_ENTRY : 0;
        n++;
    }
    return n;
}

void pyframe_position(void *tstate_p, void **frame, void **instr)
{
    PyThreadState *tstate = tstate_p;
    _PyCFrame *cframe = tstate ? *(_PyCFrame *volatile *)&tstate->cframe : NULL;
    if ((uintptr_t)cframe % sizeof(void *))
        cframe = NULL;
    _PyInterpreterFrame *f =
        cframe ? *(_PyInterpreterFrame *volatile *)&cframe->current_frame : NULL;
    if (!readable(f))
        f = NULL; /* a C frame left meanwhile: see readable */
    *frame = f;
    *instr = f ? (void *)*(_Py_CODEUNIT *volatile *)&f->prev_instr : NULL;
}

void *pyframe_current_tstate(void)
{
    return _PyThreadState_GET(); /* no fatal error when there is none: hooks ask too */
}

const int *pyframe_tracemalloc_flag(void)
{
    return &_PyRuntime.tracemalloc.config.tracing;
}

/* The GIL of the main interpreter, whose threads pyscope samples: each
 * interpreter may have its own from 3.12 on. Read without the GIL. */
static struct _gil_runtime_state *main_gil(void)
{
    PyInterpreterState *interp = *(PyInterpreterState *volatile *)&_PyRuntime.interpreters.main;
    return interp ? *(struct _gil_runtime_state *volatile *)&interp->ceval.gil : NULL;
}

void *pyframe_gil_holder(void)
{
    /* The last holder stays named after it dropped the GIL: it holds it
     * only while the GIL is taken. */
    struct _gil_runtime_state *gil = main_gil();
    if (!gil || _Py_atomic_load_relaxed(&gil->locked) <= 0)
        return NULL;
    return (void *)_Py_atomic_load_relaxed(&gil->last_holder);
}

void pyframe_gil_bounds(uintptr_t *lo, uintptr_t *hi)
{
    struct _gil_runtime_state *gil = main_gil();
    *lo = (uintptr_t)gil;
    *hi = gil ? *lo + sizeof *gil : *lo;
}

static void (*dealloc_hooks[4])(void *);
static int ndealloc_hooks;
static int watcher = -1;

/* The code watcher: told of each code object before it is freed, whole and
 * with the GIL held. The eval loop takes a frame off its thread before it
 * drops the frame's code, so no frame names a freed code object. */
static int on_code_event(PyCodeEvent event, PyCodeObject *code)
{
    if (event == PY_CODE_EVENT_DESTROY)
        for (int i = 0; i < ndealloc_hooks; i++)
            dealloc_hooks[i](code);
    return 0;
}

int pyframe_watch_code_dealloc(void (*hook)(void *code))
{
    for (int i = 0; i < ndealloc_hooks; i++)
        if (dealloc_hooks[i] == hook)
            return PYSCOPE_EEXISTS;
    if (ndealloc_hooks == (int)(sizeof dealloc_hooks / sizeof *dealloc_hooks))
        return PYSCOPE_ENOMEM;
    if (watcher < 0) {
        watcher = PyCode_AddWatcher(on_code_event);
        if (watcher < 0) {
            PyErr_Clear(); /* every watcher slot is taken */
            return PYSCOPE_ENOMEM;
        }
    }
    dealloc_hooks[ndealloc_hooks++] = hook;
    return 0;
}

int pyframe_layout(char *why, size_t len)
{
    return pyframe_layout_common(why, len);
}

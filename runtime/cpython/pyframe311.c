/*
 * CPython 3.11's frames (pyframe.h; what every version shares is in
 * pyframe.c). A thread's frames are the chain of
 * _PyInterpreterFrame from tstate->cframe->current_frame through previous;
 * each names its code object and the code unit before the next instruction
 * (prev_instr). Frames that have not started running yet ("incomplete") are
 * skipped, as the interpreter itself skips them in tracebacks.
 *
 * 3.11 has no code-object watchers, so the dealloc hook wraps the code
 * type's tp_dealloc.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_pymem.h>
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

int pyframe_walk(void *tstate_p, uintptr_t stack_top, struct pyframe_raw *out, int max,
                 int *truncated)
{
    PyThreadState *tstate = tstate_p;
    *truncated = 0;
    if (!tstate || !tstate->cframe)
        return 0;
    /* Each eval-loop call has a C frame whose current Python frame is the
     * innermost it runs; the outermost it runs is its entry frame, whose
     * previous frame is the current frame of the C frame before it. An
     * eval-loop call links its C frame into the thread a few instructions
     * before it fills it in (the compiler may write the C frame's fields in
     * any order, after the link): the walk takes each caller's frames from
     * the caller's C frame, whose current frame stands still while it
     * waits. Only the thread's root C frame has no Python frame, and only it
     * has no previous C frame; the others are on the stack, each below its
     * previous one (stacks grow down here). Every field is checked before it
     * is trusted, a bool and an enum read as the bytes they are, a pointer
     * before it is followed: a C frame that breaks these rules is still
     * being filled in, or was left while the walk read it, and the sample is
     * dropped rather than made of memory that is no frame of the thread. */
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
    int n = 0, crossed = 0, steps = 0;
    for (_PyInterpreterFrame *f = top, *next; f; f = next) {
        if (!readable(f) || ++steps > 2 * max + 64)
            return -1; /* not a frame, or a loop: the chain is being built */
        uint8_t is_entry, owner;
        memcpy(&is_entry, (const char *)f + offsetof(_PyInterpreterFrame, is_entry), 1);
        memcpy(&owner, (const char *)f + offsetof(_PyInterpreterFrame, owner), 1);
        if (is_entry > 1 || owner > FRAME_OWNED_BY_FRAME_OBJECT)
            return -1;
        int crossed_before = crossed;
        next = f->previous;
        if (is_entry && outer) {
            _PyCFrame *further;
            if (!cframe_sound(tstate, cframe, outer, stack_top, &further) ||
                next != outer->current_frame)
                return -1;
            cframe = outer;
            outer = further;
            crossed = 1;
        }
        if (!frame_in_place(tstate, f, owner)) {
            /* The innermost frame of the innermost C frame is in its last
             * instructions (popped, or its generator suspended, before the
             * C frame moves on): its caller is right. Anywhere else, the
             * chain is not the thread's. */
            if (n == 0 && !crossed_before)
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
        out[n].reserved = is_entry ? PYFRAME_ENTRY : 0;
        n++;
    }
    return n;
}

int pyframe_walk_own(void *tstate_p, struct pyframe_raw *out, int max, int *truncated, int entries)
{
    PyThreadState *tstate = tstate_p;
    *truncated = 0;
    if (!tstate || !tstate->cframe)
        return 0;
    int n = 0;
    for (_PyInterpreterFrame *f = tstate->cframe->current_frame; f; f = f->previous) {
        PyCodeObject *code = f->f_code;
        if (!code)
            continue; /* being cleared */
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = code;
        /* Before the first instruction this is negative: the line is then
         * co_firstlineno, as PyCode_Addr2Line has it. */
        out[n].lasti = (int32_t)((char *)f->prev_instr - (char *)_PyCode_CODE(code));
        out[n].reserved = entries && f->is_entry ? PYFRAME_ENTRY : 0;
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
    return &_Py_tracemalloc_config.tracing;
}

void *pyframe_gil_holder(void)
{
    return (void *)_Py_atomic_load_relaxed(&_PyRuntime.gilstate.tstate_current);
}

void pyframe_gil_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)&_PyRuntime.ceval.gil;
    *hi = *lo + sizeof _PyRuntime.ceval.gil;
}

static destructor orig_code_dealloc;
static void (*dealloc_hooks[4])(void *);
static int ndealloc_hooks;

/*
 * A frame drops its code object last of all when it is popped
 * (_PyFrame_Clear), while it is still the thread's current frame: a sample
 * taken in that moment would name freed memory. Nothing reads the frame's
 * f_code after that point, so it is cleared here and the walk skips it.
 */
static void forget_dying_code(PyObject *code)
{
    PyThreadState *tstate = _PyThreadState_UncheckedGet();
    if (!tstate || !tstate->cframe)
        return;
    _PyInterpreterFrame *top = tstate->cframe->current_frame;
    if (top && top->f_code == (PyCodeObject *)code)
        top->f_code = NULL;
}

static void code_dealloc(PyObject *code)
{
    forget_dying_code(code);
    for (int i = 0; i < ndealloc_hooks; i++)
        dealloc_hooks[i](code);
    orig_code_dealloc(code);
}

int pyframe_watch_code_dealloc(void (*hook)(void *code))
{
    for (int i = 0; i < ndealloc_hooks; i++)
        if (dealloc_hooks[i] == hook)
            return PYSCOPE_EEXISTS;
    if (ndealloc_hooks == (int)(sizeof dealloc_hooks / sizeof *dealloc_hooks))
        return PYSCOPE_ENOMEM;
    dealloc_hooks[ndealloc_hooks++] = hook;
    if (!orig_code_dealloc) {
        orig_code_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = code_dealloc;
    }
    return 0;
}

int pyframe_layout(char *why, size_t len)
{
    return pyframe_layout_common(why, len);
}

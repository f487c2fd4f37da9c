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
 * program. The GIL is the main interpreter's own.
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
#include "pyframecheck.h"

#include <string.h>

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
        pyframe_raw_put(&out[n++], code, (int32_t)((char *)f->prev_instr - (char *)first),
                        entries && f->previous && f->previous->owner == FRAME_OWNED_BY_CSTACK
                            ? PYFRAME_ENTRY
                            : 0);
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

/* From 3.12 on the current thread state is the thread's own, and only while
 * it holds the GIL (it is cleared when the thread lets the GIL go). */
void *pyframe_gil_tstate(void)
{
    return _PyThreadState_GET();
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

int pyframe_layout(char *why, size_t len)
{
    return pyframe_layout_common(why, len);
}

/*
 * CPython 3.11's frames (pyframe.h; what every version shares is in
 * pyframe.c). A thread's frames are the chain of
 * _PyInterpreterFrame from tstate->cframe->current_frame through previous;
 * each names its code object and the code unit before the next instruction
 * (prev_instr). Frames that have not started running yet ("incomplete") are
 * skipped, as the interpreter itself skips them in tracebacks.
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
#include "pyframecheck.h"

#include <string.h>

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
        /* Before the first instruction lasti is negative: the line is then
         * co_firstlineno, as PyCode_Addr2Line has it. */
        pyframe_raw_put(&out[n++], code,
                        (int32_t)((char *)f->prev_instr - (char *)_PyCode_CODE(code)),
                        entries && f->is_entry ? PYFRAME_ENTRY : 0);
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

/* 3.11 keeps the thread state that holds the GIL in one variable for the
 * whole process: the caller holds it when that is its own. */
void *pyframe_gil_tstate(void)
{
    PyThreadState *t = _PyThreadState_GET();
    return t && t == PyGILState_GetThisThreadState() ? t : NULL;
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

int pyframe_layout(char *why, size_t len)
{
    return pyframe_layout_common(why, len);
}

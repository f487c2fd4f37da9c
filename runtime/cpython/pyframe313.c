/*
 * CPython 3.13's frames (pyframe.h; what every version shares is in
 * pyframe.c). The thread state names its innermost frame itself
 * (tstate->current_frame; 3.12's C frames are gone), a frame names its code
 * in f_executable (a code object, or None) and the instruction it runs, or
 * is about to run, in instr_ptr. As in 3.12, each call of the eval loop
 * puts a frame of its own on the C stack under the first frame it runs
 * (owned by the C stack, its executable None): without the C frames, those
 * are what the walk checks a chain by. Frames that have not started are
 * skipped, and the GIL is the main interpreter's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gil.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#include <internal/pycore_pystate.h>

#include <stddef.h>

#include "error.h"
#include "pyframe.h"
#include "pyframecheck.h"

#include <string.h>

/* How far below the top of a thread's stack an eval-loop call's own frame
 * is looked for when nothing else vouches for it: the thread's running
 * calls, well within the least stack a thread gets. */
#define STACK_REACH (1u << 20)

static int near_stack_top(uintptr_t a, uintptr_t stack_top)
{
    return stack_top && a < stack_top && stack_top - a < STACK_REACH;
}

/*
 * Whether shim, a frame owned by the C stack, can be an eval-loop call's
 * own frame further out than the one before (outer_than, 0 for none): on
 * the thread's stack, below its top, above the one before (stacks grow
 * down here), and running no code.
 */
static int shim_sound(const _PyInterpreterFrame *shim, uintptr_t outer_than, uintptr_t stack_top)
{
    uintptr_t a = (uintptr_t)shim;
    return a > outer_than && (!stack_top || a + sizeof *shim <= stack_top) &&
           shim->f_executable == Py_None;
}

int pyframe_walk(void *tstate_p, uintptr_t stack_top, struct pyframe_raw *out, int max,
                 int *truncated)
{
    PyThreadState *tstate = tstate_p;
    *truncated = 0;
    if (!tstate)
        return 0;
    /* The chain from the thread's current frame: Python frames, and under
     * the first frame of each eval-loop call that call's own frame on the
     * C stack. An eval-loop call links its frames a few instructions
     * before they are whole, and the compiler may write them in any order:
     * every field is checked before it is trusted (the owner read as the
     * byte it is, a pointer before it is followed), and a chain that breaks
     * the rules is being built or left, so the sample is dropped. */
    _PyInterpreterFrame *top = *(_PyInterpreterFrame *volatile *)&tstate->current_frame;
    int n = 0, steps = 0, last = -1; /* last: out[] index of the frame just inside */
    uintptr_t shim_at = 0;                          /* the last eval-loop frame crossed */
    for (_PyInterpreterFrame *f = top, *next; f; f = next) {
        if (!readable(f) || ++steps > 2 * max + 64)
            return -1; /* not a frame, or a loop: the chain is being built */
        uint8_t owner;
        memcpy(&owner, (const char *)f + offsetof(_PyInterpreterFrame, owner), 1);
        if (owner > FRAME_OWNED_BY_CSTACK)
            return -1;
        next = f->previous;
        if (owner == FRAME_OWNED_BY_CSTACK) {
            if (!shim_sound(f, shim_at, stack_top))
                return -1;
            if (last >= 0)
                out[last].reserved = PYFRAME_ENTRY;
            shim_at = (uintptr_t)f;
            last = -1;
            continue;
        }
        last = -1;
        if (!frame_in_place(tstate, f, owner)) {
            /* The innermost frame in its last instructions: its caller is
             * right, if it is where a frame can be read at all (this one's
             * link may be left over from another use of its memory).
             * Anywhere else, the chain is not the thread's. */
            if (f == top && (!next || in_data_stack(tstate, (uintptr_t)next) ||
                             near_stack_top((uintptr_t)next, stack_top)))
                continue;
            return -1;
        }
        PyObject *exe = f->f_executable;
        if (exe && !readable(exe))
            return -1;
        if (!exe || Py_TYPE(exe) != &PyCode_Type)
            continue; /* being cleared, or not code */
        PyCodeObject *code = (PyCodeObject *)exe;
        /* Integer arithmetic: a torn chain must not make pointer arithmetic
         * overflow before the check below can see it. */
        uintptr_t first = (uintptr_t)_PyCode_CODE(code), instr = (uintptr_t)f->instr_ptr;
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
    if (!tstate)
        return 0;
    /* tracemalloc's frames: each frame that has started
     * (_PyFrame_GetFirstComplete), which leaves out the eval loop's own
     * frames and the frame that finishes a class's __init__ call. */
    int n = 0;
    for (_PyInterpreterFrame *f = tstate->current_frame; f; f = f->previous) {
        if (f->owner == FRAME_OWNED_BY_CSTACK || !f->f_executable ||
            !PyCode_Check(f->f_executable))
            continue; /* the eval loop's own, being cleared, or not code */
        PyCodeObject *code = (PyCodeObject *)f->f_executable;
        _Py_CODEUNIT *first = _PyCode_CODE(code);
        if (f->owner != FRAME_OWNED_BY_GENERATOR && f->instr_ptr < first + code->_co_firsttraceable)
            continue; /* not started yet */
        if (n == max) {
            *truncated = 1;
            break;
        }
        pyframe_raw_put(&out[n++], code, (int32_t)((char *)f->instr_ptr - (char *)first),
                        entries && f->previous && f->previous->owner == FRAME_OWNED_BY_CSTACK
                            ? PYFRAME_ENTRY
                            : 0);
    }
    return n;
}

void pyframe_position(void *tstate_p, void **frame, void **instr)
{
    PyThreadState *tstate = tstate_p;
    _PyInterpreterFrame *f =
        tstate ? *(_PyInterpreterFrame *volatile *)&tstate->current_frame : NULL;
    if (!readable(f))
        f = NULL; /* a frame left meanwhile: see readable */
    *frame = f;
    *instr = f ? (void *)*(_Py_CODEUNIT *volatile *)&f->instr_ptr : NULL;
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

/* The GIL of the main interpreter, whose threads pyscope samples. Read
 * without the GIL. */
static struct _gil_runtime_state *main_gil(void)
{
    PyInterpreterState *interp = _Py_atomic_load_ptr_relaxed(&_PyRuntime.interpreters.main);
    return interp ? _Py_atomic_load_ptr_relaxed(&interp->ceval.gil) : NULL;
}

void *pyframe_gil_holder(void)
{
    /* The last holder stays named after it dropped the GIL: it holds it
     * only while the GIL is taken. */
    struct _gil_runtime_state *gil = main_gil();
    if (!gil || _Py_atomic_load_int_relaxed(&gil->locked) <= 0)
        return NULL;
    return _Py_atomic_load_ptr_relaxed(&gil->last_holder);
}

void pyframe_gil_bounds(uintptr_t *lo, uintptr_t *hi)
{
    struct _gil_runtime_state *gil = main_gil();
    *lo = (uintptr_t)gil;
    *hi = gil ? *lo + sizeof *gil : *lo;
}

/* Each offset pyscope reads, as the interpreter says it is and as this
 * build has it. */
#define OFFSET(group, field, type, member)                                                        \
    {#group "." #field, offsetof(_Py_DebugOffsets, group.field), offsetof(type, member)}

int pyframe_layout(char *why, size_t len)
{
    int err = pyframe_layout_common(why, len);
    if (err < 0)
        return err;
    const _Py_DebugOffsets *d = &_PyRuntime.debug_offsets;
    if (memcmp(d->cookie, _Py_Debug_Cookie, sizeof d->cookie) != 0 ||
        (d->version >> 16) != (PY_VERSION_HEX >> 16)) {
        snprintf(why, len, "CPython %lu.%lu.%lu does not describe its layout as pyscope expects",
                 (Py_Version >> 24) & 0xff, (Py_Version >> 16) & 0xff, (Py_Version >> 8) & 0xff);
        return PYSCOPE_EINVAL;
    }
    if (d->free_threaded) {
        snprintf(why, len, "CPython %lu.%lu.%lu is free-threaded, which pyscope does not support",
                 (Py_Version >> 24) & 0xff, (Py_Version >> 16) & 0xff, (Py_Version >> 8) & 0xff);
        return PYSCOPE_EINVAL;
    }
    static const struct {
        const char *name;
        size_t at;   /* where in _Py_DebugOffsets */
        size_t want; /* what this build reads */
    } fields[] = {
        OFFSET(thread_state, current_frame, PyThreadState, current_frame),
        OFFSET(thread_state, native_thread_id, PyThreadState, native_thread_id),
        OFFSET(thread_state, datastack_chunk, PyThreadState, datastack_chunk),
        OFFSET(interpreter_frame, previous, _PyInterpreterFrame, previous),
        OFFSET(interpreter_frame, executable, _PyInterpreterFrame, f_executable),
        OFFSET(interpreter_frame, instr_ptr, _PyInterpreterFrame, instr_ptr),
        OFFSET(interpreter_frame, localsplus, _PyInterpreterFrame, localsplus),
        OFFSET(interpreter_frame, owner, _PyInterpreterFrame, owner),
        OFFSET(code_object, filename, PyCodeObject, co_filename),
        OFFSET(code_object, name, PyCodeObject, co_name),
        OFFSET(code_object, qualname, PyCodeObject, co_qualname),
        OFFSET(code_object, linetable, PyCodeObject, co_linetable),
        OFFSET(code_object, firstlineno, PyCodeObject, co_firstlineno),
        OFFSET(code_object, co_code_adaptive, PyCodeObject, co_code_adaptive),
        OFFSET(interpreter_state, ceval_gil, PyInterpreterState, ceval.gil),
        OFFSET(interpreter_state, gc, PyInterpreterState, gc),
        OFFSET(interpreter_state, gil_runtime_state, PyInterpreterState, _gil),
        OFFSET(interpreter_state, gil_runtime_state_locked, PyInterpreterState, _gil.locked),
        OFFSET(interpreter_state, gil_runtime_state_holder, PyInterpreterState, _gil.last_holder),
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        uint64_t have;
        memcpy(&have, (const char *)d + fields[i].at, sizeof have);
        if (have != fields[i].want) {
            snprintf(why, len,
                     "CPython %lu.%lu.%lu keeps %s at offset %llu, where this build of pyscope reads %zu",
                     (Py_Version >> 24) & 0xff, (Py_Version >> 16) & 0xff, (Py_Version >> 8) & 0xff, fields[i].name, (unsigned long long)have, fields[i].want);
            return PYSCOPE_EINVAL;
        }
    }
    return 0;
}

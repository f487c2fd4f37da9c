/*
 * evalhook.h for CPython 3.12 and 3.13.
 *
 * With a frame-evaluation hook set, 3.12 evaluates every Python call
 * through a call of the hook, and each such call of the eval loop takes
 * from the thread's C recursion budget what a Python call alone does not:
 * a recursion that plain 3.12 runs 990 deep raises RecursionError near 740
 * under the hook; 3.13.0 pushes the frame of a class's Python __init__
 * past the hook. A program must run as deep under pyscope as without it,
 * and every call must be seen, so here no call is counted through the
 * hook: evalhook_see_every_call says so, and the caller counts another way
 * (monitor.h). evalhook_set and evalhook_clear still do what evalhook.h
 * says.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>

#include "error.h"
#include "evalhook.h"

/* From 3.13 on, a frame names its code in f_executable. */
#if PY_VERSION_HEX >= 0x030D0000
#define FRAME_CODE(f) ((PyCodeObject *)(f)->f_executable)
#else
#define FRAME_CODE(f) ((f)->f_code)
#endif

int evalhook_see_every_call(void)
{
    return PYSCOPE_ENOTFOUND;
}

static evalhook_before hook_before;
static evalhook_after hook_after;

static PyObject *on_frame(PyThreadState *ts, _PyInterpreterFrame *frame, int throwflag)
{
    struct evalhook_frame f = {
        .code = FRAME_CODE(frame),
        .globals = frame->f_globals,
        .makes_generator =
            frame->owner != FRAME_OWNED_BY_GENERATOR &&
            (FRAME_CODE(frame)->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)),
    };
    void *ctx = hook_before(&f);
    if (!ctx)
        return _PyEval_EvalFrameDefault(ts, frame, throwflag);
    PyObject *res = _PyEval_EvalFrameDefault(ts, frame, throwflag);
    hook_after(ctx);
    return res;
}

void evalhook_set(evalhook_before before, evalhook_after after)
{
    hook_before = before;
    hook_after = after;
    _PyInterpreterState_SetEvalFrameFunc(PyThreadState_Get()->interp, on_frame);
}

void evalhook_clear(void)
{
    _PyInterpreterState_SetEvalFrameFunc(PyThreadState_Get()->interp, _PyEval_EvalFrameDefault);
}

/*
 * tornext: a C extension for the sampler's tests. half_built(code, seconds,
 * stale) links into the thread, for a while, a C frame of the kind the
 * sampler can catch while the interpreter fills one in: its current frame
 * is not one of the thread's live frames, but memory that looks like a
 * frame of code. With stale false, a byte the walk reads as it is (3.11's
 * is_entry, 3.12's owner) holds what no frame can (the stack garbage the
 * sampler once read); with stale true, the
 * frame is whole and linked to the thread's real frames, only it is not
 * where a live frame of the thread can be (a leftover of a finished call).
 * No sample may name code.
 */
#define Py_BUILD_CORE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile double sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What a frame holds its code and position in, and where a thread's
 * innermost frame is named, by version. */
#if PY_VERSION_HEX >= 0x030D0000
#define CURRENT(ts) ((ts)->current_frame)
#define SET_CODE(f, c) ((f)->f_executable = (PyObject *)(c))
#define SET_INSTR(f, p) ((f)->instr_ptr = (p))
#else
#define CURRENT(ts) ((ts)->cframe->current_frame)
#define SET_CODE(f, c) ((f)->f_code = (c))
#define SET_INSTR(f, p) ((f)->prev_instr = (p))
#endif

static double spin(double seconds)
{
    double x = 0, end = now() + seconds;
    while (now() < end)
        for (int i = 0; i < 10000; i++)
            x += (double)i * 0.5;
    return x;
}


static PyObject *half_built(PyObject *self, PyObject *args)
{
    (void)self;
    PyCodeObject *code;
    double seconds;
    int stale;
    if (!PyArg_ParseTuple(args, "O!dp", &PyCode_Type, &code, &seconds, &stale))
        return NULL;
    PyThreadState *ts = PyThreadState_Get();
    _PyInterpreterFrame *fake = calloc(1, sizeof *fake + 16 * sizeof(PyObject *));
    if (!fake)
        return PyErr_NoMemory();
    SET_CODE(fake, code);
    SET_INSTR(fake, _PyCode_CODE(code) + code->_co_firsttraceable + 1);
    fake->owner = FRAME_OWNED_BY_THREAD;
    fake->previous = CURRENT(ts);
#if PY_VERSION_HEX >= 0x030C0000
    /* The eval loop's own frame, as its call puts one on the C stack under
     * the first frame it runs. */
    _PyInterpreterFrame shim;
    memset(&shim, 0, sizeof shim);
    shim.owner = FRAME_OWNED_BY_CSTACK;
    shim.previous = CURRENT(ts);
#if PY_VERSION_HEX >= 0x030D0000
    shim.f_executable = Py_None;
#endif
    fake->previous = &shim;
    if (!stale)
        memset((char *)fake + offsetof(_PyInterpreterFrame, owner), 133, 1);
#else
    unsigned char entry = stale ? 1 : 133;
    memcpy((char *)fake + offsetof(_PyInterpreterFrame, is_entry), &entry, 1);
#endif

#if PY_VERSION_HEX >= 0x030D0000
    _PyInterpreterFrame *volatile saved = ts->current_frame;
    *(_PyInterpreterFrame *volatile *)&ts->current_frame = fake;
    sink = spin(seconds);
    *(_PyInterpreterFrame *volatile *)&ts->current_frame = saved;
#else
    _PyCFrame cframe;
#if PY_VERSION_HEX < 0x030C0000
    cframe.use_tracing = ts->cframe->use_tracing;
#endif
    cframe.previous = ts->cframe;
    cframe.current_frame = fake;
    _PyCFrame *volatile saved = ts->cframe;
    *(_PyCFrame *volatile *)&ts->cframe = &cframe;
    sink = spin(seconds);
    *(_PyCFrame *volatile *)&ts->cframe = saved;
#endif
    free(fake);
    Py_RETURN_NONE;
}

/*
 * wild_link(seconds, which) links into the thread, for a while, a C frame
 * whose fields are what the sampler reads from a C frame its thread has
 * left meanwhile, once the stack slot has been written over by other
 * calls: with which "previous", its previous C frame is a value that is no
 * address at all (the walk's reads of the outer C frame would fault); with
 * "current", its current frame is. With a wild previous C frame, the
 * current one is the caller's, whose outermost frame is an entry frame:
 * the walk goes on from it to the previous C frame.
 */
static PyObject *wild_link(PyObject *self, PyObject *args)
{
    (void)self;
    double seconds;
    const char *which;
    if (!PyArg_ParseTuple(args, "ds", &seconds, &which))
        return NULL;
    int wild_previous = !strcmp(which, "previous");
    if (!wild_previous && strcmp(which, "current")) {
        PyErr_SetString(PyExc_ValueError, "which: 'previous' or 'current'");
        return NULL;
    }
    PyThreadState *ts = PyThreadState_Get();
    /* A non-canonical address (as a double's bits are), and a small int. */
    void *wild = wild_previous ? (void *)(uintptr_t)0xdead000000000000u : (void *)(uintptr_t)0x1000;
#if PY_VERSION_HEX >= 0x030D0000
    /* No C frames: the thread's current frame is wild, or a frame that is
     * not in place (the walk passes over it) has a wild previous one. */
    _PyInterpreterFrame fake;
    memset(&fake, 0, sizeof fake);
    fake.owner = FRAME_OWNED_BY_THREAD;
    fake.previous = wild;
    _PyInterpreterFrame *volatile saved = ts->current_frame;
    *(_PyInterpreterFrame *volatile *)&ts->current_frame = wild_previous ? &fake : wild;
    sink = spin(seconds);
    *(_PyInterpreterFrame *volatile *)&ts->current_frame = saved;
#else
    _PyCFrame cframe;
#if PY_VERSION_HEX < 0x030C0000
    cframe.use_tracing = ts->cframe->use_tracing;
#endif
    cframe.previous = wild_previous ? wild : ts->cframe;
    cframe.current_frame = wild_previous ? ts->cframe->current_frame : wild;
    _PyCFrame *volatile saved = ts->cframe;
    *(_PyCFrame *volatile *)&ts->cframe = &cframe;
    sink = spin(seconds);
    *(_PyCFrame *volatile *)&ts->cframe = saved;
#endif
    Py_RETURN_NONE;
}

/*
 * unmapped_code(seconds) runs a while with its caller's frame naming as its
 * code an address that passes every check a walk can make without reading
 * it (aligned, in user space) but is mapped to nothing: the walk faults on
 * it. A program's own fault handler (faulthandler, installed after
 * pyscope's) must not see that fault.
 */
static PyObject *unmapped_code(PyObject *self, PyObject *args)
{
    (void)self;
    double seconds;
    if (!PyArg_ParseTuple(args, "d", &seconds))
        return NULL;
    long page = sysconf(_SC_PAGESIZE);
    void *gone = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (gone == MAP_FAILED || munmap(gone, (size_t)page) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyThreadState *ts = PyThreadState_Get();
#if PY_VERSION_HEX >= 0x030D0000
    _PyInterpreterFrame *caller = ts->current_frame;
    PyObject *volatile *slot = (PyObject *volatile *)&caller->f_executable;
#else
    _PyInterpreterFrame *caller = ts->cframe->current_frame;
    PyObject *volatile *slot = (PyObject *volatile *)&caller->f_code;
#endif
    PyObject *code = *slot;
    *slot = gone;
    sink = spin(seconds);
    *slot = code;
    Py_RETURN_NONE;
}

/*
 * shift_layout() makes the interpreter say, in the layout it describes for
 * tools (3.13 on), that its frames keep the instruction pointer elsewhere:
 * what a patch release that moved the field would say. Run before pyscope's
 * bootstrap (from a .pth file), pyscope must refuse to run the program.
 */
static PyObject *shift_layout(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
#if PY_VERSION_HEX >= 0x030D0000
    _PyRuntime.debug_offsets.interpreter_frame.instr_ptr += sizeof(void *);
    Py_RETURN_NONE;
#else
    PyErr_SetString(PyExc_NotImplementedError, "no layout is described before 3.13");
    return NULL;
#endif
}

static PyMethodDef methods[] = {
    {"shift_layout", shift_layout, METH_NOARGS, "Say that frames are laid out otherwise."},
    {"half_built", half_built, METH_VARARGS, "Run a while under a C frame still being filled in."},
    {"wild_link", wild_link, METH_VARARGS, "Run a while under a C frame with a wild pointer."},
    {"unmapped_code", unmapped_code, METH_VARARGS, "Run a while naming code mapped to nothing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "tornext", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit_tornext(void);

PyMODINIT_FUNC PyInit_tornext(void)
{
    return PyModule_Create(&module);
}

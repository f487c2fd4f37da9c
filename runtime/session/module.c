/*
 * The _pyscope extension module: the target half's entry point. The
 * bootstrap (the same library under the name sitecustomize, below) imports
 * it before the script's first line and calls start(), which opens the session and hooks the three places where a
 * process's shape changes: thread start (pythread.h: in 3.11,
 * _thread.start_new_thread, which threading also uses), fork (os.register_at_fork) and os._exit (which skips
 * every exit handler). Outside `pyscope profile` start() does nothing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyapi.h"
#include "pyframe.h"
#include "pyfork.h"
#include "pythread.h"
#include "session.h"
#include "callstats.h"
#include "threads.h"
#include "tracemem.h"
#include "wire.h"

#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* The originals the hooks hand over to; strong references, set once. */
static PyObject *orig_os_exit;

/*
 * The name of the thread a threading.Thread._bootstrap method will run, or
 * NULL: new reference to a str.
 */
static PyObject *thread_name_of(PyObject *func)
{
    if (!PyMethod_Check(func))
        return NULL;
    PyObject *name = PyObject_GetAttrString(PyMethod_GET_SELF(func), "_name");
    if (!name || !PyUnicode_Check(name)) {
        Py_XDECREF(name);
        PyErr_Clear();
        return NULL;
    }
    return name;
}

/* That name as pyscope keeps names (pyframe_str_dup), malloc'd; or NULL. */
static char *thread_name_dup(PyObject *func)
{
    PyObject *name = thread_name_of(func);
    char *s = name ? pyframe_str_dup(name) : NULL;
    Py_XDECREF(name);
    return s;
}

/* ---- ThreadBoot: what a hooked thread start really starts --------------- */

typedef struct {
    PyObject_HEAD PyObject *func;
    PyObject *args;
    PyObject *kwargs;
    size_t pad;      /* stack bytes to set aside before calling func */
    int calibrating; /* not a thread: a measurement of the stack boot_call uses */
} ThreadBoot;

/*
 * Stack alignment. boot_call and the call that reaches it sit between
 * _thread's thread_run and the function a thread runs, so all the thread's
 * frames start a few hundred bytes further down its stack than under plain
 * Python. A thread's stack is page-aligned and laid out the same way on
 * every run, so that shift moves the interpreter's C locals to another
 * offset within a 4 KiB page, every time. On x86 a load whose address
 * matches an earlier in-flight store's in the low 12 bits waits for that
 * store (4K aliasing), and the offset alone can make the same Python loop
 * run several percent slower or faster. So that pyscope leaves the
 * program's threads as they would have run, boot_call sets aside `pad`
 * bytes before the call: the stack it adds, measured once by
 * measure_boot_stack, made up to a whole number of pages.
 */
static size_t boot_pad;

/* The address of a local of this call: where on the stack it ran. */
static PyObject *stack_probe(PyObject *mod, PyObject *unused)
{
    volatile char here = 0;
    return PyLong_FromSize_t((size_t)(uintptr_t)&here);
}

static void boot_dealloc(ThreadBoot *self)
{
    Py_XDECREF(self->func);
    Py_XDECREF(self->args);
    Py_XDECREF(self->kwargs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Register, run, report an exception exactly as _thread's own thread_run
 * does (so the program sees the same output), unregister. */
static PyObject *boot_call(ThreadBoot *self, PyObject *args, PyObject *kwargs)
{
    volatile char *pad = alloca(self->pad + 1);
    pad[0] = 0;
    if (!self->calibrating) {
        char *name = thread_name_dup(self->func);
        session_thread_begin(name);
        free(name);
    }
    /* The one call of func: a measurement goes through it too. */
    PyObject *res = PyObject_Call(self->func, self->args, self->kwargs);
    if (self->calibrating)
        return res;
    if (res == NULL) {
        if (PyErr_ExceptionMatches(PyExc_SystemExit))
            PyErr_Clear();
        else
            pyapi_write_unraisable("in thread started by", self->func);
    }
    Py_XDECREF(res);
    char *name = thread_name_dup(self->func);
    session_thread_end(name);
    free(name);
    Py_RETURN_NONE;
}

static PyTypeObject ThreadBoot_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_pyscope.ThreadBoot",
    .tp_basicsize = sizeof(ThreadBoot),
    .tp_dealloc = (destructor)boot_dealloc,
    .tp_call = (ternaryfunc)boot_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

/* Threads whose stack the program set below this get no pad. */
#define BOOT_PAD_MIN_STACK ((size_t)1 << 20)
#define PAGE_BYTES 4096u

/* Call callable (stack_probe, or a ThreadBoot of it) from one fixed place;
 * where the probe ran, or 0. */
static __attribute__((noinline)) size_t probe_through(PyObject *callable, PyObject *empty)
{
    PyObject *res = PyObject_Call(callable, empty, NULL);
    size_t sp = res ? PyLong_AsSize_t(res) : 0;
    Py_XDECREF(res);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return sp;
}

/*
 * Set boot_pad: call stack_probe directly and through a ThreadBoot, from
 * the same place, and pad by what the ThreadBoot adds, made up to whole
 * pages. The result is checked; if the padded call does not land at the
 * direct call's offset in a page, threads get no pad.
 */
static void measure_boot_stack(PyObject *mod)
{
    PyObject *probe = PyObject_GetAttrString(mod, "_stack_probe");
    PyObject *empty = PyTuple_New(0);
    ThreadBoot *boot = PyObject_New(ThreadBoot, &ThreadBoot_Type);
    boot_pad = 0;
    if (!probe || !empty || !boot) {
        PyErr_Clear();
        goto out;
    }
    boot->func = Py_NewRef(probe);
    boot->args = Py_NewRef(empty);
    boot->kwargs = NULL;
    boot->calibrating = 1;
    boot->pad = 0;
    size_t direct = probe_through(probe, empty);
    size_t wrapped = probe_through((PyObject *)boot, empty);
    if (!direct || !wrapped || wrapped >= direct)
        goto out;
    boot->pad = (PAGE_BYTES - (direct - wrapped) % PAGE_BYTES) % PAGE_BYTES;
    wrapped = probe_through((PyObject *)boot, empty);
    if (wrapped && (direct - wrapped) % PAGE_BYTES == 0)
        boot_pad = boot->pad;
out:
    Py_XDECREF((PyObject *)boot);
    Py_XDECREF(empty);
    Py_XDECREF(probe);
}

/* What a thread the program starts runs (pythread.h): a ThreadBoot. */
static void *make_boot(void *func, void *args, void *kwargs)
{
    ThreadBoot *boot = PyObject_New(ThreadBoot, &ThreadBoot_Type);
    if (!boot)
        return NULL;
    boot->func = Py_NewRef((PyObject *)func);
    boot->args = Py_NewRef((PyObject *)args);
    boot->kwargs = Py_XNewRef((PyObject *)kwargs);
    /* A stack the program chose small keeps all of it. */
    size_t stack = PyThread_get_stacksize();
    boot->pad = stack == 0 || stack >= BOOT_PAD_MIN_STACK ? boot_pad : 0;
    boot->calibrating = 0;
    return boot;
}

/* os._exit's replacement: say how the process ends, then end it. */
static PyObject *hooked_exit(PyObject *mod, PyObject *args, PyObject *kwargs)
{
    PyObject *status = NULL;
    if (PyTuple_GET_SIZE(args) == 1 && (!kwargs || PyDict_GET_SIZE(kwargs) == 0))
        status = PyTuple_GET_ITEM(args, 0);
    if (status && PyLong_Check(status)) {
        int overflow;
        long code = PyLong_AsLongAndOverflow(status, &overflow);
        if (!overflow && !PyErr_Occurred() && code >= INT_MIN && code <= INT_MAX)
            session_exit(WIRE_EXIT_CODE, (int)(code & 0xff), 1);
        PyErr_Clear();
    }
    return PyObject_Call(orig_os_exit, args, kwargs);
}

/* The name of the calling thread as threading knows it, without creating a
 * threading object for it. New reference or NULL (no exception). */
static PyObject *current_thread_name(void)
{
    PyObject *threading = PyImport_GetModule(PyUnicode_FromString("threading"));
    PyObject *name = NULL;
    if (threading) {
        PyObject *active = PyObject_GetAttrString(threading, "_active");
        PyObject *ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        PyObject *thread = active && ident ? PyDict_GetItemWithError(active, ident) : NULL;
        if (thread)
            name = PyObject_GetAttrString(thread, "_name");
        Py_XDECREF(ident);
        Py_XDECREF(active);
        Py_DECREF(threading);
    }
    PyErr_Clear();
    if (name && !PyUnicode_Check(name))
        Py_CLEAR(name);
    return name;
}

/*
 * os.fork runs the before-fork hooks, then takes the import lock, letting
 * go of the GIL while it waits for it. Were pyscope's locks taken first, a
 * thread holding the import lock could wait for the GIL that a thread
 * waiting for pyscope's locks holds. So the import lock comes first (the
 * thread may hold it more than once), and goes after the fork.
 */
static PyObject *before_fork(PyObject *mod, PyObject *unused)
{
    pyapi_import_lock();
    session_before_fork();
    Py_RETURN_NONE;
}

static PyObject *after_fork_parent(PyObject *mod, PyObject *unused)
{
    session_after_fork_parent();
    pyapi_import_unlock();
    Py_RETURN_NONE;
}

static PyObject *after_fork_child(PyObject *mod, PyObject *unused)
{
    PyObject *name = current_thread_name();
    char *s = name ? pyframe_str_dup(name) : NULL;
    Py_XDECREF(name);
    session_after_fork_child(s ? s : "MainThread");
    free(s);
    pyapi_import_unlock(); /* the child's import lock keeps the level of ours */
    Py_RETURN_NONE;
}

static void flush_at_finalize(void)
{
    session_flush();
}

static PyObject *at_python_exit(PyObject *mod, PyObject *unused)
{
    session_atexit();
    Py_RETURN_NONE;
}

static PyMethodDef hook_defs[] = {
    {"_exit", (PyCFunction)(void (*)(void))hooked_exit, METH_VARARGS | METH_KEYWORDS,
     "_exit(status)\n--\n\nExit to the system with specified status, without normal exit "
     "processing."},
    {"before_fork", before_fork, METH_NOARGS, NULL},
    {"after_fork_parent", after_fork_parent, METH_NOARGS, NULL},
    {"after_fork_child", after_fork_child, METH_NOARGS, NULL},
    {"at_python_exit", at_python_exit, METH_NOARGS, NULL},
    {NULL}};
#define HOOKS 5 /* the entries of hook_defs */

static int install_hooks(PyObject *mod)
{
    PyObject *fn[HOOKS] = {NULL};
    int rc = -1;
    for (int i = 0; i < HOOKS; i++) {
        fn[i] = PyCFunction_NewEx(&hook_defs[i], mod, NULL);
        if (!fn[i])
            goto out;
    }
    static const struct pyfork_hooks fork_hooks = {threads_own_running, session_fork_parent_early};
    if (pythread_hook(make_boot) < 0 || pyfork_hook(mod, &fork_hooks) < 0)
        goto out;
    if (pyapi_replace_attr("os", "_exit", fn[0], (void **)&orig_os_exit) < 0)
        goto out;

    PyObject *os = PyImport_ImportModule("os");
    if (!os)
        goto out;
    PyObject *reg = PyObject_GetAttrString(os, "register_at_fork");
    Py_DECREF(os);
    if (!reg)
        goto out;
    PyObject *kw = Py_BuildValue("{sOsOsO}", "before", fn[1], "after_in_parent", fn[2],
                                 "after_in_child", fn[3]);
    PyObject *empty = PyTuple_New(0);
    PyObject *res = kw && empty ? PyObject_Call(reg, empty, kw) : NULL;
    Py_XDECREF(kw);
    Py_XDECREF(empty);
    Py_DECREF(reg);
    if (!res)
        goto out;
    Py_DECREF(res);
    Py_AtExit(flush_at_finalize);
    /* atexit functions run last-registered first: this one, registered
     * before the program's, runs after them, with the interpreter whole. */
    PyObject *atexit = PyImport_ImportModule("atexit");
    res = atexit ? PyObject_CallMethod(atexit, "register", "O", fn[4]) : NULL;
    Py_XDECREF(atexit);
    if (!res)
        goto out;
    Py_DECREF(res);
    rc = 0;
out:
    for (int i = 0; i < HOOKS; i++)
        Py_XDECREF(fn[i]);
    return rc;
}

PyDoc_STRVAR(start_doc, "start()\n--\n\n"
                        "Start recording this process when it runs under `pyscope profile`.\n"
                        "Returns True when a session started, False outside pyscope.");

static PyObject *start(PyObject *mod, PyObject *unused)
{
    if (session_active())
        Py_RETURN_TRUE;
    const char *addr = getenv(WIRE_ENV_SOCKET);
    char why[256];
    if (addr && *addr && pyframe_layout(why, sizeof why) < 0) {
        /* Reading frames laid out otherwise would be reading garbage: the
         * program is not run at all. The launcher says why, and keeps no
         * database of a run that never was; without one to tell, this
         * process says it. */
        PyObject *exe = PySys_GetObject("executable"); /* borrowed */
        char *exe_s = exe ? pyframe_str_dup(exe) : NULL;
        int told = session_refuse(exe_s ? exe_s : "", why) == 0;
        free(exe_s);
        if (told)
            _exit(2);
        char line[320];
        int n = snprintf(line, sizeof line, "pyscope: %s; the program was not run\n", why);
        if (write(2, line, n > 0 && (size_t)n < sizeof line ? (size_t)n : strlen(line)) < 0)
            _exit(2);
        _exit(2);
    }
    PyObject *exe = PySys_GetObject("executable"); /* borrowed */
    char *exe_s = exe ? pyframe_str_dup(exe) : NULL;
    int err = session_start(exe_s ? exe_s : "");
    free(exe_s);
    if (err == 1)
        Py_RETURN_FALSE;
    if (err < 0) {
        /* The recorder is unreachable: run the program untraced rather
         * than stop it. */
        Py_RETURN_FALSE;
    }
    measure_boot_stack(mod);
    if (install_hooks(mod) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *active(PyObject *mod, PyObject *unused)
{
    return PyBool_FromLong(session_active());
}

static PyObject *boot_pad_get(PyObject *mod, PyObject *unused)
{
    return PyLong_FromSize_t(boot_pad);
}

PyDoc_STRVAR(snapshot_doc,
             "snapshot(label=None)\n--\n\n"
             "Record a snapshot of the live memory blocks, grouped by allocation\n"
             "traceback, under label. Returns the snapshot's id in the run database\n"
             "(for `pyscope stats` and `pyscope diff`), or None when no snapshots are\n"
             "taken (the run was started without --memory and --heap) or the recorder\n"
             "did not answer.");

static PyObject *snapshot(PyObject *mod, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"label", NULL};
    PyObject *label = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:snapshot", kwlist, &label))
        return NULL;
    char *text = NULL;
    if (label != Py_None) {
        if (!PyUnicode_Check(label)) {
            PyErr_Format(PyExc_TypeError, "snapshot() label must be str or None, not %.100s",
                         Py_TYPE(label)->tp_name);
            return NULL;
        }
        if (!(text = pyframe_str_dup(label)))
            return PyErr_NoMemory();
    }
    int64_t id = tracemem_active() ? tracemem_snapshot(WIRE_TRIGGER_API, text, 1) : 0;
    free(text);
    if (id <= 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(id);
}

static PyMethodDef module_methods[] = {
    {"start", start, METH_NOARGS, start_doc},
    {"snapshot", (PyCFunction)(void (*)(void))snapshot, METH_VARARGS | METH_KEYWORDS, snapshot_doc},
    {"active", active, METH_NOARGS, "active()\n--\n\nWhether this process is being recorded."},
    {"_stack_probe", stack_probe, METH_NOARGS,
     "_stack_probe()\n--\n\nThe address of a local of this call (for pyscope's tests)."},
    {"_boot_pad", boot_pad_get, METH_NOARGS,
     "_boot_pad()\n--\n\nThe stack bytes set aside under each traced thread's frames."},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pyscope",
    .m_doc = "pyscope's in-process recorder (see `pyscope help profile`).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__pyscope(void);

PyMODINIT_FUNC PyInit__pyscope(void)
{
    if (PyType_Ready(&ThreadBoot_Type) < 0)
        return NULL;
    return PyModule_Create(&module_def);
}

/*
 * The bootstrap. `pyscope profile` puts first on PYTHONPATH the directory
 * holding this library, which is also there as sitecustomize.<soabi>.so: the site
 * module imports `sitecustomize` while the interpreter starts, and this
 * module's create slot runs. It loads the `pyscope` module the program may
 * import, takes the directory back off sys.path, starts the session, and
 * returns in its own place the sitecustomize the program would have had
 * without pyscope, imported by name. Done from C, that import leaves no
 * frame of pyscope's in the traceback of a sitecustomize that fails or
 * exits; a program with none gets the ImportError the site module expects
 * and ignores, and sys.modules then holds no sitecustomize, as without
 * pyscope. The module returned keeps everything but __spec__, which the
 * import system sets to the spec it found here.
 */
static const char boot_path_src[] =
    "import os, sys\n"
    "here = os.path.dirname(os.path.abspath(origin))\n"
    "sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != here]\n"
    "sys.path_importer_cache.pop(here, None)\n";

/* Take the bootstrap's directory off sys.path (boot_path_src). */
static int boot_path_off(PyObject *spec)
{
    PyObject *globals = PyDict_New();
    PyObject *origin = globals ? PyObject_GetAttrString(spec, "origin") : NULL;
    PyObject *done = NULL;
    if (origin && PyDict_SetItemString(globals, "origin", origin) == 0 &&
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
        done = PyRun_String(boot_path_src, Py_file_input, globals, globals);
    Py_XDECREF(done);
    Py_XDECREF(origin);
    Py_XDECREF(globals);
    return done ? 0 : -1;
}

static int boot_session(PyObject *spec)
{
    PyObject *api = PyImport_ImportModule("pyscope"); /* imports _pyscope */
    if (!api)
        return -1;
    Py_DECREF(api);
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *ext = PyDict_GetItemString(modules, "_pyscope");
    if (!ext) {
        PyErr_SetString(PyExc_ImportError, "pyscope's bootstrap: _pyscope is not loaded");
        return -1;
    }
    Py_INCREF(ext);
    /* Reached through pyscope from here on: a program that lists its
     * extension modules (faulthandler does, in its crash report) sees the
     * ones it imported itself. */
    PyObject *started = NULL;
    if (PyDict_DelItemString(modules, "_pyscope") == 0 && boot_path_off(spec) == 0)
        started = PyObject_CallMethod(ext, "start", NULL);
    Py_XDECREF(started);
    Py_DECREF(ext);
    return started ? 0 : -1;
}

/* In a subinterpreter the program starts, which imports sitecustomize too
 * (PYTHONPATH is every interpreter's): no session there, only the program's
 * sitecustomize, as without pyscope. */
static PyObject *boot_create(PyObject *spec, PyModuleDef *def)
{
    (void)def;
    int main_interp = PyInterpreterState_Get() == PyInterpreterState_Main();
    if ((main_interp ? boot_session(spec) : boot_path_off(spec)) < 0)
        return NULL;
    return PyImport_ImportModule("sitecustomize"); /* the next one on sys.path */
}

/* Loadable in a subinterpreter with a GIL of its own (3.12 on): it only
 * hands over to the program's sitecustomize there. */
static PyModuleDef_Slot boot_slots[] = {
    {Py_mod_create, (void *)boot_create},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}};

/* No methods and no doc: the import system would add them to the module
 * returned, which is the program's. */
static struct PyModuleDef boot_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sitecustomize",
    .m_size = 0,
    .m_slots = boot_slots,
};

PyMODINIT_FUNC PyInit_sitecustomize(void);

PyMODINIT_FUNC PyInit_sitecustomize(void)
{
    return PyModuleDef_Init(&boot_def);
}

/*
 * pyfork.h for CPython 3.12 and later. os.fork there audits, runs the
 * before-fork hooks, forks, and in the parent warns when /proc/self/stat
 * counts more than one thread (a warning that fails, as under -W error, is
 * dropped: the fork has happened), then runs the after-fork hooks. The
 * replacement does the same through the same public functions, counting
 * the threads that are not pyscope's, with the same message.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyapi.h"
#include "pyfork.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct pyfork_hooks hooks;

/* The threads of the process as os.fork counts them (the 20th field of
 * /proc/self/stat), or -1 when they cannot be read. */
static long process_threads(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the name, field 2, may hold anything */
    if (!p)
        return -1;
    /* Fields 3 to 19 after it, then the thread count. */
    for (int field = 2; field < 20 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

static PyObject *fork_replacement(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (PySys_Audit("os.fork", NULL) < 0)
        return NULL;
    PyOS_BeforeFork();
    pid_t pid = fork();
    int saved_errno = errno;
    if (pid == 0) {
        PyOS_AfterFork_Child();
    } else {
        long all = process_threads();
        if (all > 1 && all - hooks.own_threads() > 1) {
            hooks.parent_early();
            if (PyErr_WarnFormat(PyExc_DeprecationWarning, 1,
                                 "This process (pid=%d) is multi-threaded, use of %s() may "
                                 "lead to deadlocks in the child.",
                                 (int)getpid(), "fork") < 0)
                PyErr_Clear();
        }
        PyOS_AfterFork_Parent();
    }
    if (pid < 0) {
        errno = saved_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromPid(pid);
}

static PyMethodDef fork_def = {
    "fork", fork_replacement, METH_NOARGS,
    "fork($module, /)\n--\n\nFork a child process.\n\n"
    "Return 0 to child process and PID of child to parent process."};

int pyfork_hook(void *self, const struct pyfork_hooks *h)
{
    hooks = *h;
    PyObject *fn = PyCFunction_NewEx(&fork_def, (PyObject *)self, NULL);
    if (!fn)
        return -1;
    int rc = pyapi_replace_attr("os", "fork", fn, NULL);
    Py_DECREF(fn);
    return rc;
}

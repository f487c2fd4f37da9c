/*
 * pyfork.h for CPython 3.12 and later. os.fork there audits, runs the
 * before-fork hooks, forks, and in the parent warns when /proc/self/stat
 * counts more than one thread, then runs the after-fork hooks. The
 * replacement does the same through the same public functions, and warns
 * by calling the original os.fork when the threads that are not pyscope's
 * are more than one: the warning is then the interpreter's own.
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

static int (*own_threads_fn)(void);
static PyObject *orig_fork; /* a strong reference, set once */

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
    long all = process_threads();
    if (all < 0 || all - own_threads_fn() > 1)
        return PyObject_CallNoArgs(orig_fork);
    if (PySys_Audit("os.fork", NULL) < 0)
        return NULL;
    PyOS_BeforeFork();
    pid_t pid = fork();
    int saved_errno = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
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

int pyfork_hook(void *self, int (*own_threads)(void))
{
    own_threads_fn = own_threads;
    PyObject *fn = PyCFunction_NewEx(&fork_def, (PyObject *)self, NULL);
    if (!fn)
        return -1;
    int rc = pyapi_replace_attr("os", "fork", fn, (void **)&orig_fork);
    Py_DECREF(fn);
    return rc;
}

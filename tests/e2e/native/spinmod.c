/*
 * spinext: a C extension for the native-stack tests, built with debug
 * information. spin(n) burns CPU in a static function whose loop lines the
 * test finds by the markers below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static volatile double sink;

__attribute__((noinline)) static void burn(long n)
{
    double x = 0;
    for (long i = 0; i < n; i++) /* spin: loop */
        x += (double)i * 0.5;    /* spin: body */
    sink = x;
}

static PyObject *spin(PyObject *self, PyObject *arg)
{
    (void)self;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    burn(n);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"spin", spin, METH_O, "Burn CPU for n rounds of a loop."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "spinext", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit_spinext(void);

PyMODINIT_FUNC PyInit_spinext(void)
{
    return PyModule_Create(&module);
}

/*
 * pythread_hook_version (pythread.h) for CPython 3.11 and 3.12: threading
 * starts its threads through its own reference to _thread.start_new_thread,
 * threading._start_new_thread, taken when it was imported.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyapi.h"
#include "pythread.h"

int pythread_hook_version(void *start, pythread_wrap wrap)
{
    (void)wrap;
    return pyapi_replace_loaded_attr("threading", "_start_new_thread", start);
}

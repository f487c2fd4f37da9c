/*
 * The interpreter's interfaces that are not its frames, heap or free lists
 * (pyframe.h, heap.h, freelist.h) but still change from one CPython version
 * to the next: private functions, unstable ones, and the names of its own
 * C functions. One implementation per version (pyapi311.c). Objects are
 * passed as void * (a PyObject *), as in pyframe.h, so that a caller need
 * not see Python.h to name them. Everything here needs the GIL unless it
 * says otherwise. pyapi.c holds what is the same in every version (putting
 * a hook in place of a module attribute).
 */
#ifndef PYSCOPE_PYAPI_H
#define PYSCOPE_PYAPI_H

#include <stddef.h>

/* The code object and the globals of a frame object (a profile function's
 * frame argument), borrowed. */
void *pyapi_frame_code(void *frame);
void *pyapi_frame_globals(void *frame);

/* A slot of every code object's extra data for the caller; -1 when none is
 * left (no exception is left set). */
long pyapi_code_extra_index(void);

/* What code holds in slot index, NULL when nothing; leaves no exception. */
void *pyapi_code_extra(void *code, long index);

/* Put value in code's slot index: 0, or -1 (no exception is left set and
 * the one that was set before is kept). */
int pyapi_set_code_extra(void *code, long index, void *value);

/* A profile function (a Py_tracefunc) for the calling thread, or none:
 * 0, or -1 with the exception the interpreter raised left set (it is not
 * printed). */
int pyapi_set_profile(void *fn);

/* Whether the str object s equals the ASCII string ascii. */
int pyapi_str_is(void *s, const char *ascii);

/* The attribute name (a str) in type's MRO, without descriptors called:
 * borrowed, or NULL. */
void *pyapi_type_lookup(void *type, void *name);

/* The import lock, taken around fork() as os.fork takes it. It may be held
 * more than once by one thread. */
void pyapi_import_lock(void);
void pyapi_import_unlock(void);

/* Report the exception set as unraisable, as the interpreter reports one in
 * a thread: "Exception ignored <msg>: <repr(obj)>". */
void pyapi_write_unraisable(const char *msg, void *obj);

/*
 * Of the interpreter's own C functions, by name (no GIL needed):
 * pyapi_eval_loop, the eval loop, whose frames run Python frames;
 * pyapi_machinery, how the interpreter calls and runs code and frees
 * objects (vectorcall, slot trampolines, PyRun, the generator protocol),
 * which a native stack does not show by default.
 */
int pyapi_eval_loop(const char *name);
int pyapi_machinery(const char *name);

/*
 * Put repl (a PyObject *) in place of attribute name of module modname,
 * when it has one, and the attribute it replaced into *orig unless orig is
 * NULL or *orig is set already. 0, or -1 with an exception set.
 */
int pyapi_replace_attr(const char *modname, const char *name, void *repl, void **orig);

/*
 * The same for a module only when it is imported already (a reference it
 * took of another module's attribute when it was): never imports it. 0, or
 * -1 with an exception set.
 */
int pyapi_replace_loaded_attr(const char *modname, const char *name, void *repl);

/*
 * A builtin function that runs meth (a PyCFunction of the calling
 * convention flags, METH_*) and is, to the program, the builtin name of
 * module modname: the same __name__, __qualname__, __module__, __self__,
 * __doc__ and __text_signature__ (so inspect.signature gives the same
 * answer, and pickle finds it under that name). def (a PyMethodDef,
 * zeroed, static: the function keeps it) is filled in the first time. A
 * new reference, or NULL with an exception set.
 */
void *pyapi_builtin_like(const char *modname, const char *name, void *def, void *meth, int flags);

#endif

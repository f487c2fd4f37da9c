/*
 * The checks a walk of another thread's frames makes before it trusts what
 * it reads, the same source for every version's walk (pyframe3XY.c, the
 * only files that include this one), compiled against that version's
 * structures.
 */
#ifndef PYSCOPE_PYFRAMECHECK_H
#define PYSCOPE_PYFRAMECHECK_H

/*
 * Whether p can be read at all: aligned, above the lowest page a process
 * may map (64 KiB by default) and below the top of user space (47 bits: the
 * kernel maps above that only for a program that asks). A C frame the thread has left
 * while the sampler reads it is written over by other calls; what the walk
 * then finds in it can be any value (a double's bits, a small int), and
 * reading through it would fault. The fault guard ends the walk (and keeps
 * itself in front of a handler the program installs later, such as
 * faulthandler's), but a fault costs a signal's round trip: what can be
 * refused unread is.
 */
static int readable(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a % sizeof(void *) == 0 && a >= 65536 && (a >> 47) == 0;
}

#if PY_VERSION_HEX < 0x030D0000
/* Whether c can be a C frame of the thread further out than inner (NULL
 * for none): on its stack above inner (stacks grow down here) and below the
 * stack's top. The root C frame is in the thread state, and checked apart. */
static int on_stack(const _PyCFrame *c, const _PyCFrame *inner, uintptr_t stack_top)
{
    uintptr_t a = (uintptr_t)c;
    return readable(c) && (!inner || a > (uintptr_t)inner) &&
           (!stack_top || a + sizeof *c <= stack_top);
}

/* Whether cframe, one further out than inner (NULL for the thread's
 * current one), can be a C frame of the thread, and so can its previous
 * one, put in *previous. Reads cframe only once it passed, and its
 * previous once. */
static int cframe_sound(PyThreadState *tstate, const _PyCFrame *inner, _PyCFrame *cframe,
                        uintptr_t stack_top, _PyCFrame **previous)
{
    if (cframe == &tstate->root_cframe) {
        *previous = NULL; /* the walk ends there */
        return 1;
    }
    if (!on_stack(cframe, inner, stack_top))
        return 0;
    *previous = *(_PyCFrame *volatile *)&cframe->previous;
    return *previous == &tstate->root_cframe || on_stack(*previous, cframe, stack_top);
}
#endif

/* Whether a lies in one of the thread's data-stack chunks, used or not:
 * memory that stays mapped while the thread lives (arenas.h holds a freed
 * chunk until the walk is over). */
static inline int in_data_stack(PyThreadState *tstate, uintptr_t a)
{
    const _PyStackChunk *c = tstate->datastack_chunk;
    for (int i = 0; c && i < 64; i++) {
        uintptr_t lo = (uintptr_t)c;
        if (a >= lo && a < lo + c->size)
            return 1;
        c = c->previous;
    }
    return 0;
}

/*
 * Whether f lies where a live frame of the thread can: in the used part of
 * one of the thread's data-stack chunks, or inside the running generator or
 * the frame object that owns it. A C frame caught half-built names whatever
 * its stack slot held before, often a frame of a call that has ended.
 * Reads only; a wild pointer faults into the walk's guard (sampler.c).
 */
static int frame_in_place(PyThreadState *tstate, const _PyInterpreterFrame *f, uint8_t owner)
{
    uintptr_t a = (uintptr_t)f;
    switch (owner) {
    case FRAME_OWNED_BY_THREAD: {
        const _PyStackChunk *c = tstate->datastack_chunk;
        uintptr_t used_end = (uintptr_t)tstate->datastack_top;
        for (int i = 0; c && i < 64; i++) {
            uintptr_t lo = (uintptr_t)&c->data[0];
            if (i > 0)
                used_end = lo + c->top * sizeof(PyObject *);
            if (a >= lo && a < used_end &&
                used_end - a >= offsetof(_PyInterpreterFrame, localsplus))
                return 1;
            c = c->previous;
        }
        return 0;
    }
    case FRAME_OWNED_BY_GENERATOR: {
        const PyGenObject *gen = (const PyGenObject *)(a - offsetof(PyGenObject, gi_iframe));
        const PyTypeObject *t = Py_TYPE(gen);
        return (t == &PyGen_Type || t == &PyCoro_Type || t == &PyAsyncGen_Type) &&
               gen->gi_frame_state == FRAME_EXECUTING;
    }
    case FRAME_OWNED_BY_FRAME_OBJECT: {
        const PyFrameObject *fo = (const PyFrameObject *)(a - offsetof(PyFrameObject, _f_frame_data));
        return Py_TYPE(fo) == &PyFrame_Type && fo->f_frame == f;
    }
    }
    return 0;
}

#endif

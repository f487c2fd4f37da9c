/*
 * codewatch.h, what every version shares: the hooks, and telling them.
 * How the end of a code object is learnt is the version's own
 * (codewatch_install: codewatch311.c, codewatch312.c).
 */
#include "codewatch.h"
#include "error.h"

static void (*dealloc_hooks[4])(void *);
static int ndealloc_hooks;

/* Every hook, for a code object about to be freed. */
static void tell_hooks(void *code)
{
    for (int i = 0; i < ndealloc_hooks; i++)
        dealloc_hooks[i](code);
}

int codewatch_add(void (*hook)(void *code))
{
    for (int i = 0; i < ndealloc_hooks; i++)
        if (dealloc_hooks[i] == hook)
            return PYSCOPE_EEXISTS;
    if (ndealloc_hooks == (int)(sizeof dealloc_hooks / sizeof *dealloc_hooks))
        return PYSCOPE_ENOMEM;
    if (ndealloc_hooks == 0) {
        int err = codewatch_install(tell_hooks);
        if (err < 0)
            return err;
    }
    dealloc_hooks[ndealloc_hooks++] = hook;
    return 0;
}

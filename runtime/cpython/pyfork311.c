/*
 * pyfork.h for CPython 3.11: its os.fork does not count threads, and is
 * left alone.
 */
#include "pyfork.h"

int pyfork_hook(void *self, const struct pyfork_hooks *hooks)
{
    (void)self;
    (void)hooks;
    return 0;
}

/*
 * pyfork.h for CPython 3.11: its os.fork does not count threads, and is
 * left alone.
 */
#include "pyfork.h"

int pyfork_hook(void *self, int (*own_threads)(void))
{
    (void)self;
    (void)own_threads;
    return 0;
}

/*
 * evalhook.h for CPython 3.12 and 3.13.
 *
 * With a frame-evaluation hook set, 3.12 evaluates every Python call
 * through a call of the hook, and each such call of the eval loop takes
 * from the thread's C recursion budget what a Python call alone does not:
 * a recursion that plain 3.12 runs 990 deep raises RecursionError near 740
 * under the hook; 3.13.0 pushes the frame of a class's Python __init__
 * past the hook. A program must run as deep under pyscope as without it,
 * and every call must be seen, so here no call is counted through the
 * hook: evalhook_see_every_call says so, and the caller counts another way
 * (monitor.h). No hook is ever set (evalhook.h: only after that call
 * succeeded).
 */
#include "error.h"
#include "evalhook.h"

int evalhook_see_every_call(void)
{
    return PYSCOPE_ENOTFOUND;
}

void evalhook_set(evalhook_before before, evalhook_after after)
{
    (void)before;
    (void)after;
}

void evalhook_clear(void)
{
}

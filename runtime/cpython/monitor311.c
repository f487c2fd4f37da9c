/*
 * monitor.h for CPython 3.11: it has no events for tools (counting goes
 * through the profile function or the frame-evaluation hook).
 */
#include "error.h"
#include "monitor.h"

int monitor_start(const struct monitor_events *ev, int builtins)
{
    (void)ev;
    (void)builtins;
    return PYSCOPE_ENOTFOUND;
}

void monitor_stop(void)
{
}

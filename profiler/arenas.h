/*
 * Target side: memory the sampler thread may be reading stays mapped while
 * it reads. The sampler thread reads a running thread's frames (sampler.c),
 * and the interpreter gives a data-stack chunk back to the system the
 * moment its first frame returns, as it gives back an empty object arena:
 * a walk that was inside one faults. pyscope's fault guard absorbs such a
 * fault only if it sees it first, and faulthandler, which the program may
 * install after it (regrtest and pytest do), reports it as the program's
 * crash. While holding, what the interpreter gives back is kept until the
 * sampler thread, between its walks, gives it back itself.
 */
#ifndef PYSCOPE_ARENAS_H
#define PYSCOPE_ARENAS_H

/*
 * Start holding: the first time, put the hold in front of the interpreter's
 * arena allocator (which its data-stack chunks come from too). Needs the
 * GIL, and no walk from another thread under way.
 */
void arenas_hold_start(void);

/* Give back what was held, as the interpreter asked. The sampler thread,
 * between walks: nothing may be reading what was given back before now. */
void arenas_release(void);

/* Stop holding and give back everything held (the sampler thread is
 * stopped or, in a fork child, gone). */
void arenas_hold_stop(void);

#endif

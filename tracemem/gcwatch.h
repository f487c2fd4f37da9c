/*
 * Target side: the GC monitor (--gc). Every collection of the cyclic
 * garbage collector is queued with its generation, start, duration, what
 * it collected, and the stack of the thread whose allocation started it.
 */
#ifndef PYSCOPE_GCWATCH_H
#define PYSCOPE_GCWATCH_H

/* The environment variable the launcher sets: "1" to watch collections. */
#define GCWATCH_ENV "PYSCOPE_GC"

/*
 * Start watching: a callback of pyscope's own joins gc.callbacks. Needs the
 * GIL and the code registry (coderef_install). 0 or a negative PYSCOPE_E*.
 */
int gcwatch_start(void);

/* Collections not recorded: the thread had no ring, or its ring was full. */
unsigned long long gcwatch_dropped(void);

#endif

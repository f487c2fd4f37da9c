/*
 * os.fork as the program knows it. From 3.12 on, os.fork warns in the
 * parent ("This process ... is multi-threaded") when the process has more
 * than one thread, counting every thread of the process: pyscope's own
 * would make a single-threaded program warn. The hook puts a function in
 * place of os.fork that forks as os.fork does and warns only when the
 * program's own threads would make it warn. One implementation per version
 * (pyfork311.c: 3.11 never warns, and nothing is replaced).
 */
#ifndef PYSCOPE_PYFORK_H
#define PYSCOPE_PYFORK_H

/*
 * Replace os.fork; own_threads says how many threads of pyscope's own the
 * process runs now. self (a module) is the replacement's self. 0, or -1
 * with an exception set. With the GIL, once.
 */
int pyfork_hook(void *self, int (*own_threads)(void));

#endif

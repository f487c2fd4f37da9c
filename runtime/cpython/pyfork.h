/*
 * os.fork as the program knows it. From 3.12 on, os.fork warns in the
 * parent ("This process ... is multi-threaded") when the process has more
 * than one thread, counting every thread of the process: pyscope's own
 * would make a single-threaded program warn. And it warns between the
 * before-fork and the after-fork hooks, running Python code (the warnings
 * module) while pyscope's before-fork step holds the locks its own threads
 * take with the GIL. The hook puts a function in place of os.fork that
 * forks as os.fork does, warns only when the program's own threads would
 * make it warn, and lets pyscope's locks go before it warns. One
 * implementation per version (pyfork311.c: 3.11 never warns, and nothing
 * is replaced).
 */
#ifndef PYSCOPE_PYFORK_H
#define PYSCOPE_PYFORK_H

struct pyfork_hooks {
    int (*own_threads)(void); /* how many threads of pyscope's own run now */
    void (*parent_early)(void); /* in the parent, before it warns: what the
                                   after-fork hook would do (it then does not) */
};

/*
 * Replace os.fork; self (a module) is the replacement's self. 0, or -1
 * with an exception set. With the GIL, once.
 */
int pyfork_hook(void *self, const struct pyfork_hooks *hooks);

#endif

/*
 * Code objects about to be freed, told to whoever keeps their address: the
 * code registry and the memory tracer name code by address and must forget
 * it before another object can take it. The hooks are kept in codewatch.c;
 * 3.11 has no way to be told, and its code type's tp_dealloc is wrapped
 * (codewatch311.c); from 3.12 on a code watcher tells (codewatch312.c).
 */
#ifndef PYSCOPE_CODEWATCH_H
#define PYSCOPE_CODEWATCH_H

/*
 * Call hook(code) before every code object is freed, with the GIL held and
 * the object still whole. Up to four hooks, each installed once; 0 or a
 * negative PYSCOPE_E* (PYSCOPE_EEXISTS for a hook already installed).
 */
int codewatch_add(void (*hook)(void *code));

/*
 * The version's own part (codewatch311.c, codewatch312.c), called by the
 * shared part (codewatch.c) once, before the first hook: from now on call
 * tell(code) before every code object is freed, as codewatch_add says. 0 or
 * a negative PYSCOPE_E*.
 */
int codewatch_install(void (*tell)(void *code));

#endif

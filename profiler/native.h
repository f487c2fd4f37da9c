/*
 * Target side: the native frames of samples taken with --native. The
 * emitter turns each return address into a native function once (symbols.h)
 * and says what to do with it when merging native and Python stacks: show
 * it, hide it (the interpreter's own workings), replace it by the Python
 * frames it runs (the eval loop), or drop it and everything it called (the
 * signal trampoline, above which are pyscope's own handler frames, and
 * pyscope's own code). Emitter only,
 * under the code registry's lock.
 */
#ifndef PYSCOPE_NATIVE_H
#define PYSCOPE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

enum native_kind { NATIVE_SHOW, NATIVE_HIDE, NATIVE_EVAL, NATIVE_TRAMPOLINE, NATIVE_OWN };

#define NATIVE_KEY_BIT (1ull << 62) /* native keys never meet code-object keys */

/* 0 or PYSCOPE_ENOMEM; show_all: hide no interpreter frame (--native-all). */
int native_init(int show_all);

/*
 * What the frame at ip is (is_return: ip is a return address, so the call
 * is the byte before it) and its key for WIRE_SAMPLE frames.
 */
enum native_kind native_frame(uintptr_t ip, int is_return, uint64_t *key);

/* The WIRE_NATIVE record of key into dst (cap bytes) unless the recorder has
 * it: its size, 0 when already sent, -1 when cap is too small. pending: only
 * report the size, send nothing. */
long native_put(uint64_t key, uint8_t *dst, size_t cap, int pending);

/* A new connection (fork child): every function is told again. */
void native_forget_sent(void);

#endif

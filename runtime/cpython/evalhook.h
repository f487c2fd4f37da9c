/*
 * The interpreter's frame-evaluation hook (PEP 523) as a view of every call
 * of a Python function, one implementation per Python version
 * (evalhook311.c). The hook sees a call only when the interpreter evaluates
 * the new frame through it; a specialized instruction that pushes the
 * callee's frame itself and goes on in the same evaluation is a call the
 * hook never sees. Some interpreters make such calls even while a hook is
 * set; this module finds out, and keeps them from being made.
 */
#ifndef PYSCOPE_EVALHOOK_H
#define PYSCOPE_EVALHOOK_H

/*
 * Make sure that from now on every call of a Python function that the
 * interpreter makes while a frame-evaluation hook is set goes through that
 * hook: specializations that would push frames past the hook are kept from
 * being made, and those made already (during start-up) are undone. Runs
 * code of its own and sets a hook of its own for a moment: call it with the
 * GIL held, before the program runs, before the caller sets its hook.
 * Returns 0 when every call now goes through the hook, PYSCOPE_ENOTFOUND
 * when some still would not (the caller must count calls another way), or
 * PYSCOPE_ENOMEM.
 */
int evalhook_see_every_call(void);

/* A frame about to be evaluated, as the hook sees it (borrowed). */
struct evalhook_frame {
    void *code;          /* its PyCodeObject */
    void *globals;       /* its globals dict */
    int makes_generator; /* the first frame of a generator or coroutine,
                            which only makes it: nothing runs yet */
};

/*
 * Called for every frame the interpreter evaluates, before it runs: returns
 * what after is to be given once the frame is done, or NULL to let it run
 * unobserved.
 */
typedef void *(*evalhook_before)(const struct evalhook_frame *f);
typedef void (*evalhook_after)(void *ctx);

/* Set the calling thread's interpreter's frame-evaluation hook to call
 * before and after around each frame; clear it again. With the GIL, and
 * only once evalhook_see_every_call returned 0: on a version where it
 * never does, neither sets anything. */
void evalhook_set(evalhook_before before, evalhook_after after);
void evalhook_clear(void);

#endif

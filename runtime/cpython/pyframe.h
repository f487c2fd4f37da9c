/*
 * The interface to the interpreter's frames, one implementation per Python
 * version (pyframe311.c for 3.11). Everything version-specific about frame
 * layout and code objects stays behind these functions.
 */
#ifndef PYSCOPE_PYFRAME_H
#define PYSCOPE_PYFRAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One Python frame as seen by a sample: code object and instruction offset. */
struct pyframe_raw {
    void *code;       /* borrowed PyCodeObject *, may die after the walk */
    int32_t lasti;    /* byte offset of the instruction being executed */
    int32_t reserved; /* pyframe_walk: PYFRAME_ENTRY flags */
};

/*
 * Store a walked frame: lasti and reserved as one 8-byte word. The memory
 * tracer compares the two as one word, just after the walk stored them:
 * from two 4-byte stores the processor cannot forward that load, and it
 * waits for both to reach the cache.
 */
static inline void pyframe_raw_put(struct pyframe_raw *out, void *code, int32_t lasti,
                                   int32_t reserved)
{
    union {
        struct {
            int32_t lasti, reserved;
        } f;
        uint64_t word;
    } u = {.f = {lasti, reserved}};
    out->code = code;
    memcpy(&out->lasti, &u.word, sizeof u.word);
}

/* The outermost Python frame one call of the interpreter's eval loop runs:
 * a native stack has one eval-loop frame per such group. */
#define PYFRAME_ENTRY 1

/*
 * Walk the Python frames of the thread whose PyThreadState is tstate, from
 * the innermost outward, into out[0..max). The caller is that thread (a
 * signal handler on it, or with its GIL), or reads it while it runs (the
 * sampler thread). stack_top is the top of that thread's stack (0 when
 * unknown): its C frames lie below it. Returns the number of frames
 * written, or -1 when the chain is visibly not whole (a pointer that cannot
 * be a frame or code object); *truncated is set when there were more than
 * max. Takes no reference, allocates nothing, calls nothing:
 * async-signal-safe. A pointer that is no address, or a C frame off the
 * thread's stack, is refused before it is read; a frame freed under a walk
 * of a running thread may still fault, so the caller guards it.
 */
int pyframe_walk(void *tstate, uintptr_t stack_top, struct pyframe_raw *out, int max,
                 int *truncated);

/*
 * The calling thread's own frames, as the memory tracer records them: the
 * caller is that thread, with or without the GIL, in normal context. Unlike
 * pyframe_walk, frames that have not run their first instruction yet are
 * included (their lasti is negative), as tracemalloc includes them. Only
 * with entries are PYFRAME_ENTRY flags read (for merging with native
 * frames): the flag sits apart from the fields the walk needs, and in a
 * deep stack reading it costs a memory line per frame.
 */
int pyframe_walk_own(void *tstate, struct pyframe_raw *out, int max, int *truncated, int entries);

/* The calling thread's PyThreadState, with or without the GIL; NULL when it has none. */
void *pyframe_own_tstate(void);

/* The line of byte offset lasti in live code object code, as
 * PyCode_Addr2Line says (-1 for none). Reads only immutable fields. */
int pyframe_code_line(void *code, int32_t lasti);

/*
 * What a code object is for a traceback: its file, names, first line,
 * size and line table, hashed two ways (128 bits). Two code objects made
 * from the same source (exec of one string, again and again) have the
 * same one, and the same line at every instruction. Of a live code object,
 * with or without the GIL: reads only immutable fields.
 */
struct pyframe_code_id {
    uint64_t a, b;
};
struct pyframe_code_id pyframe_code_identity(void *code);

/*
 * Where the thread of tstate is now: its innermost frame and that frame's
 * instruction pointer, read without the thread's cooperation (it may be
 * running: the values may be stale or torn, and the reads may fault, so
 * callers guard them). Used only to tell whether a thread moved.
 */
void pyframe_position(void *tstate, void **frame, void **instr);

/*
 * Whether the thread of tstate is in a call event of profile function fn
 * (PyEval_SetProfile's), as far as frame, its innermost frame as walked,
 * says: the interpreter sets the event off at the function's first
 * instruction, where the frame stays while the frame object the profile
 * function is given is made and the function runs. Time spent there is the
 * profiler's, not the program's: without a profile function, a frame
 * passes its first instruction at once. (From 3.12 on the call counter
 * uses a profile function only when it cannot have sys.monitoring's
 * events.) Reads memory the thread may be changing: callers guard it, as
 * they guard the walk.
 */
int pyframe_in_profile_call(void *tstate, const struct pyframe_raw *frame, void *fn);

/* The calling thread's PyThreadState (borrowed), NULL when it has none;
 * needs the GIL. Cheap enough for the allocator hooks. */
void *pyframe_current_tstate(void);

/* The calling thread's PyThreadState when the thread holds its
 * interpreter's GIL, NULL otherwise: any thread, with or without the GIL.
 * Cheap enough for the allocator hooks. */
void *pyframe_gil_tstate(void);

/*
 * Whether thread state tstate belongs to the main interpreter, the one
 * pyscope runs in. A subinterpreter's code objects die unseen (a code
 * watcher, 3.12 on, watches one interpreter), so their frames are not
 * walked.
 */
int pyframe_in_main_interpreter(const void *tstate);

/* tracemalloc's own flag, which tracemalloc.is_tracing() returns: nonzero
 * while the program's tracemalloc traces. Read it with the GIL held. */
const int *pyframe_tracemalloc_flag(void);

/* Whether the calling thread holds the GIL. Async-signal-safe. */
int pyframe_holds_gil(void);

/* The thread state that holds the GIL now, read from any thread without
 * taking anything (NULL when none does); it may change at once. */
void *pyframe_gil_holder(void);

/*
 * The GIL for a thread of pyframe's own (the emitter), which has no thread
 * state of its own: pyframe_helper_make, with the GIL held, makes the one
 * thread state that pyframe_gil_take lends it; pyframe_helper_release (the
 * GIL held, the helper not using it) deletes it; pyframe_fork_child, in
 * a fork child, drops it (the interpreter deleted it already).
 * pyframe_gil_take returns a token for pyframe_gil_drop, or -1 when the
 * calling thread can have no thread state. Python threads take the GIL the
 * usual way.
 */
void pyframe_helper_make(void);
void pyframe_helper_release(void);
void pyframe_fork_child(void);
int pyframe_gil_take(void);

/* How many times pyframe_gil_take lent the helper the GIL in this process:
 * each time, a thread of the program that held it had to let it go. */
uint64_t pyframe_gil_takes(void);
void pyframe_gil_drop(int token);

/*
 * The addresses of the GIL's own state, its mutex and condition variables
 * among them: a thread asleep in a futex wait on one of these is waiting
 * for the GIL.
 */
void pyframe_gil_bounds(uintptr_t *lo, uintptr_t *hi);

/*
 * The str obj as the bytes pyscope keeps a name as (pyname.h: UTF-8, lone
 * surrogates as the bytes they stand for), malloc'd and NUL-terminated;
 * NULL when obj is not a str or out of memory. Raises nothing, runs no
 * Python code and leaves no UTF-8 cache in the str. Needs the GIL.
 */
char *pyframe_str_dup(void *obj);

/* What names a code object; strings are malloc'd, as pyframe_str_dup makes
 * them, for the caller to free. */
struct pyframe_code {
    char *filename;
    char *name;
    char *qualname;
    int firstlineno;
    /* line of each instruction: ranges [start, end) of byte offsets */
    struct pyframe_range {
        int32_t start, end, line; /* line -1: no line */
    } * ranges;
    size_t nranges;
};

/*
 * Describe the live code object p into *out. Needs the GIL. Returns 0, or
 * PYSCOPE_EINVAL when p is not a code object, PYSCOPE_ENOMEM.
 */
int pyframe_describe(void *p, struct pyframe_code *out);

/* The same without the line table (out->ranges NULL): the names alone. */
int pyframe_names(void *p, struct pyframe_code *out);
void pyframe_code_release(struct pyframe_code *c);

/* The line of byte offset lasti in a described code object; -1 when none
 * (line 0 marks instructions that belong to no line, such as RESUME). */
int pyframe_line(const struct pyframe_code *c, int32_t lasti);

/*
 * Whether the running interpreter lays out what pyscope reads (its thread
 * states, frames, code objects and GIL) as this build was made for: 0, or
 * PYSCOPE_EINVAL with one line saying what differs in why (len bytes). A
 * patch release may move a field; 3.13 and later say where theirs are
 * (_Py_DebugOffsets), and every version's own frames are checked on the
 * calling thread. With the GIL, before the program runs.
 */
int pyframe_layout(char *why, size_t len);

/* The part of pyframe_layout every version shares: the interpreter is the
 * version this build was made for, and the calling thread's frames read as
 * frames of code objects. Same returns. */
int pyframe_layout_common(char *why, size_t len);

#endif

/* The per-thread state of ownwork.h. initial-exec: one load off the thread
 * pointer, for the hooks that mark every allocation (the few bytes fit
 * glibc's room for a loaded module's). */
#include "ownwork.h"

__thread _Atomic uint32_t ownwork_depth __attribute__((tls_model("initial-exec")));
__thread int64_t ownwork_ns __attribute__((tls_model("initial-exec")));
__thread uint32_t ownwork_random __attribute__((tls_model("initial-exec")));
int64_t (*_Atomic ownwork_clock)(void);
int64_t ownwork_clock_ns;

/*
 * The sampler of sampler.h. The sampler thread sleeps on CLOCK_MONOTONIC
 * (CPU-time timers tick at only 250 Hz on common kernels) with the interval
 * jittered by up to a quarter either way, so that periodic code does not
 * alias with the ticks. At each tick it reads every registered thread's CPU
 * clock. The frames of a thread that ran are read from the sampler thread;
 * with native stacks the thread is signalled instead, through its user trap
 * (usertrap.h) where the kernel gives one, and walks its own frames and
 * native stack into its sample ring from the handler. A thread that did not
 * run has not moved, so an idle record that repeats its last stack is
 * queued instead: blocked threads are never pulled out of their system
 * calls.
 *
 * The handler allocates nothing, takes no lock and no reference: it reads
 * the frame chain of the thread it interrupted, which nothing else changes
 * while that thread is stopped in the handler.
 */
#define _GNU_SOURCE
#include "sampler.h"
#include "arenas.h"
#include "callstats.h"
#include "coderef.h"
#include "emitter.h"
#include "error.h"
#include "ownwork.h"
#include "pyframe.h"
#include "rawrec.h"
#include "ring.h"
#include "threads.h"
#include "unwind.h"
#include "usertrap.h"
#include "util.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define SAMPLER_RING_WAKE (128 * 1024)

static pthread_t sampler_thread;
static int running;
static uint64_t started_ns; /* when sampling last started */
/* Ticks taken (by the running sampler too) and due (over the runs ended). */
static uint64_t ticks_taken, ticks_due;
static _Atomic int stop_requested;
static uint64_t interval_ns;
static int handler_installed;

#define RAW_HEAD_BYTES (sizeof(struct wire_hdr) + sizeof(struct rawrec_sample) + 4)
#define RAW_MAX_BYTES                                                                              \
    ((RAW_HEAD_BYTES + WIRE_SAMPLE_MAX_DEPTH * sizeof(struct pyframe_raw) + 4 +                    \
      RAWREC_NATIVE_MAX * sizeof(void *) + 7) &                                                   \
     ~(size_t)7)

static int native_on, native_without_gil;
/* The kernel refused a user trap: the threads are signalled directly. */
static int trap_refused;
/* The time on a CPU after which a thread whose trap has not fired is taken
 * to be in the kernel, or to block the signal (take_back). */
static uint64_t stuck_ns;
/* Signals sent directly, any moment, in this process (the sampler thread's). */
static uint64_t direct_signals;

void sampler_set_native(int on, int without_gil)
{
    native_on = on;
    native_without_gil = on && without_gil;
}

void sampler_prepare_thread(void)
{
    if (native_on) {
        unwind_warm();
        void *warm[4];
        unwind_backtrace(warm, 4);
    }
}

/*
 * The walk can meet a frame that is half made: on entry to the eval loop
 * the interpreter points the thread at its new C frame a few instructions
 * before that frame names its first Python frame. A fault the walk itself
 * caused ends the walk instead of the program. Every other SIGSEGV or SIGBUS
 * is the program's: one the kernel raised outside a walk, and any that was
 * sent (kill, raise, or faulthandler handing a fault on after its report),
 * even one that lands while a walk is under way. It goes to the handler that
 * was there before; under the default action the process dies of it, as it
 * would have without pyscope.
 *
 * A program may install its own handler after pyscope's (faulthandler does,
 * as regrtest and pytest enable it): a fault of the walk would then reach
 * the program's handler first, and be reported as a crash of the program.
 * So before each tick's walks the sampler looks at the handler in place;
 * when it is the program's, pyscope's goes in front of it (on_fault_front),
 * and hands it every fault that is not the walk's: it puts the program's
 * handler back in place, as the program left it, and calls it. A handler
 * that chains to the one it found calls on_fault_front again, from inside
 * that call: the chain then goes on to the handler pyscope's first one
 * found. A program that installs a handler in the microseconds between the
 * sampler's look and its install is put behind pyscope's without its own
 * being seen (its predecessor is): rare enough to be left so.
 */
/* The mask is not saved: the fault handlers run with SA_NODEFER, so
 * jumping out of one leaves the mask as the walk found it (and saving it
 * would cost a system call per walk). */
/* The call counter's profile function: a thread found in one of its call
 * events (pyframe_in_profile_call) is in pyscope's work. */
static void *profile_fn;
static __thread sigjmp_buf walk_jump;
static __thread volatile sig_atomic_t walking;
/* What was there before pyscope, and the program's handler that
 * pyscope's is in front of: one of each per signal (0 SIGSEGV, 1 SIGBUS). */
static struct sigaction prev_fault[2], front_fault[2];
/* Which of pyscope's goings in front this is (counted from 1), and on a
 * thread that hands a fault to the program's handler, the one it did so
 * under: a handler that jumps out instead of returning leaves that mark,
 * which the next going in front makes stale. */
static volatile sig_atomic_t front_number[2];
static __thread volatile sig_atomic_t handing_on[2];

static int fault_index(int sig)
{
    return sig == SIGBUS;
}

/* A fault the kernel raised for an access (si_code > 0: SEGV_MAPERR,
 * SEGV_ACCERR, BUS_ADRERR, or SI_KERNEL for a non-canonical address), not a
 * signal a process sent (SI_USER, SI_TKILL, SI_QUEUE are 0 or negative). */
static int raised_by_access(const siginfo_t *si)
{
    return si && si->si_code > 0;
}

/* Gives a fault that is not the walk's to the handler `to`, as the kernel
 * would have, had `to` been in place. */
static void hand_on(int sig, siginfo_t *si, void *uc, const struct sigaction *to)
{
    if (to->sa_flags & SA_SIGINFO) {
        to->sa_sigaction(sig, si, uc);
        return;
    }
    if (to->sa_handler == SIG_IGN) {
        /* Ignored: a sent one is dropped, as the kernel would have; an
         * access fault cannot be ignored and kills on its next try. */
        if (raised_by_access(si))
            sigaction(sig, to, NULL);
        return;
    }
    if (to->sa_handler != SIG_DFL) {
        to->sa_handler(sig);
        return;
    }
    /* The default action: an access fault happens again when the handler
     * returns, a sent signal must be sent again. The handlers run with
     * SA_NODEFER, so the signal is not blocked and acts at once. */
    sigaction(sig, to, NULL);
    if (!raised_by_access(si))
        raise(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    if (walking && raised_by_access(si)) {
        walking = 0;
        siglongjmp(walk_jump, 1);
    }
    hand_on(sig, si, uc, &prev_fault[fault_index(sig)]);
}

static void on_fault_front(int sig, siginfo_t *si, void *uc)
{
    if (walking && raised_by_access(si)) {
        walking = 0;
        siglongjmp(walk_jump, 1);
    }
    int i = fault_index(sig);
    if (handing_on[i] == front_number[i]) {
        /* The program's handler chains to the one it found in place. */
        hand_on(sig, si, uc, &prev_fault[i]);
        return;
    }
    struct sigaction program = front_fault[i];
    sigaction(sig, &program, NULL);
    handing_on[i] = front_number[i];
    hand_on(sig, si, uc, &program);
    handing_on[i] = 0;
}

static void fault_action(struct sigaction *sa, void (*fn)(int, siginfo_t *, void *))
{
    memset(sa, 0, sizeof *sa);
    sa->sa_sigaction = fn;
    sa->sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa->sa_mask);
}

/* Puts pyscope's fault handler in front of one the program installed over
 * it since the last look: one system call a tick when nothing changed. */
static void keep_fault_guard_first(int sig)
{
    struct sigaction now;
    if (sigaction(sig, NULL, &now) < 0)
        return;
    if ((now.sa_flags & SA_SIGINFO) &&
        (now.sa_sigaction == on_fault || now.sa_sigaction == on_fault_front))
        return;
    int i = fault_index(sig);
    front_fault[i] = now;
    front_number[i] = front_number[i] % 0x7fffffff + 1;
    struct sigaction front;
    fault_action(&front, on_fault_front);
    sigaction(sig, &front, NULL);
}

/* Whether the thread of s is somewhere else than at its last sample. */
static int thread_moved(struct thread_sampling *s)
{
    void *frame, *instr;
    if (sigsetjmp(walk_jump, 0))
        return 1;
    walking = 1;
    pyframe_position(s->tstate, &frame, &instr);
    walking = 0;
    return frame != s->last_frame || instr != s->last_instr;
}

/* Where the thread of s is now, for the next tick's thread_moved. */
static void note_position(struct thread_sampling *s)
{
    void *frame = NULL, *instr = NULL;
    if (!sigsetjmp(walk_jump, 0)) {
        walking = 1;
        pyframe_position(s->tstate, &frame, &instr);
        walking = 0;
    }
    s->last_frame = frame;
    s->last_instr = instr;
}

/* The handler's walk of its own thread, and where that thread is: both read
 * frames that may be half built, so a fault ends them, not the program. */
static int guarded_walk(struct thread_sampling *s, struct pyframe_raw *frames, int max,
                        int *truncated, int *in_event)
{
    if (sigsetjmp(walk_jump, 0)) {
        *truncated = 0;
        return -1;
    }
    walking = 1;
    pyframe_position(s->tstate, &s->last_frame, &s->last_instr);
    int depth = pyframe_walk(s->tstate, s->stack_top, frames, max, truncated);
    *in_event = depth > 0 && pyframe_in_profile_call(s->tstate, frames, profile_fn);
    walking = 0;
    return depth;
}

/* The CPU time the thread of s has used, in *ns. 0, or -1 once it is gone. */
static int cpu_time(const struct thread_sampling *s, uint64_t *ns)
{
    struct timespec ts;
    if (clock_gettime(s->cpu_clock, &ts) < 0)
        return -1;
    *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return 0;
}

static uintptr_t gil_lo, gil_hi; /* the GIL's state (pyframe_gil_bounds) */

/*
 * The state of a thread the handler interrupted. Without the GIL it runs
 * native code, unless it was interrupted asleep on the GIL's own futex:
 * a system call's first argument is still in its register then (x86-64;
 * elsewhere such a thread counts as native).
 */
static uint32_t interrupted_state(const void *uc)
{
    if (pyframe_holds_gil())
        return WIRE_STATE_RUNNING;
#if defined(__x86_64__)
    uintptr_t arg = (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RDI];
    if (arg >= gil_lo && arg < gil_hi)
        return WIRE_STATE_GIL;
#else
    (void)uc;
#endif
    return WIRE_STATE_NATIVE;
}

/*
 * Write a raw sample at p (room for RAW_MAX_BYTES, from ring_reserve): rec,
 * then the frames, then, when ips is not NULL, the nips native addresses.
 * Returns the record's size, to commit.
 */
static size_t put_sample(uint8_t *p, const struct rawrec_sample *rec,
                         const struct pyframe_raw *frames, int depth, void *const *ips, int nips)
{
    size_t head = RAW_HEAD_BYTES;
    uint32_t slen = (uint32_t)(depth * (int)sizeof(struct pyframe_raw));
    uint32_t nlen = (uint32_t)nips * (uint32_t)sizeof(void *);
    /* Frames are 16 bytes each, so the native string starts aligned to 4. */
    size_t end = head + slen + (ips ? 4 + nlen : 0);
    size_t size = (end + 7) & ~(size_t)7;
    struct wire_hdr h = {.size = (uint32_t)size,
                         .type = RAWREC_SAMPLE,
                         .nstr = ips ? 2 : 1,
                         .fixed8 = sizeof *rec / 8};
    memcpy(p, &h, sizeof h);
    memcpy(p + sizeof h, rec, sizeof *rec);
    memcpy(p + sizeof h + sizeof *rec, &slen, 4);
    memcpy(p + head, frames, slen);
    if (ips) {
        memcpy(p + head + slen, &nlen, 4);
        memcpy(p + head + slen + 4, ips, nlen);
    }
    memset(p + end, 0, size - end);
    return size;
}

/* Tell the code registry that these code objects are named by a sample on
 * its way (see coderef.h). */
static void mark_sampled(unsigned filter, const struct pyframe_raw *frames, int depth)
{
    for (int i = 0; i < depth; i++)
        if (i == 0 || frames[i].code != frames[i - 1].code) /* recursion: once is enough */
            coderef_mark_sampled(filter, frames[i].code);
}

/*
 * The ticks that found this thread's signal still pending: it was waiting
 * for a CPU (runnable), or in a system call that does not take signals
 * (idle). Each becomes a sample of the stack the thread had, before the
 * handler's own, so the wall view keeps the time the thread waited.
 */
#define LATE_TICKS_MAX 64

/* One SAMPLE_IDLE record for ticks ticks from first_ns to last_ns; ticks
 * lost with it, beyond the one record the ring counts, are counted too. */
static void put_idle_record(struct thread_sampling *s, uint64_t first_ns, uint64_t last_ns,
                            uint32_t state, uint32_t ticks)
{
    struct wire_sample_idle rec = {
        .tid = s->tid, .t_ns = first_ns, .last_ns = last_ns, .state = state, .ticks = ticks};
    if (ring_put(s->sring, WIRE_SAMPLE_IDLE, &rec, sizeof rec, NULL, 0) < 0)
        atomic_fetch_add_explicit(&s->lost_ticks, ticks - 1, memory_order_relaxed);
}

static void put_late_ticks(struct thread_sampling *s)
{
    uint32_t runnable = atomic_exchange_explicit(&s->late_runnable, 0, memory_order_relaxed);
    uint32_t idle = atomic_exchange_explicit(&s->late_idle, 0, memory_order_relaxed);
    /* A thread that kept the signal blocked for long is not worth a burst
     * in its handler: beyond a few, the ticks stay counted as missed. */
    if (runnable > LATE_TICKS_MAX)
        runnable = LATE_TICKS_MAX;
    if (idle > LATE_TICKS_MAX - runnable)
        idle = LATE_TICKS_MAX - runnable;
    /* The ticks in their order, runnable first: one record for each kind. */
    uint64_t t = s->pending_t_ns;
    for (int runnable_first = 1; runnable_first >= 0; runnable_first--) {
        uint32_t n = runnable_first ? runnable : idle;
        if (!n)
            continue;
        put_idle_record(s, t + interval_ns, t + n * interval_ns,
                        runnable_first ? WIRE_STATE_RUNNABLE : WIRE_STATE_IDLE, n);
        t += n * interval_ns;
    }
}

/*
 * Whether the thread runs on its alternate signal stack: the signal came
 * while a handler of the program's that asked for that stack was running
 * (Python's own handlers ask for it, and faulthandler sets one up: 16 KiB
 * or so, from the heap), and this handler runs on top of it. The walk's
 * buffer and the unwinder need more room than is left there, and would
 * write over whatever memory lies below that stack.
 */
static int on_alt_stack(void)
{
    stack_t ss;
    return sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
}

/* The handler's sample, on the thread's own stack: its buffers (some
 * 10 KiB) are this function's, not the handler's. */
static __attribute__((noinline)) void take_sample(struct thread_sampling *s, void *uc)
{
    uint8_t *p = ring_reserve(s->sring, RAW_MAX_BYTES);
    if (!p)
        return; /* counted by the ring */
    unsigned filter = coderef_enter();

    /* The frames go on this stack (8 KiB) first: in the record they are
     * not 8-byte aligned. */
    struct pyframe_raw frames[WIRE_SAMPLE_MAX_DEPTH];
    int truncated, in_event;
    int depth = guarded_walk(s, frames, WIRE_SAMPLE_MAX_DEPTH, &truncated, &in_event);
    if (depth < 0) {
        /* A torn frame chain: drop this sample (nothing was committed). */
        coderef_leave(filter);
        atomic_fetch_add_explicit(&s->torn, 1, memory_order_relaxed);
        return;
    }
    /* The handler runs on the thread: its own depth is the thread's. */
    int own = atomic_load_explicit(&ownwork_depth, memory_order_relaxed) != 0 || in_event;
    void *ips[RAWREC_NATIVE_MAX];
    int nips = native_on ? unwind_interrupted(uc, ips, RAWREC_NATIVE_MAX, s->tid) : 0;
    struct rawrec_sample rec = {
        .tid = s->tid,
        .t_ns = s->pending_t_ns,
        .cpu_ns = s->pending_cpu_ns,
        .state = interrupted_state(uc),
        .flags = (truncated ? WIRE_SAMPLE_TRUNCATED : 0) | (own ? WIRE_SAMPLE_OWN : 0),
        .epoch = coderef_epoch(),
    };
    size_t size = put_sample(p, &rec, frames, depth, native_on ? ips : NULL, nips);
    mark_sampled(filter, frames, depth);
    ring_commit(s->sring, size);
    coderef_leave(filter);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    struct thread_sampling *s = threads_self_sampling();
    int armed = 1;
    /* The sampler may have taken the sample back (take_back): then the
     * signal is one it no longer waits for. */
    if (!s || !atomic_compare_exchange_strong_explicit(&s->pending, &armed, 2, memory_order_acquire,
                                                       memory_order_relaxed))
        goto out;
    put_late_ticks(s);
    /* A signal of the last tick that arrives once the sampler is being
     * stopped finds the thread in pyscope's own exit work: not a sample. */
    if (atomic_load_explicit(&stop_requested, memory_order_relaxed))
        goto done;
    if (on_alt_stack())
        atomic_fetch_add_explicit(&s->torn, 1, memory_order_relaxed); /* a sample lost */
    else
        take_sample(s, uc);
done:
    /* What the handler itself cost the thread is not the program's running
     * time: the next tick looks at CPU used from here on. */
    uint64_t now;
    if (cpu_time(s, &now) == 0)
        s->last_cpu_ns = s->cpu_charged_ns = now;
    atomic_store_explicit(&s->pending, 0, memory_order_release);
out:
    errno = saved_errno;
}

/*
 * Reading a thread's CPU clock is a system call. At every tick the sampler
 * reads it for the threads that may be running: the one holding the GIL
 * and those that ran by their last reading. Of the others (asleep, blocked,
 * waiting for the GIL, or not yet run since their last signal, as a thread
 * that blocks every signal stays) it reads at most IDLE_READS_PER_TICK,
 * each in its turn, so that a program with hundreds of threads costs each
 * tick about what one with a dozen does; a thread not read at a tick
 * repeats the state it was last found in. One that starts to run native
 * code without the GIL is found within its turn, and the CPU it used
 * meanwhile is charged then.
 */
#define IDLE_READS_PER_TICK 16

struct tick {
    uint64_t t_ns;
    int wake_emitter;      /* a thread's samples fill half its ring */
    uint64_t threshold_ns; /* CPU a thread must use in a tick to count as running */
    pid_t pid;
    uint64_t number;  /* ticks so far */
    unsigned stride;  /* an idle thread's CPU clock is read every stride ticks */
    unsigned index;   /* the thread's place in this tick's round */
    unsigned nidle;   /* threads found idle, or still signalled, at this tick */
    void *gil_holder; /* the thread state holding the GIL */
};

/*
 * What a thread that did not move is waiting for. The kernel shows the
 * system call a sleeping thread is in, with its arguments, in
 * /proc/self/task/TID/syscall; a futex wait on the GIL's own mutex or
 * condition variable is a wait for the GIL. A thread in no system call
 * ("running") is runnable: it wants a CPU and the machine gives it none
 * (or has just given it one). The file is read again only when the thread
 * ran since the last reading: one that did not run is still waiting where
 * it was, and costs nothing.
 */
/* What the thread of s is in, from /proc/self/task/TID/syscall: 1 and the
 * call's number and first argument when it sleeps in a system call, 0 when
 * it is on a CPU or wants one, 2 when it is held outside any call (stopped),
 * -1 when the file cannot be read. */
static int read_syscall(struct thread_sampling *s, long *nr, uintptr_t *arg)
{
    if (s->syscall_fd == -1) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%llu/syscall", (unsigned long long)s->tid);
        s->syscall_fd = util_fd_high(open(path, O_RDONLY | O_CLOEXEC));
        if (s->syscall_fd < 0)
            s->syscall_fd = -2; /* unreadable here: do not try again */
    }
    if (s->syscall_fd < 0)
        return -1;
    char buf[128];
    ssize_t n = pread(s->syscall_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* "NR 0xARG1 0xARG2 ...", or "running", or "-1 SP PC" outside a call */
    if (!strncmp(buf, "running", 7))
        return 0;
    char *end;
    *nr = strtol(buf, &end, 10);
    if (end == buf || *nr < 0)
        return 2;
    *arg = (uintptr_t)strtoull(end, NULL, 16);
    return 1;
}

static uint32_t idle_state(struct thread_sampling *s, uint64_t cpu)
{
    if (s->idle_state && cpu == s->idle_cpu_ns)
        return s->idle_state;
    s->idle_cpu_ns = cpu;
    s->idle_state = WIRE_STATE_IDLE;
    long nr;
    uintptr_t addr;
    int in_call = read_syscall(s, &nr, &addr);
    if (in_call == 0)
        s->idle_state = WIRE_STATE_RUNNABLE;
    else if (in_call == 1 && nr == SYS_futex && addr >= gil_lo && addr < gil_hi)
        s->idle_state = WIRE_STATE_GIL;
    return s->idle_state;
}

/*
 * Sampling without a signal. Without native stacks, a thread that ran is
 * not interrupted: the sampler thread reads its frames, which the thread
 * may be changing meanwhile. A signal would pull a thread out of the system
 * call it is in (a pipe write or a MSG_WAITALL receive then returns short,
 * and an unbuffered write loses the rest), and costs the thread the
 * handler's time. The read is guarded like the handler's walk (a frame
 * freed under it faults into the guard) and checked like it (a frame must
 * be where a live frame of the thread can be).
 *
 * The code objects a sample names must still be alive when they are marked
 * as named by it (coderef.h): their end, whenever it comes, then finds the
 * mark and is told to the registry before the sample is resolved. A frame
 * holds its code object, so one read from a frame that was live during the
 * walk was alive then; when no code object at all died between the start
 * of the walk and the marks, the walk is kept as it is. When one did (a
 * program that makes and drops code objects), the frames are read again
 * until two readings agree, each marked before the next: what the later
 * one confirms was in a live frame after its mark.
 */
static int guarded_remote_walk(struct thread_sampling *s, struct pyframe_raw *frames, int max,
                               int *truncated, int *in_event)
{
    if (sigsetjmp(walk_jump, 0)) {
        *truncated = 0;
        return -1;
    }
    walking = 1;
    int depth = pyframe_walk(s->tstate, s->stack_top, frames, max, truncated);
    *in_event = depth > 0 && pyframe_in_profile_call(s->tstate, frames, profile_fn);
    walking = 0;
    return depth;
}

/* What a thread that ran was doing when the sampler read it: running
 * Python if it holds the GIL, else waiting for the GIL if it sleeps on the
 * GIL's futex, else running native code (or the kernel's, in a call). */
static uint32_t remote_state(struct thread_sampling *s, uint64_t cpu)
{
    if (pyframe_gil_holder() == s->tstate)
        return WIRE_STATE_RUNNING;
    s->idle_state = 0; /* read afresh */
    return idle_state(s, cpu) == WIRE_STATE_GIL ? WIRE_STATE_GIL : WIRE_STATE_NATIVE;
}

/*
 * How many frames, counted from the outermost, two walks of one thread
 * agree on (same code object, same entry flag, same place in the chain).
 * A walk cut at the depth limit holds the innermost frames, not the
 * outermost: two such walks are compared whole.
 */
static int agreed_outer_frames(const struct pyframe_raw *a, int na, int ta,
                               const struct pyframe_raw *b, int nb, int tb)
{
    if (ta || tb) {
        if (na != nb || ta != tb)
            return 0;
        for (int i = 0; i < na; i++)
            if (a[i].code != b[i].code || a[i].reserved != b[i].reserved)
                return 0;
        return na;
    }
    int k = 0;
    while (k < na && k < nb && a[na - 1 - k].code == b[nb - 1 - k].code &&
           a[na - 1 - k].reserved == b[nb - 1 - k].reserved)
        k++;
    return k;
}

#define REMOTE_READINGS 4

/*
 * The readings after a first one (in *frames, depth deep, marked) that a
 * code object's death made unsure: read until two agree, at most
 * REMOTE_READINGS in all. When none do, the sample keeps the frames the
 * last two agree on, from the outermost in (the thread was inside them at
 * both readings); when those are none, it is dropped (-1). *frames is
 * pointed at the kept frames.
 */
static int confirmed_frames(struct thread_sampling *s, unsigned filter,
                            struct pyframe_raw **frames, struct pyframe_raw *spare,
                            int depth, int *truncated, uint64_t *epoch)
{
    struct pyframe_raw *prev = *frames, *cur = spare;
    int prev_depth = depth, prev_truncated = *truncated, kept = 0;
    for (int reading = 1; reading < REMOTE_READINGS; reading++) {
        if (prev_depth >= 0 && reading > 1) {
            mark_sampled(filter, prev, prev_depth);
            atomic_thread_fence(memory_order_seq_cst);
            *epoch = coderef_epoch();
        }
        int in_event;
        depth = guarded_remote_walk(s, cur, WIRE_SAMPLE_MAX_DEPTH, truncated, &in_event);
        kept = depth >= 0 && prev_depth >= 0
                   ? agreed_outer_frames(prev, prev_depth, prev_truncated, cur, depth, *truncated)
                   : 0;
        if (depth >= 0 && kept == depth && depth == prev_depth) {
            *frames = cur;
            return depth; /* the same stack twice */
        }
        if (reading + 1 < REMOTE_READINGS) {
            struct pyframe_raw *t = prev;
            prev = cur;
            cur = t;
            prev_depth = depth;
            prev_truncated = *truncated;
        }
    }
    if (depth < 0 || kept == 0 || *truncated)
        return -1;
    *frames = cur + depth - kept;
    return kept;
}

/* A sample read from here; waiting: the state of a thread that did not run
 * (WIRE_STATE_IDLE, _GIL or _RUNNABLE), or 0 for one that did. */
static void remote_sample(struct thread_sampling *s, uint64_t t_ns, uint64_t cpu_ns, uint64_t cpu,
                          uint32_t waiting)
{
    /* The sampler thread's alone: one per process. */
    static struct pyframe_raw walks[2][WIRE_SAMPLE_MAX_DEPTH];
    s->last_cpu_ns = cpu;
    uint8_t *p = ring_reserve(s->sring, RAW_MAX_BYTES);
    if (!p)
        return; /* counted by the ring */
    unsigned filter = coderef_enter();
    uint64_t epoch = 0;
    struct pyframe_raw *frames = walks[0];
    int truncated, depth = -1, in_event = 0;
    /* A chain caught being built (a call entering or leaving the eval
     * loop) is read again from scratch. */
    /* Whether the thread is in pyscope's own work, read at the tick, before
     * the walk: the frames stay those of the hook's caller while it runs,
     * but a walk's reads of memory the thread is writing slow it down
     * unevenly: on an allocation-heavy loop a reading after the walk put
     * anywhere from 40 to 80 % of the time in pyscope's work, run to run.
     * Read before, it is steady, though above the handler's exact reading
     * (--native): the computing line of sampling/own_work.py keeps 0.6 of
     * its time without the tracer, where the handler finds all of it. */
    int own = s->own_depth && atomic_load_explicit(s->own_depth, memory_order_relaxed) != 0;
    for (int reading = 0; reading < REMOTE_READINGS && depth < 0; reading++) {
        uint64_t deaths = coderef_deaths();
        depth = guarded_remote_walk(s, frames, WIRE_SAMPLE_MAX_DEPTH, &truncated, &in_event);
        if (depth < 0)
            continue;
        mark_sampled(filter, frames, depth);
        atomic_thread_fence(memory_order_seq_cst);
        epoch = coderef_epoch();
        if (coderef_deaths() != deaths) {
            in_event = 0; /* read again: its innermost frame may not be kept */
            depth = confirmed_frames(s, filter, &frames, walks[1], depth, &truncated, &epoch);
        }
        break;
    }
    own = own || in_event;
    if (depth < 0) {
        coderef_leave(filter);
        atomic_fetch_add_explicit(&s->torn, 1, memory_order_relaxed);
        return;
    }
    struct rawrec_sample rec = {
        .tid = s->tid,
        .t_ns = t_ns,
        .cpu_ns = cpu_ns,
        .state = waiting ? waiting : remote_state(s, cpu),
        .flags = (truncated ? WIRE_SAMPLE_TRUNCATED : 0) | (own ? WIRE_SAMPLE_OWN : 0),
        .epoch = epoch,
    };
    ring_commit(s->sring, put_sample(p, &rec, frames, depth, NULL, 0));
    coderef_leave(filter);
    note_position(s);
    s->walked = 1;
}

/*
 * A thread found idle tick after tick is one record, not one a tick: its
 * ticks wait here until its state changes, it runs, it ends, the sampler
 * stops, or IDLE_RUN_NS has gone by (so a live reader, and a recorder that
 * loses the program, are that far behind at most). Two hundred waiting
 * threads at 1 kHz were 200,000 records a second for the emitter, the
 * socket and the recorder.
 */
#define IDLE_RUN_NS 100000000u

static void idle_flush(struct thread_sampling *s, void *unused)
{
    (void)unused;
    if (!s->idle_ticks)
        return;
    put_idle_record(s, s->idle_first_ns, s->idle_last_ns, s->idle_run_state, s->idle_ticks);
    s->idle_ticks = 0;
}

static void put_idle(struct thread_sampling *s, const struct tick *t, uint32_t state)
{
    if (s->idle_ticks && (s->idle_run_state != state || t->t_ns - s->idle_first_ns >= IDLE_RUN_NS))
        idle_flush(s, NULL);
    if (!s->idle_ticks) {
        s->idle_first_ns = t->t_ns;
        s->idle_run_state = state;
    }
    s->idle_last_ns = t->t_ns;
    s->idle_ticks++;
}

/*
 * Signal the thread of s for its sample. A signal sent with tgkill lands
 * wherever the thread is and cuts short the system call it is in (nanosleep,
 * select, poll and their kind are never restarted; a pipe write that moved
 * part of its data returns that part). The sampler looks at the thread
 * first (in a call, holding the GIL), but the look and the signal are not
 * one step: a thread may enter a call between them. Its user trap signals
 * it only in its own code, so that no call is cut; only where the kernel
 * gives none is the signal sent directly, and counted.
 */
static int signal_thread(struct thread_sampling *s, pid_t pid)
{
    if (s->trap_fd == -1) {
        s->trap_fd = trap_refused ? -2 : usertrap_open(s->tid, SAMPLER_SIGNAL);
        if (s->trap_fd < 0) {
            s->trap_fd = -2;
            trap_refused = 1; /* by the kernel for every thread, or out of descriptors */
        }
    }
    if (s->trap_fd >= 0 && usertrap_arm(s->trap_fd) == 0)
        return 0;
    direct_signals++;
    return syscall(SYS_tgkill, pid, (pid_t)s->tid, SAMPLER_SIGNAL) < 0 ? -1 : 0;
}

/*
 * A thread with a sample pending through its trap that is asleep in a
 * system call (state, read at this tick: it entered the call within the
 * trap's few microseconds), or that ran for stuck_ns without the trap
 * firing (in the kernel all that time, or with the signal blocked): its
 * sample would wait for as long, its ticks counted as missed, or as waiting
 * for a CPU. The sample is taken back and read from here, unless the
 * handler has started; the trap, still armed, fires when the thread is
 * back in its own code and finds nothing pending. 1 when taken back.
 */
static int take_back(struct thread_sampling *s, uint64_t cpu, uint32_t state)
{
    int armed = 1;
    if (s->trap_fd < 0 || (state == WIRE_STATE_RUNNABLE && cpu - s->cpu_charged_ns < stuck_ns) ||
        !atomic_compare_exchange_strong_explicit(&s->pending, &armed, 0, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0;
    put_late_ticks(s);
    remote_sample(s, s->pending_t_ns, s->pending_cpu_ns, cpu, 0);
    return 1;
}

/* A thread that ran, found so at tick t with its CPU clock at cpu, its
 * clock unread at unread ticks before. */
static void sample_running(struct thread_sampling *s, const struct tick *t, uint64_t cpu,
                           uint64_t unread)
{
    idle_flush(s, NULL); /* its ticks before this one's sample, in the same ring */
    s->ran = 1;
    s->pending_t_ns = t->t_ns;
    /* A tick the sampler thread is late for (a loaded machine kept it
     * off the CPU) would charge all the CPU used meanwhile to wherever
     * the thread is now, which need not be where it ran: a sample
     * stands for two intervals at most, and for the ticks its clock
     * went unread. */
    uint64_t used = cpu - s->cpu_charged_ns, most = 2 * interval_ns * (1 + unread);
    s->pending_cpu_ns = used < most ? used : most;
    s->cpu_charged_ns = cpu;
    /* A thread asleep in a call is read from here, without native
     * frames. So is one that runs without the GIL, unless
     * --native-without-gil: it may be in C code that released the GIL
     * to compute, or in a call that moves data, which the kernel shows
     * as running too; without a user trap a signal would cut that call
     * short (signal_thread). */
    long nr;
    uintptr_t first;
    if (!native_on || read_syscall(s, &nr, &first) == 1 ||
        (!native_without_gil && pyframe_gil_holder() != s->tstate)) {
        remote_sample(s, t->t_ns, s->pending_cpu_ns, cpu, 0);
        return;
    }
    s->walked = 1; /* by the handler */
    atomic_store_explicit(&s->pending, 1, memory_order_release);
    if (signal_thread(s, t->pid) < 0)
        atomic_store_explicit(&s->pending, 0, memory_order_release);
}

static void tick_thread(struct thread_sampling *s, void *arg)
{
    struct tick *t = arg;
    unsigned index = t->index++;
    if (ring_used(s->sring) > SAMPLER_RING_WAKE)
        t->wake_emitter = 1;
    int my_turn = (t->number + index) % t->stride == 0 || s->unread_ticks + 1 >= 2 * t->stride;
    if (atomic_load_explicit(&s->pending, memory_order_acquire)) {
        /* Not yet run since it was signalled: most often the machine gives
         * it no CPU; the handler records the tick when it runs. Read in
         * turn, as an idle thread is: signalled directly, one that blocks
         * every signal stays here for good; with a trap, one asleep in a
         * call or stuck is taken back (take_back). */
        t->nidle++;
        int full = atomic_load_explicit(&s->late_runnable, memory_order_relaxed) +
                       atomic_load_explicit(&s->late_idle, memory_order_relaxed) >=
                   LATE_TICKS_MAX;
        if (full && s->trap_fd < 0) {
            /* the handler records no more: a thread keeping the signal
             * blocked costs no /proc read a tick */
            atomic_fetch_add_explicit(&s->missed, 1, memory_order_relaxed);
            return;
        }
        if (my_turn) {
            s->unread_ticks = 0;
            s->idle_state = 0; /* read afresh */
            uint64_t cpu;
            uint32_t state;
            if (cpu_time(s, &cpu) == 0 && take_back(s, cpu, state = idle_state(s, cpu))) {
                if (state == WIRE_STATE_RUNNABLE) {
                    sample_running(s, t, cpu, 0);
                } else {
                    s->ran = 0;
                    put_idle(s, t, state);
                }
                return;
            }
        } else {
            s->unread_ticks++;
        }
        atomic_fetch_add_explicit(&s->missed, 1, memory_order_relaxed); /* signal still pending */
        if (full)
            return;
        if (s->idle_state == WIRE_STATE_RUNNABLE)
            atomic_fetch_add_explicit(&s->late_runnable, 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&s->late_idle, 1, memory_order_relaxed);
        return;
    }
    if (!s->ran && s->tstate != t->gil_holder) {
        t->nidle++;
        /* Not this thread's turn: it is where it was last found. */
        if (!my_turn) {
            s->unread_ticks++;
            put_idle(s, t, s->idle_state ? s->idle_state : WIRE_STATE_IDLE);
            return;
        }
    }
    uint64_t unread = s->unread_ticks;
    s->unread_ticks = 0;
    uint64_t cpu;
    if (cpu_time(s, &cpu) < 0) {
        idle_flush(s, NULL);
        return; /* the thread is gone */
    }
    /*
     * A thread that used CPU is sampled. One that used only a little (a
     * wait interrupted by the last signal going back to sleep) is sampled
     * only if it is no longer where it was, so a blocked thread is not
     * woken again and again; what it used counts in its next sample.
     */
    if (cpu > s->last_cpu_ns && (cpu - s->last_cpu_ns >= t->threshold_ns || thread_moved(s))) {
        sample_running(s, t, cpu, unread);
        return;
    }
    s->ran = 0;
    uint32_t state = idle_state(s, cpu);
    if (!s->walked) {
        /* Waiting from its first ticks (a loaded machine gives a starting
         * program no CPU at once): its frames are read once, so that its
         * ticks show where it waits. */
        idle_flush(s, NULL);
        remote_sample(s, t->t_ns, 0, cpu, state);
        return;
    }
    put_idle(s, t, state);
}

/* At the sampler's end: a thread with a sample still pending through its
 * trap (it may not run its own code again for long) has its late ticks
 * recorded now, as the handler of a signal that comes once the sampler
 * stops does. */
static void stop_thread(struct thread_sampling *s, void *unused)
{
    int armed = 1;
    if (s->trap_fd >= 0 && atomic_compare_exchange_strong_explicit(
                               &s->pending, &armed, 0, memory_order_acquire, memory_order_relaxed))
        put_late_ticks(s);
    idle_flush(s, unused);
}

/* xorshift: jitter only, not security */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void *sampler_main(void *arg)
{
    /* Started with every signal blocked, but thread_moved's guard needs the
     * faults: a fault that is blocked kills the process instead. */
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &faults, NULL);

    uint64_t seed = (uint64_t)util_mono_ns() | 1;
    uint64_t next = (uint64_t)util_mono_ns();
    struct tick t = {.pid = getpid(), .threshold_ns = interval_ns / 20, .stride = 1};
    if (t.threshold_ns < 20000)
        t.threshold_ns = 20000;
    while (!atomic_load(&stop_requested)) {
        /* uniform in [0.75, 1.25] of the interval */
        next += interval_ns * 3 / 4 + next_random(&seed) % (interval_ns / 2 + 1);
        struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        t.t_ns = (uint64_t)util_mono_ns();
        if (t.t_ns > next + 50 * interval_ns)
            next = t.t_ns; /* the machine was suspended or we were starved: do not burst */
        t.wake_emitter = 0;
        t.index = t.nidle = 0;
        t.gil_holder = pyframe_gil_holder();
        keep_fault_guard_first(SIGSEGV);
        keep_fault_guard_first(SIGBUS);
        threads_for_each_kept(tick_thread, idle_flush, &t); /* ended: their last idle ticks */
        ticks_taken++;
        arenas_release(); /* what was freed up to the end of these walks */
        t.number++;
        t.stride = (t.nidle + IDLE_READS_PER_TICK - 1) / IDLE_READS_PER_TICK;
        if (t.stride < 1)
            t.stride = 1;
        if (t.wake_emitter)
            emitter_wake();
    }
    threads_for_each_kept(stop_thread, idle_flush, NULL);
    return NULL;
}

int sampler_start(unsigned rate_hz)
{
    if (running)
        return PYSCOPE_EEXISTS;
    if (rate_hz == 0 || rate_hz > 100000)
        return PYSCOPE_EINVAL;
    interval_ns = 1000000000u / rate_hz;
    stuck_ns = interval_ns * 3 / 4; /* the shortest gap between two ticks */
    profile_fn = callstats_profile_function();
    pyframe_gil_bounds(&gil_lo, &gil_hi);
    if (native_on) {
        unwind_find_loader();
        unwind_warm();
    }
    if (!handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SAMPLER_SIGNAL, &sa, NULL) < 0)
            return PYSCOPE_EIO;
        struct sigaction fault;
        fault_action(&fault, on_fault);
        sigaction(SIGSEGV, &fault, &prev_fault[fault_index(SIGSEGV)]);
        sigaction(SIGBUS, &fault, &prev_fault[fault_index(SIGBUS)]);
        handler_installed = 1;
    }
    atomic_store(&stop_requested, 0);
    started_ns = (uint64_t)util_mono_ns();
    arenas_hold_start(); /* the sampler thread reads running threads' frames */
    if (threads_start_own(&sampler_thread, NULL, sampler_main, NULL) < 0) {
        arenas_hold_stop();
        return PYSCOPE_ENOMEM;
    }
    running = 1;
    return 0;
}

void sampler_stop(void)
{
    if (!running)
        return;
    atomic_store(&stop_requested, 1);
    pthread_join(sampler_thread, NULL);
    running = 0;
    ticks_due += ((uint64_t)util_mono_ns() - started_ns) / interval_ns;
    arenas_hold_stop();
}

void sampler_ticks(uint64_t *taken, uint64_t *due)
{
    *taken = ticks_taken;
    *due = ticks_due;
}

uint64_t sampler_direct_signals(void)
{
    return direct_signals;
}

void sampler_fork_child(void)
{
    running = 0;
    ticks_taken = ticks_due = direct_signals = 0; /* the parent's */
    arenas_hold_stop(); /* the parent's sampler thread is not in this process */
}

/*
 * The native unwinder of unwind.h: libunwind's unw_backtrace, kept out of
 * the way of fork() and of the dynamic loader.
 */
#define _GNU_SOURCE
#include "unwind.h"
#include "util.h"

#include <dlfcn.h>
#include <link.h>
#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static uintptr_t loader_lo, loader_hi; /* the dynamic loader's code */

/*
 * The unwinder has a lock of its own: a fork while another thread is inside
 * it (in a handler, or the memory tracer's hook) would leave the child's
 * locked for good. A fork waits for the unwinds under way and lets no new
 * one start until it is done.
 */
static _Atomic int unwinding;   /* unwinds under way */
static _Atomic int fork_closed; /* a fork is waiting: no unwind starts */

static void unwind_once(void *unused)
{
    (void)unused;
    void *warm[4];
    unw_backtrace(warm, 4);
}

static void unwind_first(void)
{
    util_with_low_fds_taken(unwind_once, NULL);
}

void unwind_warm(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, unwind_first);
}

int unwind_backtrace(void **ips, int max)
{
    int n = 0;
    atomic_fetch_add(&unwinding, 1);
    if (!atomic_load(&fork_closed))
        n = unw_backtrace(ips, max);
    atomic_fetch_sub(&unwinding, 1);
    return n > 0 ? n : 0;
}

void unwind_fork_prepare(void)
{
    atomic_store(&fork_closed, 1);
    while (atomic_load(&unwinding))
        sched_yield();
}

void unwind_fork_parent(void)
{
    atomic_store(&fork_closed, 0);
}

void unwind_fork_child(void)
{
    atomic_store(&unwinding, 0); /* the other threads are gone */
    atomic_store(&fork_closed, 0);
}

static int find_loader(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (!info->dlpi_name || !strstr(info->dlpi_name, "/ld-linux"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            loader_lo = info->dlpi_addr + ph->p_vaddr;
            loader_hi = loader_lo + ph->p_memsz;
        }
    }
    return 1;
}

/*
 * The dynamic loader's locks: the one it holds while it loads or unloads an
 * object (its constructors and destructors, and what they call, run under
 * it), and the one around changes to its list of objects, which
 * dl_iterate_phdr (and so the unwinder) takes. glibc keeps them, recursive
 * mutexes, next to each other in its private _rtld_global. They are found
 * by looking, not by glibc's layout: inside dl_iterate_phdr this thread
 * holds the second one, the only recursive mutex there it owns.
 */
static const pthread_mutex_t *loader_lock, *loader_write_lock;

static int is_recursive(const pthread_mutex_t *m)
{
    return (m->__data.__kind & 0x7f) == PTHREAD_MUTEX_RECURSIVE_NP;
}

struct rtld_area {
    const char *base;
    size_t len;
};

static int find_loader_locks(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info;
    (void)size;
    const struct rtld_area *area = arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    for (size_t off = 0; off + sizeof(pthread_mutex_t) <= area->len; off += sizeof(long)) {
        const pthread_mutex_t *m = (const pthread_mutex_t *)(const void *)(area->base + off);
        if (m->__data.__owner == tid && m->__data.__count >= 1 && is_recursive(m)) {
            loader_write_lock = m;
            if (off >= sizeof *m && is_recursive(m - 1) && m[-1].__data.__owner == 0)
                loader_lock = m - 1;
            break;
        }
    }
    return 1; /* once is enough */
}

static void find_loader_state(void)
{
    dl_iterate_phdr(find_loader, NULL);
    void *rtld = dlsym(RTLD_DEFAULT, "_rtld_global");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (rtld && dladdr1(rtld, &info, (void **)&sym, RTLD_DL_SYMENT) && sym) {
        struct rtld_area area = {rtld, sym->st_size};
        dl_iterate_phdr(find_loader_locks, &area);
    }
}

/*
 * Whether thread tid may hold one of the loader's locks. A mutex's lock word
 * and its owner are written one after the other: a thread interrupted
 * between the two, taking the lock or giving it up, holds a lock that names
 * no owner. Such a lock counts as the thread's own (at worst another
 * thread's sample goes without its native stack).
 */
static int holds_loader_lock(uint64_t tid)
{
    const pthread_mutex_t *locks[2] = {loader_lock, loader_write_lock};
    for (int i = 0; i < 2; i++) {
        if (!locks[i])
            continue;
        int owner = *(const volatile int *)&locks[i]->__data.__owner;
        int word = *(const volatile int *)&locks[i]->__data.__lock;
        if ((uint64_t)owner == tid || (owner == 0 && word != 0))
            return 1;
    }
    return 0;
}

/*
 * The native stack of the interrupted thread into ips. Not while the thread
 * runs the dynamic loader, or code the loader called (an allocation while
 * it unloads an object, a constructor): the unwinder reads the loader's
 * lists of objects, which may be half changed there, under the lock the
 * thread holds, and another thread in the unwinder may be waiting for it.
 */
int unwind_interrupted(const void *uc, void **ips, int max, uint64_t tid)
{
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
    if (pc >= loader_lo && pc < loader_hi)
        return 0;
#else
    (void)uc;
#endif
    if (holds_loader_lock(tid))
        return 0;
    return unwind_backtrace(ips, max);
}

void unwind_find_loader(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_loader_state);
}

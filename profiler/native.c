/*
 * The native frames of native.h. Each distinct return address gets an entry
 * once: its function (by symbols.h), its object, what to do with it, and
 * the key the recorder knows its function by. Functions, not addresses, are
 * keyed, so every call site in deflate is one deflate.
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include "native.h"
#include "pyapi.h"
#include "error.h"
#include "intern.h"
#include "srcline.h"
#include "symbols.h"
#include "util.h"
#include "wire.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nfunc {
    char *name, *object;
    char *source; /* its source file, from debug information; NULL when unknown */
    unsigned sent; /* 1 << writer of each writer that told the recorder */
};

static pthread_mutex_t nlock = PTHREAD_MUTEX_INITIALIZER; /* everything below */
static struct symtab *symbols;
static struct srcline *lines; /* NULL when debug information cannot be read at all */
static struct imap *by_ip; /* (ip, is_return) -> kind << 60 | line << 32 | function index */
static struct smap *by_name; /* object NUL name -> function index */
static struct nfunc *funcs;
static size_t nfuncs, capfuncs;
#define FUNC_NAME_MAX 512 /* a native function's name: longer C++ ones are cut */
#define FUNCS_FIRST 256 /* native functions named in a run: hundreds with --native */
static int all_frames;
static char python_exe[PATH_MAX];
/* pyscope's own library, by the name it was loaded under: the bootstrap
 * loads it as sitecustomize, the pyscope module as _pyscope, and the
 * dynamic loader keeps the first. */
static char own_object[PATH_MAX];

static int is_own(const char *object)
{
    return own_object[0] ? !strcmp(object, own_object)
                         : !strncmp(symtab_basename(object), "_pyscope", 8);
}

int native_init(int show_all)
{
    int err = PYSCOPE_ENOMEM;
    pthread_mutex_lock(&nlock);
    all_frames = show_all;
    Dl_info self;
    if (!own_object[0] && dladdr((void *)native_init, &self) && self.dli_fname)
        snprintf(own_object, sizeof own_object, "%s", self.dli_fname);
    if ((symbols || (symbols = symtab_new())) && (by_ip || (by_ip = imap_new())) &&
        (by_name || (by_name = smap_new())))
        err = symtab_refresh(symbols);
    if (!err && !lines)
        lines = srcline_new(); /* without it, frames have no lines */
    pthread_mutex_unlock(&nlock);
    return err;
}

/*
 * The interpreter's machinery (pyapi_machinery) is hidden unless
 * --native-all: what the interpreter does for the program shows, the
 * builtins' own code (sorted's list_sort_impl, re's pattern_subx), object
 * operations, the collector, the GIL, sleeping and locks.
 */

/* How every process and thread starts, above its first Python frame. */
static int start_frame(const char *name)
{
    static const char *const names[] = {"_start",       "__libc_start_main", "__libc_start_call_main",
                                        "start_thread", "clone",             "clone3",
                                        "__clone",      "__clone3"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(name, names[i]))
            return 1;
    return 0;
}

/* A name without the suffixes of the compiler's copies of a function
 * (list_sort_impl.lto_priv.0, deflate_slow.isra.0, *.cold): C names have no
 * dot, so everything from the first one goes. */
static void clean_name(char *name)
{
    char *dot = strchr(name, '.');
    if (dot && dot != name)
        *dot = 0;
}

static int is_interpreter(const char *object)
{
    const char *base = symtab_basename(object);
    return !strncmp(base, "python3", 7) || !strncmp(base, "libpython3", 10) ||
           is_own(object) || (python_exe[0] && !strcmp(object, python_exe));
}

/* The kernel's return path from a signal handler: glibc's __restore_rt, a
 * local symbol a stripped libc does not name, known by its two instructions
 * (mov $SYS_rt_sigreturn, %rax; syscall). */
static int is_sigreturn(uintptr_t ip)
{
#if defined(__x86_64__)
    static const unsigned char code[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
    return !memcmp((const void *)ip, code, sizeof code);
#else
    (void)ip;
    return 0;
#endif
}

static enum native_kind classify(uintptr_t ip, const struct sym_info *si)
{
    const char *name = si->name ? si->name : "";
    /* Only libc's own code is read: the trampoline is in its middle. */
    if (!strcmp(name, "__restore_rt") ||
        (!si->name && !strncmp(symtab_basename(si->object), "libc.so", 7) && is_sigreturn(ip)))
        return NATIVE_TRAMPOLINE;
    if (pyapi_eval_loop(name))
        return NATIVE_EVAL;
    if (is_own(si->object))
        return NATIVE_OWN; /* what pyscope does is not the program's */
    if (all_frames)
        return NATIVE_SHOW;
    char clean[FUNC_NAME_MAX];
    snprintf(clean, sizeof clean, "%s", name);
    clean_name(clean);
    if (start_frame(clean))
        return NATIVE_HIDE;
    if (is_interpreter(si->object) && (!si->name || pyapi_machinery(clean)))
        return NATIVE_HIDE; /* unnamed: a stripped interpreter's own */
    return NATIVE_SHOW;
}

/* The line of at in its function's source file, -1 when not known; f's
 * source file once debug information names the function. */
static int32_t source_line(struct nfunc *f, uintptr_t start, uintptr_t at)
{
    const char *file;
    int line, named;
    if (!lines)
        return -1;
    if (!f->source && ((srcline_lookup(lines, start, &file, &line, &named) && named) ||
                       (srcline_lookup(lines, at, &file, &line, &named) && named)))
        f->source = strdup(file);
    if (!f->source || !srcline_lookup(lines, at, &file, &line, &named) ||
        !srcline_same_file(file, f->source) || line >= (1 << 27))
        return -1;
    return line;
}

static enum native_kind frame_unlocked(uintptr_t ip, int is_return, uint64_t *key,
                                       int32_t *line)
{
    int64_t v;
    if (imap_get(by_ip, ip, (uint64_t)is_return, &v)) {
        *key = NATIVE_KEY_BIT | (uint32_t)v;
        *line = (int32_t)((uint64_t)v >> 32 & 0x0fffffff) - 1;
        return (enum native_kind)((uint64_t)v >> 60);
    }
    *line = -1;
    struct sym_info si;
    uintptr_t at = is_return ? ip - 1 : ip;
    int found = symtab_lookup(symbols, at, &si);
    if (found == 0 && symtab_refresh(symbols) == 0) /* loaded since */
        found = symtab_lookup(symbols, at, &si);
    char name[FUNC_NAME_MAX], object[PATH_MAX];
    if (found == 1 && si.name) {
        snprintf(name, sizeof name, "%s", si.name);
        clean_name(name);
    } else if (found == 1) {
        snprintf(name, sizeof name, "??"); /* a function the object's tables do not name */
    } else {
        snprintf(name, sizeof name, "0x%lx", (unsigned long)at);
    }
    snprintf(object, sizeof object, "%s", found == 1 ? si.object : "");
    enum native_kind kind = found == 1 ? classify(ip, &si) : NATIVE_SHOW;
    /* The function's index: one per (object, name). */
    char k[PATH_MAX + FUNC_NAME_MAX];
    int klen = snprintf(k, sizeof k, "%s%c%s", object, 0, name);
    int64_t idx;
    if (!smap_get(by_name, k, (size_t)klen, &idx)) {
        if (util_reserve((void **)&funcs, &capfuncs, nfuncs + 1, sizeof *funcs, FUNCS_FIRST) < 0)
            return NATIVE_HIDE;
        funcs[nfuncs] = (struct nfunc){strdup(name), strdup(object), NULL, 0};
        if (!funcs[nfuncs].name || !funcs[nfuncs].object ||
            smap_put(by_name, k, (size_t)klen, (int64_t)nfuncs) < 0)
            return NATIVE_HIDE;
        idx = (int64_t)nfuncs++;
    }
    if (kind == NATIVE_SHOW && found == 1 && si.name)
        *line = source_line(&funcs[idx], at - si.offset, at);
    imap_put(by_ip, ip, (uint64_t)is_return,
             (int64_t)((uint64_t)kind << 60 | (uint64_t)(*line + 1) << 32 | (uint64_t)idx));
    *key = NATIVE_KEY_BIT | (uint64_t)idx;
    return kind;
}

/* The loader's counts of objects loaded and unloaded, as of the last look. */
static unsigned long long seen_adds, seen_subs;

static int loader_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *counts = arg;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        return 1;
    counts[0] = info->dlpi_adds;
    counts[1] = info->dlpi_subs;
    return 1; /* the first object has them all */
}

/*
 * When objects were loaded or unloaded since the last look, one may now be
 * where an unloaded one was: what each address was named goes, and is named
 * again from the objects there now. (An address sampled before the change
 * and named after it can still be named after the new object: the window is
 * the time a sample waits to be sent.)
 */
static void forget_unloaded_unlocked(void)
{
    unsigned long long counts[2] = {seen_adds, seen_subs};
    dl_iterate_phdr(loader_counts, counts);
    if (counts[0] == seen_adds && counts[1] == seen_subs)
        return;
    seen_adds = counts[0];
    seen_subs = counts[1];
    struct imap *fresh = imap_new();
    if (!fresh)
        return;
    imap_free(by_ip);
    by_ip = fresh;
    symtab_refresh(symbols);
    if (lines)
        srcline_forget(lines);
}

size_t native_merge(const uint64_t *ips, size_t nips, int after_signal,
                    const struct wire_frame *py, const uint8_t *entry, size_t n, int truncated,
                    struct wire_frame *out, uint64_t *keys, size_t *nkeys)
{
    size_t start = 0, m = 0, pi = 0;
    uint64_t key, fkeys[NATIVE_MERGE_MAX];
    int32_t flines[NATIVE_MERGE_MAX], line;
    enum native_kind kinds[NATIVE_MERGE_MAX];
    if (nips > NATIVE_MERGE_MAX)
        nips = NATIVE_MERGE_MAX;
    pthread_mutex_lock(&nlock);
    forget_unloaded_unlocked();
    /* pyscope's handler, or what pyscope's own code called, goes: up to the
     * outermost trampoline or pyscope frame before the first eval-loop
     * frame. A pyscope frame further out called back into Python (every
     * thread's run goes through one): it is only hidden. */
    for (size_t k = 0; k < nips; k++) {
        enum native_kind kind = frame_unlocked((uintptr_t)ips[k], k > 0, &key, &line);
        if (kind == NATIVE_EVAL)
            break;
        if (kind == NATIVE_TRAMPOLINE || kind == NATIVE_OWN)
            start = k + 1;
    }
    /* Each eval-loop call runs one group of Python frames, the innermost
     * group ending at the innermost entry frame. A call caught entering or
     * leaving the loop, before its frame is linked or after it is unlinked,
     * has no group: groups are paired from the outermost then, and the
     * innermost calls left over run nothing yet. A stack cut at the depth
     * limit lost its outermost groups instead. */
    size_t evals = 0, groups = 0;
    for (size_t k = start; k < nips; k++) {
        /* The frame a signal interrupted is at its own address; the others
         * are return addresses, after their call. */
        kinds[k] = frame_unlocked((uintptr_t)ips[k], !(after_signal && k == start), &fkeys[k],
                                  &flines[k]);
        evals += kinds[k] == NATIVE_EVAL;
    }
    pthread_mutex_unlock(&nlock);
    for (size_t i = 0; i < n; i++)
        groups += entry[i] || i == n - 1;
    size_t idle = !truncated && evals > groups ? evals - groups : 0;
    for (size_t k = start; k < nips; k++) {
        if (kinds[k] == NATIVE_EVAL) {
            if (idle) {
                idle--;
                continue;
            }
            while (pi < n) {
                out[m++] = py[pi];
                if (entry[pi++])
                    break;
            }
        } else if (kinds[k] == NATIVE_SHOW) {
            out[m++] = (struct wire_frame){.code = fkeys[k], .line = flines[k]};
            keys[(*nkeys)++] = fkeys[k];
        }
    }
    while (pi < n)
        out[m++] = py[pi++];
    return m;
}

long native_put(uint64_t key, enum native_writer writer, uint8_t *dst, size_t cap, int pending)
{
    long size = 0;
    pthread_mutex_lock(&nlock);
    struct nfunc *f = &funcs[(uint32_t)key];
    if (!(f->sent & (1u << writer))) {
        struct wire_native w = {.key = key};
        const char *source = f->source ? f->source : "";
        struct wire_str s[3] = {{f->object, (uint32_t)strlen(f->object)},
                                {f->name, (uint32_t)strlen(f->name)},
                                {source, (uint32_t)strlen(source)}};
        size = (long)wire_size(sizeof w, s, 3);
        if (!pending && (size_t)size > cap) {
            size = -1;
        } else if (!pending) {
            f->sent |= 1u << writer;
            size = (long)wire_encode(dst, cap, WIRE_NATIVE, &w, sizeof w, s, 3);
        }
    }
    pthread_mutex_unlock(&nlock);
    return size;
}

void native_fork_prepare(void)
{
    pthread_mutex_lock(&nlock);
}

void native_fork_parent(void)
{
    pthread_mutex_unlock(&nlock);
}

void native_fork_child(void)
{
    /* A new connection: every function is told again. */
    for (size_t i = 0; i < nfuncs; i++)
        funcs[i].sent = 0;
    pthread_mutex_unlock(&nlock);
}

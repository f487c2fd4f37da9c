/* Clocks, the terminal, and the growable string of util.h. */
#include "util.h"
#include "error.h"

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t util_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t util_wall_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

void util_give_terminal(int tty, int pgrp)
{
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    tcsetpgrp(tty, (pid_t)pgrp);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int util_reserve(void **arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : first ? first : 1;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return PYSCOPE_ENOMEM;
        ncap *= 2;
    }
    if (size && ncap > SIZE_MAX / size)
        return PYSCOPE_ENOMEM;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return PYSCOPE_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int util_grow(void **arr, size_t *cap, size_t n, size_t size)
{
    return util_reserve(arr, cap, n + 1, size, UTIL_GROW_FIRST);
}

/*
 * Where pyscope's descriptors go. Above the open-file soft limit, and at
 * 1024 or above, when the hard limit leaves room: a program that looks at
 * every descriptor below its limit (fstat of each, as CPython's subprocess
 * tests do to check what a child inherits), or at the ones it numbered
 * itself below 1024, finds none of pyscope's there. Descriptors keep
 * working above the soft limit; only making new ones there needs it
 * raised, for that moment. The kernel's descriptor table grows to the
 * highest one and never shrinks, so a soft limit above FD_ABOVE_MAX
 * (containers often set a million) takes the old place instead: half the
 * soft limit, of at most 1024.
 */
#define FD_ABOVE_MIN 1024
#define FD_ABOVE_MAX 4096
/* How far above the base the moment's raise reaches, as the hard limit
 * allows: pyscope keeps two descriptors for each thread it samples with
 * native stacks (its /proc syscall file and its user trap), and a program
 * may run hundreds of threads. Below ROOM_MIN the old place is taken. */
#define FD_ABOVE_ROOM_MIN 256
#define FD_ABOVE_ROOM_MAX 16384

/*
 * The raise is for the whole process, so pyscope's threads take turns: one
 * that read the limit while another had it raised would take the raised
 * one for the program's (placing its descriptor by it, and putting it back
 * as the program's limit), or find it lowered under its own descriptor's
 * move. A fork waits for the turn under way (util_fd_fork_prepare), so the
 * child does not start with the limit raised or the lock taken.
 */
static pthread_mutex_t fd_turn = PTHREAD_MUTEX_INITIALIZER;

void util_fd_fork_prepare(void)
{
    pthread_mutex_lock(&fd_turn);
}

void util_fd_fork_parent(void)
{
    pthread_mutex_unlock(&fd_turn);
}

void util_fd_fork_child(void)
{
    pthread_mutex_init(&fd_turn, NULL);
}

struct fd_place {
    struct rlimit limit; /* as the program has it */
    int base;            /* pyscope's descriptors are at or above */
    int room;            /* and below base + room */
    bool above;          /* base is at or above the soft limit */
};

static struct fd_place fd_place(void)
{
    struct fd_place p = {.limit = {1024, 1024}, .base = 512, .above = false};
    if (getrlimit(RLIMIT_NOFILE, &p.limit) != 0)
        return p;
    rlim_t soft = p.limit.rlim_cur, base = soft < FD_ABOVE_MIN ? FD_ABOVE_MIN : soft;
    if (soft <= FD_ABOVE_MAX && p.limit.rlim_max >= base + FD_ABOVE_ROOM_MIN) {
        rlim_t room = p.limit.rlim_max - base;
        p.base = (int)base;
        p.room = room < FD_ABOVE_ROOM_MAX ? (int)room : FD_ABOVE_ROOM_MAX;
        p.above = true;
    } else {
        p.base = (int)((soft < 1024 ? soft : 1024) / 2);
    }
    return p;
}

/* Raise the soft limit past p's base for the moment (0), or -1 when that
 * is not how p places descriptors or the raise is refused. */
static int fd_raise(const struct fd_place *p)
{
    if (!p->above)
        return -1;
    struct rlimit raised = {(rlim_t)p->base + (rlim_t)p->room, p->limit.rlim_max};
    return setrlimit(RLIMIT_NOFILE, &raised);
}

static void fd_lower(const struct fd_place *p)
{
    setrlimit(RLIMIT_NOFILE, &p->limit);
}

int util_fd_high(int fd)
{
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&fd_turn);
    struct fd_place p = fd_place();
    int high = -1;
    if (fd < p.base) {
        int raised = fd_raise(&p) == 0;
        high = fcntl(fd, F_DUPFD_CLOEXEC, p.base);
        if (raised)
            fd_lower(&p);
    }
    pthread_mutex_unlock(&fd_turn);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

void util_with_low_fds_taken(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&fd_turn);
    struct fd_place p = fd_place();
    int base = p.base;
    /* Every descriptor below base taken: with base at or above the soft
     * limit, the limit is raised for fillers and fn to be made at all. */
    int raised = fd_raise(&p) == 0;
    int *held = malloc((size_t)base * sizeof *held);
    int n = 0, filler = held ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
    if (filler >= 0 && filler < base) {
        held[n++] = filler;
        for (;;) {
            int fd = fcntl(filler, F_DUPFD_CLOEXEC, 0); /* the lowest free one */
            if (fd < 0)
                break;
            if (fd >= base) {
                close(fd);
                break;
            }
            held[n++] = fd;
        }
    } else if (filler >= 0) {
        close(filler);
    }
    fn(arg);
    if (raised)
        fd_lower(&p);
    pthread_mutex_unlock(&fd_turn);
    while (n > 0)
        close(held[--n]);
    free(held);
}

long util_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

#define SBUF_FIRST 64 /* bytes: a line of a message or of a command */

/* Room for extra more bytes and the NUL. */
static int grow(struct sbuf *sb, size_t extra)
{
    return util_reserve((void **)&sb->buf, &sb->cap, sb->len + extra + 1, 1, SBUF_FIRST);
}

int sbuf_add(struct sbuf *sb, const char *s, size_t len)
{
    if (grow(sb, len) < 0)
        return PYSCOPE_ENOMEM;
    memcpy(sb->buf + sb->len, s, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(sb, (size_t)n) < 0)
        return PYSCOPE_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
    return 0;
}

const char *sbuf_str(const struct sbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

void sbuf_release(struct sbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    "@%_-+=:,./",
                    *s))
            return 1;
    return 0;
}

int sbuf_add_argv(struct sbuf *sb, char *const *args, int n)
{
    for (int i = 0; i < n; i++) {
        int err = i ? sbuf_add(sb, " ", 1) : 0;
        if (!err && !needs_quotes(args[i])) {
            err = sbuf_add(sb, args[i], strlen(args[i]));
        } else if (!err) {
            err = sbuf_add(sb, "'", 1);
            for (const char *p = args[i]; !err && *p; p++)
                err = *p == '\'' ? sbuf_add(sb, "'\\''", 4) : sbuf_add(sb, p, 1);
            if (!err)
                err = sbuf_add(sb, "'", 1);
        }
        if (err)
            return err;
    }
    return 0;
}

int util_parse_i64(const char *s, int64_t *out)
{
    if (!s)
        return -1;
    const char *digits = s[0] == '-' ? s + 1 : s;
    if (*digits < '0' || *digits > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/*
 * Names by the platform's own numbers, searched linearly: aliases (SIGIOT,
 * SIGPOLL, SIGCLD) share numbers and would collide in an indexed table.
 * strsignal() gives descriptions, not names, and sigabbrev_np() is too new.
 */
static const struct {
    int sig;
    const char *name;
} signal_names[] = {
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"},     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
    {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
    {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
    {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGSYS, "SIGSYS"},
#ifdef SIGSTKFLT
    {SIGSTKFLT, "SIGSTKFLT"},
#endif
#ifdef SIGWINCH
    {SIGWINCH, "SIGWINCH"},
#endif
#ifdef SIGIO
    {SIGIO, "SIGIO"},
#endif
#ifdef SIGPWR
    {SIGPWR, "SIGPWR"},
#endif
};

const char *util_signal_name(int sig)
{
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (signal_names[i].sig == sig)
            return signal_names[i].name;
    return NULL;
}

int util_cache_path(const char *name, char *out, size_t outlen)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(out, outlen, "%s/pyscope/%s", xdg, name);
    else if (home && home[0] == '/')
        n = snprintf(out, outlen, "%s/.cache/pyscope/%s", home, name);
    else
        return -1;
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

void util_cache_dirs(const char *name)
{
    char dir[4096];
    if (util_cache_path(name, dir, sizeof dir) < 0)
        return;
    size_t base = strlen(dir) - strlen(name); /* just past "pyscope/" */
    dir[base - 1] = '\0';
    char *parent = strrchr(dir, '/');
    *parent = '\0';
    mkdir(dir, 0700); /* ~/.cache may not exist yet */
    *parent = '/';
    mkdir(dir, 0700);
    dir[base - 1] = '/';
    for (char *slash = strchr(dir + base, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(dir, 0700);
        *slash = '/';
    }
}

int util_cache_open(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH))) {
        close(fd);
        return -1;
    }
    return fd;
}

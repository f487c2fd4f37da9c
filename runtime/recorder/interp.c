/*
 * Interpreter discovery for the launcher (interp.h). A candidate is run once
 * with -I -S, which skips site and the environment and costs about ten
 * milliseconds, and prints its implementation, version and executable. A
 * wrapper (pyenv's shim script, a launcher that starts another file) is
 * skipped: the launcher executes the sys.executable it named. An ELF file
 * whose interpreter names the file itself is opened once, asked through that
 * descriptor and executed through it, so what runs is the file that was
 * asked even if another is put at its path meanwhile.
 *
 * What such a file said is kept in a small cache file, keyed by the path and
 * the identity of the file (device, inode, size, modification and change
 * times), so that later runs skip the probe's start-up. An entry holds only
 * the implementation and version: it describes the file it was made for and
 * never names one to run. The cache is believed only when no one else can
 * have written it. A wrapper is always asked: it may pick another
 * interpreter in another directory or environment.
 */
#define _GNU_SOURCE
#include "interp.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define PROBE_TIMEOUT_MS 20000

static const char probe_code[] =
    "import sys;sys.stdout.write('%s\\n%d.%d.%d\\n%s\\n%s\\n' % ("
    "getattr(getattr(sys, 'implementation', None), 'name', 'unknown'), "
    "sys.version_info[0], sys.version_info[1], sys.version_info[2], sys.executable, "
    "getattr(sys, 'abiflags', '')))";

int interp_parse(const char *text, struct interp *out)
{
    char impl[sizeof out->implementation], ver[sizeof out->version], exe[sizeof out->path],
        abiflags[sizeof out->abiflags];
    const char *p = text;
    char *fields[4] = {impl, ver, exe, abiflags};
    size_t caps[4] = {sizeof impl, sizeof ver, sizeof exe, sizeof abiflags};
    for (int i = 0; i < 4; i++) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            return PYSCOPE_EPROTO;
        size_t len = (size_t)(nl - p);
        if (len >= caps[i] || (i < 2 && len == 0))
            return PYSCOPE_EPROTO;
        memcpy(fields[i], p, len);
        fields[i][len] = '\0';
        p = nl + 1;
    }
    int major, minor, micro;
    if (sscanf(ver, "%d.%d.%d", &major, &minor, &micro) != 3)
        return PYSCOPE_EPROTO;
    snprintf(out->implementation, sizeof out->implementation, "%s", impl);
    snprintf(out->version, sizeof out->version, "%s", ver);
    snprintf(out->path, sizeof out->path, "%s", exe);
    snprintf(out->abiflags, sizeof out->abiflags, "%s", abiflags);
    out->major = major;
    out->minor = minor;
    return 0;
}

/* The build's versions, from CMakeLists.txt: the minors of the version
 * layer, and those of the extensions built with their bootstraps' names. */
static const int supported_minors[] = {PYSCOPE_LAYER_MINORS};
static const int built_minors[] = {PYSCOPE_BUILT_MINORS};
static const char *const boot_files[] = {PYSCOPE_BOOT_FILES};
_Static_assert(sizeof built_minors / sizeof built_minors[0] ==
                   sizeof boot_files / sizeof boot_files[0],
               "one bootstrap per extension");
static const struct interp_build this_build = {
    supported_minors, sizeof supported_minors / sizeof supported_minors[0], built_minors,
    boot_files, sizeof built_minors / sizeof built_minors[0]};

const struct interp_build *interp_this_build(void)
{
    return &this_build;
}

/* Built free-threaded (3.13t: no GIL, another object layout and another
 * extension suffix), which pyscope does not support. */
static int free_threaded(const struct interp *in)
{
    return strchr(in->abiflags, 't') != NULL;
}

const char *interp_boot_file(const struct interp_build *b, const struct interp *in)
{
    if (strcmp(in->implementation, "cpython") || in->major != 3 || free_threaded(in))
        return NULL;
    for (size_t i = 0; i < b->nbuilt; i++)
        if (b->built[i] == in->minor)
            return b->boot_files[i];
    return NULL;
}

int interp_build_has(const struct interp_build *b, const struct interp *in)
{
    return interp_boot_file(b, in) != NULL;
}

/* "3.11, 3.12" for n minors into out, or "3.11–3.13" when range is set and
 * there are more than two without a gap. */
static void list_minors(const int *minors, size_t n, int range, char *out, size_t len)
{
    int consecutive = n > 2;
    for (size_t i = 1; i < n; i++)
        consecutive &= minors[i] == minors[i - 1] + 1;
    if (range && consecutive) {
        snprintf(out, len, "3.%d\u20133.%d", minors[0], minors[n - 1]);
        return;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(out + used, len - used, "%s3.%d", i ? ", " : "", minors[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

void interp_build_versions(const struct interp_build *b, char *out, size_t len)
{
    list_minors(b->built, b->nbuilt, 0, out, len);
}

void interp_refusal(const struct interp_build *b, const char *path, const struct interp *in,
                    char *msg, size_t len)
{
    char supported[256], built[256];
    list_minors(b->supported, b->nsupported, 1, supported, sizeof supported);
    list_minors(b->built, b->nbuilt, 0, built, sizeof built);
    if (free_threaded(in) && !strcmp(in->implementation, "cpython")) {
        snprintf(msg, len,
                 "'%s' is CPython %s built free-threaded (without the GIL); pyscope supports "
                 "the default build of CPython %s, and this build has %s",
                 path, in->version, supported, built);
        return;
    }
    snprintf(msg, len, "'%s' is %s %s; pyscope supports CPython %s, and this build has %s", path,
             !strcmp(in->implementation, "cpython") ? "CPython" : in->implementation, in->version,
             supported, built);
}

int interp_supported(const struct interp *in)
{
    return interp_build_has(interp_this_build(), in);
}

static int is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int interp_which(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        if (!is_executable_file(name))
            return PYSCOPE_ENOTFOUND;
        snprintf(out, outlen, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchrnul(path, ':');
        int dirlen = (int)(colon - path);
        snprintf(out, outlen, "%.*s/%s", dirlen ? dirlen : 1, dirlen ? path : ".", name);
        if (is_executable_file(out))
            return 0;
        path = *colon ? colon + 1 : colon;
    }
    return PYSCOPE_ENOTFOUND;
}

/* In a child of run_probe: stdout to out_fd, stdin and stderr /dev/null. */
static void probe_child(int fd, const char *path, int out_fd)
{
    char *argv[] = {(char *)path, "-I", "-S", "-c", (char *)probe_code, NULL};
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(out_fd, 1) < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    fexecve(fd, argv, environ);
    _exit(127);
}

/*
 * Run the probe: through fd when it is >= 0 (the file opened by the caller),
 * else by path; argv[0] is path either way. Its stdout (NUL-terminated) into
 * buf. 0 or PYSCOPE_EIO.
 */
static int run_probe(int fd, const char *path, char *buf, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return PYSCOPE_EIO;
    pid_t pid;
    int rc;
    if (fd >= 0) {
        /* posix_spawn has no way to execute a descriptor; the child only
         * makes async-signal-safe calls before fexecve. */
        pid = fork();
        if (pid == 0)
            probe_child(fd, path, fds[1]);
        rc = pid < 0 ? errno : 0;
    } else {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        char *argv[] = {(char *)path, "-I", "-S", "-c", (char *)probe_code, NULL};
        rc = posix_spawn(&pid, path, &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    }
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return PYSCOPE_EIO;
    }
    size_t len = 0;
    int err = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    for (;;) {
        int n = poll(&pfd, 1, PROBE_TIMEOUT_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            kill(pid, SIGKILL);
            err = PYSCOPE_EIO;
            break;
        }
        ssize_t got = read(fds[0], buf + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len == cap - 1)
            break;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        err = PYSCOPE_EIO;
    return err;
}

/* ---- the cache of probes ------------------------------------------------ */

/* Entries of other versions are ignored, and dropped at the next write;
 * version 1 entries named an executable to run, version 2 ones had no
 * abiflags. */
#define CACHE_VERSION "pyscope-interp-3"
#define CACHE_MAX_ENTRIES 32

int interp_cache_path(char *out, size_t outlen)
{
    return util_cache_path("interpreters", out, outlen);
}

/* The cache file for reading (util_cache_open), or NULL. */
static FILE *cache_open(const char *file)
{
    int fd = util_cache_open(file, O_RDONLY);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "r");
    if (!f)
        close(fd);
    return f;
}

/* Whether fd is a regular ELF file; its status into st. */
static int is_elf(int fd, struct stat *st)
{
    unsigned char magic[4];
    return fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
           pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
           !memcmp(magic, "\177ELF", 4);
}

/*
 * The key of the file st describes, opened at path: the path and what
 * identifies the file. -1 when the path cannot go in a line.
 */
static int cache_key(const char *path, const struct stat *st, char *key, size_t keylen)
{
    if (strpbrk(path, "\t\n"))
        return -1;
    int n = snprintf(key, keylen, "%s\t%llu\t%llu\t%lld\t%lld.%09ld\t%lld.%09ld\t%s", CACHE_VERSION,
                     (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                     (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                     (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec, path);
    return n > 0 && (size_t)n < keylen ? 0 : -1;
}

/*
 * The cached answer for key into buf, as the probe prints it with an empty
 * executable line; 0 or -1. An entry is the key, the implementation, the
 * version and the abiflags (lower-case letters, maybe none), nothing more.
 */
static int cache_lookup(const char *key, char *buf, size_t cap)
{
    char file[PATH_MAX];
    if (interp_cache_path(file, sizeof file) < 0)
        return -1;
    FILE *f = cache_open(file);
    if (!f)
        return -1;
    size_t klen = strlen(key);
    char line[4 * PATH_MAX];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) || line[klen] != '\t')
            continue;
        char *impl = line + klen + 1, *nl = strchr(impl, '\n');
        char *version = strchr(impl, '\t');
        if (!nl || !version || version > nl)
            break;
        *version++ = '\0';
        *nl = '\0';
        char *abiflags = strchr(version, '\t');
        if (!abiflags)
            break;
        *abiflags++ = '\0';
        if (strspn(abiflags, "abcdefghijklmnopqrstuvwxyz") != strlen(abiflags) ||
            strlen(abiflags) >= sizeof((struct interp *)0)->abiflags)
            break; /* not an entry this version writes */
        int n = snprintf(buf, cap, "%s\n%s\n\n%s\n", impl, version, abiflags);
        found = n > 0 && (size_t)n < cap ? 0 : -1;
        break;
    }
    fclose(f);
    return found;
}

/*
 * Add what the file of key is to the cache: the file is rewritten whole and
 * renamed into place, keeping the most recent entries for other keys of the
 * same version. Best effort: a cache that cannot be written only means
 * probing again next time.
 */
static void cache_store(const char *key, const struct interp *in)
{
    char file[PATH_MAX], tmp[PATH_MAX + 32];
    if (interp_cache_path(file, sizeof file) < 0 || strpbrk(in->implementation, "\t\n") ||
        strpbrk(in->version, "\t\n") || strpbrk(in->abiflags, "\t\n"))
        return;
    util_cache_dirs("interpreters");

    struct sbuf sb = {0};
    sbuf_addf(&sb, "%s\t%s\t%s\t%s\n", key, in->implementation, in->version, in->abiflags);
    FILE *old = cache_open(file);
    if (old) {
        char line[4 * PATH_MAX];
        size_t vlen = strlen(CACHE_VERSION);
        const char *path = strrchr(key, '\t') + 1;
        for (int kept = 1; kept < CACHE_MAX_ENTRIES && fgets(line, sizeof line, old);) {
            char *nl = strchr(line, '\n');
            if (!nl || strncmp(line, CACHE_VERSION, vlen) || line[vlen] != '\t')
                continue;
            /* the key's sixth field is the path: one entry per path */
            const char *f = line;
            for (int i = 0; i < 6 && f; i++)
                f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
            size_t plen = strlen(path);
            if (f && !strncmp(f, path, plen) && f[plen] == '\t')
                continue;
            sbuf_add(&sb, line, (size_t)(nl - line) + 1);
            kept++;
        }
        fclose(old);
    }
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
    /* A name left by a run that died, or planted: never write through it. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        const char *s = sbuf_str(&sb);
        size_t len = strlen(s), done = 0;
        while (done < len) {
            ssize_t w = write(fd, s + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            done += (size_t)w;
        }
        if (close(fd) == 0 && done == len && rename(tmp, file) == 0)
            tmp[0] = '\0';
        if (tmp[0])
            unlink(tmp);
    }
    sbuf_release(&sb);
}

void interp_release(struct interp *out)
{
    if (out->fd >= 0)
        close(out->fd);
    out->fd = -1;
}

/* Whether name is the file st describes. */
static int names_file(const char *name, const struct stat *st)
{
    struct stat sb;
    return stat(name, &sb) == 0 && sb.st_dev == st->st_dev && sb.st_ino == st->st_ino;
}

int interp_probe(const char *path, struct interp *out, char *msg, size_t msglen)
{
    char buf[2 * PATH_MAX], key[2 * PATH_MAX];
    struct stat st;
    out->fd = -1;
    /* Asked, keyed and run through one descriptor: one file throughout. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && !is_elf(fd, &st)) {
        close(fd); /* a script runs by name: its interpreter reads it by name */
        fd = -1;
    }
    int keyed = fd >= 0 && cache_key(path, &st, key, sizeof key) == 0;
    if (!keyed || cache_lookup(key, buf, sizeof buf) < 0 || interp_parse(buf, out) < 0) {
        if (run_probe(fd, path, buf, sizeof buf) < 0 || interp_parse(buf, out) < 0) {
            snprintf(msg, msglen, "'%s' is not a Python interpreter pyscope can use", path);
            goto fail;
        }
        /* sys.executable may be empty when it cannot be known: then it is path */
        if (fd >= 0 && out->path[0] && !names_file(out->path, &st)) {
            close(fd); /* a launcher of another file: run that one, and ask each time */
            fd = -1;
        } else if (keyed) {
            cache_store(key, out);
        }
    }
    if (fd >= 0 || !out->path[0])
        snprintf(out->path, sizeof out->path, "%s", path);
    out->fd = fd;
    fd = -1;
    if (!interp_supported(out)) {
        interp_refusal(interp_this_build(), path, out, msg, msglen);
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    interp_release(out);
    return PYSCOPE_EINVAL;
}

int interp_choose(const char *explicit_path, struct interp *out, char *msg, size_t msglen)
{
    char path[PATH_MAX];
    out->fd = -1;
    if (explicit_path) {
        if (interp_which(explicit_path, path, sizeof path) < 0) {
            snprintf(msg, msglen, "cannot find the interpreter '%s'", explicit_path);
            return PYSCOPE_ENOTFOUND;
        }
        return interp_probe(path, out, msg, msglen);
    }
    const char *venv = getenv("VIRTUAL_ENV");
    if (venv && *venv) {
        snprintf(path, sizeof path, "%s/bin/python", venv);
        if (is_executable_file(path))
            return interp_probe(path, out, msg, msglen);
    }
    if (interp_which("python3", path, sizeof path) == 0 &&
        interp_probe(path, out, msg, msglen) == 0)
        return 0;
    return interp_probe(PYSCOPE_BUILD_PYTHON, out, msg, msglen);
}

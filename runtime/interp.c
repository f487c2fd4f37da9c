/*
 * Interpreter discovery for the launcher (interp.h). A candidate is run once
 * with -I -S, which skips site and the environment and costs about ten
 * milliseconds, and prints its implementation, version and executable; the
 * launcher then executes that executable directly, which also skips wrapper
 * scripts such as pyenv's shims on every later start.
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

extern char **environ;

#define PROBE_TIMEOUT_MS 20000

static const char probe_code[] =
    "import sys;sys.stdout.write('%s\\n%d.%d.%d\\n%s\\n' % ("
    "getattr(getattr(sys, 'implementation', None), 'name', 'unknown'), "
    "sys.version_info[0], sys.version_info[1], sys.version_info[2], sys.executable))";

int interp_parse(const char *text, struct interp *out)
{
    char impl[sizeof out->implementation], ver[sizeof out->version], exe[sizeof out->path];
    const char *p = text;
    char *fields[3] = {impl, ver, exe};
    size_t caps[3] = {sizeof impl, sizeof ver, sizeof exe};
    for (int i = 0; i < 3; i++) {
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
    out->major = major;
    out->minor = minor;
    return 0;
}

int interp_supported(const struct interp *in)
{
    return !strcmp(in->implementation, "cpython") && in->major == 3 && in->minor == 11;
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

/* Run the probe; its stdout (NUL-terminated) into buf. 0 or PYSCOPE_EIO. */
static int run_probe(const char *path, char *buf, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return PYSCOPE_EIO;
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
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
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

int interp_probe(const char *path, struct interp *out, char *msg, size_t msglen)
{
    char buf[2 * PATH_MAX];
    if (run_probe(path, buf, sizeof buf) < 0 || interp_parse(buf, out) < 0) {
        snprintf(msg, msglen, "'%s' is not a Python interpreter pyscope can use", path);
        return PYSCOPE_EINVAL;
    }
    if (!out->path[0]) /* sys.executable may be empty when it cannot be known */
        snprintf(out->path, sizeof out->path, "%s", path);
    if (!interp_supported(out)) {
        snprintf(msg, msglen, "'%s' is %s %s; pyscope needs CPython 3.11", path,
                 !strcmp(out->implementation, "cpython") ? "CPython" : out->implementation,
                 out->version);
        return PYSCOPE_EINVAL;
    }
    return 0;
}

int interp_choose(const char *explicit_path, struct interp *out, char *msg, size_t msglen)
{
    char path[PATH_MAX];
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

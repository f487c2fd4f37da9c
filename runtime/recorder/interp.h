/*
 * Which Python runs the program: the user's choice (--python), the active
 * virtualenv's, python3 on PATH when it is a version this build has an
 * extension for, or the interpreter pyscope was built for. Each candidate is
 * asked what it is by running it once (an unchanged executable asked before
 * is not asked again).
 */
#ifndef PYSCOPE_INTERP_H
#define PYSCOPE_INTERP_H

#include <limits.h>
#include <stddef.h>

struct interp {
    /*
     * What to run. When fd >= 0, the file that was asked, opened once: exec
     * fd itself (fexecve) with path, the name it was asked by, as argv[0], so
     * a file put at that path since is not what runs. When fd is -1 (a
     * wrapper such as a shim script), path is the sys.executable the
     * wrapper's interpreter gave, to exec by name.
     */
    char path[PATH_MAX];
    int fd;                  /* owned: interp_release closes it */
    char implementation[32]; /* sys.implementation.name */
    char version[32];        /* "3.11.2" */
    char abiflags[8];        /* sys.abiflags: "" the default build, "d" debug, "t" free-threaded */
    int major, minor;
};

/*
 * Choose the interpreter. explicit_path (may be NULL) is --python: a path, or
 * a name looked up on PATH. On failure returns PYSCOPE_EINVAL or
 * PYSCOPE_ENOTFOUND with a one-line message in msg, and out holds nothing
 * to release.
 */
int interp_choose(const char *explicit_path, struct interp *out, char *msg, size_t msglen);

/*
 * Ask the interpreter at path what it is; same errors as interp_choose. An
 * ELF executable whose interpreter names this very file as sys.executable
 * is kept open (out->fd), and its answer is cached, keyed by the file's
 * identity; a cached answer is used only for the file it was made for, and
 * says only what that file is, never what to run.
 */
int interp_probe(const char *path, struct interp *out, char *msg, size_t msglen);

/* Close what out holds (its fd); out->fd is -1 after. */
void interp_release(struct interp *out);

/*
 * Parse the probe's output: implementation, version and executable, one per
 * line. Returns 0 or PYSCOPE_EPROTO.
 */
int interp_parse(const char *text, struct interp *out);

/*
 * The CPython versions a build knows, by minor (11 for 3.11), ascending:
 * those pyscope's version layer supports, and among them those the build
 * has an extension for, each with the file name of its bootstrap.
 */
struct interp_build {
    const int *supported;
    size_t nsupported;
    const int *built;
    const char *const *boot_files;
    size_t nbuilt;
};

/* This build's versions (static). */
const struct interp_build *interp_this_build(void);

/* Whether in is a CPython the build b has an extension for. */
int interp_build_has(const struct interp_build *b, const struct interp *in);

/* The bootstrap's file name of in's version in b (static), or NULL when b
 * has no extension for it. */
const char *interp_boot_file(const struct interp_build *b, const struct interp *in);

/* b's versions, "3.11, 3.12", into out. */
void interp_build_versions(const struct interp_build *b, char *out, size_t len);

/*
 * Why b cannot run in, found at path, as one line: "'path' is CPython
 * 3.10.13; pyscope supports CPython 3.11–3.13, and this build has 3.11, 3.12".
 */
void interp_refusal(const struct interp_build *b, const char *path, const struct interp *in,
                    char *msg, size_t len);

/* Whether in is a CPython this build has an extension for. */
int interp_supported(const struct interp *in);

/* Where the cache of probes is: $XDG_CACHE_HOME/pyscope/interpreters, else
 * $HOME/.cache/pyscope/interpreters. 0, or -1 when neither is set. */
int interp_cache_path(char *out, size_t outlen);

/* Look name up on PATH (or take it as a path when it has a '/'). 0 or PYSCOPE_ENOTFOUND. */
int interp_which(const char *name, char *out, size_t outlen);

#endif

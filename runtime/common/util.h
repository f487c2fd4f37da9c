/*
 * Small helpers of both programs: clocks, growing arrays (util_grow),
 * descriptors kept out of the program's way, signal names, and a growable
 * string (the sbuf_ functions).
 */
#ifndef PYSCOPE_UTIL_H
#define PYSCOPE_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t util_mono_ns(void);
int64_t util_wall_ns(void);

/*
 * Make pgrp the foreground process group of the terminal tty. Works from a
 * background group too (SIGTTOU is held off meanwhile).
 */
void util_give_terminal(int tty, int pgrp);

/*
 * Room for n + 1 elements of size bytes in the array *arr of *cap elements,
 * doubling it when full (to UTIL_GROW_FIRST from empty). 0 or PYSCOPE_ENOMEM
 * (the array is then unchanged).
 */
#define UTIL_GROW_FIRST 16
int util_grow(void **arr, size_t *cap, size_t n, size_t size);

/*
 * Room for need elements of size bytes in *arr of *cap elements: when it
 * has fewer, the capacity doubles, starting from first when it is 0, until
 * it holds need. For an array filled one element at a time with a first
 * size of its own, or indexed beyond its end (grown to hold index i: need
 * i + 1). 0 or PYSCOPE_ENOMEM (the array is then unchanged), also when the
 * bytes would not fit in a size_t.
 */
int util_reserve(void **arr, size_t *cap, size_t need, size_t size, size_t first);

/*
 * The start of a small file (a /proc entry) into buf, at most cap - 1 bytes,
 * NUL-terminated: its length, or -1 when it cannot be opened or is empty.
 */
long util_read_file(const char *path, char *buf, size_t cap);

/*
 * Move descriptor fd, which pyscope holds in the program, out of the
 * program's way: a program gets the lowest free descriptors and may count on
 * which they are (3 for its first file), or look at every one below the
 * open-file limit. The new one is above the soft limit, and at 1024 or
 * above, when the hard limit leaves room and the soft limit is an ordinary
 * one (at most 4096); else at least half the soft limit (of at most 1024).
 * It is close-on-exec, and fd itself is closed. When there is no room up
 * there, fd is kept. Returns the descriptor to use.
 */
int util_fd_high(int fd);

/*
 * pyscope's threads take turns at moving descriptors up (the soft limit is
 * the whole process's). Around a fork: prepare waits for the turn under
 * way and holds off the next; parent lets them go on; child starts free.
 */
void util_fd_fork_prepare(void);
void util_fd_fork_parent(void);
void util_fd_fork_child(void);

/*
 * Call fn(arg) with every free descriptor below that high range taken for
 * the moment, so that what fn opens and keeps without asking pyscope (a
 * library's own descriptors, made on its first use) lands up there too.
 * For start-up, before the program has threads that could open anything
 * meanwhile. fn takes pyscope's turn with it: it must not make a
 * descriptor through util_fd_high.
 */
void util_with_low_fds_taken(void (*fn)(void *), void *arg);

/*
 * pyscope's cache entry name: "$XDG_CACHE_HOME/pyscope/name" (else
 * "~/.cache/pyscope/name") into out. 0, or -1 with neither set to an
 * absolute path, or when it does not fit.
 */
int util_cache_path(const char *name, char *out, size_t outlen);

/* Make the directories above cache entry name, for the user alone; those
 * that exist are left as they are. */
void util_cache_dirs(const char *name);

/*
 * Open the cache file path with flags (O_RDONLY, or O_WRONLY | O_APPEND,
 * with O_CREAT to make it, mode 0600) only if it is a regular file of the
 * user's own that no one else may write: a cache is believed only then. The
 * descriptor (close-on-exec, not a symlink's), or -1.
 */
int util_cache_open(const char *path, int flags);

/* All of s as a decimal integer (digits, after an optional '-'; no spaces)
 * in *out. 0, or -1 when s is NULL, empty, anything else or out of range. */
int util_parse_i64(const char *s, int64_t *out);

/* A growable NUL-terminated string. Zero-initialise; release with sbuf_release. */
struct sbuf {
    char *buf;
    size_t len, cap;
};

/* Append; 0 or PYSCOPE_ENOMEM (the string is then left as it was). */
int sbuf_add(struct sbuf *sb, const char *s, size_t len);
int sbuf_addf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string so far: never NULL. */
const char *sbuf_str(const struct sbuf *sb);
void sbuf_release(struct sbuf *sb);

/*
 * Append args as one shell-readable line: words that need it are quoted
 * with single quotes. 0 or PYSCOPE_ENOMEM.
 */
int sbuf_add_argv(struct sbuf *sb, char *const *args, int n);

/*
 * The name of signal number sig ("SIGKILL" for 9 on Linux), or NULL when it
 * has none in the table (real-time signals, unknown numbers).
 */
const char *util_signal_name(int sig);

#endif

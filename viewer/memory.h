/*
 * The read side of the memory tracer: the live blocks of a snapshot
 * grouped the way tracemalloc groups them
 * (Snapshot.statistics and Snapshot.compare_to), so that a number printed
 * by `pyscope stats` or `pyscope diff` is the number tracemalloc would give
 * for the same blocks.
 *
 * A traceback is a node of the stacks tree; tracemalloc sees it as a tuple
 * of (filename, line) frames, so two stack nodes whose frames differ only
 * in the function (two lambdas on one line) or in the "[truncated]" marker
 * at their root are one key. A frame with no line is line 0, a function
 * with no file is "<unknown>", and a traceback with no frame at all is the
 * one frame ("<unknown>", 0), as in tracemalloc.
 *
 * Keys live in a space shared by the snapshots that are compared, which may
 * come from two databases: frames are matched by file name and line, not by
 * the databases' ids. Nothing here prints.
 *
 * Its prefix is mem_.
 */
#ifndef PYSCOPE_VIEWER_MEMORY_H
#define PYSCOPE_VIEWER_MEMORY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* tracemalloc's key types. */
enum mem_by { MEM_BY_LINENO, MEM_BY_FILENAME, MEM_BY_TRACEBACK };

/* How snapshots are grouped; the patterns are borrowed for the space's life. */
struct mem_options {
    enum mem_by by;
    int cumulative;             /* every frame of a traceback, not the most recent one */
    const char *const *include; /* tracemalloc.Filter(True, pattern) each; any may match */
    size_t ninclude;
    const char *const *exclude; /* tracemalloc.Filter(False, pattern) each */
    size_t nexclude;
    int no_native; /* leave out native frames (recorded with --memory --native) */
};

/* One frame of a key. Strings are owned by the space. */
struct mem_frame {
    const char *filename; /* never NULL: "<unknown>" when not known */
    int64_t line;         /* 0 when not known, and with MEM_BY_FILENAME */
    const char *function; /* the qualname of the first function seen there; NULL with
                             MEM_BY_FILENAME or when not known */
    int native;           /* a native function: filename is its object, line 0 */
};

/*
 * A group: its key, its blocks in the snapshot (the new one of a diff), and
 * in a diff the change from the old one (0 in plain statistics).
 */
struct mem_stat {
    uint32_t key;
    int64_t size, count;
    int64_t size_diff, count_diff;
};

struct mem_totals {
    int64_t size, count;
};

/* A snapshot grouped by mem_group. */
struct mem_group {
    struct mem_stat *stats; /* unsorted */
    size_t n;
    struct mem_totals all;      /* every block of the snapshot */
    struct mem_totals selected; /* those the filters kept */
};

struct mem_space;

/*
 * A new space grouping as o says (copied; the patterns borrowed) into *out,
 * freed with mem_space_free. 0, PYSCOPE_EINVAL for cumulative with
 * MEM_BY_TRACEBACK (tracemalloc refuses it too), PYSCOPE_ENOMEM.
 */
int mem_space_new(const struct mem_options *o, struct mem_space **out);

/* Free sp and everything it owns; NULL is fine. */
void mem_space_free(struct mem_space *sp);

/*
 * Group the blocks of snapshot id of db into *g (release with
 * mem_group_release): tracemalloc's Snapshot._group_by after
 * filter_traces. A snapshot without rows gives no groups. db must stay
 * open while sp lives: what was read from it is kept for the next
 * snapshot. 0, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int mem_group(struct mem_space *sp, sqlite3 *db, int64_t id, struct mem_group *g);

void mem_group_release(struct mem_group *g);

/*
 * Sort stats (of groups from sp) as Snapshot.statistics does: size, count,
 * then the traceback (frames compared oldest first by file name and line,
 * a traceback before its extensions), all descending. 0 or PYSCOPE_ENOMEM
 * (stats then unsorted).
 */
int mem_sort(struct mem_space *sp, struct mem_stat *stats, size_t n);

/*
 * Snapshot.compare_to: one stat per key in either group, with the new
 * group's size and count (0 for keys only in the old one) and the change
 * from the old one, sorted by absolute size change, size, absolute count
 * change, count, traceback, descending. Into *out (n; the caller frees
 * it). Both groups from sp. 0 or PYSCOPE_ENOMEM.
 */
int mem_compare(struct mem_space *sp, const struct mem_group *newg, const struct mem_group *oldg,
                struct mem_stat **out, size_t *n);

/* The number of frames of key: 1 unless grouped by traceback. */
size_t mem_key_nframes(const struct mem_space *sp, uint32_t key);

/* Frame i of key, 0 being the oldest (the outermost call). */
struct mem_frame mem_key_frame(const struct mem_space *sp, uint32_t key, size_t i);

/*
 * 1 when some traceback of key was cut at the depth limit (its root was
 * the "[truncated]" marker), else 0.
 */
int mem_key_truncated(const struct mem_space *sp, uint32_t key);

#endif

/*
 * The stack tables of a run read into memory, for every view that walks
 * stacks: samples, allocation tracebacks, flame graphs, exports, the
 * summary. The functions table (with native functions' source files) and
 * the frames table are read whole when the tables are opened; the stacks
 * table, the large one, up to the highest id a caller needs, because the
 * recorder writes a caller before its callees (stacks_load).
 *
 * Ids are mapped to dense indices, in id order; a row that points to an
 * id its table lacks (a run cut short, a damaged file) points nowhere
 * (STACKS_NONE) and each view decides what that shows as. The functions
 * the recorder writes for what the program could not name are told here:
 * the "[truncated]" marker at the root of a stack cut at the depth limit.
 *
 * What the tables hold is read-only to the caller and owned by them,
 * valid until stacks_free. Nothing here prints.
 */
#ifndef PYSCOPE_VIEWER_STACKS_H
#define PYSCOPE_VIEWER_STACKS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define STACKS_NONE UINT32_MAX /* no function, frame or parent */

/* functions.kind */
enum stacks_kind { STACKS_PYTHON, STACKS_BUILTIN, STACKS_NATIVE };

/* A row of functions. */
struct stacks_function {
    int64_t id;
    enum stacks_kind kind;
    char *filename;      /* NULL when none (builtins, markers) */
    char *name;          /* NULL only in a damaged file */
    char *qualname;      /* NULL when not recorded */
    char *source;        /* native: its source file from debug information; else NULL */
    int64_t firstlineno; /* 0 when unknown */
    int marker;          /* the "[truncated]" marker the recorder roots a cut stack at */
    int own;             /* the "[pyscope]" leaf of a sample taken in pyscope's own work */
};

/* A row of frames. */
struct stacks_frame {
    uint32_t fn;  /* index into fns; STACKS_NONE when the functions table lacks it */
    int64_t line; /* as stored; NULL reads as 0 */
};

/* A node of the stacks tree. */
struct stacks_node {
    uint32_t parent; /* index; STACKS_NONE at a root, or when the table lacks it */
    uint32_t frame;  /* index; STACKS_NONE when the frames table lacks it */
};

/* The ids of a table in id order; dense ids (the recorder's) need no array. */
struct stacks_ids {
    int64_t *v; /* NULL while dense */
    size_t n, cap;
    int64_t base;
    int dense;
};

struct stacks {
    sqlite3 *db;
    struct stacks_function *fns; /* by index, in id order */
    struct stacks_frame *frames; /* ... */
    struct stacks_node *nodes;   /* the stacks read so far: those with ids up to upto */
    struct stacks_ids fn_ids, frame_ids, node_ids; /* the ids, n of each */
    int64_t upto;                                  /* INT64_MIN before stacks_load */
    int all;                                       /* every stack has been read */
    int parent_first; /* every node read comes after its parent: the recorder's order */
    size_t fns_cap, frames_cap, nodes_cap;
};

/*
 * Read the functions and frames tables of db into *out (free with
 * stacks_free), no stacks yet; db must stay open while they are used. 0,
 * PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int stacks_open(sqlite3 *db, struct stacks **out);

void stacks_free(struct stacks *s);

/*
 * Read the stacks with ids up to upto (INT64_MAX: all of them) that have
 * not been read, each node's parent found as it comes; a parent beyond
 * upto (a file the recorder did not write) makes the rest be read. 0,
 * PYSCOPE_ENOMEM (also when the tree has more nodes than 32-bit indices)
 * or PYSCOPE_EDB.
 */
int stacks_load(struct stacks *s, int64_t upto);

/* The index of an id in ids, or SIZE_MAX. */
size_t stacks_index(const struct stacks_ids *ids, int64_t id);

/*
 * The index of the stack node id in *idx (SIZE_MAX when the table lacks
 * it), reading the rest of the table when id lies beyond what was read.
 * 0, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int stacks_find_node(struct stacks *s, int64_t id, size_t *idx);

#endif

/*
 * What the commands that read a snapshot's object graph (cycles, retained)
 * share on the command side: checking that a snapshot has a graph, saying
 * why not, and where an object was allocated. Its prefix is heapcmd_.
 */
#ifndef PYSCOPE_VIEWER_HEAPCMD_H
#define PYSCOPE_VIEWER_HEAPCMD_H

#include <sqlite3.h>
#include <stdint.h>

/* 0 when snapshot id exists and has an object graph; CLI_USAGE after
 * saying why not (path names the database); a negative PYSCOPE_E* when
 * the database fails. */
int heapcmd_check_graph(sqlite3 *db, const char *path, int64_t id);

/* The snapshot to read: *id, or when 0 the last one with a graph, into
 * *id; 0 when it has a graph, CLI_USAGE after saying why not, or a
 * negative PYSCOPE_E*. */
int heapcmd_pick(sqlite3 *db, const char *path, int64_t *id);

/* Where a stack allocated: its innermost frame's file, function and line. */
struct heapcmd_site {
    char *file, *function; /* NULL when not recorded */
    int64_t line;
};

/* The site of stack_id into *s (all NULL and 0 when the stack is not in
 * the tables; release with heapcmd_site_release). 0 or a negative
 * PYSCOPE_E*. */
int heapcmd_site_of(sqlite3 *db, int64_t stack_id, struct heapcmd_site *s);
void heapcmd_site_release(struct heapcmd_site *s);

/* What a snapshot is, for headers. */
struct heapcmd_snap {
    int64_t id, pid, process_id, t_ns;
    char *label, *trigger; /* NULL when none */
};

/* Snapshot id into *s (release with heapcmd_snap_release). 0,
 * PYSCOPE_ENOTFOUND, or another negative PYSCOPE_E*. */
int heapcmd_snap_of(sqlite3 *db, int64_t id, struct heapcmd_snap *s);
void heapcmd_snap_release(struct heapcmd_snap *s);

#endif

/*
 * The snapshots table for the viewer: the rows of a run's memory snapshots
 * (what was taken, when, by which trigger, how much was traced), and their
 * JSON form, which `snapshots`, `stats` and `diff` share. Nothing here
 * prints but memsnap_json.
 */
#ifndef PYSCOPE_VIEWER_MEMSNAP_H
#define PYSCOPE_VIEWER_MEMSNAP_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A row of the snapshots table. Sizes are -1 when the column is NULL. */
struct memsnap {
    int64_t id;
    int64_t process_id;
    int64_t pid; /* its process's OS pid; 0 when the process row is missing */
    char *label; /* NULL when none */
    int64_t t_ns;
    char *trigger; /* api, signal, interval, peak or exit */
    int64_t traced_bytes, traced_blocks, peak_bytes, rss_bytes;
};

/*
 * The snapshots of db, by time then id, into *out (n of them; free with
 * memsnap_list_free); with pid non-NULL only those of the processes with
 * that OS pid. 0, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int memsnap_list(sqlite3 *db, const int64_t *pid, struct memsnap **out, size_t *n);

void memsnap_list_free(struct memsnap *s, size_t n);

/*
 * Snapshot id of db into *out (release with memsnap_release). 0,
 * PYSCOPE_ENOTFOUND when there is none, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int memsnap_get(sqlite3 *db, int64_t id, struct memsnap *out);

void memsnap_release(struct memsnap *s);

/*
 * memsnap_get for a snapshot the user named: PYSCOPE_ENOTFOUND comes with
 * one line in msg (msglen bytes) saying so, and where to find the ids or
 * that the run (path, the database's name) has none.
 */
int memsnap_find(sqlite3 *db, const char *path, int64_t id, struct memsnap *out, char *msg,
                 size_t msglen);

/*
 * s as one JSON object ({"id", "process_id", "pid", "label", "trigger",
 * "t_ns", "traced_bytes", "traced_blocks", "peak_bytes", "rss_bytes"},
 * null for what is not known) to out.
 */
void memsnap_json(FILE *out, const struct memsnap *s);

#endif

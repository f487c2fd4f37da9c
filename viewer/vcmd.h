/*
 * What the viewer commands that open one run database share at their end.
 * Its prefix is vcmd_.
 */
#ifndef PYSCOPE_VIEWER_VCMD_H
#define PYSCOPE_VIEWER_VCMD_H

#include <sqlite3.h>

/* The end of a command on db (path names it): a failure err (negative)
 * said in one line, db closed, standard output flushed (a failed write
 * said); the exit status, from status. */
int vcmd_finish(sqlite3 *db, const char *path, int err, int status);

#endif

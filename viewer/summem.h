/*
 * The summary's memory section, text and JSON, when the run has snapshots.
 * 0, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
#ifndef PYSCOPE_VIEWER_SUMMEM_H
#define PYSCOPE_VIEWER_SUMMEM_H

#include "sumrun.h"

#include <sqlite3.h>
#include <stdio.h>

/* The memory, rss and peak sites lines; nothing without snapshots. */
int summem_print(const struct sumrun *r, sqlite3 *db, FILE *out);

/* ",\n  \"memory\": ..." of the JSON form, null without snapshots. */
int summem_json(const struct sumrun *r, sqlite3 *db, FILE *out);

#endif

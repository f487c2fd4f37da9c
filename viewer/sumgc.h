/*
 * The summary's sections on the garbage collector, text and JSON. Each
 * returns 0 or a negative PYSCOPE_E* code.
 */
#ifndef PYSCOPE_VIEWER_SUMGC_H
#define PYSCOPE_VIEWER_SUMGC_H

#include "sumrun.h"

#include <sqlite3.h>
#include <stdio.h>

/* The gc lines, when collections were recorded. */
int sumgc_print(sqlite3 *db, FILE *out);

/* ",\n  \"gc\": ..." of the JSON form, null without collections. */
int sumgc_json(sqlite3 *db, FILE *out);

/* The cycles lines, when an object graph was recorded. */
int sumgc_print_cycles(sqlite3 *db, FILE *out);

/* ",\n  \"cycles\": ..." of the JSON form, null without a graph. */
int sumgc_json_cycles(sqlite3 *db, FILE *out);

#endif

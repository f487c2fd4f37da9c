/*
 * The summary's sections on the sampled stacks and the call statistics,
 * text and JSON. Each returns 0, or PYSCOPE_ENOMEM: a section that cannot
 * be read is left out and the rest of the summary stands.
 */
#ifndef PYSCOPE_VIEWER_SUMPROF_H
#define PYSCOPE_VIEWER_SUMPROF_H

#include "samples.h"
#include "sumrun.h"

#include <sqlite3.h>
#include <stdio.h>

/* The dropped samples, the wall time by state, the hottest functions and lines of p (may be NULL).
 */
int sumprof_print_hot(const struct sumrun *r, const struct smp_profile *p, FILE *out);

/* What the call profiler counted and the functions with the most tottime, named through p. */
int sumprof_print_calls(const struct sumrun *r, sqlite3 *db, const struct smp_profile *p,
                        FILE *out);

/* ",\n  \"states\": ..." of the JSON form: samples by state, or null. 0 or PYSCOPE_EDB. */
int sumprof_json_states(sqlite3 *db, FILE *out);

/* ",\n  \"calls\": ..." of the JSON form, or null without call statistics. */
int sumprof_json_calls(const struct sumrun *r, sqlite3 *db, FILE *out);

#endif

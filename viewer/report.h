/*
 * `pyscope report`'s page: one self-contained HTML file (its style, its
 * script and the run's data inside; nothing fetched) that answers in a
 * browser what the commands answer in a terminal. Its prefix is report_.
 *
 * The data is one JSON object in the page: the run as `pyscope summary
 * --json` says it (meta, processes and threads with how each ended, the
 * garbage cycles of the last object graph), the sampled stacks as a prefix tree of
 * frames with one row per thread, stack and state (samples and CPU time),
 * the source of the hottest lines, and the call statistics when the run
 * has them. The page's script (report/report.js) merges the rows the
 * reader's filters keep into the flame graph and the tables, so every
 * filter and clock is there without another file.
 */
#ifndef PYSCOPE_VIEWER_REPORT_H
#define PYSCOPE_VIEWER_REPORT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Write the page of the run db (path names it) to out. 0, or a negative
 * PYSCOPE_E* code with one line in msg.
 */
int report_write(FILE *out, sqlite3 *db, const char *path, char *msg, size_t msglen);

#endif

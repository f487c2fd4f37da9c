/*
 * The viewer's subcommands. Each lives in viewer/cmd_<name>.c and follows
 * the contract of cli.h: argv[0] is the command's name, the return value is
 * the exit status (CLI_OK, CLI_FAIL, CLI_USAGE), messages go to stderr
 * through cli_error.
 */
#ifndef PYSCOPE_VIEWER_CMD_H
#define PYSCOPE_VIEWER_CMD_H

#include <sqlite3.h>
#include <stdio.h>

int cmd_summary(int argc, char **argv);
extern const char cmd_summary_usage[];

/* The sampling profile: hottest lines, function table, flame graph, exports. */
int cmd_hot(int argc, char **argv);
extern const char cmd_hot_usage[];
int cmd_top(int argc, char **argv);
extern const char cmd_top_usage[];
int cmd_flamegraph(int argc, char **argv);
extern const char cmd_flamegraph_usage[];
int cmd_export(int argc, char **argv);
extern const char cmd_export_usage[];

/* The whole run as one HTML page. */
int cmd_report(int argc, char **argv);
extern const char cmd_report_usage[];
int cmd_push(int argc, char **argv);
extern const char cmd_push_usage[];
int cmd_retained(int argc, char **argv);
extern const char cmd_retained_usage[];

/* The call statistics: who called a function, what it called. */
int cmd_callers(int argc, char **argv);
extern const char cmd_callers_usage[];
int cmd_callees(int argc, char **argv);
extern const char cmd_callees_usage[];

/* The memory snapshots: what was taken, and tracemalloc's statistics and diff. */
int cmd_snapshots(int argc, char **argv);
extern const char cmd_snapshots_usage[];
int cmd_stats(int argc, char **argv);
extern const char cmd_stats_usage[];
int cmd_diff(int argc, char **argv);
extern const char cmd_diff_usage[];

/* The object graph's reference cycles. */
int cmd_cycles(int argc, char **argv);
extern const char cmd_cycles_usage[];

/* The garbage collector's activity. */
int cmd_gc(int argc, char **argv);
extern const char cmd_gc_usage[];

/*
 * Print the summary of the database at path to out, as `pyscope summary`
 * does; used by `pyscope profile` after a run. Returns 0, or a negative
 * PYSCOPE_E* code after printing one line to stderr.
 */
int summary_print(const char *path, FILE *out);

/*
 * The summary of db (path names it) as `pyscope summary --json` writes it,
 * every process, to out; for `pyscope report`. 0, or a negative PYSCOPE_E*
 * code (nothing printed on stderr).
 */
int summary_json(sqlite3 *db, const char *path, FILE *out);

/*
 * The reference cycles of db for `pyscope report`: {"last": the last object
 * graph's cycles as `pyscope cycles --json` writes them (its 100 largest
 * groups), "growth": `pyscope cycles --growth --json` of its process}, or
 * null without a graph, to out. 0 or a negative PYSCOPE_E* code.
 */
int cycles_json(sqlite3 *db, const char *path, FILE *out);

#endif

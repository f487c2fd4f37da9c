/*
 * `pyscope snapshots RUN.db`: the memory snapshots a run holds, in the
 * order they were taken, with the ids `pyscope stats` and `pyscope diff`
 * take: process, label, what took it, when, the traced memory and blocks,
 * the peak so far and the resident set size.
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "memsnap.h"
#include "smpcmd.h"
#include "util.h"
#include "vcmd.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char cmd_snapshots_usage[] =
    "usage: pyscope snapshots [options] RUN.db\n"
    "\n"
    "List the memory snapshots of a run recorded with 'pyscope profile --memory',\n"
    "in the order they were taken: the id that 'pyscope stats' and 'pyscope diff'\n"
    "take, the process, the label, the trigger (api: the program asked; signal;\n"
    "interval; peak: the live blocks when traced memory was highest, copied\n"
    "within about 3% of it; exit), the time since the run started, the traced\n"
    "memory and blocks, the peak of traced memory so far and the resident set\n"
    "size.\n"
    "\n"
    "options:\n"
    "   --process PID        only the snapshots of that process\n"
    "   --limit N            show N snapshots (text: 20 by default; JSON: all;\n"
    "                        0: all)\n"
    "   --json               print one JSON object instead of the table\n"
    "   -h, --help           show this help\n";

#define LABEL_COLS 30

static const char *size_text(char *buf, size_t len, int64_t v)
{
    return v < 0 ? "-" : fmt_bytes(buf, len, v);
}

static void json_size(FILE *out, int64_t v)
{
    if (v < 0)
        fputs("null", out);
    else
        fprintf(out, "%lld", (long long)v);
}

static int print_text(const char *path, const int64_t *pid, const struct memsnap *s, size_t n,
                      size_t shown, int run_has_none)
{
    char a[FMT_BUFSZ], label[LABEL_COLS * 4 + 8];
    size_t nproc = 0;

    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < i && s[k].process_id != s[i].process_id)
            k++;
        nproc += k == i;
    }
    fputs("memory snapshots of '", stdout);
    fmt_put_text(stdout, path);
    putc('\'', stdout);
    if (pid)
        printf(", pid %lld", (long long)*pid);
    if (!n) {
        printf(": none%s\n", run_has_none ? " (record them with 'pyscope profile --memory')" : "");
        return 0;
    }
    printf(": %zu in %zu process%s\n", n, nproc, nproc == 1 ? "" : "es");
    struct fmt_table *tab = fmt_table_new("rrllrrrrr");
    if (!tab)
        return PYSCOPE_ENOMEM;
    static const char *const heads[] = {"id",     "pid",    "label", "trigger", "time",
                                        "traced", "blocks", "peak",  "RSS"};
    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++)
        fmt_table_add(tab, heads[k]);
    for (size_t i = 0; i < shown; i++) {
        fmt_table_addf(tab, "%lld", (long long)s[i].id);
        fmt_table_addf(tab, "%lld", (long long)s[i].pid);
        fmt_table_add(tab, s[i].label ? fmt_ellipsize(label, sizeof label, s[i].label, LABEL_COLS)
                                      : NULL);
        fmt_table_add(tab, s[i].trigger);
        fmt_table_add(tab, fmt_duration(a, sizeof a, s[i].t_ns));
        fmt_table_add(tab, size_text(a, sizeof a, s[i].traced_bytes));
        fmt_table_add(tab, s[i].traced_blocks < 0 ? "-" : fmt_int(a, sizeof a, s[i].traced_blocks));
        fmt_table_add(tab, size_text(a, sizeof a, s[i].peak_bytes));
        fmt_table_add(tab, size_text(a, sizeof a, s[i].rss_bytes));
    }
    int err = fmt_table_print(tab, stdout, "  ");
    fmt_table_free(tab);
    if (!err && shown < n)
        printf("(showing %zu of %zu snapshots; --limit 0 shows all)\n", shown, n);
    return err;
}

static void print_json(const char *path, const int64_t *pid, const struct memsnap *s, size_t n,
                       size_t shown)
{
    fputs("{\n  \"database\": ", stdout);
    fmt_json_str(stdout, path);
    fputs(",\n  \"pid\": ", stdout);
    json_size(stdout, pid ? *pid : -1);
    fputs(",\n  \"snapshots\": [", stdout);
    for (size_t i = 0; i < shown; i++) {
        fputs(i ? ",\n    " : "\n    ", stdout);
        memsnap_json(stdout, &s[i]);
    }
    printf("%s],\n  \"count\": %zu\n}\n", shown ? "\n  " : "", n);
}

int cmd_snapshots(int argc, char **argv)
{
    struct smpcmd_run_args args;
    int status = smpcmd_run_args(argc, argv, cmd_snapshots_usage, &args), err = 0;
    if (status)
        return status < 0 ? CLI_OK : status;
    const char *path = args.path;
    int64_t pid = args.pid;
    int has_pid = args.has_pid, json = args.json;
    long limit = args.limit;
    struct memsnap *snaps = NULL;
    size_t n = 0;
    sqlite3 *db = NULL;
    char msg[1024];

    if ((err = vdb_open(path, &db, msg, sizeof msg)) < 0) {
        cli_error("%s", msg);
        return CLI_USAGE;
    }
    err = 0;
    if (has_pid) {
        int has = vdb_has_pid(db, pid);
        if (has == 0) {
            cli_error("no process with pid %lld in '%s'", (long long)pid, path);
            status = CLI_USAGE;
            goto out;
        }
        if ((err = has) < 0)
            goto out;
    }
    if ((err = memsnap_list(db, has_pid ? &pid : NULL, &snaps, &n)) < 0)
        goto out;
    int run_has_none = !n;
    if (!n && has_pid) {
        struct memsnap *all = NULL;
        size_t nall = 0;
        if ((err = memsnap_list(db, NULL, &all, &nall)) < 0)
            goto out;
        memsnap_list_free(all, nall);
        run_has_none = !nall;
    }
    if (limit < 0)
        limit = json ? 0 : 20;
    size_t shown = limit > 0 && (size_t)limit < n ? (size_t)limit : n;
    if (json)
        print_json(path, has_pid ? &pid : NULL, snaps, n, shown);
    else
        err = print_text(path, has_pid ? &pid : NULL, snaps, n, shown, run_has_none);
out:
    memsnap_list_free(snaps, n);
    return vcmd_finish(db, path, err, status);
}

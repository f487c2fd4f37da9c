/*
 * `pyscope report RUN.db [-o FILE]`: the run as one self-contained HTML
 * page (report.h), to open in a browser from disk or to send.
 */
#include "cli.h"
#include "cmd.h"
#include "error.h"
#include "report.h"
#include "smpcmd.h"

const char cmd_report_usage[] =
    "usage: pyscope report [options] RUN.db [-o FILE]\n"
    "\n"
    "Write the run as one HTML page that needs nothing else (no network, no\n"
    "other file): the summary (processes and threads, how each ended, the\n"
    "options and the interpreter); an interactive flame graph of CPU or wall\n"
    "time, filtered by process, thread and state, with search and zoom, in\n"
    "left-heavy, name or time order; the hottest lines with their source; the\n"
    "call statistics (profile --calls), sortable, with each function's callers\n"
    "and callees; a timeline of each thread's state, the collections,\n"
    "snapshots and processes; the memory snapshots (profile --memory) over\n"
    "time, as flame graphs, by line or traceback, and compared; and the\n"
    "garbage cycles and their growth (profile --heap).\n"
    "\n"
    "options:\n"
    "   -o, --output FILE    write to FILE (default: standard output)\n"
    "   -h, --help           show this help\n";

int cmd_report(int argc, char **argv)
{
    struct smpcmd c;
    smpcmd_init(&c, "report", cmd_report_usage, SMPCMD_OUTPUT);
    int npos = smpcmd_parse(&c, NULL, 0, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    int status = smpcmd_open(&c);
    if (status != CLI_OK)
        return smpcmd_close(&c, status);
    char msg[512];
    if (report_write(c.out, c.db, c.path, msg, sizeof msg) < 0) {
        cli_error("%s", msg);
        status = CLI_FAIL;
    }
    return smpcmd_close(&c, status);
}

/*
 * The command-side plumbing of the sampling-profile commands (smpcmd.h):
 * one parser for the options they share, so `--thread` means the same in
 * `hot` as in `export`, and one order of checks for all of them: the
 * arguments, then whether the output can be written (before any work, and
 * without leaving a file behind if the run turns out to be unreadable),
 * then the database, then the samples, and only then the output file is
 * created. A file named as output that is the database itself is refused.
 */
#include "smpcmd.h"
#include "cli.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "opts.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void smpcmd_init(struct smpcmd *c, const char *name, const char *usage, unsigned accepts)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->usage = usage;
    c->accepts = accepts;
    c->limit = -1;
}

int smpcmd_parse_states(const char *list, unsigned *states)
{
    unsigned set = 0;
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int k = 0; k < SMP_NSTATES; k++)
            if (strlen(smp_state_name(k)) == n && !strncmp(p, smp_state_name(k), n))
                found = k;
        if (found < 0)
            return -1;
        set |= 1u << found;
        if (!p[n])
            break;
        p += n + 1;
    }
    *states = set;
    return 0;
}

static int take_states(const char *value, void *states)
{
    return smpcmd_parse_states(value, states);
}

/* The most options a command has: the common ones and its own. */
#define MAX_SPECS 24

int smpcmd_parse(struct smpcmd *c, const struct opts_spec *own, size_t nown, int argc, char **argv)
{
    static const char *const clock_names[] = {"cpu", "wall", NULL};
    const struct opts_cmd cmd = {.name = c->name, .usage = c->usage};
    const char **note = &c->sampling_opt;
    const unsigned acc = c->accepts;
    struct opts_spec specs[MAX_SPECS];
    size_t n = 0;
    int clock = (int)c->filter.clock;

    if (acc & SMPCMD_JSON)
        specs[n++] = (struct opts_spec){.name = "--json", .kind = OPTS_FLAG, .dest = &c->json};
    if (acc & SMPCMD_CLOCK) {
        specs[n++] = (struct opts_spec){.name = "--clock",
                                        .kind = OPTS_ENUM,
                                        .dest = &clock,
                                        .choices = clock_names,
                                        .bad = "'--clock' is cpu or wall, not '%s'",
                                        .note = note};
        specs[n++] = (struct opts_spec){
            .name = "--state",
            .kind = OPTS_CALLBACK,
            .cb = take_states,
            .ctx = &c->filter.states,
            .bad = "'--state' is a list of running, native, gil, runnable and idle, not '%s'",
            .note = note};
        specs[n++] = (struct opts_spec){
            .name = "--with-pyscope", .kind = OPTS_FLAG, .dest = &c->filter.with_own};
    }
    if (acc & SMPCMD_THREAD)
        specs[n++] = (struct opts_spec){.name = "--thread",
                                        .kind = OPTS_STRING,
                                        .flags = OPTS_NONEMPTY,
                                        .dest = &c->filter.thread,
                                        .bad = "'--thread' needs a thread id or name",
                                        .note = note};
    if (acc & SMPCMD_PROCESS)
        specs[n++] = (struct opts_spec){.name = "--process",
                                        .kind = OPTS_INT,
                                        .dest = &c->filter.pid,
                                        .min = 1,
                                        .max = INT64_MAX,
                                        .bad = "'--process' needs a process id (pid), not '%s'",
                                        .note = note};
    if (acc & SMPCMD_MEMORY)
        specs[n++] = (struct opts_spec){.name = "--memory",
                                        .kind = OPTS_INT,
                                        .dest = &c->snapshot,
                                        .min = 1,
                                        .max = INT64_MAX,
                                        .bad = "'--memory' needs a snapshot id, not '%s'"};
    if (acc & SMPCMD_NATIVE)
        specs[n++] = (struct opts_spec){
            .name = "--no-native", .kind = OPTS_FLAG, .dest = &c->filter.no_native};
    if (acc & SMPCMD_FUNCTION)
        specs[n++] = (struct opts_spec){.name = "--function",
                                        .kind = OPTS_STRING,
                                        .flags = OPTS_NONEMPTY,
                                        .dest = &c->filter.function,
                                        .bad = "'--function' needs a name or a pattern"};
    if (acc & SMPCMD_LIMIT)
        specs[n++] = (struct opts_spec)SMPCMD_OPT_LIMIT(&c->limit);
    if (acc & SMPCMD_OUTPUT)
        specs[n++] = (struct opts_spec){.name = "--output",
                                        .short_name = 'o',
                                        .kind = OPTS_STRING,
                                        .flags = OPTS_NONEMPTY,
                                        .dest = &c->output,
                                        .bad = "'-o' needs a file name"};
    if (n + nown > MAX_SPECS)
        abort(); /* a command with more options needs a larger table */
    if (nown) /* own may be NULL */
        memcpy(specs + n, own, nown * sizeof *own);

    int npos = opts_parse(&cmd, specs, n + nown, argc, argv);
    if (npos < 0)
        return npos;
    c->filter.clock = (enum smp_clock)clock;
    c->filter.has_pid = c->filter.pid > 0;
    c->npos = npos;
    c->path = npos ? argv[npos] : NULL; /* the last one, refused by smpcmd_open when not alone */
    return npos;
}

int smpcmd_run_args(int argc, char **argv, const char *usage, struct smpcmd_run_args *out)
{
    struct smpcmd c;
    smpcmd_init(&c, argv[0], usage, SMPCMD_JSON | SMPCMD_PROCESS | SMPCMD_LIMIT);
    int npos = smpcmd_parse(&c, NULL, 0, argc, argv);
    if (npos < 0)
        return npos == OPTS_HELP ? -1 : CLI_USAGE;
    if (npos != 1) {
        opts_usage_error(&(struct opts_cmd){.name = c.name, .usage = usage});
        return CLI_USAGE;
    }
    *out = (struct smpcmd_run_args){.path = c.path,
                                    .pid = c.filter.pid,
                                    .has_pid = c.filter.has_pid,
                                    .json = c.json,
                                    .limit = c.limit};
    return CLI_OK;
}

static int to_stdout(const struct smpcmd *c)
{
    return !c->output || !strcmp(c->output, "-");
}

/*
 * Whether the output can be written, without creating it: an existing file
 * must be writable and not a directory, else its directory must let us
 * create it. errno on failure.
 */
static int output_writable(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            errno = EISDIR;
            return -1;
        }
        return access(path, W_OK);
    }
    if (errno != ENOENT)
        return -1;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return access(".", W_OK | X_OK);
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    int rc = access(dir, W_OK | X_OK);
    int saved = errno;
    free(dir);
    errno = saved;
    return rc;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int smpcmd_open(struct smpcmd *c)
{
    char msg[1024];
    int err;

    if (c->npos != 1) {
        opts_usage_error(&(struct opts_cmd){.name = c->name, .usage = c->usage});
        return CLI_USAGE;
    }
    if (c->snapshot && c->sampling_opt) {
        cli_error("'%s' is for sampled stacks and cannot be used with '--memory'", c->sampling_opt);
        return CLI_USAGE;
    }
    if (!to_stdout(c)) {
        if (same_file(c->output, c->path)) {
            cli_error("'%s' is the database; write the output to another file", c->output);
            return CLI_USAGE;
        }
        if (output_writable(c->output) < 0) {
            cli_error("cannot write '%s': %s", c->output, strerror(errno));
            return CLI_USAGE;
        }
    }
    if ((err = vdb_open(c->path, &c->db, msg, sizeof msg)) < 0) {
        cli_error("%s", msg);
        return CLI_USAGE;
    }
    if (c->snapshot)
        err = smp_load_snapshot(c->db, c->path, c->snapshot, &c->filter, &c->prof, msg,
                                sizeof msg);
    else
        err = smp_load(c->db, c->path, &c->filter, &c->prof, msg, sizeof msg);
    if (err < 0) {
        cli_error("%s", msg);
        return err == PYSCOPE_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
    }
    struct stat sb;
    if (to_stdout(c)) {
        c->out = stdout;
    } else if ((c->out = fopen(c->output, "w")) && fstat(fileno(c->out), &sb) == 0) {
        c->out_regular = S_ISREG(sb.st_mode);
        c->out_dev = (unsigned long long)sb.st_dev;
        c->out_ino = (unsigned long long)sb.st_ino;
    } else if (!c->out) {
        cli_error("cannot write '%s': %s", c->output, strerror(errno));
        return CLI_USAGE;
    }
    return CLI_OK;
}

int smpcmd_close(struct smpcmd *c, int status)
{
    if (c->out) {
        int bad = ferror(c->out);
        int saved = errno;
        if (c->out == stdout) {
            bad = fflush(stdout) == EOF || bad;
            saved = bad ? errno : 0;
        } else {
            bad = fclose(c->out) == EOF || bad;
            saved = bad ? errno : 0;
        }
        if (bad && status == CLI_OK) {
            cli_error("cannot write '%s': %s", to_stdout(c) ? "(standard output)" : c->output,
                      strerror(saved ? saved : EIO));
            status = CLI_FAIL;
        }
        /* no half-written file left behind: the regular file this run
         * wrote, if the name still is it; never a device or what took its
         * name meanwhile */
        struct stat sb;
        if (status != CLI_OK && c->out_regular && lstat(c->output, &sb) == 0 &&
            S_ISREG(sb.st_mode) && (unsigned long long)sb.st_dev == c->out_dev &&
            (unsigned long long)sb.st_ino == c->out_ino)
            unlink(c->output);
        c->out = NULL;
    }
    smp_free(c->prof);
    c->prof = NULL;
    vdb_close(c->db);
    c->db = NULL;
    return status;
}

const char *smpcmd_clock_name(enum smp_clock clock)
{
    return clock == SMP_CLOCK_WALL ? "wall" : "cpu";
}

void smpcmd_put_source(const struct smpcmd *c, const char *what)
{
    fprintf(c->out, "%s of '", what);
    fmt_put_text(c->out, c->path);
    putc('\'', c->out);
    if (c->filter.thread) {
        fputs(", thread '", c->out);
        fmt_put_text(c->out, c->filter.thread);
        putc('\'', c->out);
    }
    if (c->filter.has_pid)
        fprintf(c->out, ", pid %lld", (long long)c->filter.pid);
}

void smpcmd_json_function(FILE *out, const struct smp_function *fn)
{
    static const char *const kinds[] = {"python", "builtin", "native"};
    fprintf(out, "\"id\": %lld, \"kind\": \"%s\", \"name\": ", (long long)fn->id, kinds[fn->kind]);
    fmt_json_str(out, fn->name);
    fputs(", \"qualname\": ", out);
    fmt_json_str(out, fn->qualname);
    fputs(", \"filename\": ", out);
    fmt_json_str(out, fn->filename);
    fputs(", \"firstlineno\": ", out);
    if (fn->firstlineno > 0)
        fprintf(out, "%lld", (long long)fn->firstlineno);
    else
        fputs("null", out);
}

/* "cpu time of 'run.db', thread 'x', pid 3, stacks through 'p*'" */
static void put_selection(const struct smpcmd *c)
{
    char what[32];
    snprintf(what, sizeof what, "%s time", smpcmd_clock_name(c->filter.clock));
    smpcmd_put_source(c, what);
    if (c->filter.function) {
        fputs(", stacks through '", c->out);
        fmt_put_text(c->out, c->filter.function);
        putc('\'', c->out);
    }
}

int smpcmd_heading(const struct smpcmd *c)
{
    const struct smp_totals *t = smp_totals(c->prof);
    char num[FMT_BUFSZ], dur[FMT_BUFSZ], all[FMT_BUFSZ], pct[FMT_BUFSZ];
    int cpu = c->filter.clock == SMP_CLOCK_CPU;

    put_selection(c);
    if (t->weight <= 0) {
        if (t->all_weight > 0)
            fputs(": no samples pass the function filter\n", c->out);
        else if (cpu)
            fputs(": no samples with CPU time (see --clock wall)\n", c->out);
        else
            fputs(": no samples\n", c->out);
        return 0;
    }
    fprintf(c->out, ": %s sample%s", fmt_int(num, sizeof num, t->samples),
            t->samples == 1 ? "" : "s");
    int64_t ns = smp_weight_ns(c->prof, t->weight);
    if (cpu)
        fprintf(c->out, " with CPU time, %s", fmt_duration(dur, sizeof dur, ns));
    else if (ns >= 0)
        fprintf(c->out, ", %s at %s per sample", fmt_duration(dur, sizeof dur, ns),
                fmt_duration(all, sizeof all, t->interval_ns));
    if (c->filter.function && t->all_weight > 0)
        fprintf(c->out, " (%s of the %s)",
                fmt_pct(pct, sizeof pct, (double)t->weight, (double)t->all_weight),
                cpu ? "CPU time" : "samples");
    putc('\n', c->out);
    return 1;
}

void smpcmd_notes(const struct smpcmd *c)
{
    const struct smp_totals *t = smp_totals(c->prof);
    char pct[FMT_BUFSZ];
    if (t->truncated_weight > 0)
        fprintf(c->out, "note: %s of the %s in stacks cut at the depth limit ([truncated])\n",
                fmt_pct(pct, sizeof pct, (double)t->truncated_weight, (double)t->weight),
                c->filter.clock == SMP_CLOCK_CPU ? "CPU time is" : "samples are");
    if (t->own_weight > 0 && !c->filter.with_own)
        fprintf(c->out,
                "note: %s of the %s pyscope's own work ([pyscope]), left out; "
                "--with-pyscope keeps it\n",
                fmt_pct(pct, sizeof pct, (double)t->own_weight,
                        (double)(t->weight + t->own_weight)),
                c->filter.clock == SMP_CLOCK_CPU ? "CPU time was" : "samples were");
}

size_t smpcmd_shown(const struct smpcmd *c, size_t n)
{
    int64_t limit = c->limit >= 0 ? c->limit : c->json ? 0 : 20;
    return limit > 0 && (size_t)limit < n ? (size_t)limit : n;
}

void smpcmd_more(const struct smpcmd *c, size_t shown, size_t n, const char *noun)
{
    if (shown < n)
        fprintf(c->out, "(showing %zu of %zu %s; --limit 0 shows all)\n", shown, n, noun);
}

char *smpcmd_weight_text(const struct smpcmd *c, int64_t weight, char *buf, size_t len)
{
    int64_t ns = smp_weight_ns(c->prof, weight);
    return ns >= 0 ? fmt_duration(buf, len, ns) : fmt_int(buf, len, weight);
}

char *smpcmd_cut_left(char *buf, size_t len, const char *s, size_t maxcols)
{
    size_t w = fmt_width(s);
    if (w <= maxcols || maxcols < 4) {
        fmt_ellipsize(buf, len, s, maxcols);
        return buf;
    }
    size_t drop = w - (maxcols - 3);
    const char *p = s;
    while (*p && drop) { /* skip drop code points */
        p++;
        while (((unsigned char)*p & 0xC0) == 0x80)
            p++;
        drop--;
    }
    /* Start at a directory when one is near: ".../lib/x.py", not "...b/x.py". */
    const char *slash = strchr(p, '/');
    if (slash && slash[1] && fmt_width(slash) * 2 >= maxcols)
        p = slash;
    snprintf(buf, len, "...%s", p);
    return buf;
}

void smpcmd_json_ns(FILE *out, int64_t ns)
{
    if (ns >= 0)
        fprintf(out, "%lld", (long long)ns);
    else
        fputs("null", out);
}

void smpcmd_json_pct(FILE *out, int64_t part, int64_t whole)
{
    fprintf(out, "%.2f", whole > 0 ? 100.0 * (double)part / (double)whole : 0.0);
}

void smpcmd_json_head(const struct smpcmd *c)
{
    const struct smp_totals *t = smp_totals(c->prof);
    FILE *out = c->out;
    fputs("\n  \"database\": ", out);
    fmt_json_str(out, c->path);
    fprintf(out, ",\n  \"clock\": \"%s\",\n  \"filter\": {\"thread\": ",
            smpcmd_clock_name(c->filter.clock));
    fmt_json_str(out, c->filter.thread);
    fputs(", \"pid\": ", out);
    if (c->filter.has_pid)
        fprintf(out, "%lld", (long long)c->filter.pid);
    else
        fputs("null", out);
    fputs(", \"function\": ", out);
    fmt_json_str(out, c->filter.function);
    fputs(", \"states\": ", out);
    if (c->filter.states) {
        const char *sep = "[";
        for (int k = 0; k < SMP_NSTATES; k++) {
            if (c->filter.states & (1u << k)) {
                fprintf(out, "%s\"%s\"", sep, smp_state_name(k));
                sep = ", ";
            }
        }
        putc(']', out);
    } else {
        fputs("null", out);
    }
    fprintf(out, ", \"native\": %s", c->filter.no_native ? "false" : "true");
    fprintf(out, ", \"with_pyscope\": %s", c->filter.with_own ? "true" : "false");
    fputs("},\n  \"interval_ns\": ", out);
    smpcmd_json_ns(out, t->interval_ns > 0 ? t->interval_ns : -1);
    fprintf(out, ",\n  \"samples\": %lld, \"time_ns\": ", (long long)t->samples);
    smpcmd_json_ns(out, smp_weight_ns(c->prof, t->weight));
    fprintf(out, ", \"all_samples\": %lld, \"all_time_ns\": ", (long long)t->all_samples);
    smpcmd_json_ns(out, smp_weight_ns(c->prof, t->all_weight));
    fprintf(out, ",\n  \"truncated_samples\": %lld, \"truncated_time_ns\": ",
            (long long)t->truncated_samples);
    smpcmd_json_ns(out, smp_weight_ns(c->prof, t->truncated_weight));
    fprintf(out, ",\n  \"pyscope_samples\": %lld, \"pyscope_time_ns\": ",
            (long long)t->own_samples);
    smpcmd_json_ns(out, smp_weight_ns(c->prof, t->own_weight));
    fputs(",\n", out);
}

char *smpcmd_function_text(const struct smp_profile *p, const struct smp_function *fn,
                           size_t maxcols, char *buf, size_t len)
{
    char loc[1024], cut[256];
    if (!*smp_location(p, fn, 0, loc, sizeof loc))
        snprintf(buf, len, "%s", fn->qualname);
    else if (fn->kind == SMP_KIND_NATIVE) /* deflate [libz.so.1] */
        snprintf(buf, len, "%s [%s]", fn->qualname,
                 strrchr(fn->filename, '/') ? strrchr(fn->filename, '/') + 1 : fn->filename);
    else
        snprintf(buf, len, "%s (%s)",
                 maxcols ? smpcmd_cut_left(cut, sizeof cut, loc, maxcols) : loc, fn->qualname);
    return buf;
}

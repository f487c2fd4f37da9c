/*
 * `pyscope push RUN.db --to URL`: the run's profiles, in pprof's format
 * (pprof.h), sent to a Pyroscope server's ingest endpoint (push.h), one
 * request per profile type: the CPU profile, the wall-clock profile, and
 * the live memory of each process's last snapshot. Each goes as Grafana
 * Pyroscope's HTTP API takes a pprof body: POST /ingest with the
 * application and its labels in the "name" parameter ("app{k=v,...}"),
 * the profile's span in "from" and "until" (Unix seconds), format=pprof.
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "pprof.h"
#include "push.h"
#include "smpcmd.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_push_usage[] =
    "usage: pyscope push [options] RUN.db --to URL\n"
    "\n"
    "Send the run's profiles to a Grafana Pyroscope server (or any server that\n"
    "takes Pyroscope's ingest API), in pprof's format, one request per profile:\n"
    "   cpu      the CPU time of the stacks that used the CPU\n"
    "   wall     the samples of every state, as wall time\n"
    "   memory   the live memory of each process's last snapshot (profile\n"
    "            --memory), by allocation stack\n"
    "Samples carry the labels thread, thread_id, pid and state. A request the\n"
    "server may take later (not reached, 408, 429, 5xx) is tried again, but not\n"
    "one sent whole that got no answer: the server may have stored it.\n"
    "\n"
    "options:\n"
    "   --to URL             the server, e.g. http://localhost:4040 (required);\n"
    "                        the profiles go to URL/ingest\n"
    "   --name APP           the application's name (default: the script's name,\n"
    "                        the module's with -m); letters, digits and _ . - /\n"
    "   --label KEY=VALUE    a label of every profile; may be repeated (at most\n"
    "                        25); KEY is letters, digits, _ and ., not thread,\n"
    "                        thread_id, pid or state (the profiles' own)\n"
    "   --tenant ID          send the header X-Scope-OrgID: ID (multi-tenant servers)\n"
    "   --basic-auth USER:PASSWORD\n"
    "                        HTTP basic authentication (default: the environment's\n"
    "                        PYSCOPE_PUSH_BASIC_AUTH)\n"
    "   --bearer TOKEN       send Authorization: Bearer TOKEN (default: the\n"
    "                        environment's PYSCOPE_PUSH_BEARER); not with basic\n"
    "                        authentication\n"
    "   --now                date the profiles now rather than when the run was\n"
    "                        recorded (servers refuse old profiles: Pyroscope by\n"
    "                        default those over an hour old)\n"
    "   --retries N          tries after the first (default 3, waits of 0.5 s,\n"
    "                        1 s, 2 s, ...)\n"
    "   --timeout SECONDS    for each try (default 30)\n"
    "   -h, --help           show this help\n";

#define LABELS_MAX 25 /* Pyroscope takes 30 labels, its own included */
/* the longest label name and value Pyroscope takes; the application is the
 * value of its service_name */
#define NAME_MAX_BYTES 1024
#define VALUE_MAX_BYTES 2048

struct labels {
    const char *kv[LABELS_MAX + 1];
    int n; /* LABELS_MAX + 1 when more were given */
};

static int name_char(char c, int in_app)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || (in_app && (c == '-' || c == '/'));
}

/* No control characters: a value that goes into a header. */
static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* KEY=VALUE: a key Pyroscope takes, a value that cannot end the label set. */
static int add_label(const char *value, void *ctx)
{
    struct labels *l = ctx;
    const char *eq = strchr(value, '=');
    if (!eq || eq == value || !eq[1] || (value[0] == '_' && value[1] == '_') ||
        (value[0] >= '0' && value[0] <= '9'))
        return -1;
    for (const char *c = value; c < eq; c++)
        if (!name_char(*c, 0))
            return -1;
    if (eq - value > NAME_MAX_BYTES || strlen(eq + 1) > VALUE_MAX_BYTES)
        return -1;
    /* the samples' own labels, and the memory profiles' pid */
    static const char *const reserved[] = {"thread", "thread_id", "pid", "state"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if ((size_t)(eq - value) == strlen(reserved[i]) &&
            !memcmp(value, reserved[i], (size_t)(eq - value)))
            return -1;
    for (const char *c = eq + 1; *c; c++)
        if (*c == ',' || *c == '{' || *c == '}' || *c == '=' || (unsigned char)*c < 0x20 ||
            *c == 0x7f)
            return -1;
    if (l->n <= LABELS_MAX)
        l->kv[l->n++] = value; /* one more than may be sent: refused once parsed */
    return 0;
}

/* The next word of a command line as sbuf_add_argv writes it, unquoted,
 * malloc'd ("" at its end); *s moves past it. NULL when out of memory. */
static char *next_word(const char **s)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    char *w = malloc(strlen(p) + 1), *o = w;
    if (!w)
        return NULL;
    for (int quoted = 0; *p && (quoted || *p != ' '); p++) {
        if (*p == '\'')
            quoted = !quoted;
        else if (!quoted && *p == '\\' && p[1])
            *o++ = *++p;
        else
            *o++ = *p;
    }
    *o = '\0';
    *s = p;
    return w;
}

/* The application's name: --name's; else the module's for -m, "python"
 * for -c, the script's name without ".py"; with what Pyroscope does not
 * take as '_'. */
static char *app_name(sqlite3 *db, const char *given)
{
    if (given)
        return strdup(given);
    char *argv = NULL;
    vdb_meta(db, "argv", &argv);
    const char *rest = argv ? argv : "";
    char *word = next_word(&rest), *name = NULL;
    if (word && !strcmp(word, "-m")) {
        free(word);
        word = next_word(&rest);
    } else if (word && !strcmp(word, "-c")) {
        word[0] = '\0';
    }
    if (word) {
        const char *base = strrchr(word, '/');
        base = base ? base + 1 : word;
        size_t len = strlen(base);
        if (len > 3 && !strcmp(base + len - 3, ".py"))
            len -= 3;
        if (len > NAME_MAX_BYTES)
            len = NAME_MAX_BYTES;
        name = len ? strndup(base, len) : strdup("python");
    }
    for (char *c = name; c && *c; c++)
        if (!name_char(*c, 1))
            *c = '_';
    free(word);
    free(argv);
    return name;
}

static int64_t meta_int(sqlite3 *db, const char *key)
{
    char *v = NULL;
    int64_t n = 0;
    if (vdb_meta(db, key, &v) == 0 && v)
        n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

struct push_run {
    struct smpcmd *c;
    struct push_target target;
    const char *app;
    const struct labels *labels;
    int64_t shift_ns; /* added to the run's times: --now's */
    int64_t rate_hz;
    int sent;
};

/* One profile, made by write into memory, sent with its span and pid. */
static int send_profile(struct push_run *r, const char *what, char *body, size_t len,
                        int64_t from_ns, int64_t until_ns, int64_t pid)
{
    struct sbuf name = {0}, query = {0};
    int err = sbuf_add(&name, r->app, strlen(r->app));
    for (int i = 0; i < r->labels->n && !err; i++)
        err = sbuf_addf(&name, "%s%s", i ? "," : "{", r->labels->kv[i]);
    if (pid && !err)
        err = sbuf_addf(&name, "%spid=%lld", r->labels->n ? "," : "{", (long long)pid);
    if ((r->labels->n || pid) && !err)
        err = sbuf_add(&name, "}", 1);
    char *esc = err ? NULL : push_escape(sbuf_str(&name));
    int64_t from = from_ns / 1000000000, until = (until_ns + 999999999) / 1000000000;
    err = esc ? sbuf_addf(&query, "name=%s&from=%lld&until=%lld&format=pprof&spyName=pyscope", esc,
                          (long long)from, (long long)(until > from ? until : from + 1))
              : PYSCOPE_ENOMEM;
    if (!err && r->rate_hz > 0 && strcmp(what, "memory"))
        err = sbuf_addf(&query, "&sampleRate=%lld", (long long)r->rate_hz);
    free(esc);
    if (err) {
        sbuf_release(&name);
        sbuf_release(&query);
        cli_error("%s", pyscope_strerror(PYSCOPE_ENOMEM));
        return CLI_FAIL;
    }
    long status;
    char msg[1024];
    int status_ok = push_post(&r->target, "/ingest", sbuf_str(&query), body, len, &status, msg,
                              sizeof msg) == 0;
    if (!status_ok)
        cli_error("the %s profile was not taken: %s", what, msg);
    else
        printf("%-7s %9zu bytes  %s  %ld\n", what, len, sbuf_str(&name), status);
    r->sent += status_ok;
    sbuf_release(&name);
    sbuf_release(&query);
    return status_ok ? CLI_OK : CLI_FAIL;
}

/* The CPU or wall profile of the samples. */
static int push_samples(struct push_run *r, enum pprof_kind kind, const char *what)
{
    char *body = NULL, msg[512] = "";
    size_t len = 0;
    FILE *mem = open_memstream(&body, &len);
    if (!mem) {
        cli_error("%s", pyscope_strerror(PYSCOPE_ENOMEM));
        return CLI_FAIL;
    }
    int64_t start = meta_int(r->c->db, "start_wall_ns") + r->shift_ns;
    int err =
        pprof_write_samples(mem, r->c->db, r->c->path, &r->c->filter, kind, start, msg, sizeof msg);
    if (fclose(mem) != 0 && !err)
        err = PYSCOPE_ENOMEM;
    int status = CLI_FAIL;
    if (err < 0)
        cli_error("%s", msg[0] ? msg : pyscope_strerror(err));
    else
        status =
            send_profile(r, what, body, len, start, start + meta_int(r->c->db, "duration_ns"), 0);
    free(body);
    return status;
}

/* The last snapshot of each process that took one. */
static int push_memory(struct push_run *r)
{
    sqlite3_stmt *st;
    int has = vdb_has_table(r->c->db, "snapshots");
    if (has <= 0)
        return has < 0 ? CLI_FAIL : CLI_OK;
    if (vdb_prepare(
            r->c->db,
            "SELECT s.id, p.pid, s.t_ns, (SELECT count(DISTINCT process_id) FROM snapshots) "
            "FROM snapshots s JOIN processes p ON p.id = s.process_id "
            "WHERE s.id = (SELECT s2.id FROM snapshots s2 WHERE s2.process_id = s.process_id "
            "ORDER BY s2.t_ns DESC, s2.id DESC LIMIT 1) ORDER BY p.started_ns, p.id",
            &st) < 0) {
        cli_error("%s: %s", r->c->path, sqlite3_errmsg(r->c->db));
        return CLI_FAIL;
    }
    int64_t start = meta_int(r->c->db, "start_wall_ns") + r->shift_ns;
    int status = CLI_OK;
    while (status == CLI_OK && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), pid = sqlite3_column_int64(st, 1);
        int64_t at = start + sqlite3_column_int64(st, 2);
        int several = sqlite3_column_int(st, 3) > 1;
        struct smp_profile *p = NULL;
        char *body = NULL, msg[512] = "";
        size_t len = 0;
        int err = smp_load_snapshot(r->c->db, r->c->path, id, NULL, &p, msg, sizeof msg);
        FILE *mem = err < 0 ? NULL : open_memstream(&body, &len);
        if (!err && !mem)
            err = PYSCOPE_ENOMEM;
        if (!err)
            err = pprof_write_snapshot(mem, r->c->db, p, at, msg, sizeof msg);
        if (mem && fclose(mem) != 0 && !err)
            err = PYSCOPE_ENOMEM;
        smp_free(p);
        if (err < 0) {
            cli_error("%s", msg[0] ? msg : pyscope_strerror(err));
            status = CLI_FAIL;
        } else {
            status = send_profile(r, "memory", body, len, at, at, several ? pid : 0);
        }
        free(body);
    }
    sqlite3_finalize(st);
    return status;
}

int cmd_push(int argc, char **argv)
{
    struct smpcmd c;
    struct labels labels = {0};
    struct push_run r = {.c = &c, .labels = &labels};
    const char *name = NULL;
    int64_t retries = 3, timeout = 30;
    int now = 0;
    r.target.backoff_s = 0.5;
    smpcmd_init(&c, "push", cmd_push_usage, 0);
    const struct opts_spec own[] = {
        {.name = "--to",
         .kind = OPTS_STRING,
         .dest = &r.target.url,
         .flags = OPTS_NONEMPTY,
         .bad = "'--to' needs the server's address, not '%s'"},
        {.name = "--name",
         .kind = OPTS_STRING,
         .dest = &name,
         .flags = OPTS_NONEMPTY,
         .bad = "'--name' needs an application name, not '%s'"},
        {.name = "--label",
         .kind = OPTS_CALLBACK,
         .cb = add_label,
         .ctx = &labels,
         .bad = "'--label' needs KEY=VALUE (KEY of letters, digits, _ and ., not starting with "
                "a digit or __, not thread, thread_id, pid or state; VALUE without , { } or =), "
                "not '%s'"},
        {.name = "--tenant",
         .kind = OPTS_STRING,
         .dest = &r.target.tenant,
         .flags = OPTS_NONEMPTY,
         .bad = "'--tenant' needs a tenant id, not '%s'"},
        {.name = "--basic-auth",
         .kind = OPTS_STRING,
         .dest = &r.target.basic_auth,
         .flags = OPTS_NONEMPTY,
         .bad = "'--basic-auth' needs USER:PASSWORD"},
        {.name = "--bearer",
         .kind = OPTS_STRING,
         .dest = &r.target.bearer,
         .flags = OPTS_NONEMPTY,
         .bad = "'--bearer' needs a token"},
        {.name = "--now", .kind = OPTS_FLAG, .dest = &now},
        {.name = "--retries",
         .kind = OPTS_INT,
         .dest = &retries,
         .min = 0,
         .max = 10,
         .bad = "'--retries' needs a number from 0 to 10, not '%s'"},
        {.name = "--timeout",
         .kind = OPTS_INT,
         .dest = &timeout,
         .min = 1,
         .max = 3600,
         .bad = "'--timeout' needs a number of seconds from 1 to 3600, not '%s'"},
    };
    int npos = smpcmd_parse(&c, own, sizeof own / sizeof *own, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    if (labels.n > LABELS_MAX) {
        cli_error("'--label' may be given %d times at most", LABELS_MAX);
        return CLI_USAGE;
    }
    if (!r.target.url && c.npos == 1) {
        cli_error("'--to' is required: the server's address, e.g. http://localhost:4040");
        return CLI_USAGE;
    }
    char why[512];
    if (r.target.url && push_check_url(r.target.url, why, sizeof why) < 0) {
        cli_error("'--to': %s", why);
        return CLI_USAGE;
    }
    if (name && strlen(name) > VALUE_MAX_BYTES) {
        cli_error("'--name' is %d bytes at most", VALUE_MAX_BYTES);
        return CLI_USAGE;
    }
    if (name)
        for (const char *p = name; *p; p++)
            if (!name_char(*p, 1)) {
                cli_error("'--name' is letters, digits and _ . - /, not '%s'", name);
                return CLI_USAGE;
            }
    const char *auth_from = "'--basic-auth'", *bearer_from = "'--bearer'";
    if (!r.target.basic_auth) {
        const char *env = getenv("PYSCOPE_PUSH_BASIC_AUTH");
        r.target.basic_auth = env && *env ? env : NULL;
        auth_from = "$PYSCOPE_PUSH_BASIC_AUTH";
    }
    if (!r.target.bearer) {
        const char *env = getenv("PYSCOPE_PUSH_BEARER");
        r.target.bearer = env && *env ? env : NULL;
        bearer_from = "$PYSCOPE_PUSH_BEARER";
    }
    if (r.target.basic_auth &&
        (!strchr(r.target.basic_auth, ':') || !header_safe(r.target.basic_auth))) {
        cli_error("%s needs USER:PASSWORD, without control characters", auth_from);
        return CLI_USAGE;
    }
    if (r.target.bearer && !header_safe(r.target.bearer)) {
        cli_error("%s has control characters", bearer_from);
        return CLI_USAGE;
    }
    if (r.target.tenant && !header_safe(r.target.tenant)) {
        cli_error("'--tenant' has control characters");
        return CLI_USAGE;
    }
    if (r.target.basic_auth && r.target.bearer) {
        cli_error("give one way to authenticate: %s or %s", auth_from, bearer_from);
        return CLI_USAGE;
    }
    r.target.retries = (int)retries;
    r.target.timeout_s = (long)timeout;
    /* the database alone: the profiles are read as they are made */
    if (c.npos != 1) {
        opts_usage_error(&(struct opts_cmd){.name = c.name, .usage = c.usage});
        return CLI_USAGE;
    }
    if (vdb_open(c.path, &c.db, why, sizeof why) < 0) {
        cli_error("%s", why);
        return CLI_USAGE;
    }
    c.out = stdout;
    int status = CLI_OK;
    char *app = app_name(c.db, name);
    if (!app) {
        cli_error("%s", pyscope_strerror(PYSCOPE_ENOMEM));
        return smpcmd_close(&c, CLI_FAIL);
    }
    r.app = app;
    r.rate_hz = meta_int(c.db, "sample_rate_hz");
    if (now) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        r.shift_ns = t - meta_int(c.db, "duration_ns") - meta_int(c.db, "start_wall_ns");
    }
    int64_t cpu = 0, any = 0;
    vdb_int(c.db, "SELECT count(*) FROM samples WHERE cpu_ns > 0", NULL, &cpu);
    vdb_int(c.db, "SELECT count(*) FROM samples", NULL, &any);
    if (cpu)
        status = push_samples(&r, PPROF_CPU, "cpu");
    if (status == CLI_OK && any)
        status = push_samples(&r, PPROF_WALL, "wall");
    if (status == CLI_OK)
        status = push_memory(&r);
    if (status == CLI_OK && !r.sent) {
        cli_error("'%s' has no samples and no snapshots to send", c.path);
        status = CLI_USAGE;
    }
    free(app);
    return smpcmd_close(&c, status);
}

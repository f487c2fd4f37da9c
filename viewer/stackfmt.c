/*
 * Folded stacks and speedscope JSON (stackfmt.h). Both walk the merged
 * tree depth first, so each distinct stack is written once however many
 * samples it has, and both keep the path to the current node as they go
 * instead of rebuilding it per stack: the folded writer as a growing text
 * prefix, the speedscope writer as an array of frame indices by depth.
 *
 * speedscope's "sampled" profiles are written aggregated (one entry per
 * distinct stack with its summed weight, in tree order), not one entry per
 * sample in time order: a million samples would be a file of hundreds of
 * MiB. Its left-heavy and sandwich views are exact; its time-order view
 * shows the stacks grouped, not as they happened.
 */
#include "stackfmt.h"
#include "util.h"
#include "error.h"
#include "format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct pending {
    uint32_t node;
    size_t len; /* folded: length of the parent's prefix */
};

/* Append s with ';' as ',', control characters as spaces and a byte that
 * is not UTF-8 as the text "\xNN" (format.h). */
static int add_clean(struct sbuf *b, const char *s)
{
    return fmt_add_utf8(b, s, 1);
}

/* The folded frame of n: "qualname (file:line)", a thread's label. */
static int add_frame(struct sbuf *b, const struct smp_profile *p, const struct smp_node *n)
{
    char buf[1024];
    int err;
    if (n->kind == SMP_NODE_THREAD)
        return add_clean(b, smp_thread_label(n->thread, buf, sizeof buf));
    if ((err = add_clean(b, n->fn->qualname)) < 0)
        return err;
    if (n->fn->kind == SMP_KIND_NATIVE && n->fn->filename && !n->fn->special) {
        /* deflate [libz.so.1], by line deflate [libz.so.1] (deflate.c:763) */
        const char *obj = strrchr(n->fn->filename, '/');
        if ((err = add_clean(b, " [")) < 0 || (err = add_clean(b, obj ? obj + 1 : n->fn->filename)) < 0 ||
            (err = add_clean(b, "]")) < 0)
            return err;
        if (!(n->line > 0 && n->fn->source))
            return 0;
    }
    if (!*smp_location(p, n->fn, n->line, buf, sizeof buf))
        return 0;
    if ((err = add_clean(b, " (")) < 0 || (err = add_clean(b, buf)) < 0)
        return err;
    return add_clean(b, ")");
}

int stackfmt_folded(FILE *out, const struct smp_profile *p, const struct smp_tree *t)
{
    const int cpu = smp_totals(p)->clock == SMP_CLOCK_CPU;
    struct pending *stack = malloc((t->nnodes ? t->nnodes : 1) * sizeof *stack);
    struct sbuf path = {0};
    size_t sp = 0;
    int err = 0;

    if (!stack)
        return PYSCOPE_ENOMEM;
    for (uint32_t k = t->nodes[0].nkids; k-- > 0;)
        stack[sp++] = (struct pending){t->kids[t->nodes[0].first_kid + k], 0};
    while (sp > 0) {
        struct pending cur = stack[--sp];
        const struct smp_node *n = &t->nodes[cur.node];
        path.len = cur.len;
        if ((cur.len && (err = sbuf_add(&path, ";", 1)) < 0) || (err = add_frame(&path, p, n)) < 0)
            break;
        int64_t value = cpu ? (n->s.self_weight + 500) / 1000 : n->s.self_weight;
        if (value > 0) {
            fwrite(path.buf, 1, path.len, out);
            fprintf(out, " %" PRId64 "\n", value);
        }
        for (uint32_t k = n->nkids; k-- > 0;)
            stack[sp++] = (struct pending){t->kids[n->first_kid + k], path.len};
    }
    free(stack);
    sbuf_release(&path);
    return err;
}

/* The speedscope frames: key -> index in the shared list, assigned in tree order. */
static int assign_frames(const struct smp_tree *t, uint32_t **index, uint32_t **order,
                         size_t *nframes)
{
    *index = malloc((t->nkeys ? t->nkeys : 1) * sizeof **index);
    *order = malloc((t->nnodes ? t->nnodes : 1) * sizeof **order); /* frame -> a node */
    *nframes = 0;
    if (!*index || !*order)
        return PYSCOPE_ENOMEM;
    memset(*index, 0xff, (t->nkeys ? t->nkeys : 1) * sizeof **index);
    for (size_t i = 0; i < t->nnodes; i++) {
        const struct smp_node *n = &t->nodes[i];
        if (n->kind != SMP_NODE_FRAME || (*index)[n->key] != SMP_NONE)
            continue;
        (*index)[n->key] = (uint32_t)*nframes;
        (*order)[(*nframes)++] = (uint32_t)i;
    }
    return 0;
}

static void put_shared_frame(FILE *out, const struct smp_node *n)
{
    int64_t line = n->line ? n->line : n->fn->firstlineno;
    fputs("{\"name\": ", out);
    fmt_json_str(out, n->fn->qualname);
    if (n->fn->filename && !n->fn->special) {
        fputs(", \"file\": ", out);
        fmt_json_str(out, n->fn->filename);
        if (line > 0 && n->fn->kind != SMP_KIND_NATIVE)
            fprintf(out, ", \"line\": %" PRId64, line);
    }
    putc('}', out);
}

/*
 * One thread's profile: its stacks (pass 0) or their weights (pass 1), in
 * depth-first order, path holding the frame indices by depth.
 */
static void put_thread_pass(FILE *out, const struct smp_tree *t, uint32_t thread,
                            const uint32_t *index, uint32_t *path, struct pending *stack,
                            int64_t unit_ns, int pass)
{
    size_t sp = 0;
    int first = 1;
    const struct smp_node *th = &t->nodes[thread];
    for (uint32_t k = th->nkids; k-- > 0;)
        stack[sp++] = (struct pending){t->kids[th->first_kid + k], 0};
    while (sp > 0) {
        const struct smp_node *n = &t->nodes[stack[--sp].node];
        uint32_t d = n->depth - th->depth - 1;
        path[d] = index[n->key];
        if (n->s.self_weight > 0) {
            fputs(first ? "" : ", ", out);
            first = 0;
            if (pass == 0) {
                putc('[', out);
                for (uint32_t i = 0; i <= d; i++)
                    fprintf(out, i ? ",%u" : "%u", (unsigned)path[i]);
                putc(']', out);
            } else {
                fprintf(out, "%" PRId64, n->s.self_weight * unit_ns);
            }
        }
        for (uint32_t k = n->nkids; k-- > 0;)
            stack[sp++] = (struct pending){t->kids[n->first_kid + k], 0};
    }
}

/* The profiles: each thread of t, or t whole when it has no thread level (a snapshot). */
static int has_threads(const struct smp_tree *t)
{
    const struct smp_node *root = &t->nodes[0];
    return root->nkids && t->nodes[t->kids[root->first_kid]].kind == SMP_NODE_THREAD;
}

int stackfmt_speedscope(FILE *out, const struct smp_profile *p, const struct smp_tree *t,
                        const char *name)
{
    const struct smp_totals *tot = smp_totals(p);
    const struct smp_snapshot *snap = smp_snapshot(p);
    const struct smp_node *root = &t->nodes[0];
    const int threads = has_threads(t);
    uint32_t *index = NULL, *order = NULL, *path = NULL;
    struct pending *stack = NULL;
    size_t nframes = 0;
    int64_t unit_ns = 1; /* weight -> written value */
    const char *unit = "nanoseconds";
    char label[512];
    int err;

    if (snap) {
        unit = "bytes";
    } else if (tot->clock == SMP_CLOCK_WALL) {
        if (tot->interval_ns > 0) {
            unit_ns = tot->interval_ns;
        } else {
            unit = "none";
        }
    }
    if ((err = assign_frames(t, &index, &order, &nframes)) < 0)
        goto out;
    stack = malloc((t->nnodes ? t->nnodes : 1) * sizeof *stack);
    path = malloc((t->maxdepth + 1) * sizeof *path);
    if (!stack || !path) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }

    /* The heaviest thread is the one shown first. */
    uint32_t active = 0;
    for (uint32_t k = 0; threads && k < root->nkids; k++)
        if (t->nodes[t->kids[root->first_kid + k]].s.total_weight >
            t->nodes[t->kids[root->first_kid + active]].s.total_weight)
            active = k;

    fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n", out);
    fputs(" \"exporter\": \"pyscope " PYSCOPE_VERSION "\",\n \"name\": ", out);
    if (snap)
        snprintf(label, sizeof label, "%s (snapshot %lld)", name, (long long)snap->id);
    else
        snprintf(label, sizeof label, "%s (%s time)", name,
                 tot->clock == SMP_CLOCK_CPU ? "cpu" : "wall");
    fmt_json_str(out, label);
    fprintf(out, ",\n \"activeProfileIndex\": %u,\n \"shared\": {\"frames\": [", (unsigned)active);
    for (size_t i = 0; i < nframes; i++) {
        fputs(i ? ",\n   " : "\n   ", out);
        put_shared_frame(out, &t->nodes[order[i]]);
    }
    fputs(nframes ? "\n ]},\n \"profiles\": [" : "]},\n \"profiles\": [", out);
    /* Without threads the root is the one profile; a snapshot has it even when empty. */
    uint32_t nprofiles = threads ? root->nkids : root->nkids || snap ? 1 : 0;
    for (uint32_t k = 0; k < nprofiles; k++) {
        uint32_t th = threads ? t->kids[root->first_kid + k] : 0;
        const struct smp_node *n = &t->nodes[th];
        fputs(k ? ",\n  {" : "\n  {", out);
        fputs("\"type\": \"sampled\", \"name\": ", out);
        if (threads) {
            fmt_json_str(out, smp_thread_label(n->thread, label, sizeof label));
        } else if (snap) {
            size_t len = strlen(smp_snapshot_label(snap, label, sizeof label));
            if (snap->pid && len < sizeof label)
                snprintf(label + len, sizeof label - len, ", pid %lld", (long long)snap->pid);
            fmt_json_str(out, label);
        } else {
            fmt_json_str(out, "all threads");
        }
        fprintf(out, ", \"unit\": \"%s\", \"startValue\": 0, \"endValue\": %" PRId64 ",\n", unit,
                n->s.total_weight * unit_ns);
        fputs("   \"samples\": [", out);
        put_thread_pass(out, t, th, index, path, stack, unit_ns, 0);
        fputs("],\n   \"weights\": [", out);
        put_thread_pass(out, t, th, index, path, stack, unit_ns, 1);
        fputs("]}", out);
    }
    fputs(nprofiles ? "\n ]\n}\n" : "]\n}\n", out);
out:
    free(index);
    free(order);
    free(path);
    free(stack);
    return err;
}

/*
 * The merged call tree (smp_tree.h), built in one pass over the profile's
 * distinct stacks: each walks up from its leaf only as far as the first
 * node already placed for its thread, so frames that many stacks share
 * are merged once.
 */
#define _GNU_SOURCE /* qsort_r */
#include "smp_tree.h"
#include "samples_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void smp_tree_free(struct smp_tree *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->kids);
    free(t);
}

/* strcmp with NULL first. */
static int str_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    return strcmp(a, b);
}

static int node_cmp(const void *x, const void *y, void *arg)
{
    const struct smp_node *nodes = arg;
    const struct smp_node *a = &nodes[*(const uint32_t *)x], *b = &nodes[*(const uint32_t *)y];
    int c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->kind == SMP_NODE_THREAD)
        return (a->thread->id > b->thread->id) - (a->thread->id < b->thread->id);
    if ((c = strcmp(a->fn->qualname, b->fn->qualname)) ||
        (c = str_cmp(a->fn->filename, b->fn->filename)))
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->fn->firstlineno != b->fn->firstlineno)
        return a->fn->firstlineno < b->fn->firstlineno ? -1 : 1;
    return (a->fn > b->fn) - (a->fn < b->fn);
}

/* The child of parent under key, made when new. */
static int tree_child(struct smp_tree *t, size_t *cap, struct pmap *map, uint32_t parent,
                      int64_t key, uint32_t *child)
{
    int err = pmap_intern(map, parent, key, (uint32_t)t->nnodes, child);
    if (err < 0 || *child != t->nnodes)
        return err;
    if ((err = util_grow((void **)&t->nodes, cap, t->nnodes, sizeof *t->nodes)) < 0)
        return err;
    uint32_t depth = t->nodes[parent].depth + 1;
    t->nodes[t->nnodes++] =
        (struct smp_node){.kind = SMP_NODE_FRAME, .parent = parent, .depth = depth};
    if (depth > t->maxdepth)
        t->maxdepth = depth;
    return 0;
}

/* Sorted child lists from the parent links. */
static int tree_link(struct smp_tree *t)
{
    uint32_t *fill = calloc(t->nnodes, sizeof *fill);
    t->kids = malloc((t->nnodes ? t->nnodes : 1) * sizeof *t->kids);
    if (!fill || !t->kids) {
        free(fill);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 1; i < t->nnodes; i++)
        t->nodes[t->nodes[i].parent].nkids++;
    uint32_t at = 0;
    for (size_t i = 0; i < t->nnodes; i++) {
        t->nodes[i].first_kid = at;
        at += t->nodes[i].nkids;
    }
    for (size_t i = 1; i < t->nnodes; i++) {
        struct smp_node *parent = &t->nodes[t->nodes[i].parent];
        t->kids[parent->first_kid + fill[t->nodes[i].parent]++] = (uint32_t)i;
    }
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].nkids > 1)
            qsort_r(t->kids + t->nodes[i].first_kid, t->nodes[i].nkids, sizeof *t->kids, node_cmp,
                    t->nodes);
    free(fill);
    return 0;
}

int smp_tree_build(const struct smp_profile *p, int flags, struct smp_tree **out)
{
    const int by_line = flags & SMP_TREE_LINES;
    const int by_thread = (flags & SMP_TREE_THREADS) && p->clock != SMP_CLOCK_BYTES;
    struct smp_tree *t = calloc(1, sizeof *t);
    uint32_t *memo = malloc((p->nnodes ? p->nnodes : 1) * sizeof *memo);
    uint32_t *gen = calloc(p->nnodes ? p->nnodes : 1, sizeof *gen);
    const size_t walk = walk_cap(p);
    uint32_t *path = malloc((walk + 1) * sizeof *path);
    struct pmap map = {0};
    size_t cap = 0;
    int err = 0;

    *out = NULL;
    if (!t || !memo || !gen || !path ||
        (err = util_grow((void **)&t->nodes, &cap, 0, sizeof *t->nodes)) < 0) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    t->nodes[t->nnodes++] = (struct smp_node){.kind = SMP_NODE_ROOT, .parent = SMP_NONE};
    t->nkeys = (uint32_t)(by_line ? p->nlines : p->nfns);
    for (size_t i = 0; i < p->naggs; i++) {
        const struct agg *a = &p->aggs[i];
        uint32_t top = 0, g = by_thread ? a->thread + 1 : 1;
        if (a->weight <= 0)
            continue;
        if (by_thread) {
            if ((err = tree_child(t, &cap, &map, 0, -(int64_t)a->thread - 1, &top)) < 0)
                goto out;
            t->nodes[top].kind = SMP_NODE_THREAD;
            t->nodes[top].thread = &p->threads[a->thread];
        }
        /* Up from the leaf to the first node already placed for this thread. */
        size_t len = 0;
        uint32_t n = a->leaf;
        while (n != SMP_NONE && gen[n] != g && len < walk) {
            path[len++] = n;
            n = p->node_parent[n];
        }
        uint32_t tn = n != SMP_NONE && gen[n] == g ? memo[n] : top;
        while (len > 0) {
            uint32_t m = path[--len];
            const struct frame *fr = &p->frames[p->node_frame[m]];
            int64_t key = by_line ? (int64_t)fr->lineidx : (int64_t)fr->fn;
            if ((err = tree_child(t, &cap, &map, tn, key, &tn)) < 0)
                goto out;
            struct smp_node *node = &t->nodes[tn];
            node->fn = &p->fns[fr->fn];
            node->line = by_line ? fr->line : 0;
            node->key = by_line ? fr->lineidx : fr->fn;
            memo[m] = tn;
            gen[m] = g;
        }
        t->nodes[tn].s.self_samples += a->samples;
        t->nodes[tn].s.self_weight += a->weight;
        for (uint32_t k = tn; k != SMP_NONE; k = t->nodes[k].parent) {
            t->nodes[k].s.total_samples += a->samples;
            t->nodes[k].s.total_weight += a->weight;
        }
    }
    err = tree_link(t);
out:
    free(memo);
    free(gen);
    free(path);
    pmap_release(&map);
    if (err < 0)
        smp_tree_free(t);
    else
        *out = t;
    return err;
}

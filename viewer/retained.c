/*
 * The dominator tree of retained.h. The objects reachable from the root
 * are numbered in the postorder of a depth-first search (the root last);
 * an object's immediate dominator is then found as the nearest common
 * ancestor, in the tree built so far, of the predecessors already placed,
 * over the objects in reverse postorder, until nothing changes (Cooper,
 * Harvey and Kennedy, "A Simple, Fast Dominance Algorithm"). A dominator
 * comes after what it dominates in that postorder, so retained sizes add
 * up in one pass in postorder. Every walk is iterative: a graph can hold
 * millions of objects in one chain.
 */
#include "retained.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

#define UNDEF UINT32_MAX /* no dominator found yet; as a postorder number: not reached */

struct dfs_frame {
    uint32_t v, e; /* object (the root: n), next reference to follow */
};

/* The nearest common dominator of a and b (postorder numbers; dom by
 * postorder number). */
static uint32_t intersect(const uint32_t *dom, uint32_t a, uint32_t b)
{
    while (a != b) {
        while (a < b)
            a = dom[a];
        while (b < a)
            b = dom[b];
    }
    return a;
}

int ret_build(const struct hg *g, struct ret_tree *t)
{
    const size_t n = g->n;
    memset(t, 0, sizeof *t);
    t->n = n;
    t->idom = malloc((n ? n : 1) * sizeof *t->idom);
    t->retained = calloc(n ? n : 1, sizeof *t->retained);
    t->count = calloc(n ? n : 1, sizeof *t->count);
    int64_t *refs = malloc((n ? n : 1) * sizeof *refs);
    uint32_t *po = malloc((n + 1) * sizeof *po);       /* object -> postorder number */
    uint32_t *order = malloc((n + 1) * sizeof *order); /* postorder number -> object */
    uint32_t *dom = malloc((n + 1) * sizeof *dom);     /* by postorder number */
    uint32_t *poff = calloc(n + 2, sizeof *poff);      /* predecessors, by object */
    uint32_t *pred = malloc((g->m ? g->m : 1) * sizeof *pred);
    uint32_t *roots = malloc((n ? n : 1) * sizeof *roots);
    struct dfs_frame *stack = malloc((n + 1) * sizeof *stack);
    uint8_t *is_root = calloc(n ? n : 1, 1);
    int err = PYSCOPE_ENOMEM;
    if (!t->idom || !t->retained || !t->count || !refs || !po || !order || !dom || !poff || !pred ||
        !roots || !stack || !is_root)
        goto out;
    /* held from outside: references the graph does not explain */
    memcpy(refs, g->refcnt, n * sizeof *refs);
    for (size_t e = 0; e < g->m; e++)
        refs[g->dst[e]]--;
    size_t nroots = 0;
    for (size_t i = 0; i < n; i++)
        if (refs[i] > 0) {
            roots[nroots++] = (uint32_t)i;
            is_root[i] = 1;
        }
    t->nroots = nroots;
    /* postorder from the root (object n), whose references are the roots */
    for (size_t i = 0; i <= n; i++)
        po[i] = UNDEF;
    uint32_t next = 0;
    size_t depth = 0;
    stack[depth++] = (struct dfs_frame){(uint32_t)n, 0};
    po[n] = UNDEF - 1; /* on the stack */
    while (depth) {
        struct dfs_frame *f = &stack[depth - 1];
        size_t end = f->v == n ? nroots : g->off[f->v + 1] - g->off[f->v];
        if (f->e < end) {
            uint32_t w = f->v == n ? roots[f->e] : g->dst[g->off[f->v] + f->e];
            f->e++;
            if (po[w] == UNDEF) {
                po[w] = UNDEF - 1;
                stack[depth++] = (struct dfs_frame){w, 0};
            }
            continue;
        }
        order[next] = f->v;
        po[f->v] = next++;
        depth--;
    }
    const uint32_t rootpo = next - 1; /* the root's: the last */
    /* the predecessors of each reached object, the root for the roots */
    for (size_t v = 0; v < n; v++)
        if (po[v] != UNDEF)
            for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
                poff[g->dst[e] + 1]++;
    for (size_t i = 0; i < n; i++)
        poff[i + 1] += poff[i];
    uint32_t *fill = malloc((n ? n : 1) * sizeof *fill);
    if (!fill)
        goto out;
    memcpy(fill, poff, (n ? n : 1) * sizeof *fill);
    for (size_t v = 0; v < n; v++)
        if (po[v] != UNDEF)
            for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
                pred[fill[g->dst[e]]++] = (uint32_t)v;
    free(fill);
    /* the iteration, by postorder number */
    for (uint32_t k = 0; k < next; k++)
        dom[k] = UNDEF;
    dom[rootpo] = rootpo;
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t k = rootpo; k-- > 0;) {
            uint32_t v = order[k], best = is_root[v] ? rootpo : UNDEF;
            for (uint32_t e = poff[v]; e < poff[v + 1]; e++) {
                uint32_t p = po[pred[e]];
                if (dom[p] == UNDEF)
                    continue; /* not placed yet */
                best = best == UNDEF ? p : intersect(dom, p, best);
            }
            if (dom[k] != best) {
                dom[k] = best;
                changed = 1;
            }
        }
    }
    /* back to objects, and the sizes up the tree */
    for (size_t v = 0; v < n; v++) {
        t->idom[v] = RET_NONE;
        if (po[v] == UNDEF)
            continue;
        uint32_t d = dom[po[v]];
        t->idom[v] = d == rootpo ? RET_ROOT : order[d];
        t->retained[v] = g->size[v] > 0 ? g->size[v] : 0;
        t->count[v] = 1;
    }
    for (uint32_t k = 0; k < rootpo; k++) {
        uint32_t v = order[k], d = t->idom[v];
        t->total += g->size[v] > 0 ? g->size[v] : 0;
        if (d != RET_ROOT) {
            t->retained[d] += t->retained[v];
            t->count[d] += t->count[v];
        }
    }
    err = 0;
out:
    free(refs);
    free(po);
    free(order);
    free(dom);
    free(poff);
    free(pred);
    free(roots);
    free(stack);
    free(is_root);
    if (err)
        ret_release(t);
    return err;
}

void ret_release(struct ret_tree *t)
{
    free(t->idom);
    free(t->retained);
    free(t->count);
    memset(t, 0, sizeof *t);
}

int ret_group(const struct hg *g, const struct ret_tree *t, const uint32_t *key, size_t nkeys,
              int64_t *out, uint32_t *members)
{
    const size_t n = t->n;
    (void)g;
    /* the tree's children, the root's (index n) last */
    uint32_t *off = calloc(n + 2, sizeof *off);
    uint32_t *kids = malloc((n ? n : 1) * sizeof *kids);
    uint32_t *active = calloc(nkeys ? nkeys : 1, sizeof *active);
    struct dfs_frame *stack = malloc((n + 1) * sizeof *stack);
    int err = PYSCOPE_ENOMEM;
    if (!off || !kids || !active || !stack)
        goto out;
    memset(out, 0, nkeys * sizeof *out);
    memset(members, 0, nkeys * sizeof *members);
    for (size_t v = 0; v < n; v++)
        if (t->idom[v] != RET_NONE)
            off[(t->idom[v] == RET_ROOT ? n : t->idom[v]) + 1]++;
    for (size_t i = 0; i <= n; i++)
        off[i + 1] += off[i];
    uint32_t *fill = malloc((n + 1) * sizeof *fill);
    if (!fill)
        goto out;
    memcpy(fill, off, (n + 1) * sizeof *fill);
    for (size_t v = 0; v < n; v++)
        if (t->idom[v] != RET_NONE)
            kids[fill[t->idom[v] == RET_ROOT ? n : t->idom[v]]++] = (uint32_t)v;
    free(fill);
    /* down the tree, counting the members of each group open above */
    size_t depth = 0;
    stack[depth++] = (struct dfs_frame){(uint32_t)n, 0};
    while (depth) {
        struct dfs_frame *f = &stack[depth - 1];
        if (off[f->v] + f->e < off[f->v + 1]) {
            uint32_t w = kids[off[f->v] + f->e++];
            uint32_t k = key[w];
            members[k]++;
            if (!active[k]++)
                out[k] += t->retained[w];
            stack[depth++] = (struct dfs_frame){w, 0};
            continue;
        }
        if (f->v != n)
            active[key[f->v]]--;
        depth--;
    }
    err = 0;
out:
    free(off);
    free(kids);
    free(active);
    free(stack);
    return err;
}

/*
 * Tests for viewer/retained.h on object graphs built here: who dominates
 * whom in a diamond, objects shared by two roots, one referenced from
 * outside and from the graph, a garbage cycle, a chain deeper than any
 * recursion could follow, and groups whose members dominate each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "retained.h"

#include <stdlib.h>
#include <string.h>

/* A graph of n objects from a list of references (src, dst) and each
 * object's sizes, its references from outside the graph and its type. */
static void build(struct hg *g, size_t n, const uint32_t (*refs)[2], size_t m, const int64_t *size,
                  const int64_t *outside, const uint32_t *type)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    g->m = m;
    g->size = calloc(n, sizeof *g->size);
    g->refcnt = calloc(n, sizeof *g->refcnt);
    g->type = calloc(n, sizeof *g->type);
    g->off = calloc(n + 1, sizeof *g->off);
    g->dst = calloc(m ? m : 1, sizeof *g->dst);
    assert_non_null(g->size);
    assert_non_null(g->refcnt);
    assert_non_null(g->type);
    assert_non_null(g->off);
    assert_non_null(g->dst);
    for (size_t i = 0; i < n; i++) {
        g->size[i] = size ? size[i] : 1;
        g->refcnt[i] = outside ? outside[i] : 0;
        g->type[i] = type ? type[i] : 0;
    }
    for (size_t e = 0; e < m; e++) {
        g->off[refs[e][0] + 1]++;
        g->refcnt[refs[e][1]]++;
    }
    for (size_t i = 0; i < n; i++)
        g->off[i + 1] += g->off[i];
    uint32_t *fill = calloc(n + 1, sizeof *fill);
    assert_non_null(fill);
    memcpy(fill, g->off, (n + 1) * sizeof *fill);
    for (size_t e = 0; e < m; e++)
        g->dst[fill[refs[e][0]]++] = refs[e][1];
    free(fill);
}

static void release(struct hg *g)
{
    free(g->size);
    free(g->refcnt);
    free(g->type);
    free(g->off);
    free(g->dst);
}

/*
 * 0 held from outside; 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4: 3 is reached
 * through 1 and through 2, so 0 dominates it, and 3 dominates 4. 5 and 6
 * hold each other and nothing else holds them: garbage. 7 is held from
 * outside and by 4: a root all the same.
 */
static void test_diamond(void **state)
{
    (void)state;
    static const uint32_t refs[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3},
                                       {3, 4}, {5, 6}, {6, 5}, {4, 7}};
    static const int64_t size[] = {10, 20, 30, 40, 50, 60, 70, 80};
    static const int64_t outside[] = {1, 0, 0, 0, 0, 0, 0, 1};
    struct hg g;
    build(&g, 8, refs, 8, size, outside, NULL);
    struct ret_tree t;
    assert_int_equal(ret_build(&g, &t), 0);
    static const uint32_t idom[] = {RET_ROOT, 0, 0, 0, 3, RET_NONE, RET_NONE, RET_ROOT};
    for (size_t v = 0; v < 8; v++)
        assert_int_equal(t.idom[v], idom[v]);
    static const int64_t retained[] = {150, 20, 30, 90, 50, 0, 0, 80};
    static const uint32_t count[] = {5, 1, 1, 2, 1, 0, 0, 1};
    for (size_t v = 0; v < 8; v++) {
        assert_int_equal(t.retained[v], retained[v]);
        assert_int_equal(t.count[v], count[v]);
    }
    assert_int_equal(t.total, 230);
    assert_int_equal(t.nroots, 2);
    ret_release(&t);
    release(&g);
}

/* Two roots share 2, which neither dominates; 2 dominates 3. */
static void test_shared(void **state)
{
    (void)state;
    static const uint32_t refs[][2] = {{0, 2}, {1, 2}, {2, 3}};
    static const int64_t outside[] = {1, 1, 0, 0};
    struct hg g;
    build(&g, 4, refs, 3, NULL, outside, NULL);
    struct ret_tree t;
    assert_int_equal(ret_build(&g, &t), 0);
    assert_int_equal(t.idom[2], RET_ROOT);
    assert_int_equal(t.idom[3], 2);
    assert_int_equal(t.retained[0], 1);
    assert_int_equal(t.retained[2], 2);
    ret_release(&t);
    release(&g);
}

/* A chain of 200,000 objects, each holding the next, and a loop back from
 * the last to the first: the first retains them all. */
static void test_long_chain(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint32_t(*refs)[2] = malloc(N * sizeof *refs);
    int64_t *outside = calloc(N, sizeof *outside);
    assert_non_null(refs);
    assert_non_null(outside);
    for (uint32_t i = 0; i < N; i++) {
        refs[i][0] = i;
        refs[i][1] = (i + 1) % N;
    }
    outside[0] = 1;
    struct hg g;
    build(&g, N, (const uint32_t(*)[2])refs, N, NULL, outside, NULL);
    struct ret_tree t;
    assert_int_equal(ret_build(&g, &t), 0);
    assert_int_equal(t.idom[0], RET_ROOT);
    assert_int_equal(t.idom[N - 1], N - 2);
    assert_int_equal(t.retained[0], N);
    assert_int_equal(t.retained[N / 2], N - N / 2);
    ret_release(&t);
    release(&g);
    free(refs);
    free(outside);
}

/*
 * Types A (0) and B (1): A0 holds A1 and B2, A1 holds B3. A's objects
 * retain together what A0 retains (A1 is inside it), not A0's and A1's
 * sizes added; B's, B2's and B3's.
 */
static void test_groups(void **state)
{
    (void)state;
    static const uint32_t refs[][2] = {{0, 1}, {0, 2}, {1, 3}};
    static const int64_t size[] = {1, 10, 100, 1000};
    static const int64_t outside[] = {1, 0, 0, 0};
    static const uint32_t type[] = {0, 0, 1, 1};
    struct hg g;
    build(&g, 4, refs, 3, size, outside, type);
    struct ret_tree t;
    assert_int_equal(ret_build(&g, &t), 0);
    int64_t out[2];
    uint32_t members[2];
    assert_int_equal(ret_group(&g, &t, type, 2, out, members), 0);
    assert_int_equal(out[0], 1111);
    assert_int_equal(out[1], 1100);
    assert_int_equal(members[0], 2);
    assert_int_equal(members[1], 2);
    ret_release(&t);
    release(&g);
}

static void test_empty(void **state)
{
    (void)state;
    struct hg g;
    build(&g, 0, NULL, 0, NULL, NULL, NULL);
    struct ret_tree t;
    assert_int_equal(ret_build(&g, &t), 0);
    assert_int_equal(t.total, 0);
    ret_release(&t);
    release(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond),    cmocka_unit_test(test_shared),
        cmocka_unit_test(test_long_chain), cmocka_unit_test(test_groups),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

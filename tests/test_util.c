/*
 * Unit tests of util.h: the integer parsing the viewer's options and thread
 * filters share, signal names, the growing arrays every module uses, and
 * where pyscope's descriptors go in the program.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "util.h"

static void test_parse_i64(void **state)
{
    int64_t v = 7;
    (void)state;
    assert_int_equal(util_parse_i64("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(util_parse_i64("-3", &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(util_parse_i64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(util_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);

    v = 7;
    const char *bad[] = {"", "-", "+1", " 1", "1 ", "1x", "x1", "0x10", "--1",
                         "9223372036854775808", "MainThread"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(util_parse_i64(bad[i], &v), -1);
    assert_int_equal(util_parse_i64(NULL, &v), -1);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_signal_name(void **state)
{
    (void)state;
    assert_string_equal(util_signal_name(SIGKILL), "SIGKILL");
    assert_string_equal(util_signal_name(SIGSEGV), "SIGSEGV");
    assert_string_equal(util_signal_name(SIGTERM), "SIGTERM");
    assert_string_equal(util_signal_name(SIGINT), "SIGINT");
    assert_string_equal(util_signal_name(SIGABRT), "SIGABRT");
#ifdef __linux__
    assert_string_equal(util_signal_name(9), "SIGKILL");
    assert_string_equal(util_signal_name(11), "SIGSEGV");
#endif
    assert_null(util_signal_name(0));
    assert_null(util_signal_name(-1));
    assert_null(util_signal_name(1000));
}

static void test_grow(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(util_grow((void **)&a, &cap, 0, sizeof *a), 0);
    assert_int_equal(cap, UTIL_GROW_FIRST);
    for (size_t n = 0; n < 100; n++) {
        assert_int_equal(util_grow((void **)&a, &cap, n, sizeof *a), 0);
        a[n] = (int)n;
    }
    assert_int_equal(cap, 128); /* 16, doubled three times */
    for (size_t n = 0; n < 100; n++)
        assert_int_equal(a[n], (int)n);
    /* Room already: nothing moves. */
    int *before = a;
    assert_int_equal(util_grow((void **)&a, &cap, 100, sizeof *a), 0);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 128);
    free(a);
}

static void test_reserve(void **state)
{
    (void)state;
    char *a = NULL;
    size_t cap = 0;
    /* The first capacity is the caller's. */
    assert_int_equal(util_reserve((void **)&a, &cap, 1, 1, 4096), 0);
    assert_int_equal(cap, 4096);
    /* Enough: unchanged. */
    assert_int_equal(util_reserve((void **)&a, &cap, 4096, 1, 4096), 0);
    assert_int_equal(cap, 4096);
    /* Far past the end: doubled as often as it takes, the contents kept. */
    a[4095] = 'x';
    assert_int_equal(util_reserve((void **)&a, &cap, 20000, 1, 4096), 0);
    assert_int_equal(cap, 32768);
    assert_int_equal(a[4095], 'x');
    /* An empty array asked for more than its first capacity. */
    long *b = NULL;
    size_t bcap = 0;
    assert_int_equal(util_reserve((void **)&b, &bcap, 100, sizeof *b, 64), 0);
    assert_int_equal(bcap, 128);
    b[99] = 7;
    /* Sizes past what a size_t holds fail, the array left as it was. */
    long *keep = b;
    assert_int_equal(util_reserve((void **)&b, &bcap, SIZE_MAX / 4, sizeof *b, 64), PYSCOPE_ENOMEM);
    assert_int_equal(util_reserve((void **)&b, &bcap, SIZE_MAX, 1, 64), PYSCOPE_ENOMEM);
    assert_ptr_equal(b, keep);
    assert_int_equal(bcap, 128);
    assert_int_equal(b[99], 7);
    free(a);
    free(b);
}

/*
 * The descriptor tests change the process's open-file limits, which a
 * process without privilege cannot raise back: each runs its checks in a
 * child, whose exit status says which check failed (0: none).
 */
static int in_child(int (*checks)(void))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(checks());
    int status = -1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static int soft_limit(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (int)rl.rlim_cur : -1;
}

static int limit_room(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max >= 1024 + 1024;
}

/* The soft limit at 64, below the hard one, as a child's checks want it: 0,
 * or -1 when it cannot be set. */
static int soft_limit_64(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = 64;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

/* A soft limit below a roomy hard one: pyscope's descriptor goes at 1024 or
 * above, out of a scan below the limit, and the limit is as it was. */
static int fd_high_above_the_limit(void)
{
    if (soft_limit_64() != 0)
        return 1;
    int fd = open("/dev/null", O_RDONLY);
    int high = util_fd_high(fd);
    if (fd < 0 || fd >= 64 || high < 1024)
        return 2;
    if (fcntl(fd, F_GETFD) != -1 || !(fcntl(high, F_GETFD) & FD_CLOEXEC))
        return 3; /* the old one closed, the new one close-on-exec */
    if (soft_limit() != 64)
        return 4;
    if (open("/dev/null", O_RDONLY) != fd)
        return 5; /* the program's next one is the lowest free one */
    return 0;
}

/* Hundreds of them (two for each thread sampled with native stacks): all
 * above the limit, where the hard limit leaves room. */
static int many_fds_high_above_the_limit(void)
{
    if (soft_limit_64() != 0)
        return 1;
    for (int i = 0; i < 600; i++) {
        int fd = open("/dev/null", O_RDONLY);
        int high = util_fd_high(fd);
        if (fd < 0 || high < 1024)
            return 2;
    }
    return soft_limit() == 64 ? 0 : 3;
}

/* Soft and hard limit alike: no room above, so half the soft limit. */
static int fd_high_when_the_limit_is_hard(void)
{
    struct rlimit rl = {256, 256};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1;
    int high = util_fd_high(open("/dev/null", O_RDONLY));
    return high >= 128 && high < 256 && soft_limit() == 256 ? 0 : 2;
}

static int opened[2];

static void open_a_pipe(void *unused)
{
    (void)unused;
    if (pipe(opened) != 0)
        opened[0] = opened[1] = -1;
}

/* What a library opens on its own while the low descriptors are taken goes
 * where util_fd_high puts them; afterwards the program's are free again. */
static int low_fds_taken_above_the_limit(void)
{
    if (soft_limit_64() != 0)
        return 1;
    util_with_low_fds_taken(open_a_pipe, NULL);
    if (opened[0] < 1024 || opened[1] < 1024)
        return 2;
    if (soft_limit() != 64)
        return 3;
    int fd = open("/dev/null", O_RDONLY);
    return fd >= 0 && fd < 8 ? 0 : 4;
}

#define RACERS 4
#define RACES 2000

/* Each racer moves descriptors up as fast as it can; one that reads the
 * soft limit while another has it raised for the moment would take that
 * raised limit for the program's, and place its own below the program's
 * real one, or put the raised one back as the program's. */
static void *race_fd_high(void *unused)
{
    (void)unused;
    for (int i = 0; i < RACES; i++) {
        int high = util_fd_high(open("/dev/null", O_RDONLY));
        close(high);
        if (high < 1024)
            return (void *)1;
    }
    return NULL;
}

static int fd_high_from_many_threads(void)
{
    if (soft_limit_64() != 0)
        return 1;
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++)
        if (pthread_create(&t[i], NULL, race_fd_high, NULL) != 0)
            return 2;
    int below = 0;
    for (int i = 0; i < RACERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        below += r != NULL;
    }
    if (below)
        return 3;
    return soft_limit() == 64 ? 0 : 4;
}

static void test_fd_high(void **state)
{
    (void)state;
    assert_int_equal(in_child(fd_high_when_the_limit_is_hard), 0);
    if (!limit_room())
        skip(); /* a hard limit too low to try the rest */
    assert_int_equal(in_child(fd_high_above_the_limit), 0);
    assert_int_equal(in_child(many_fds_high_above_the_limit), 0);
    assert_int_equal(in_child(low_fds_taken_above_the_limit), 0);
    assert_int_equal(in_child(fd_high_from_many_threads), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_name),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_fd_high),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

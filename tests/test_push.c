/*
 * Tests for viewer/push.h: push_post against a server in a thread here that
 * answers each connection with the next of a list of statuses and keeps
 * what it was sent. A 2xx ends at once; what the server may take later
 * (503, 429, no answer) is tried again up to the retries; a refusal is not,
 * and its message says the status and what the server said; the headers
 * and body go as given. push_escape keeps the unreserved characters.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "push.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ANSWERS 8

struct server {
    int fd, port;
    const char *answers[MAX_ANSWERS]; /* whole responses, in turn; NULL: no answer at all */
    int nanswers, served;
    char last[8192]; /* the last request, headers and body */
    pthread_t thread;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    for (s->served = 0; s->served < s->nanswers; s->served++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        size_t n = 0;
        ssize_t got;
        /* headers, then Content-Length bytes of body */
        while (n < sizeof s->last - 1 && (got = read(c, s->last + n, sizeof s->last - 1 - n)) > 0) {
            n += (size_t)got;
            s->last[n] = '\0';
            const char *end = strstr(s->last, "\r\n\r\n"),
                       *cl = strcasestr(s->last, "content-length:");
            if (end && cl && n >= (size_t)(end + 4 - s->last) + strtoul(cl + 15, NULL, 10))
                break;
        }
        const char *a = s->answers[s->served];
        if (!a) {
            sleep(2); /* past the client's timeout, the request read whole */
            close(c);
            continue;
        }
        if (write(c, a, strlen(a)) < 0)
            break;
        close(c);
    }
    return NULL;
}

static void start(struct server *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void stop(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

#define OK "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define BUSY "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"
#define SLOW "HTTP/1.1 429 Slow\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define LATER                                                                                      \
    "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define MUCH_LATER                                                                                 \
    "HTTP/1.1 429 Slow\r\nRetry-After: 3600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define NOT_DONE "HTTP/1.1 501 No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define REFUSED                                                                                    \
    "HTTP/1.1 422 No\r\nContent-Length: 35\r\nConnection: close\r\n\r\n"                           \
    "{\"message\":\"too old\",\n \"code\":\"x\"}\n"

static int post(struct server *s, const struct push_target *base, long *status, char *msg)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    struct push_target t = *base;
    t.url = url;
    static const char body[] = "\x1f\x8b profile";
    return push_post(&t, "/ingest", "name=app%7Bk%3Dv%7D&format=pprof", body, sizeof body - 1,
                     status, msg, 512);
}

static void test_sent_as_given(void **state)
{
    (void)state;
    struct server s = {.answers = {OK}, .nanswers = 1};
    start(&s);
    long status;
    char msg[512] = "";
    struct push_target t = {.tenant = "t1",
                            .basic_auth = "user:secret",
                            .timeout_s = 10,
                            .retries = 2,
                            .backoff_s = 0.01};
    assert_int_equal(post(&s, &t, &status, msg), 0);
    stop(&s);
    assert_int_equal(status, 200);
    assert_int_equal(s.served, 1);
    assert_non_null(strstr(s.last, "POST /ingest?name=app%7Bk%3Dv%7D&format=pprof HTTP/1.1\r\n"));
    assert_non_null(strstr(s.last, "\r\nX-Scope-OrgID: t1\r\n"));
    assert_non_null(strstr(s.last, "\r\nAuthorization: Basic dXNlcjpzZWNyZXQ=\r\n"));
    assert_non_null(strstr(s.last, "\r\nContent-Type: application/octet-stream\r\n"));
    assert_non_null(strstr(s.last, "\r\n\r\n\x1f\x8b profile"));
}

static void test_later_is_tried_again(void **state)
{
    (void)state;
    struct server s = {.answers = {BUSY, SLOW, OK}, .nanswers = 3};
    start(&s);
    long status;
    char msg[512] = "";
    struct push_target t = {.timeout_s = 10, .retries = 2, .backoff_s = 0.01};
    assert_int_equal(post(&s, &t, &status, msg), 0);
    stop(&s);
    assert_int_equal(status, 200);
    assert_int_equal(s.served, 3);
    /* one retry too few: the last answer is the error */
    struct server s2 = {.answers = {BUSY, BUSY}, .nanswers = 2};
    start(&s2);
    t.retries = 1;
    assert_int_equal(post(&s2, &t, &status, msg), PYSCOPE_EIO);
    stop(&s2);
    assert_int_equal(status, 503);
    assert_non_null(strstr(msg, "/ingest answered 503 (2 tries): busy"));
    assert_null(strstr(msg, "name=")); /* the address without its query */
}

static void test_refusal_is_final(void **state)
{
    (void)state;
    struct server s = {.answers = {REFUSED, OK}, .nanswers = 1};
    start(&s);
    long status;
    char msg[512] = "";
    struct push_target t = {.timeout_s = 10, .retries = 3, .backoff_s = 0.01};
    assert_int_equal(post(&s, &t, &status, msg), PYSCOPE_EIO);
    stop(&s);
    assert_int_equal(status, 422);
    assert_int_equal(s.served, 1);
    /* on one line */
    assert_non_null(strstr(msg, "answered 422: {\"message\":\"too old\", \"code\":\"x\"}"));
    assert_null(strchr(msg, '\n'));
}

static void test_no_answer(void **state)
{
    (void)state;
    struct server s = {.nanswers = 0};
    start(&s);
    stop(&s); /* nothing listens on the port now */
    long status = -1;
    char msg[512] = "";
    struct push_target t = {.timeout_s = 10, .retries = 1, .backoff_s = 0.01};
    assert_int_equal(post(&s, &t, &status, msg), PYSCOPE_EIO);
    assert_int_equal(status, 0);
    assert_non_null(strstr(msg, "no answer from http://127.0.0.1:"));
    assert_non_null(strstr(msg, "/ingest (2 tries): "));
}

/* A bearer token goes as its header. */
static void test_bearer(void **state)
{
    (void)state;
    struct server s = {.answers = {OK}, .nanswers = 1};
    start(&s);
    long status;
    char msg[512] = "";
    struct push_target t = {.bearer = "tok3n", .timeout_s = 10, .backoff_s = 0.01};
    assert_int_equal(post(&s, &t, &status, msg), 0);
    stop(&s);
    assert_non_null(strstr(s.last, "\r\nAuthorization: Bearer tok3n\r\n"));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The server's Retry-After is waited for; one beyond a minute is final, as
 * is 501; a request read whole that got no answer is not sent again. */
static void test_what_is_not_tried_again(void **state)
{
    (void)state;
    long status;
    char msg[512] = "";
    struct push_target t = {.timeout_s = 10, .retries = 3, .backoff_s = 0.01};
    struct server s = {.answers = {LATER, OK}, .nanswers = 2};
    start(&s);
    double t0 = now_s();
    assert_int_equal(post(&s, &t, &status, msg), 0);
    assert_true(now_s() - t0 >= 0.9);
    stop(&s);
    assert_int_equal(s.served, 2);
    const char *final[] = {MUCH_LATER, NOT_DONE};
    for (size_t i = 0; i < 2; i++) {
        struct server f = {.answers = {final[i], OK}, .nanswers = 1};
        start(&f);
        assert_int_equal(post(&f, &t, &status, msg), PYSCOPE_EIO);
        stop(&f);
        assert_int_equal(f.served, 1);
    }
    struct server mute = {.answers = {NULL, OK}, .nanswers = 1};
    start(&mute);
    t.timeout_s = 1;
    assert_int_equal(post(&mute, &t, &status, msg), PYSCOPE_EIO);
    stop(&mute);
    assert_int_equal(mute.served, 1);
    assert_int_equal(status, 0);
    assert_non_null(strstr(msg, "no answer from"));
    assert_null(strstr(msg, "tries"));
}

static void test_escape(void **state)
{
    (void)state;
    char *e = push_escape("app{env=prod,k.1=a b/c~-_}");
    assert_string_equal(e, "app%7Benv%3Dprod%2Ck.1%3Da%20b%2Fc~-_%7D");
    free(e);
    e = push_escape("\xc3\xa9");
    assert_string_equal(e, "%C3%A9");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sent_as_given),
        cmocka_unit_test(test_later_is_tried_again),
        cmocka_unit_test(test_refusal_is_final),
        cmocka_unit_test(test_no_answer),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_what_is_not_tried_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

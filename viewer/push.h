/*
 * Sending profiles to a server over HTTP, for `pyscope push`: one POST of
 * a body with its query, retried while the server says it may take it
 * later. Built on libcurl (http and https; the system's certificates).
 * Its prefix is push_.
 */
#ifndef PYSCOPE_VIEWER_PUSH_H
#define PYSCOPE_VIEWER_PUSH_H

#include <stddef.h>

/* Where and how to send. */
struct push_target {
    const char *url;        /* the server's base, "http://host:4040" (a trailing '/' is fine) */
    const char *tenant;     /* the X-Scope-OrgID header's value; NULL for none */
    const char *basic_auth; /* "user:password" for HTTP basic authentication; NULL for none */
    const char *bearer;     /* a bearer token for the Authorization header; NULL for none */
    int retries;            /* further tries of a request the server may take later */
    long timeout_s;         /* for each try, connecting included */
    double backoff_s;       /* the wait before the first retry, doubled for each next one */
};

/*
 * POST len bytes at body to target->url's path (e.g. "/ingest") with the
 * query (already escaped), as application/octet-stream. A try the server
 * may take later is tried again, up to target->retries more times: no
 * answer (refused, unreachable, timed out), 408, 429 and 5xx. 0 with the
 * status in *status on a 2xx answer; else a negative PYSCOPE_E* code with
 * one line in msg: the server's status and the start of what it said, or
 * why no answer came (PYSCOPE_EIO), and *status the last status or 0.
 */
int push_post(const struct push_target *target, const char *path, const char *query,
              const void *body, size_t len, long *status, char *msg, size_t msglen);

/* Whether url can be a server's base: http or https, a host, no user or
 * password (they would show in messages: authentication has its own
 * options), no query or fragment (the request's path and query follow
 * it). 0, or -1 with why not in msg. */
int push_check_url(const char *url, char *msg, size_t msglen);

/* The query-string form of s (RFC 3986 unreserved characters kept, the
 * rest %XX), malloc'd; NULL when out of memory. */
char *push_escape(const char *s);

#endif

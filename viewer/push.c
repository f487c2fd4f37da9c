/*
 * The HTTP client of push.h, on libcurl's easy interface: one handle per
 * request, no redirects followed (a server that moved says so in its
 * status), signals left alone (CURLOPT_NOSIGNAL), and what the server
 * answers kept up to a few kilobytes for the message of a refusal.
 */
#include "push.h"
#include "error.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX 4096 /* of a server's answer, kept for its message */
#define SAID_MAX 200    /* of that, shown */

struct answer {
    char text[ANSWER_MAX];
    size_t len;
};

static size_t keep_answer(char *data, size_t size, size_t n, void *ctx)
{
    struct answer *a = ctx;
    size_t len = size * n, room = sizeof a->text - 1 - a->len;
    memcpy(a->text + a->len, data, len < room ? len : room);
    a->len += len < room ? len : room;
    a->text[a->len] = '\0';
    return len;
}

/* The start of what the server said, on one line. */
static void said(const struct answer *a, char *out, size_t cap)
{
    size_t n = 0;
    int space = 0;
    for (size_t i = 0; i < a->len && n + 4 < cap && n < SAID_MAX; i++) {
        unsigned char c = (unsigned char)a->text[i];
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = n > 0;
            continue;
        }
        if (space)
            out[n++] = ' ';
        space = 0;
        out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (n >= SAID_MAX && a->len > SAID_MAX)
        n += (size_t)snprintf(out + n, cap - n, "...");
    out[n < cap ? n : cap - 1] = '\0';
}

/* A status the server may answer otherwise later: it timed out, is
 * limiting, or failed; not what it does not do (501, 505). */
static int may_come_later(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505);
}

/* A failure before an answer that a later try may not meet: the server not
 * reached, or gone before it answered. Not one that will happen again (a
 * bad address, TLS refused), nor a timeout once the whole body was sent:
 * the server may have taken it, and a profile sent twice counts twice. */
static int may_reach_later(CURL *h, CURLcode rc, size_t len)
{
    curl_off_t sent = 0;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
        return 1;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
        curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent);
        return sent < (curl_off_t)len;
    default:
        return 0;
    }
}

#define RETRY_AFTER_MAX 60 /* seconds: a longer Retry-After is the last word */

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static int curl_ready;

char *push_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

int push_check_url(const char *url, char *msg, size_t msglen)
{
    CURLU *u = curl_url();
    if (!u) {
        snprintf(msg, msglen, "%s", pyscope_strerror(PYSCOPE_ENOMEM));
        return -1;
    }
    char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *fragment = NULL;
    int bad = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
        (strcmp(scheme, "http") && strcmp(scheme, "https")))
        bad = snprintf(msg, msglen, "'%s' is not an http:// or https:// address", url);
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        bad = snprintf(msg, msglen,
                       "the address has a user name or password in it; give them with "
                       "--basic-auth or $PYSCOPE_PUSH_BASIC_AUTH");
    else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
             curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK)
        bad = snprintf(msg, msglen, "'%s' has a query or fragment; give the server's base address",
                       url);
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(u);
    return bad ? -1 : 0;
}

/* One try: 0 with *status set when the server answered, or PYSCOPE_EIO
 * with why not in msg, and in *again whether a later try may do better. */
static int post_once(CURL *h, size_t len, struct answer *a, long *status, int *again, char *msg,
                     size_t msglen)
{
    char why[CURL_ERROR_SIZE] = "";
    a->len = 0;
    a->text[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK) {
        *status = 0;
        *again = may_reach_later(h, rc, len);
        snprintf(msg, msglen, "%s", why[0] ? why : curl_easy_strerror(rc));
        return PYSCOPE_EIO;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    *again = may_come_later(*status);
    return 0;
}

int push_post(const struct push_target *t, const char *path, const char *query, const void *body,
              size_t len, long *status, char *msg, size_t msglen)
{
    *status = 0;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(msg, msglen, "cannot start libcurl");
            return PYSCOPE_ENOMEM;
        }
        curl_ready = 1;
    }
    size_t base = strlen(t->url);
    while (base && t->url[base - 1] == '/')
        base--;
    size_t urllen = base + strlen(path) + strlen(query) + 2;
    char *url = malloc(urllen);
    CURL *h = curl_easy_init();
    struct curl_slist *headers = NULL, *more;
    char *tenant = NULL, *bearer = NULL;
    struct answer *a = calloc(1, sizeof *a);
    int err = PYSCOPE_ENOMEM;
    if (!url || !h || !a)
        goto out;
    snprintf(url, urllen, "%.*s%s%s%s", (int)base, t->url, path, *query ? "?" : "", query);
    if (!(headers = curl_slist_append(NULL, "Content-Type: application/octet-stream")))
        goto out;
    if (t->tenant) {
        size_t n = strlen(t->tenant) + 16;
        if (!(tenant = malloc(n)))
            goto out;
        snprintf(tenant, n, "X-Scope-OrgID: %s", t->tenant);
        if (!(more = curl_slist_append(headers, tenant)))
            goto out;
        headers = more;
    }
    if (t->bearer) {
        size_t n = strlen(t->bearer) + 24;
        if (!(bearer = malloc(n)))
            goto out;
        snprintf(bearer, n, "Authorization: Bearer %s", t->bearer);
        if (!(more = curl_slist_append(headers, bearer)))
            goto out;
        headers = more;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "pyscope/" PYSCOPE_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, t->timeout_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, t->timeout_s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    if (t->basic_auth) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, t->basic_auth);
    }
    double wait = t->backoff_s;
    char why[512] = "";
    for (int try = 0;; try++) {
        int again = 0;
        err = post_once(h, len, a, status, &again, why, sizeof why);
        if (!err && *status >= 200 && *status < 300)
            break;
        curl_off_t later = -1; /* the server's Retry-After, in seconds */
        if (!err)
            curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &later);
        if (try >= t->retries || !again || later > RETRY_AFTER_MAX) {
            char text[SAID_MAX + 8], after[32] = "";
            said(a, text, sizeof text);
            if (try)
                snprintf(after, sizeof after, " (%d tries)", try + 1);
            /* the address without its query: the request is named by the caller */
            int at = (int)(base + strlen(path));
            if (err)
                snprintf(msg, msglen, "no answer from %.*s%s: %s", at, url, after, why);
            else
                snprintf(msg, msglen, "%.*s answered %ld%s%s%s", at, url, *status, after,
                         text[0] ? ": " : "", text);
            err = err ? err : PYSCOPE_EIO;
            break;
        }
        nap((double)later > wait ? (double)later : wait);
        wait *= 2;
    }
out:
    if (err == PYSCOPE_ENOMEM)
        snprintf(msg, msglen, "%s", pyscope_strerror(err));
    curl_slist_free_all(headers);
    if (h)
        curl_easy_cleanup(h);
    free(a);
    free(url);
    free(tenant);
    free(bearer);
    return err;
}

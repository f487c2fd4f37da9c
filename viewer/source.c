/*
 * The source-line cache of source.h. A report asks for a few dozen lines
 * spread over a few files, so each file is read whole on first use (up to
 * a size limit: a generated module of hundreds of MiB is not worth it) and
 * its line starts indexed; a file that cannot be read is remembered as
 * such, so it is tried once. The files are the program's and may have
 * changed since the run: the line shown is what is there now.
 */
#include "source.h"
#include "error.h"
#include "format.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES (64u << 20)

struct src_file {
    char *name;     /* as asked for */
    char *text;     /* NULL when unreadable */
    size_t *starts; /* offset of each line */
    size_t nlines;
};

struct src_cache {
    char *cwd;
    struct src_file *files;
    size_t nfiles, cap;
};

struct src_cache *src_cache_new(const char *cwd)
{
    struct src_cache *c = calloc(1, sizeof *c);
    if (c && cwd && !(c->cwd = strdup(cwd))) {
        free(c);
        return NULL;
    }
    return c;
}

void src_cache_free(struct src_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nfiles; i++) {
        free(c->files[i].name);
        free(c->files[i].text);
        free(c->files[i].starts);
    }
    free(c->files);
    free(c->cwd);
    free(c);
}

/* The whole of a regular file at path, NUL-terminated, or NULL. */
static char *read_file(const char *path)
{
    struct stat sb;
    FILE *f = NULL;
    char *text = NULL;

    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > MAX_FILE_BYTES)
        return NULL;
    if (!(f = fopen(path, "rb")) || !(text = malloc((size_t)sb.st_size + 1)))
        goto out;
    size_t n = fread(text, 1, (size_t)sb.st_size, f);
    if (ferror(f)) {
        free(text);
        text = NULL;
        goto out;
    }
    text[n] = '\0';
out:
    if (f)
        fclose(f);
    return text;
}

/* Read and index the file called name into fl; fl->text stays NULL when unreadable. */
static void load(const struct src_cache *c, struct src_file *fl)
{
    if (fl->name[0] == '<') /* "<string>", "<frozen importlib._bootstrap>" */
        return;
    if (fl->name[0] != '/' && c->cwd) {
        size_t n = strlen(c->cwd) + strlen(fl->name) + 2;
        char *path = malloc(n);
        if (path) {
            snprintf(path, n, "%s/%s", c->cwd, fl->name);
            fl->text = read_file(path);
            free(path);
        }
    }
    if (!fl->text)
        fl->text = read_file(fl->name);
    if (!fl->text)
        return;
    size_t n = 1;
    for (const char *s = fl->text; *s; s++)
        n += *s == '\n';
    if (!(fl->starts = malloc(n * sizeof *fl->starts))) {
        free(fl->text);
        fl->text = NULL;
        return;
    }
    fl->starts[fl->nlines++] = 0;
    for (const char *s = fl->text; *s; s++)
        if (*s == '\n' && s[1])
            fl->starts[fl->nlines++] = (size_t)(s + 1 - fl->text);
}

static struct src_file *find(struct src_cache *c, const char *filename)
{
    for (size_t i = 0; i < c->nfiles; i++)
        if (!strcmp(c->files[i].name, filename))
            return &c->files[i];
    if (util_grow((void **)&c->files, &c->cap, c->nfiles, sizeof *c->files) < 0)
        return NULL;
    struct src_file *fl = &c->files[c->nfiles];
    *fl = (struct src_file){.name = strdup(filename)};
    if (!fl->name)
        return NULL;
    c->nfiles++;
    load(c, fl);
    return fl;
}

const char *src_line(struct src_cache *c, const char *filename, int64_t line, char *buf, size_t len,
                     size_t maxcols)
{
    if (!c || !filename || line < 1 || !len)
        return NULL;
    struct src_file *fl = find(c, filename);
    if (!fl || !fl->text || (uint64_t)line > fl->nlines)
        return NULL;
    const char *s = fl->text + fl->starts[line - 1];
    while (*s == ' ' || *s == '\t' || *s == '\f')
        s++;
    size_t n = strcspn(s, "\r\n");
    char *tmp = malloc(n + 1);
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < n; i++)
        tmp[i] = s[i] == '\t' ? ' ' : s[i];
    while (n > 0 && tmp[n - 1] == ' ')
        n--;
    tmp[n] = '\0';
    fmt_ellipsize(buf, len, tmp, maxcols);
    free(tmp);
    return buf;
}

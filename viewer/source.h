/*
 * Source lines for the viewer's reports: `file:line` shown with the code
 * that is there, when the file can still be read. Each file is read once
 * per cache, however many lines are asked of it.
 *
 * Its prefix is src_.
 */
#ifndef PYSCOPE_VIEWER_SOURCE_H
#define PYSCOPE_VIEWER_SOURCE_H

#include <stddef.h>
#include <stdint.h>

struct src_cache;

/*
 * A new cache; relative file names are looked up under cwd (the run's
 * directory, copied; may be NULL) and then the current directory. NULL when
 * out of memory.
 */
struct src_cache *src_cache_new(const char *cwd);

void src_cache_free(struct src_cache *c);

/*
 * Line number line (from 1) of filename, without its indentation or line
 * end, tabs as spaces, cut to maxcols code points with "..." (into buf of
 * len bytes, which is returned). NULL when there is no such line, the file
 * cannot be read or is not a regular file, or its name is a pseudo-file
 * such as "<string>"; also when out of memory, which matters little here.
 */
const char *src_line(struct src_cache *c, const char *filename, int64_t line, char *buf, size_t len,
                     size_t maxcols);

#endif

/*
 * tracemalloc.Filter's file name patterns, matched as Python matches them
 * (fnmatch on POSIX over code points), for `stats` and `diff`'s --include
 * and --exclude.
 */
#ifndef PYSCOPE_VIEWER_FNPATTERN_H
#define PYSCOPE_VIEWER_FNPATTERN_H

/*
 * Whether filename matches pattern as tracemalloc.Filter matches a frame:
 * both normalised (".pyc" read as ".py"), then Python's fnmatch on POSIX:
 * '*' any text, '/' included; '?' one character; "[seq]", "[!seq]" with
 * ranges; no escapes (a backslash is itself); an unclosed '[' is literal.
 * Characters are UTF-8 code points. 1 or 0.
 */
int fnpattern_match(const char *pattern, const char *filename);

#endif

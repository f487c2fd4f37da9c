/*
 * What every command of the pyscope executable shares: its messages on
 * stderr and its exit statuses (cli.h).
 */
#include "cli.h"
#include "pyname.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    fputs("pyscope: ", stderr);
    /* A path or a name from the command line need not be UTF-8: a byte
     * that is not is written \xNN, as the viewer writes it. */
    for (size_t i = 0; i < len;) {
        size_t k = (unsigned char)msg[i] < 0x80 ? 1 : pyname_utf8_len(msg + i, len - i);
        if (k)
            fwrite(msg + i, 1, k, stderr);
        else
            fprintf(stderr, "\\x%02x", (unsigned char)msg[i]);
        i += k ? k : 1;
    }
    fputc('\n', stderr);
}

int cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

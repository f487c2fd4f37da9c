/*
 * The end of a viewer command, of vcmd.h.
 */
#include "vcmd.h"
#include "cli.h"
#include "db.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int vcmd_finish(sqlite3 *db, const char *path, int err, int status)
{
    if (err < 0) {
        if (err == PYSCOPE_EDB)
            cli_error("cannot read '%s': %s", path, sqlite3_errmsg(db));
        else
            cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    vdb_close(db);
    if ((fflush(stdout) == EOF || ferror(stdout)) && status == CLI_OK) {
        cli_error("cannot write '(standard output)': %s", strerror(errno ? errno : EIO));
        status = CLI_FAIL;
    }
    return status;
}

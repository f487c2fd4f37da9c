/* The pyscope executable: everything happens in cli_main. */
#include "cli.h"

#include <sqlite3.h>

int main(int argc, char **argv)
{
    /* Each thread of pyscope uses its own connection: SQLite need not count
     * its memory under a global lock at every allocation. Before any other
     * SQLite call. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return cli_main(argc, argv);
}

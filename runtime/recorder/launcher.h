/*
 * `pyscope profile`: choose the interpreter, start the program under it with
 * the _pyscope bootstrap, and run the recorder until the program ends.
 */
#ifndef PYSCOPE_LAUNCHER_H
#define PYSCOPE_LAUNCHER_H

/*
 * Called with the database's path once a run is recorded, unless the user
 * asked for quiet (-q): the command prints the summary.
 */
typedef void (*launcher_report)(const char *db_path);

/* The command `pyscope profile` (cli.h's contract), and its usage text. */
int launcher_profile(int argc, char **argv, launcher_report report);
extern const char launcher_usage[];

/* The CPython versions this build has an extension for: "3.11, 3.12". */
extern const char launcher_pythons[];

#endif

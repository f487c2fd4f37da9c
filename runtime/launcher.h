/*
 * `pyscope profile`: choose the interpreter, start the program under it with
 * the _pyscope bootstrap, and run the recorder until the program ends.
 */
#ifndef PYSCOPE_LAUNCHER_H
#define PYSCOPE_LAUNCHER_H

int cmd_profile(int argc, char **argv);
extern const char cmd_profile_usage[];

#endif

/*
 * Native symbols for the native stacks (--native): addresses of the
 * process's own code turned into function names after sampling, never in
 * the signal handler. Every loaded object's ELF symbol tables are read (the
 * static .symtab as well as the exported .dynsym, so static functions get
 * their names too), once per object. The table of an object's symbols is
 * a struct symtab: its functions are symtab_.
 */
#ifndef PYSCOPE_SYMBOLS_H
#define PYSCOPE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct symtab;

struct symtab *symtab_new(void);
void symtab_free(struct symtab *t);

/*
 * Learn the objects loaded into the process now (dl_iterate_phdr). Objects
 * seen before keep their symbols; objects unloaded since are kept too, so
 * addresses sampled while they were loaded still resolve, unless another
 * object was loaded over them. 0 or PYSCOPE_ENOMEM.
 */
int symtab_refresh(struct symtab *t);

struct sym_info {
    const char *name;   /* the function; NULL when no symbol covers addr */
    const char *object; /* the object's path ("" for none) */
    uintptr_t offset;   /* addr minus the function's start (or the object's, without name) */
};

/*
 * What addr is: 1 with *out filled (strings owned by t, valid until
 * symtab_free), 0 when no loaded object contains it.
 */
int symtab_lookup(struct symtab *t, uintptr_t addr, struct sym_info *out);

/* The short name of an object path: "libz.so.1" for "/usr/lib/x86_64-linux-gnu/libz.so.1". */
const char *symtab_basename(const char *object);

#endif

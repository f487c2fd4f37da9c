/*
 * The symbol tables of symbols.h. Each loaded object is one entry: where
 * its executable segments are mapped and, read the first time an address
 * falls in it, its function symbols from both .symtab and .dynsym, sorted
 * by address for a binary search. The file is mapped read-only while it is
 * read and unmapped after; names are copied into one pool per object.
 */
#define _GNU_SOURCE
#include "symbols.h"
#include "error.h"
#include "util.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

struct sym {
    uintptr_t start; /* relative to the object's load address */
    uintptr_t size;
    uint32_t name; /* offset in the pool */
};

struct object {
    char *path;
    uintptr_t base;   /* load address (dlpi_addr) */
    uintptr_t lo, hi; /* its executable segments, absolute */
    int read;         /* symbols read (or tried) */
    struct sym *syms;
    size_t nsyms, capsyms;
    char *pool;
    size_t pool_len, pool_cap;
};

/* An object as dl_iterate_phdr shows it; name is an offset in names. */
struct found {
    uintptr_t base, lo, hi;
    size_t name;
};

struct symtab {
    struct object *objs; /* newest first in lookups: a later mapping wins */
    size_t n, cap;
    struct found *found; /* symtab_refresh's, kept for the next one */
    size_t capfound;
    char *names;
    size_t capnames;
};

/* First sizes: a Python process maps some tens of objects, a C library
 * has thousands of function symbols (the pool holds their names), and a
 * path is rarely longer than NAME_BYTES; all of them grow as needed. */
#define OBJECTS_FIRST 32
#define SYMS_FIRST 256
#define POOL_FIRST 4096
#define FOUND_FIRST 256
#define NAME_BYTES 128 /* names' bytes kept per object found */

struct symtab *symtab_new(void)
{
    return calloc(1, sizeof(struct symtab));
}

void symtab_free(struct symtab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->objs[i].path);
        free(t->objs[i].syms);
        free(t->objs[i].pool);
    }
    free(t->objs);
    free(t->found);
    free(t->names);
    free(t);
}

const char *symtab_basename(const char *object)
{
    const char *slash = strrchr(object, '/');
    return slash ? slash + 1 : object;
}

/* ---- reading an ELF file ------------------------------------------------ */

static int cmp_sym(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->size > y->size ? -1 : x->size < y->size; /* the widest first */
}

/* Function symbols of section table sh (n sections) of the image at p. */
static int read_syms(struct object *o, const uint8_t *p, size_t len, const Elf64_Shdr *sh, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM) || sh[i].sh_link >= n ||
            sh[i].sh_entsize != sizeof(Elf64_Sym) || sh[i].sh_offset + sh[i].sh_size > len)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (strs->sh_offset + strs->sh_size > len)
            continue;
        const Elf64_Sym *s = (const Elf64_Sym *)(p + sh[i].sh_offset);
        const char *names = (const char *)(p + strs->sh_offset);
        size_t count = sh[i].sh_size / sizeof *s;
        for (size_t k = 0; k < count; k++) {
            int type = ELF64_ST_TYPE(s[k].st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s[k].st_shndx == SHN_UNDEF ||
                !s[k].st_value || s[k].st_name >= strs->sh_size)
                continue;
            const char *name = names + s[k].st_name;
            size_t nlen = strnlen(name, strs->sh_size - s[k].st_name);
            if (util_reserve((void **)&o->syms, &o->capsyms, o->nsyms + 1, sizeof *o->syms,
                             SYMS_FIRST) < 0 ||
                util_reserve((void **)&o->pool, &o->pool_cap, o->pool_len + nlen + 1, 1,
                             POOL_FIRST) < 0)
                return PYSCOPE_ENOMEM;
            memcpy(o->pool + o->pool_len, name, nlen);
            o->pool[o->pool_len + nlen] = '\0';
            o->syms[o->nsyms++] = (struct sym){(uintptr_t)s[k].st_value, (uintptr_t)s[k].st_size,
                                               (uint32_t)o->pool_len};
            o->pool_len += nlen + 1;
        }
    }
    return 0;
}

/* In address order, one symbol per address: the widest (aliases and the
 * debug file's copies share a start). */
static void sort_syms(struct object *o)
{
    if (o->nsyms < 2)
        return; /* also: no array at all */
    qsort(o->syms, o->nsyms, sizeof *o->syms, cmp_sym);
    size_t w = 0;
    for (size_t r = 0; r < o->nsyms; r++)
        if (!w || o->syms[w - 1].start != o->syms[r].start)
            o->syms[w++] = o->syms[r];
    o->nsyms = w;
}

/*
 * The separate debug file of a stripped object, found by its build id as
 * debuggers find it (/usr/lib/debug/.build-id/xx/rest.debug), into path;
 * 0 when it has none.
 */
static int debug_file(const uint8_t *p, size_t len, const Elf64_Shdr *sh, size_t n, char *path,
                      size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        if (sh[i].sh_type != SHT_NOTE || sh[i].sh_offset + sh[i].sh_size > len)
            continue;
        const uint8_t *q = p + sh[i].sh_offset, *end = q + sh[i].sh_size;
        while (q + sizeof(Elf64_Nhdr) <= end) {
            const Elf64_Nhdr *nh = (const Elf64_Nhdr *)q;
            const uint8_t *name = q + sizeof *nh;
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                nh->n_descsz >= 2 && nh->n_descsz <= 64) {
                size_t k = (size_t)snprintf(path, cap, "/usr/lib/debug/.build-id/%02x/", desc[0]);
                for (uint32_t b = 1; b < nh->n_descsz && k + 3 < cap; b++)
                    k += (size_t)snprintf(path + k, cap - k, "%02x", desc[b]);
                snprintf(path + k, cap - k, ".debug");
                return access(path, R_OK) == 0;
            }
            q = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 0;
}

/* The function symbols of the ELF file at path into o; with follow, also
 * those of its separate debug file. */
static int read_file(struct object *o, const char *path, int follow)
{
    int fd = util_fd_high(open(path, O_RDONLY | O_CLOEXEC)); /* not the program's next one */
    if (fd < 0)
        return 0; /* no file (the vDSO): addresses keep the object's name only */
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return 0;
    const uint8_t *p = map;
    size_t len = (size_t)st.st_size;
    const Elf64_Ehdr *eh = map;
    int err = 0;
    char debug[PATH_MAX];
    int has_debug = 0;
    if (!memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
        eh->e_shentsize == sizeof(Elf64_Shdr) &&
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <= len) {
        const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
        err = read_syms(o, p, len, sh, eh->e_shnum);
        has_debug = follow && !err && debug_file(p, len, sh, eh->e_shnum, debug, sizeof debug);
    }
    munmap(map, len);
    return err || !has_debug ? err : read_file(o, debug, 0);
}

/*
 * The vDSO, the kernel's code mapped into every process (clock_gettime,
 * gettimeofday), has no file: its image in memory is a whole ELF object,
 * section headers and symbol tables included.
 */
static int read_vdso(struct object *o, const uint8_t *p)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr))
        return 0;
    size_t len = eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr);
    return read_syms(o, p, len, (const Elf64_Shdr *)(p + eh->e_shoff), eh->e_shnum);
}

static int read_object(struct object *o)
{
    o->read = 1;
    uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    int err = vdso && vdso == o->base ? read_vdso(o, (const uint8_t *)vdso)
                                      : read_file(o, o->path, 1);
    if (!err)
        sort_syms(o);
    return err;
}

/* ---- the loaded objects ------------------------------------------------- */

/*
 * dl_iterate_phdr holds the loader's lock while it calls back, and a thread
 * interrupted inside malloc may wait for that lock in the sampler's handler
 * (the unwinder takes it too): the callback must not allocate. It copies
 * what it sees into room made beforehand, and the objects are added after.
 */
struct scan {
    struct symtab *t;
    size_t n, used;
    int full; /* out of room: make more and look again */
};

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *sc = arg;
    struct symtab *t = sc->t;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        lo = a < lo ? a : lo;
        hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
    }
    if (lo >= hi)
        return 0;
    char exe[PATH_MAX];
    const char *path = info->dlpi_name;
    if (!path || !*path) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        path = exe;
    }
    size_t len = strlen(path) + 1;
    if (sc->n == t->capfound || sc->used + len > t->capnames) {
        sc->full = 1;
        return 1;
    }
    memcpy(t->names + sc->used, path, len);
    t->found[sc->n++] = (struct found){info->dlpi_addr, lo, hi, sc->used};
    sc->used += len;
    return 0;
}

/* Add the object f unless known; 0 or PYSCOPE_ENOMEM. */
static int add_object(struct symtab *t, const struct found *f)
{
    const char *path = t->names + f->name;
    for (size_t i = 0; i < t->n; i++) {
        struct object *o = &t->objs[i];
        if (o->base == f->base && o->lo == f->lo && !strcmp(o->path, path))
            return 0;
    }
    if (util_reserve((void **)&t->objs, &t->cap, t->n + 1, sizeof *t->objs, OBJECTS_FIRST) < 0)
        return PYSCOPE_ENOMEM;
    char *copy = strdup(path);
    if (!copy)
        return PYSCOPE_ENOMEM;
    /* Newest first: move the others up. */
    memmove(t->objs + 1, t->objs, t->n * sizeof *t->objs);
    t->objs[0] = (struct object){.path = copy, .base = f->base, .lo = f->lo, .hi = f->hi};
    t->n++;
    return 0;
}

int symtab_refresh(struct symtab *t)
{
    struct scan sc;
    for (;;) {
        sc = (struct scan){.t = t};
        if (t->capfound)
            dl_iterate_phdr(collect, &sc);
        if (t->capfound && !sc.full)
            break;
        /* Twice the room, the names' bytes in step with it. */
        if (util_reserve((void **)&t->found, &t->capfound, t->capfound + 1, sizeof *t->found,
                         FOUND_FIRST) < 0 ||
            util_reserve((void **)&t->names, &t->capnames, t->capfound * NAME_BYTES, 1,
                         FOUND_FIRST * NAME_BYTES) < 0)
            return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < sc.n; i++) {
        int err = add_object(t, &t->found[i]);
        if (err < 0)
            return err;
    }
    return 0;
}

int symtab_lookup(struct symtab *t, uintptr_t addr, struct sym_info *out)
{
    for (size_t i = 0; i < t->n; i++) {
        struct object *o = &t->objs[i];
        if (addr < o->lo || addr >= o->hi)
            continue;
        if (!o->read && read_object(o) < 0)
            return PYSCOPE_ENOMEM;
        uintptr_t rel = addr - o->base;
        out->object = o->path;
        out->name = NULL;
        out->offset = rel;
        size_t lo = 0, hi = o->nsyms;
        while (lo < hi) { /* the last symbol starting at or before rel */
            size_t mid = lo + (hi - lo) / 2;
            if (o->syms[mid].start <= rel)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo) {
            const struct sym *s = &o->syms[lo - 1];
            /* A symbol without a size covers up to the next one. */
            if (rel < s->start + s->size ||
                (!s->size && (lo == o->nsyms || rel < o->syms[lo].start))) {
                out->name = o->pool + s->name;
                out->offset = rel - s->start;
            }
        }
        return 1;
    }
    return 0;
}

/*
 * srcline.h with libdwfl: the process reports its own modules from
 * /proc/self/maps, and each module's debug information is looked for in
 * the object itself, then by its build id under /usr/lib/debug/.build-id.
 * Answers are kept by address, and on disk by the build id of the object
 * they are about (see struct objcache).
 */
#include "srcline.h"
#include "intern.h"
#include "util.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * An object's answers, kept on disk. Reading an object's DWARF costs: the
 * interpreter's debug file is tens of MiB of compressed sections, inflated
 * whole on first use, which cost a --native run some 0.4 s of CPU and
 * 50 MiB in the program, every run, for the few hundred addresses its
 * samples name. The answers go to a file named by the object's build id,
 * one line per address asked ("offset exact line file", or "offset -" for
 * none; offset from the object's first mapped address, in hex), appended as
 * they are found; a later run of the same build reads them first and reads
 * DWARF only for addresses new to the file. A line that does not parse is
 * skipped; a file of someone else's, or one others may write, is not used.
 */
#define OBJCACHE_DIR "srclines-1"
#define OBJCACHE_MAX_BYTES (8 << 20) /* beyond: neither read nor grown */

struct objcache {
    Dwfl_Module *mod;
    Dwarf_Addr start;
    struct imap *answers;                        /* offset -> as srcline's seen */
    char name[sizeof OBJCACHE_DIR + 2 * 64 + 2]; /* util_cache_path's; "" without a build id */
    int fd;                                      /* appended to; -1 until opened */
    int write;                                   /* whether to append */
};

struct srcline {
    Dwfl *dwfl;
    char *debuginfo_path;
    Dwfl_Callbacks callbacks;
    struct imap *seen; /* addr -> index in files << 32 | line, or -1 when none */
    char **files;
    size_t nfiles, capfiles;
    struct smap *file_index;
    struct objcache *objs; /* the objects asked about since the last forget */
    size_t nobjs, capobjs;
};
#define FILES_FIRST 64 /* source files of the native frames seen: a few dozen */

static int report(struct srcline *s)
{
    dwfl_report_begin_add(s->dwfl);
    if (dwfl_linux_proc_report(s->dwfl, getpid()) != 0)
        return -1;
    return dwfl_report_end(s->dwfl, NULL, NULL) == 0 ? 0 : -1;
}

/*
 * libdwfl keeps the files it opens for as long as their module lives: they
 * go where pyscope's own descriptors go, out of the program's way. Debug
 * files are looked for by build id only (/usr/lib/debug/.build-id, where
 * Debian's -dbg and -dbgsym packages put them): the standard search would
 * go on to ask debuginfod servers, loading a network client into the
 * program and reaching out from it.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
    int fd = dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
    return *elfp ? fd : util_fd_high(fd);
}

/* The name of mod's entry in directory dir of the cache (util_cache_path),
 * by its build id, with suffix: 0, or -1 when it has no build id. The
 * build id is read from the object itself, not its debug file. */
static int cache_name(Dwfl_Module *mod, const char *dir, const char *suffix, char *out, size_t len)
{
    Dwarf_Addr bias;
    const unsigned char *id;
    GElf_Addr at;
    int n = dwfl_module_getelf(mod, &bias) ? dwfl_module_build_id(mod, &id, &at) : 0;
    if (n <= 0 || n > 64 || len < strlen(dir) + 2 * (size_t)n + strlen(suffix) + 2)
        return -1;
    size_t k = (size_t)snprintf(out, len, "%s/", dir);
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, len - k, "%02x", id[i]);
    snprintf(out + k, len - k, "%s", suffix);
    return 0;
}

/* Whether the ELF file fd has a compressed section (SHF_COMPRESSED). */
static int has_compressed(int fd)
{
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int found = 0;
    for (Elf_Scn *scn = NULL; e && !found && (scn = elf_nextscn(e, scn));) {
        GElf_Shdr sh;
        found = gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED);
    }
    elf_end(e);
    return found;
}

/* Copy ELF file from into to (empty, open for reading and writing), its
 * compressed sections inflated. 0, or -1. */
static int inflated_copy(int from, int to)
{
    char buf[1 << 16];
    off_t at = 0;
    for (ssize_t n; (n = pread(from, buf, sizeof buf, at)) != 0; at += n)
        if (n < 0 || write(to, buf, (size_t)n) != n)
            return -1;
    Elf *e = elf_begin(to, ELF_C_RDWR, NULL);
    int err = !e;
    for (Elf_Scn *scn = NULL; !err && (scn = elf_nextscn(e, scn));) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh))
            err = 1;
        else if (sh.sh_flags & SHF_COMPRESSED)
            err = elf_compress(scn, 0, 0) < 0;
    }
    if (!err && elf_update(e, ELF_C_WRITE) < 0)
        err = 1;
    elf_end(e);
    return err ? -1 : 0;
}

/* fd, the file at path, with *file set to a copy of path; -1 (fd closed)
 * without memory. */
static int named_fd(int fd, const char *path, char **file)
{
    if ((*file = strdup(path)))
        return fd;
    close(fd);
    return -1;
}

/*
 * The debug file of mod, found by its build id as debuggers find it
 * (/usr/lib/debug/.build-id/xx/rest.debug), or an inflated copy of it.
 * Debian's -dbg and -dbgsym packages compress the DWARF sections, and libdw
 * inflates every one of them when it opens the file: for the interpreter's,
 * some 45 MiB and 0.3 s of CPU, in the program, on every run that names a
 * native line. The copy is inflated once, by the first run that opens the
 * file, and kept by build id in the cache (debug-1/<build id>.debug, made
 * under a name of its own and renamed, so a run never opens half of one):
 * libdw maps it and reads only the parts a lookup needs. Its descriptor
 * with *file set, or -1 when there is no such file.
 */
static int debug_file(Dwfl_Module *mod, char **file)
{
    char name[256], copy_path[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 32];
    if (cache_name(mod, "debug-1", ".debug", name, sizeof name) < 0)
        return -1;
    const char *hex = strchr(name, '/') + 1;
    snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s", hex, hex + 2);
    int have_copy = util_cache_path(name, copy_path, sizeof copy_path) == 0;
    int fd = have_copy ? util_cache_open(copy_path, O_RDONLY) : -1;
    if (fd >= 0)
        return named_fd(fd, copy_path, file);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    if (have_copy && has_compressed(fd)) {
        util_cache_dirs(name);
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", copy_path, (long)getpid());
        int to = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (to >= 0) {
            int made = inflated_copy(fd, to) == 0 && rename(tmp, copy_path) == 0;
            close(to);
            int copy = made ? util_cache_open(copy_path, O_RDONLY) : -1;
            if (!made)
                unlink(tmp);
            if (copy >= 0) {
                close(fd);
                return named_fd(copy, copy_path, file);
            }
        }
    }
    return named_fd(fd, path, file);
}

/* libdwfl's search by build id opens the file itself, where a copy cannot
 * stand in for it: it is left the shared file (dwz's) that a debug file
 * names, the one request made with a debug file's name. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    size_t len = file_name ? strlen(file_name) : 0;
    if (len < 6 || strcmp(file_name + len - 6, ".debug"))
        return util_fd_high(debug_file(mod, debuginfo_file_name));
    return util_fd_high(dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                                     debuglink_file, debuglink_crc,
                                                     debuginfo_file_name));
}

static void objcaches_drop(struct srcline *s);

struct srcline *srcline_new(void)
{
    struct srcline *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->callbacks = (Dwfl_Callbacks){.find_elf = find_elf,
                                    .find_debuginfo = find_debuginfo,
                                    .debuginfo_path = &s->debuginfo_path};
    if (!(s->dwfl = dwfl_begin(&s->callbacks)) || !(s->seen = imap_new()) ||
        !(s->file_index = smap_new()) || report(s) < 0) {
        srcline_free(s);
        return NULL;
    }
    return s;
}

void srcline_free(struct srcline *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    imap_free(s->seen);
    objcaches_drop(s);
    free(s->objs);
    smap_free(s->file_index);
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i]);
    free(s->files);
    free(s);
}

/* The index of file in s->files, added when new; -1 without memory. */
static int64_t file_of(struct srcline *s, const char *file)
{
    int64_t idx;
    size_t len = strlen(file);
    if (smap_get(s->file_index, file, len, &idx))
        return idx;
    if (util_reserve((void **)&s->files, &s->capfiles, s->nfiles + 1, sizeof *s->files,
                     FILES_FIRST) < 0)
        return -1;
    if (!(s->files[s->nfiles] = strdup(file)))
        return -1;
    if (smap_put(s->file_index, file, len, (int64_t)s->nfiles) < 0)
        return -1;
    return (int64_t)s->nfiles++;
}

void srcline_forget(struct srcline *s)
{
    struct imap *fresh = imap_new();
    if (!fresh)
        return;
    imap_free(s->seen);
    s->seen = fresh;
    objcaches_drop(s);          /* their modules may go */
    dwfl_report_begin(s->dwfl); /* objects not reported again go */
    if (dwfl_linux_proc_report(s->dwfl, getpid()) == 0)
        dwfl_report_end(s->dwfl, NULL, NULL);
}

int srcline_same_file(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb)
        return !strcmp(a, b);
    return b[0] != '/' && la > lb && a[la - lb - 1] == '/' && !strcmp(a + la - lb, b);
}

/*
 * The function around addr, and addr's line in it: the DIE scopes at addr
 * run from the innermost out, through code inlined into the function (whose
 * outermost call site is the function's own line) to the function itself,
 * whose declaration names its file. 0 when the debug information does not
 * say.
 */
static int function_line(Dwfl_Module *mod, Dwarf_Addr addr, const char **file, int *line,
                         int *exact)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias), *scopes = NULL;
    int n = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0, found = 0;
    int inlined = -1;
    for (int i = 0; i < n && !found; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine) {
            inlined = i;
        } else if (tag == DW_TAG_subprogram) {
            *file = dwarf_decl_file(&scopes[i]);
            found = *file != NULL;
        }
    }
    if (found && inlined >= 0) {
        Dwarf_Attribute at;
        Dwarf_Word w;
        if (dwarf_attr(&scopes[inlined], DW_AT_call_line, &at) && dwarf_formudata(&at, &w) == 0)
            *line = (int)w;
        else
            found = 0;
    } else {
        /* Not in a scope the tree says (link-time optimised code can keep
         * its inlined scopes where this search does not look): the line
         * table's line, in the function's file if that is known. */
        Dwfl_Line *l = dwfl_module_getsrc(mod, addr);
        const char *src = l ? dwfl_lineinfo(l, NULL, line, NULL, NULL, NULL) : NULL;
        if (!found && src)
            *file = src;
        found = src && *file && srcline_same_file(src, *file);
    }
    *exact = n > 0 && found;
    free(scopes);
    return found && *line > 0;
}

static void objcaches_drop(struct srcline *s)
{
    for (size_t i = 0; i < s->nobjs; i++) {
        imap_free(s->objs[i].answers);
        if (s->objs[i].fd >= 0)
            close(s->objs[i].fd);
    }
    s->nobjs = 0;
}

/* An answer as seen keeps it: -1 none, else exact << 62 | file << 32 | line. */
static int64_t packed(int64_t file, int exact, int line)
{
    return (int64_t)exact << 62 | file << 32 | (uint32_t)line;
}

/* One line of an object's file into o; 0, or -1 when it does not parse. */
static int objcache_parse(struct srcline *s, struct objcache *o, char *p)
{
    char *end;
    unsigned long long off = strtoull(p, &end, 16);
    if (end == p || *end != ' ')
        return -1;
    p = end + 1;
    if (!strcmp(p, "-"))
        return imap_put(o->answers, off, 0, -1);
    if ((p[0] != '0' && p[0] != '1') || p[1] != ' ')
        return -1;
    int exact = p[0] == '1';
    long line = strtol(p + 2, &end, 10);
    if (end == p + 2 || *end != ' ' || line <= 0 || line > INT_MAX || !end[1])
        return -1;
    int64_t file = file_of(s, end + 1);
    return file < 0 ? -1 : imap_put(o->answers, off, 0, packed(file, exact, (int)line));
}

static void objcache_load(struct srcline *s, struct objcache *o)
{
    char path[PATH_MAX];
    if (util_cache_path(o->name, path, sizeof path) < 0)
        return;
    int fd = util_cache_open(path, O_RDONLY);
    struct stat st;
    if (fd < 0) {
        o->write = 1; /* not there yet, or not to be believed: made anew, or refused */
        return;
    }
    if (fstat(fd, &st) == 0 && st.st_size < OBJCACHE_MAX_BYTES) {
        char *buf = malloc((size_t)st.st_size + 1);
        ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
        if (n > 0) {
            buf[n] = '\0';
            for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
                *nl = '\0';
                objcache_parse(s, o, p);
            }
        }
        free(buf);
        o->write = 1;
    }
    close(fd);
}

/* The cache of mod's answers; NULL without memory. */
static struct objcache *objcache_of(struct srcline *s, Dwfl_Module *mod)
{
    for (size_t i = 0; i < s->nobjs; i++)
        if (s->objs[i].mod == mod)
            return &s->objs[i];
    if (util_reserve((void **)&s->objs, &s->capobjs, s->nobjs + 1, sizeof *s->objs, 16) < 0)
        return NULL;
    struct objcache *o = &s->objs[s->nobjs];
    *o = (struct objcache){.mod = mod, .fd = -1};
    if (!(o->answers = imap_new()))
        return NULL;
    s->nobjs++;
    dwfl_module_info(mod, NULL, &o->start, NULL, NULL, NULL, NULL, NULL);
    if (cache_name(mod, OBJCACHE_DIR, "", o->name, sizeof o->name) == 0)
        objcache_load(s, o); /* else kept in memory only */
    return o;
}

/* Add an answer to o's file. */
static void objcache_append(struct objcache *o, uint64_t off, int64_t v, const char *file)
{
    if (!o->write || (file && strchr(file, '\n')))
        return;
    if (o->fd < 0) {
        char path[PATH_MAX];
        if (util_cache_path(o->name, path, sizeof path) < 0) {
            o->write = 0;
            return;
        }
        util_cache_dirs(o->name);
        o->fd = util_cache_open(path, O_WRONLY | O_APPEND | O_CREAT);
        if (o->fd < 0) {
            o->write = 0;
            return;
        }
        o->fd = util_fd_high(o->fd);
    }
    char line[PATH_MAX + 64];
    int n = v < 0 ? snprintf(line, sizeof line, "%llx -\n", (unsigned long long)off)
                  : snprintf(line, sizeof line, "%llx %d %d %s\n", (unsigned long long)off,
                             (int)(v >> 62), (int)(uint32_t)v, file);
    /* One write a line, appended: runs that share the file do not mix lines. */
    if (n <= 0 || (size_t)n >= sizeof line || write(o->fd, line, (size_t)n) != n)
        o->write = 0;
}

int srcline_lookup(struct srcline *s, uintptr_t addr, const char **file, int *line,
                   int *function_file)
{
    int64_t v;
    if (!imap_get(s->seen, addr, 0, &v)) {
        Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
        if (!mod && report(s) == 0) /* loaded since */
            mod = dwfl_addrmodule(s->dwfl, addr);
        struct objcache *o = mod ? objcache_of(s, mod) : NULL;
        if (!o || !imap_get(o->answers, addr - o->start, 0, &v)) {
            const char *src = NULL;
            int lineno = 0, exact = 0;
            int64_t idx =
                mod && function_line(mod, addr, &src, &lineno, &exact) ? file_of(s, src) : -1;
            v = idx < 0 ? -1 : packed(idx, exact, lineno);
            if (o && imap_put(o->answers, addr - o->start, 0, v) == 0)
                objcache_append(o, addr - o->start, v, idx < 0 ? NULL : s->files[idx]);
        }
        imap_put(s->seen, addr, 0, v);
    }
    if (v < 0)
        return 0;
    *file = s->files[v >> 32 & 0x3fffffff];
    *line = (int)(uint32_t)v;
    *function_file = (int)(v >> 62);
    return 1;
}

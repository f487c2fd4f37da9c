/*
 * srcline.h with libdwfl: the process reports its own modules from
 * /proc/self/maps, and each module's debug information is looked for in
 * the object itself, then by its build id under /usr/lib/debug/.build-id.
 * Answers are kept by address.
 */
#include "srcline.h"
#include "intern.h"
#include "util.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct srcline {
    Dwfl *dwfl;
    char *debuginfo_path;
    Dwfl_Callbacks callbacks;
    struct imap *seen; /* addr -> index in files << 32 | line, or -1 when none */
    char **files;
    size_t nfiles, capfiles;
    struct smap *file_index;
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

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    return util_fd_high(dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                                     debuglink_file, debuglink_crc,
                                                     debuginfo_file_name));
}

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

int srcline_lookup(struct srcline *s, uintptr_t addr, const char **file, int *line,
                   int *function_file)
{
    int64_t v;
    if (!imap_get(s->seen, addr, 0, &v)) {
        Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
        if (!mod && report(s) == 0) /* loaded since */
            mod = dwfl_addrmodule(s->dwfl, addr);
        const char *src = NULL;
        int lineno = 0, exact = 0;
        int64_t idx = mod && function_line(mod, addr, &src, &lineno, &exact) ? file_of(s, src) : -1;
        v = idx < 0 ? -1 : (int64_t)exact << 62 | idx << 32 | (uint32_t)lineno;
        imap_put(s->seen, addr, 0, v);
    }
    if (v < 0)
        return 0;
    *file = s->files[v >> 32 & 0x3fffffff];
    *line = (int)(uint32_t)v;
    *function_file = (int)(v >> 62);
    return 1;
}

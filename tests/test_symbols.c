/* Unit tests for the native symbol tables: static and exported functions of
 * the test program itself and of libc, the object's name, addresses outside
 * any object, and the cost of many lookups; and source lines from the test
 * program's own debug information, and those answers kept on disk. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "srcline.h"
#include "symbols.h"

/* A static function: only .symtab names it. */
static const int local_helper_line = __LINE__ + 1;
static __attribute__((noinline)) int local_helper(int x)
{
    return x * 3 + 1;
}

int exported_helper(int x);
int exported_helper(int x)
{
    return local_helper(x) + 2;
}

static void test_own_functions(void **state)
{
    struct symtab *t = symtab_new();
    assert_non_null(t);
    assert_int_equal(symtab_refresh(t), 0);
    struct sym_info si;
    assert_int_equal(symtab_lookup(t, (uintptr_t)local_helper + 3, &si), 1);
    assert_non_null(si.name);
    assert_string_equal(si.name, "local_helper");
    assert_int_equal(si.offset, 3);
    assert_string_equal(symtab_basename(si.object), "test_symbols");
    assert_int_equal(symtab_lookup(t, (uintptr_t)exported_helper, &si), 1);
    assert_string_equal(si.name, "exported_helper");
    assert_int_equal(si.offset, 0);
    symtab_free(t);
}

/* A function of libc itself (a sanitizer may put its own in front of it). */
static void *libc_function(const char *name)
{
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *fn = libc ? dlsym(libc, name) : NULL;
    if (libc)
        dlclose(libc);
    return fn;
}

static void test_libc(void **state)
{
    struct symtab *t = symtab_new();
    assert_int_equal(symtab_refresh(t), 0);
    struct sym_info si;
    void *fn = libc_function("qsort");
    assert_non_null(fn);
    assert_int_equal(symtab_lookup(t, (uintptr_t)fn + 1, &si), 1);
    assert_string_equal(symtab_basename(si.object), "libc.so.6");
    assert_non_null(si.name);
    assert_non_null(strstr(si.name, "qsort"));
    assert_int_equal(si.offset, 1);
    /* Not code of any object: the stack, the heap. */
    int local;
    assert_int_equal(symtab_lookup(t, (uintptr_t)&local, &si), 0);
    void *heap = malloc(16);
    assert_int_equal(symtab_lookup(t, (uintptr_t)heap, &si), 0);
    free(heap);
    /* A second refresh keeps what it knows. */
    assert_int_equal(symtab_refresh(t), 0);
    assert_int_equal(symtab_lookup(t, (uintptr_t)local_helper, &si), 1);
    assert_string_equal(si.name, "local_helper");
    symtab_free(t);
}

/* The vDSO has no file: its symbols are read from its image in memory.
 * clock_gettime is there on every Linux of x86-64 and arm64. */
static int vdso_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t *range = arg;
    if (info->dlpi_addr != range[0])
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            range[1] = info->dlpi_addr + ph->p_vaddr;
            range[2] = range[1] + ph->p_memsz;
        }
    }
    return 1;
}

static void test_vdso(void **state)
{
    uintptr_t range[3] = {(uintptr_t)getauxval(AT_SYSINFO_EHDR), 0, 0};
    if (!range[0])
        skip(); /* no vDSO here */
    dl_iterate_phdr(vdso_range, range);
    assert_true(range[1] < range[2]);
    struct symtab *t = symtab_new();
    assert_int_equal(symtab_refresh(t), 0);
    int named = 0, clock = 0;
    for (uintptr_t a = range[1]; a < range[2]; a += 4) {
        struct sym_info si;
        assert_int_equal(symtab_lookup(t, a, &si), 1);
        assert_non_null(strstr(si.object, "vdso"));
        named += si.name != NULL;
        clock += si.name && strstr(si.name, "clock_gettime") && si.offset == 0;
    }
    assert_true(named > 0);
    assert_int_equal(clock, 1);
    symtab_free(t);
}

/* 100,000 distinct addresses across libc's code all resolve to libc; those
 * inside a function libc's tables name get that name (a stripped libc
 * without its debug file names only its exported functions). The time is
 * printed, not checked: bench figures do not belong in tests. */
static void test_source_lines(void **state)
{
    (void)state;
    struct srcline *s = srcline_new();
    assert_non_null(s);
    const char *file;
    int line, named;
    assert_int_equal(srcline_lookup(s, (uintptr_t)local_helper, &file, &line, &named), 1);
    assert_true(named);
    assert_true(srcline_same_file(__FILE__, file) || srcline_same_file(file, __FILE__));
    assert_in_range(line, local_helper_line, local_helper_line + 3);
    /* asked again: the same answer, kept */
    const char *again;
    assert_int_equal(srcline_lookup(s, (uintptr_t)local_helper, &again, &line, &named), 1);
    assert_ptr_equal(again, file);
    /* no debug information covers a stack address */
    int local = 0;
    assert_int_equal(srcline_lookup(s, (uintptr_t)&local, &file, &line, &named), 0);
    srcline_free(s);

    assert_true(srcline_same_file("/b/x/../Objects/listobject.c", "../Objects/listobject.c"));
    assert_true(srcline_same_file("a.c", "a.c"));
    assert_false(srcline_same_file("/b/xa.c", "a.c"));
    assert_false(srcline_same_file("/b/a.c", "/c/a.c"));
}

/* The one file under dir/pyscope/srclines-1 into path. */
static void cache_file(const char *dir, char *path, size_t len)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/pyscope/srclines-1", dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, len, "%s/%s", sub, e->d_name);
        found++;
    }
    closedir(d);
    assert_int_equal(found, 1);
}

static int line_of_local_helper(void)
{
    struct srcline *s = srcline_new();
    assert_non_null(s);
    const char *file;
    int line, named;
    assert_int_equal(srcline_lookup(s, (uintptr_t)local_helper, &file, &line, &named), 1);
    srcline_free(s);
    return line;
}

/* An answer is kept on disk by the build id of its object: a later reader
 * of the same object takes it from there (an answer changed in the file is
 * the one given), and a file that others may write is not believed. */
static void test_source_lines_kept_on_disk(void **state)
{
    (void)state;
    char dir[] = "/tmp/pyscope-srcline-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("XDG_CACHE_HOME", dir, 1);
    int line = line_of_local_helper();
    char path[1024], text[1024];
    cache_file(dir, path, sizeof path);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    assert_null(fgets(text + strlen(text), (int)(sizeof text - strlen(text)), f)); /* one line */
    fclose(f);
    unsigned long long off;
    int exact, at, name = 0;
    assert_int_equal(sscanf(text, "%llx %d %d %n", &off, &exact, &at, &name), 3);
    assert_int_equal(at, line);
    assert_true(name > 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "not an answer\n%llx %d %d %s", off, exact, line + 1000, text + name);
    fclose(f);
    assert_int_equal(line_of_local_helper(), line + 1000);
    chmod(path, 0620);
    assert_int_equal(line_of_local_helper(), line);
    unlink(path);
    *strrchr(path, '/') = '\0';
    assert_int_equal(rmdir(path), 0);
    *strrchr(path, '/') = '\0';
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(rmdir(dir), 0);
    setenv("XDG_CACHE_HOME", "", 1);
}

static void test_many_addresses(void **state)
{
    struct symtab *t = symtab_new();
    assert_int_equal(symtab_refresh(t), 0);
    uintptr_t base = (uintptr_t)libc_function("qsort");
    struct sym_info si;
    size_t named = 0, found = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (uintptr_t i = 0; i < 100000; i++) {
        if (symtab_lookup(t, base + (i * 7) % 400000, &si) != 1)
            continue;
        found += !strcmp(symtab_basename(si.object), "libc.so.6");
        named += si.name != NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("100000 lookups in %.1f ms, %zu named\n", ms, named);
    assert_int_equal(found, 100000);
    assert_true(named > 10000);
    symtab_free(t);
}

int main(void)
{
    /* No answers kept on disk but the test's own. */
    setenv("XDG_CACHE_HOME", "", 1);
    setenv("HOME", "", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_functions),
        cmocka_unit_test(test_libc),
        cmocka_unit_test(test_vdso),
        cmocka_unit_test(test_source_lines),
        cmocka_unit_test(test_source_lines_kept_on_disk),
        cmocka_unit_test(test_many_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The interning maps of intern.h: open addressing with linear probing,
 * doubled when three quarters full. Keys are never removed.
 */
#include "intern.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

struct islot {
    uint64_t a, b;
    int64_t value;
    int used;
};

struct imap {
    struct islot *slots;
    size_t cap, count;
};

struct imap *imap_new(void)
{
    struct imap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void imap_free(struct imap *m)
{
    if (m) {
        free(m->slots);
        free(m);
    }
}

static size_t islot_of(const struct imap *m, uint64_t a, uint64_t b)
{
    size_t i = (size_t)(mix(a * 31 + mix(b)) & (m->cap - 1));
    while (m->slots[i].used && (m->slots[i].a != a || m->slots[i].b != b))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int imap_get(const struct imap *m, uint64_t a, uint64_t b, int64_t *value)
{
    const struct islot *s = &m->slots[islot_of(m, a, b)];
    if (!s->used)
        return 0;
    *value = s->value;
    return 1;
}

static int imap_grow(struct imap *m)
{
    struct imap bigger = {.cap = m->cap * 2};
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].used)
            bigger.slots[islot_of(&bigger, m->slots[i].a, m->slots[i].b)] = m->slots[i];
    free(m->slots);
    m->slots = bigger.slots;
    m->cap = bigger.cap;
    return 0;
}

int imap_put(struct imap *m, uint64_t a, uint64_t b, int64_t value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && imap_grow(m) < 0)
        return PYSCOPE_ENOMEM;
    struct islot *s = &m->slots[islot_of(m, a, b)];
    if (!s->used) {
        s->used = 1;
        s->a = a;
        s->b = b;
        m->count++;
    }
    s->value = value;
    return 0;
}

int imap_intern(struct imap *m, uint64_t a, uint64_t b, int64_t value, int64_t *found)
{
    struct islot *s = &m->slots[islot_of(m, a, b)];
    if (s->used) {
        *found = s->value;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (imap_grow(m) < 0)
            return PYSCOPE_ENOMEM;
        s = &m->slots[islot_of(m, a, b)];
    }
    *s = (struct islot){.a = a, .b = b, .value = value, .used = 1};
    m->count++;
    *found = value;
    return 0;
}

size_t imap_count(const struct imap *m)
{
    return m->count;
}

size_t imap_bytes(const struct imap *m)
{
    return sizeof *m + m->cap * sizeof *m->slots;
}

struct sslot {
    char *key; /* NULL: empty */
    size_t len;
    uint64_t hash;
    int64_t value;
};

struct smap {
    struct sslot *slots;
    size_t cap, count;
};

static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return mix(h);
}

struct smap *smap_new(void)
{
    struct smap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 256;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void smap_free(struct smap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static size_t sslot_of(const struct smap *m, const void *key, size_t len, uint64_t h)
{
    size_t i = (size_t)(h & (m->cap - 1));
    while (m->slots[i].key &&
           (m->slots[i].hash != h || m->slots[i].len != len || memcmp(m->slots[i].key, key, len)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int smap_get(const struct smap *m, const void *key, size_t len, int64_t *value)
{
    const struct sslot *s = &m->slots[sslot_of(m, key, len, hash_bytes(key, len))];
    if (!s->key)
        return 0;
    *value = s->value;
    return 1;
}

static int smap_grow(struct smap *m)
{
    size_t cap = m->cap * 2;
    struct sslot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return PYSCOPE_ENOMEM;
    struct smap bigger = {.slots = slots, .cap = cap};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            slots[sslot_of(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].hash)] =
                m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int smap_put(struct smap *m, const void *key, size_t len, int64_t value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && smap_grow(m) < 0)
        return PYSCOPE_ENOMEM;
    uint64_t h = hash_bytes(key, len);
    struct sslot *s = &m->slots[sslot_of(m, key, len, h)];
    if (!s->key) {
        s->key = malloc(len ? len : 1);
        if (!s->key)
            return PYSCOPE_ENOMEM;
        memcpy(s->key, key, len);
        s->len = len;
        s->hash = h;
        m->count++;
    }
    s->value = value;
    return 0;
}

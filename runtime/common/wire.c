/*
 * Encoding and decoding of wire records (see wire.h and docs/wire.md). The
 * encoder runs in the target, sometimes in signal handlers, so it allocates
 * nothing and calls nothing but memcpy/memset. The decoder runs in the
 * recorder on bytes from another process and trusts none of them.
 */
#include "wire.h"
#include "error.h"

#include <string.h>

#define ALIGN_UP(n, a) (((n) + (a)-1) & ~((size_t)(a)-1))

static const size_t fixed_sizes[WIRE_TYPE_COUNT] = {
    [WIRE_PAD] = 0,
    [WIRE_HELLO] = sizeof(struct wire_hello),
    [WIRE_THREAD_START] = sizeof(struct wire_thread_start),
    [WIRE_THREAD_END] = sizeof(struct wire_thread_end),
    [WIRE_PROCESS_EXIT] = sizeof(struct wire_process_exit),
    [WIRE_META] = 0,
    [WIRE_CODE] = sizeof(struct wire_code),
    [WIRE_SAMPLE] = sizeof(struct wire_sample),
    [WIRE_SAMPLE_IDLE] = sizeof(struct wire_sample_idle),
    [WIRE_DROPPED] = sizeof(struct wire_dropped),
    [WIRE_FUNCTION] = sizeof(struct wire_function),
    [WIRE_CALLS] = sizeof(struct wire_calls),
    [WIRE_TRACEBACK] = sizeof(struct wire_traceback),
    [WIRE_SNAPSHOT] = sizeof(struct wire_snapshot),
    [WIRE_SNAPSHOT_TRACES] = sizeof(struct wire_snapshot_traces),
    [WIRE_SNAPSHOT_ID] = sizeof(struct wire_snapshot_id),
    [WIRE_GC] = sizeof(struct wire_gc),
    [WIRE_HEAP_TYPE] = sizeof(struct wire_heap_type),
    [WIRE_HEAP_OBJECTS] = sizeof(struct wire_heap_objects),
    [WIRE_HEAP_EDGES] = sizeof(struct wire_heap_edges),
    [WIRE_SNAPSHOT_END] = sizeof(struct wire_snapshot_traces),
    [WIRE_NATIVE] = sizeof(struct wire_native),
    [WIRE_REFUSED] = 0,
};

size_t wire_fixed_size(unsigned type)
{
    return type < WIRE_TYPE_COUNT ? fixed_sizes[type] : 0;
}

size_t wire_size(size_t fixed_size, const struct wire_str *strs, unsigned nstr)
{
    size_t n = sizeof(struct wire_hdr) + fixed_size;
    for (unsigned i = 0; i < nstr; i++)
        n += 4 + ALIGN_UP((size_t)strs[i].len, 4);
    return ALIGN_UP(n, WIRE_ALIGN);
}

size_t wire_encode(void *dst, size_t cap, unsigned type, const void *fixed, size_t fixed_size,
                   const struct wire_str *strs, unsigned nstr)
{
    if (fixed_size % 8 || fixed_size > 255 * 8 || nstr > 255)
        return 0;
    size_t size = wire_size(fixed_size, strs, nstr);
    if (size > cap || size > UINT32_MAX)
        return 0;
    uint8_t *p = dst;
    struct wire_hdr h = {.size = (uint32_t)size,
                         .type = (uint16_t)type,
                         .nstr = (uint8_t)nstr,
                         .fixed8 = (uint8_t)(fixed_size / 8)};
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    if (fixed_size) {
        memcpy(p, fixed, fixed_size);
        p += fixed_size;
    }
    for (unsigned i = 0; i < nstr; i++) {
        uint32_t len = strs[i].len;
        memcpy(p, &len, 4);
        p += 4;
        if (len)
            memcpy(p, strs[i].p, len);
        size_t padded = ALIGN_UP((size_t)len, 4);
        memset(p + len, 0, padded - len);
        p += padded;
    }
    size_t used = (size_t)(p - (uint8_t *)dst);
    memset(p, 0, size - used);
    return size;
}

void wire_encode_pad(void *dst, size_t size)
{
    struct wire_hdr h = {.size = (uint32_t)size, .type = WIRE_PAD};
    memcpy(dst, &h, sizeof h);
}

long wire_decode(const void *p, size_t len, struct wire_rec *rec)
{
    struct wire_hdr h;
    if (len < sizeof h)
        return PYSCOPE_EPROTO;
    memcpy(&h, p, sizeof h);
    if (h.size < sizeof h || h.size % WIRE_ALIGN || h.size > len)
        return PYSCOPE_EPROTO;
    size_t fixed_size = (size_t)h.fixed8 * 8;
    if (sizeof h + fixed_size > h.size)
        return PYSCOPE_EPROTO;
    if (h.type < WIRE_TYPE_COUNT && fixed_size < fixed_sizes[h.type])
        return PYSCOPE_EPROTO;
    const uint8_t *base = p;
    rec->type = h.type;
    rec->fixed = base + sizeof h;
    rec->fixed_size = fixed_size;
    rec->nstr = h.nstr;
    rec->strs = base + sizeof h + fixed_size;
    rec->strs_len = h.size - sizeof h - fixed_size;

    /* Walk the strings once so wire_string may trust the lengths. */
    size_t off = 0;
    for (unsigned i = 0; i < rec->nstr; i++) {
        uint32_t slen;
        if (rec->strs_len - off < 4)
            return PYSCOPE_EPROTO;
        memcpy(&slen, rec->strs + off, 4);
        off += 4;
        if (rec->strs_len - off < ALIGN_UP((size_t)slen, 4))
            return PYSCOPE_EPROTO;
        off += ALIGN_UP((size_t)slen, 4);
    }
    return (long)h.size;
}

int wire_string(const struct wire_rec *rec, unsigned i, struct wire_str *out)
{
    if (i >= rec->nstr)
        return PYSCOPE_EPROTO;
    size_t off = 0;
    for (unsigned k = 0;; k++) {
        uint32_t slen;
        memcpy(&slen, rec->strs + off, 4);
        if (k == i) {
            out->p = (const char *)rec->strs + off + 4;
            out->len = slen;
            return 0;
        }
        off += 4 + ALIGN_UP((size_t)slen, 4);
    }
}

void wire_fixed(const struct wire_rec *rec, void *dst, size_t size)
{
    size_t n = rec->fixed_size < size ? rec->fixed_size : size;
    memcpy(dst, rec->fixed, n);
    memset((uint8_t *)dst + n, 0, size - n);
}

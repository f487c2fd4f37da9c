/*
 * Records the extension queues in its rings but never sends: a sample or a
 * collection as it was taken, naming code objects by address, which the
 * code registry (coderef.h) turns into WIRE_SAMPLE or WIRE_GC and the
 * WIRE_CODE records they need before they go out. Encoded as wire.h
 * encodes every record, under types of the private range.
 */
#ifndef PYSCOPE_RAWREC_H
#define PYSCOPE_RAWREC_H

#include "wire.h"

#include <stdint.h>

enum {
    /* a sample as the sampler took it */
    RAWREC_SAMPLE = WIRE_TYPE_PRIVATE,
    /* a collection with its stack still raw */
    RAWREC_GC = WIRE_TYPE_PRIVATE + 1
};

/* The native return addresses a raw sample carries at most (--native). */
#define RAWREC_NATIVE_MAX 256

/* A collection: struct wire_gc with the code registry's epoch, and one
 * string of struct pyframe_raw, innermost first. */
struct rawrec_gc {
    struct wire_gc gc;
    uint64_t epoch;
};

/* A sample: one string of struct pyframe_raw, innermost first, and with
 * --native a second one of return addresses (uint64_t). */
struct rawrec_sample {
    uint64_t tid;
    uint64_t t_ns;
    uint64_t cpu_ns;
    uint32_t state;
    uint32_t flags;
    uint64_t epoch; /* the code registry's epoch when the sample was taken */
};

#endif

/*
 * The wire protocol between the target process (_pyscope) and the recorder.
 * Both halves include this header; docs/wire.md describes the same format
 * in prose. Bump WIRE_VERSION on any incompatible change.
 *
 * Transport: a Unix SOCK_SEQPACKET connection per process. Every message is a
 * whole number of records and at most WIRE_MSG_MAX bytes. A record is a
 * header, a fixed part (a struct below, a multiple of 8 bytes) and nstr
 * strings, each a u32 length and the bytes, padded to 4; the record is padded
 * to 8. Integers are in host byte order: both ends run on one machine.
 */
#ifndef PYSCOPE_WIRE_H
#define PYSCOPE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 4
#define WIRE_MAGIC 0x43535950u /* "PYSC" */
#define WIRE_MSG_MAX 65536
#define WIRE_ALIGN 8
#define WIRE_ENV_SOCKET "PYSCOPE_SOCKET"

enum wire_type {
    WIRE_PAD = 0,          /* filler; readers skip it */
    WIRE_HELLO = 1,        /* first record of a connection */
    WIRE_THREAD_START = 2, /* a thread was registered */
    WIRE_THREAD_END = 3,   /* a registered thread ended */
    WIRE_PROCESS_EXIT = 4, /* the process is exiting, with its status */
    WIRE_META = 5,         /* a key/value pair for the meta table */
    WIRE_CODE = 6,         /* a code object, named once before samples use it */
    WIRE_SAMPLE = 7,       /* one sampled stack of one thread */
    WIRE_SAMPLE_IDLE = 8,  /* a thread that did not run: its last stack again */
    WIRE_DROPPED = 9,      /* records a process had to drop, so far */
    WIRE_FUNCTION = 10,    /* a function the call profiler counts, named once */
    WIRE_CALLS = 11,       /* call statistics of a thread, added since the last ones */
    WIRE_TRACEBACK = 12,   /* an allocation traceback, named once before snapshots use it */
    WIRE_SNAPSHOT = 13,    /* a memory snapshot begins: its totals */
    WIRE_SNAPSHOT_TRACES = 14, /* live memory of a snapshot, by traceback */
    WIRE_SNAPSHOT_ID = 15, /* recorder to target: the id a snapshot was stored under */
    WIRE_GC = 16,          /* one collection of the cyclic garbage collector */
    WIRE_HEAP_TYPE = 17,   /* a type of the snapshot's object graph, named once */
    WIRE_HEAP_OBJECTS = 18, /* objects of the snapshot's object graph */
    WIRE_HEAP_EDGES = 19,  /* references between them */
    WIRE_SNAPSHOT_END = 20, /* everything of a snapshot was sent */
    WIRE_NATIVE = 21,      /* a native function samples name, named once */
    WIRE_REFUSED = 22,     /* the process refuses to be traced, and does not run the program */
    WIRE_TYPE_COUNT,
    /* 0x7f00 and up: the extension's own records, never sent (rawrec.h) */
    WIRE_TYPE_PRIVATE = 0x7f00
};

struct wire_hdr {
    uint32_t size; /* whole record, header included; a multiple of 8 */
    uint16_t type;
    uint8_t nstr;
    uint8_t fixed8; /* size of the fixed part in 8-byte units */
};

enum { WIRE_HELLO_FORKED = 1u << 0 }; /* started by fork() from a traced process */

/* Strings: python version, executable, cwd, argv (NUL-separated). */
struct wire_hello {
    uint32_t magic;
    uint32_t version;
    uint32_t pid;
    uint32_t ppid;
    uint32_t flags;
    uint32_t reserved;
    uint64_t mono_ns; /* CLOCK_MONOTONIC at connect */
    uint64_t wall_ns; /* CLOCK_REALTIME at connect */
};

/* Strings: the thread's name, when it has one. */
struct wire_thread_start {
    uint64_t tid;   /* kernel thread id */
    uint64_t ident; /* threading.get_ident() */
    uint64_t t_ns;  /* CLOCK_MONOTONIC */
    uint32_t is_main;
    uint32_t reserved;
};

/* Strings: the thread's final name, when it changed or was unknown. */
struct wire_thread_end {
    uint64_t tid;
    uint64_t t_ns;
};

enum { WIRE_EXIT_CODE = 0, WIRE_EXIT_SIGNAL = 1 };

struct wire_process_exit {
    uint64_t t_ns;
    int32_t how;  /* WIRE_EXIT_CODE or WIRE_EXIT_SIGNAL */
    int32_t code; /* exit status or signal number */
};

/* WIRE_META has no fixed part; strings: key, value. */

/* WIRE_REFUSED has no fixed part; one string: why, a sentence for the user. */

/* Strings: filename, name, qualname. */
struct wire_code {
    uint64_t key; /* the target's id for the code object, unique per connection */
    int32_t firstlineno;
    uint32_t reserved;
};

enum {
    WIRE_STATE_RUNNING = 0, /* running Python (holds the GIL) */
    WIRE_STATE_NATIVE = 1,  /* on a CPU without the GIL: native code */
    WIRE_STATE_IDLE = 2,    /* used no CPU since its previous sample */
    WIRE_STATE_GIL = 3,     /* waiting for the GIL */
    WIRE_STATE_RUNNABLE = 4, /* wants a CPU, not given one (a loaded machine) */
};
enum {
    WIRE_SAMPLE_TRUNCATED = 1u << 0, /* deeper than the depth limit */
    WIRE_SAMPLE_OWN = 1u << 1,       /* the thread was in pyscope's own work (a sample's) */
};
#define WIRE_SAMPLE_MAX_DEPTH 512

/* One string: the frames, innermost first, as struct wire_frame. */
struct wire_sample {
    uint64_t tid;
    uint64_t t_ns;
    uint64_t cpu_ns; /* CPU time the thread used since its previous sample */
    uint32_t state;  /* WIRE_STATE_* */
    uint32_t flags;  /* WIRE_SAMPLE_* */
};

struct wire_frame {
    uint64_t code; /* a key from WIRE_CODE */
    int32_t line;  /* -1 when the instruction has no line */
    uint32_t reserved;
};

struct wire_sample_idle {
    uint64_t tid;
    uint64_t t_ns;    /* the first of the ticks */
    uint64_t last_ns; /* the last of them */
    uint32_t state;   /* WIRE_STATE_IDLE, WIRE_STATE_GIL or WIRE_STATE_RUNNABLE */
    uint32_t ticks;   /* how many ticks found the thread so, one after another */
};

/* Counts of records dropped in the target because a buffer was full. */
struct wire_dropped {
    uint64_t records;
    uint64_t samples;
    uint64_t missed;    /* ticks a thread was not sampled: its last signal was still pending */
    uint64_t torn;      /* of samples: frame chains caught changing, read again and given up */
    uint64_t ticks;     /* ticks the sampler took */
    uint64_t ticks_due; /* ticks its rate asked for while it ran */
    uint64_t gil_takes; /* times pyscope's own thread took the GIL from the program */
    uint64_t direct_signals; /* native samples signalled at any point (no user trap) */
};

enum { WIRE_FUNCTION_PYTHON = 0, WIRE_FUNCTION_BUILTIN = 1 };

/* Strings: filename (empty for a builtin), name, qualname. */
struct wire_function {
    uint64_t key; /* the call profiler's id for it, unique per connection; never 0 */
    uint32_t kind;
    int32_t firstlineno;
};

enum {
    WIRE_CALLS_TOTAL = 1u << 0,    /* the callee's own totals, not one caller's calls */
    WIRE_CALLS_OVERHEAD = 1u << 1, /* tottime_ns: the profiler's own time on the thread */
};

/* Increments: the recorder adds them to what it has for the same pair. */
struct wire_calls {
    uint64_t tid;
    uint64_t caller; /* a WIRE_FUNCTION key; 0 for the root (no caller) */
    uint64_t callee;
    uint64_t ncalls;
    uint64_t pcalls; /* primitive: not recursive */
    uint64_t tottime_ns;
    uint64_t cumtime_ns;
    uint32_t flags; /* WIRE_CALLS_* */
    uint32_t reserved;
};

/* One string: the frames, innermost first, as struct wire_frame (code keys
 * from WIRE_CODE). */
struct wire_traceback {
    uint64_t key;   /* the memory tracer's id for it, unique per connection; never 0 */
    uint32_t flags; /* WIRE_SAMPLE_TRUNCATED: deeper than the depth limit */
    uint32_t reserved;
};

enum {
    WIRE_TRIGGER_API = 0,      /* pyscope.snapshot() */
    WIRE_TRIGGER_SIGNAL = 1,   /* the snapshot signal */
    WIRE_TRIGGER_INTERVAL = 2, /* --snapshot-interval */
    WIRE_TRIGGER_PEAK = 3,     /* the live memory when traced memory was highest */
    WIRE_TRIGGER_EXIT = 4,     /* the process ended */
};
enum {
    WIRE_SNAPSHOT_REPLY = 1u << 0,    /* the target waits for WIRE_SNAPSHOT_ID */
    WIRE_SNAPSHOT_UNTRACED = 1u << 1, /* allocations are not traced: no totals, no traces */
};

/* Strings: the label (absent when none). */
struct wire_snapshot {
    uint64_t seq;  /* the snapshot's number in this connection */
    uint64_t t_ns; /* CLOCK_MONOTONIC when it was taken */
    uint64_t traced_bytes;
    uint64_t traced_blocks;
    uint64_t peak_bytes;
    uint64_t rss_bytes; /* 0 when unknown */
    uint64_t ntraces;   /* wire_trace entries the WIRE_SNAPSHOT_TRACES that follow hold */
    uint32_t trigger;   /* WIRE_TRIGGER_* */
    uint32_t flags;     /* WIRE_SNAPSHOT_* */
    uint64_t own_bytes; /* what the memory tracer's own tables hold in the process */
};

/* One string of struct wire_trace entries. */
struct wire_snapshot_traces {
    uint64_t seq; /* a WIRE_SNAPSHOT of the same connection */
};

struct wire_trace {
    uint64_t traceback; /* a WIRE_TRACEBACK key */
    uint64_t size;
    uint64_t count;
};

/* WIRE_SNAPSHOT_END: the same fixed part as WIRE_SNAPSHOT_TRACES. */

/* Strings: the type's qualified name. */
struct wire_heap_type {
    uint64_t seq; /* the snapshot */
    uint64_t key; /* its number in the snapshot */
};

/* One string of struct wire_heap_obj entries. */
struct wire_heap_objects {
    uint64_t seq;
};

struct wire_heap_obj {
    uint64_t obj;       /* its address */
    uint64_t type;      /* a WIRE_HEAP_TYPE key of the snapshot */
    uint64_t size;
    int64_t refcnt;
    uint64_t traceback; /* where it was allocated: a WIRE_TRACEBACK key; 0 when unknown */
};

/* One string of entries: u64 src, u64 dst, u32 label length len, then the
 * label's bytes and zero padding in len + 4 bytes rounded up to a multiple
 * of 8 (WIRE_EDGE_SIZE). */
struct wire_heap_edges {
    uint64_t seq;
};
/* Where an entry's label starts, and the bytes of an entry whose label has
 * len bytes. */
#define WIRE_EDGE_LABEL_AT 20
#define WIRE_EDGE_SIZE(len) (WIRE_EDGE_LABEL_AT + (((size_t)(len) + 4 + 7) & ~(size_t)7))

/* Sent by the recorder on the same connection, once the snapshot's
 * WIRE_SNAPSHOT_END has arrived and everything before it is committed. */
struct wire_snapshot_id {
    uint64_t seq;
    int64_t id; /* snapshots.id; 0 when it could not be stored */
};

/* Strings: the shared object's path (empty when none), the function's name. */
struct wire_native {
    uint64_t key; /* never equal to a WIRE_CODE key */
};

/* One string: the frames of the thread that started the collection,
 * innermost first, as in WIRE_SAMPLE. */
struct wire_gc {
    uint64_t tid;
    uint64_t t_ns;        /* when it started */
    uint64_t duration_ns;
    uint64_t collected;   /* objects freed */
    uint64_t uncollectable;
    int32_t generation;   /* the oldest generation collected: 0, 1 or 2 */
    uint32_t flags;       /* WIRE_SAMPLE_TRUNCATED */
};

struct wire_str {
    const char *p;
    uint32_t len;
};

struct wire_rec {
    unsigned type;
    const void *fixed;
    size_t fixed_size;
    unsigned nstr;
    const uint8_t *strs; /* nstr encoded strings */
    size_t strs_len;
};

/* Bytes one record takes once encoded. */
size_t wire_size(size_t fixed_size, const struct wire_str *strs, unsigned nstr);

/*
 * Encode one record into dst, which has cap bytes. fixed_size must be a
 * multiple of 8 and at most 2040, nstr at most 255. Returns the record's size,
 * or 0 when it does not fit. Allocates nothing: safe in signal handlers.
 */
size_t wire_encode(void *dst, size_t cap, unsigned type, const void *fixed, size_t fixed_size,
                   const struct wire_str *strs, unsigned nstr);

/* Encode a WIRE_PAD record of exactly size bytes (a multiple of 8, >= 8). */
void wire_encode_pad(void *dst, size_t size);

/*
 * Parse the record at p, of which len bytes are available, into *rec.
 * Returns the record's size, or PYSCOPE_EPROTO when it is malformed or
 * truncated. Record types this version does not know are returned as they are
 * (callers skip them); known types must carry at least their fixed part.
 */
long wire_decode(const void *p, size_t len, struct wire_rec *rec);

/* The i-th string of rec into *out. Returns 0 or PYSCOPE_EPROTO. */
int wire_string(const struct wire_rec *rec, unsigned i, struct wire_str *out);

/* Copy rec's fixed part into dst (size bytes), zero-filling what it lacks. */
void wire_fixed(const struct wire_rec *rec, void *dst, size_t size);

/* The fixed-part size of a known type, 0 for unknown types. */
size_t wire_fixed_size(unsigned type);

#endif

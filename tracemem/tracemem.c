/*
 * The memory tracer of tracemem.h.
 *
 * Each hook calls the allocator it replaced, then, unless the thread is
 * inside the tracer already, walks the thread's frames into a traceback of
 * (code object, instruction offset) pairs, interns it, and records the block
 * in the live-block table (blocks.h) under the traceback's id. Every
 * traceback keeps the live bytes and blocks allocated from it, so a snapshot
 * costs one pass over the tracebacks, not over the blocks; and whenever
 * traced memory passes its last peak copy by 1/32 those counters are copied,
 * which keeps the breakdown at the peak within 3% of the true peak.
 *
 * A traceback is stored as its innermost node in a prefix tree of frames, so
 * tracebacks that share their outer frames share their storage.
 *
 * Frames are walked as code object addresses, which a new code object may
 * reuse once the old one is freed: the codemap gives each live code object
 * its own tcode, and the code dealloc hook takes a dying one out of it, so
 * a new one at its address gets another tcode, while the tracebacks of the
 * old one stay, with their blocks, under their ids; it is named while it is
 * whole. A new code object made from the same source as a dead one (the
 * same file, names, first line, size and line table: a program that
 * compiles the same text again and again) takes the dead one's tcode, and
 * with it its nodes and tracebacks, so that the tables grow with the
 * program's distinct code, not with the code objects it makes. Lines are
 * computed once per node, from the live code object.
 *
 * Locks: the main interpreter's GIL guards every table. A hook on a thread
 * that holds it (every MEM and OBJ call of the main interpreter, and most
 * RAW ones) updates the tables with no lock of its own; one on a thread that
 * does not (RAW calls with the GIL released, another interpreter's threads)
 * walks its own frames and appends the event to the queue (q_lock), which
 * the next hook with the GIL applies, in order, before its own event.
 * snap_lock (one snapshot at a time) is taken with the GIL, and q_lock last.
 * Nothing that updates the tables calls Python, except naming code objects,
 * with the thread marked reentrant, so their own allocations pass straight
 * through.
 */
#define _GNU_SOURCE
#include "tracemem.h"
#include "blocks.h"
#include "channel.h"
#include "emitter.h"
#include "error.h"
#include "freelist.h"
#include "heap.h"
#include "intern.h"
#include "native.h"
#include "ownwork.h"
#include "codewatch.h"
#include "pyframe.h"
#include "threads.h"
#include "unwind.h"
#include "util.h"
#include "wire.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <libunwind.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define TB_NONE UINT32_MAX
#define CODE_KEY_BIT (1ull << 63) /* tracer code keys never meet the sampler's */
#define REPLY_TIMEOUT_MS 5000
#define TM_FIRST 64 /* first room of the growing arrays; they double */
#define INDEX_FIRST 1024 /* slots of an id index: the tracebacks of a program's start */
/* Traced memory is copied for the peak snapshot whenever it passes the last
 * copy by 1/PEAK_STEP: the breakdown at the peak is then within 3% of it. */
#define PEAK_STEP 32
#define NATIVE_REC_MAX 8192 /* a native function's record: two paths and a name */
#define TYPE_NAME_MAX 512   /* a type's qualified name, cut there */

/* DOMAIN_TM_RAW: the RAW allocator the program's tracemalloc keeps for its
 * own records (see tm_follow). */
enum { DOMAIN_RAW, DOMAIN_MEM, DOMAIN_OBJ, DOMAIN_TM_RAW, NDOMAINS };

struct domain {
    PyMemAllocatorEx prev;
    int raw;    /* may be called without the GIL */
    int tm_own; /* DOMAIN_TM_RAW */
};

/* A code object some traceback names. */
struct tcode {
    void *ptr; /* NULL once it died */
    struct pyframe_code info;
    int named;
    int sent;           /* the recorder has its WIRE_CODE */
    uint32_t next_dead; /* dead: the next dead one of its identity (dead_codes), or TB_NONE */
};

/*
 * Tracebacks share their outer frames: a frame is a node of a prefix tree
 * whose root level is the outermost frame, so a recursion's thousands of
 * distinct tracebacks cost one node each, not one copy of the stack each.
 * A traceback is its innermost frame's node (and whether it was cut at the
 * depth limit): the node names it, by tb1. A Python frame's node is keyed
 * by its tcode, which a new code object at a dead one's address never
 * shares, so a traceback of a dead code object is never matched again.
 */
struct tnode {
    void *code; /* as walked; a native frame's address */
    int32_t lasti;
    int32_t line;
    uint32_t parent;   /* the calling frame's node; NODE_NONE at the root level */
    uint32_t code_idx; /* index in codes, | CI_ENTRY; CI_NATIVE for a native frame */
    uint32_t tb1[2];   /* id + 1 of the traceback ending here, whole and cut; 0: none yet */
};
#define NODE_NONE UINT32_MAX
#define CI_ENTRY (1u << 31) /* the frame an eval-loop call started with (PYFRAME_ENTRY) */
#define CI_NATIVE (CI_ENTRY - 1)
#define CI_INDEX(ci) ((ci) & ~CI_ENTRY)
#define PYFRAME_NATIVE 2 /* pyframe_raw.reserved: code is a native return address */

struct tb {
    uint32_t leaf; /* the innermost frame's node; NODE_NONE without frames */
    uint16_t nframes;
    uint8_t truncated;
    uint8_t sent;
};

/* The live memory allocated from each traceback: one array, so that the
 * peak copy is one memcpy. */
struct tbstat {
    int64_t size, count;
};

/*
 * An index of ids over a table that holds the keys itself (nodes): open
 * addressing, slots hold id + 1, 0 is empty. Not an imap: a slot is 4 bytes
 * where imap's are 32, for the biggest table of a deep program, looked up on
 * the allocation hooks' path.
 */
struct idindex {
    uint32_t *slots;
    size_t mask, used;
    uint64_t (*hash_of)(uint32_t id);
};
static uint64_t node_hash_of(uint32_t id);

/*
 * The tracer's state, by what guards it. A thread that holds the locks
 * around fork() does not take them again (forking, below); a fork child
 * resets what it must while it has one thread.
 */

/* Set once, by tracemem_start, read-only after: what the hooks read is set
 * before they go in. */
static int installed; /* the hooks are in place (they stay, passing through, once stopped) */
static int heap_on;   /* snapshots record the object graph */
static int depth_limit;
static int native_on;          /* tracebacks also take the native stack (--native) */
static const int *tm_tracing;  /* the program's tracemalloc traces (is_tracing()) */
static pthread_key_t memo_key; /* frees a thread's memo when it ends */
static int memo_cap;           /* frames in a memo: depth_limit, and the native ones */
static uint64_t interval_ns;   /* between interval snapshots; 0: none */

/* Atomic: read by the hooks of any thread, and by tracemem_due, without a
 * lock. */
static _Atomic int tracing;              /* allocations are traced (--memory) */
static _Atomic int enabled;              /* snapshots are taken (--memory or --heap) */
static _Atomic unsigned signal_requests; /* snapshot signals received */
static _Atomic uint64_t untracked;       /* blocks the tables or the queue had no room for */

/* Per thread. */
/* inside the tracer: allocations pass straight through. Read by every
 * allocation: initial-exec, one load off the thread pointer. */
static __thread int reentrant __attribute__((tls_model("initial-exec")));
/* this thread holds q_lock around fork() */
static __thread int forking __attribute__((tls_model("initial-exec")));
/* the thread's last traceback (tb_of_unlocked) */
static __thread struct tb_memo *memo __attribute__((tls_model("initial-exec")));

/* The GIL: tracemem_start and the MEM and OBJ hooks write these. The RAW
 * hooks read domains[] without it (tm_follow says why that is safe). */
static struct domain domains[NDOMAINS];
static int tm_seen; /* *tm_tracing when last looked at */
/* Also the GIL: the emitter's task and the session's exit take the due
 * snapshots and the last ones. tracemem_due reads these without it: a
 * stale value moves a snapshot to the next look. */
static int finished;
static unsigned signal_handled; /* signal_requests when last served */
static uint64_t next_interval_ns;

/* The main interpreter's GIL: every table (tables_enter). */
static struct blocks *live;
static struct blocks *codemap; /* code address -> index in codes (its trace field) */
/* pyframe_code_identity of dead code objects -> the index in codes of the
 * last one of that identity to die, which chains to the others by
 * next_dead (-1: none left), for new ones to take (code_of_unlocked). All
 * of them: functions made in a loop often die together, in a collection. */
static struct imap *dead_codes;
static struct tcode *codes;
static uint32_t ncodes, capcodes;
static struct tb *tbs;
static struct tbstat *tb_stat;
static uint32_t ntbs, captbs, capstat;
static struct tnode *nodes;
static uint32_t nnodes, capnodes;
static struct idindex nindex = {.hash_of = node_hash_of}; /* over (parent, code_idx, lasti) */
static uint32_t frameless_tb1[2]; /* tnode.tb1 of the tracebacks without frames */
/* (code, instruction) -> the instruction that stands for its line, and
 * (code, line) -> that instruction: linekey_unlocked. */
struct lkentry {
    uint64_t key; /* 0: empty */
    int32_t value;
};
static struct lkentry *lkeys;
static size_t lkmask, lkused;
static uint64_t code_deaths; /* code objects named by tracebacks that died: ends the memos */
static int64_t traced_bytes, peak_bytes;
/* The counters when traced memory was highest, and when to copy again. */
static struct tbstat *peak_stat;
static uint32_t peak_ntbs, peak_cap;
static int64_t peak_copy_bytes = -1, peak_copy_blocks, peak_copy_at;
static uint64_t peak_copy_ns;

/* snap_lock: one snapshot at a time, taken with the GIL, before q_lock.
 * It also guards the graph sender (sender_*, below) and the static buffers
 * of the snapshot functions. */
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static int connected; /* snapshots can be sent (tracemem_set_connected) */
static uint64_t next_seq = 1;
static uint64_t forked_ns; /* when this process was forked; 0: not a fork child */

/*
 * The queue of events from threads without the GIL (q_lock): records of a
 * struct qrec each, the frames of an allocation after it. q_pending (the
 * bytes queued) is read without the lock by every hook with the GIL, after
 * its own allocator call: a block freed by a thread without the GIL was
 * queued before it was given back, so a hook given its address later sees
 * the free queued, and applies it first.
 */
enum { Q_ALLOC, Q_FREE, Q_RESTORE };
struct qrec {
    uint8_t op;
    uint8_t truncated;
    uint16_t nframes;
    uint32_t unused;
    uintptr_t ptr;
    size_t size;
};
/* The queue's bytes at which the emitter applies it (tracemem_due), when
 * no thread with the GIL allocates meanwhile. */
#define QUEUE_DUE (1u << 20)
static _Atomic int q_lock; /* 1: held */
static uint8_t *q_buf;
static size_t q_len, q_cap;
static _Atomic size_t q_pending;
/* The blocks queued frees took out last, for a realloc that failed to put
 * its block back (Q_RESTORE). The GIL. */
#define Q_FREED 16
static struct {
    uintptr_t ptr;
    size_t size;
    uint32_t id;
} q_freed[Q_FREED];
static unsigned q_freed_at;

/*
 * q_lock is a test-and-set lock, not a mutex: it is held for a copy of a
 * few hundred bytes. A thread that finds it taken spins a little, then
 * yields its processor, and when the holder is slow sleeps between looks.
 */
static void q_lock_take(void)
{
    unsigned tries = 0;
    while (atomic_exchange_explicit(&q_lock, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&q_lock, memory_order_relaxed)) {
            if (++tries < 64)
                continue;
            if (tries < 256) {
                sched_yield();
            } else {
                struct timespec nap = {0, 20000};
                nanosleep(&nap, NULL);
            }
        }
    }
}

static void q_lock_release(void)
{
    atomic_store_explicit(&q_lock, 0, memory_order_release);
}

/* q_lock, except on the thread that holds it around fork(). */
static void queue_lock(void)
{
    if (!forking)
        q_lock_take();
}

static void queue_unlock(void)
{
    if (!forking)
        q_lock_release();
}

/* Append an event; without room it is lost, and counted. */
static void queue_push(int op, uintptr_t ptr, size_t size, const struct pyframe_raw *frames,
                       int n, int truncated)
{
    struct qrec r = {(uint8_t)op, (uint8_t)truncated, (uint16_t)n, 0, ptr, size};
    size_t bytes = sizeof r + (size_t)n * sizeof *frames;
    queue_lock();
    if (util_reserve((void **)&q_buf, &q_cap, q_len + bytes, 1, 4096) < 0) {
        queue_unlock();
        atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
        return;
    }
    memcpy(q_buf + q_len, &r, sizeof r);
    if (n)
        memcpy(q_buf + q_len + sizeof r, frames, (size_t)n * sizeof *frames);
    q_len += bytes;
    atomic_store_explicit(&q_pending, q_len, memory_order_release);
    queue_unlock();
}

static void queue_apply(const uint8_t *buf, size_t len);

/* Apply the queue. The GIL held; the thread marked reentrant. */
static void queue_drain(void)
{
    queue_lock();
    uint8_t *buf = q_buf;
    size_t len = q_len, cap = q_cap;
    q_buf = NULL;
    q_len = q_cap = 0;
    atomic_store_explicit(&q_pending, 0, memory_order_relaxed);
    queue_unlock();
    queue_apply(buf, len);
    queue_lock();
    if (!q_buf) { /* kept for the next events */
        q_buf = buf;
        q_cap = cap;
        buf = NULL;
    }
    queue_unlock();
    free(buf);
}

/* Before a thread with the GIL reads or changes the tables: what threads
 * without it queued comes first. */
static void tables_enter(void)
{
    if (atomic_load_explicit(&q_pending, memory_order_acquire))
        queue_drain();
}

/* ---- tracebacks (the GIL held) ----------------------------------------- */

/* A 64-bit finalizer: every input bit reaches the low bits the index masks. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* util_reserve for the tables' 32-bit counts, whose last value is TB_NONE
 * (NODE_NONE): a table never holds that many. */
static int grow32(void **p, size_t elsize, uint32_t need, uint32_t *cap)
{
    size_t c = *cap;
    if (need == UINT32_MAX || util_reserve(p, &c, need, elsize, TM_FIRST) < 0)
        return PYSCOPE_ENOMEM;
    *cap = (uint32_t)c;
    return 0;
}

static void idx_insert_unlocked(struct idindex *x, uint32_t id)
{
    size_t i = x->hash_of(id) & x->mask;
    while (x->slots[i])
        i = (i + 1) & x->mask;
    x->slots[i] = id + 1;
    x->used++;
}

/* Room for one more id, keeping the index at most half full. */
static int idx_reserve_unlocked(struct idindex *x)
{
    if (x->slots && (x->used + 1) * 2 <= x->mask + 1)
        return 0;
    size_t cap = x->slots ? (x->mask + 1) * 2 : INDEX_FIRST;
    uint32_t *old = x->slots;
    size_t oldcap = old ? x->mask + 1 : 0;
    if (!(x->slots = calloc(cap, sizeof *x->slots))) {
        x->slots = old;
        return PYSCOPE_ENOMEM;
    }
    x->mask = cap - 1;
    x->used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            idx_insert_unlocked(x, old[i] - 1);
    free(old);
    return 0;
}

/* The tcode of live code object code, made on first sight. */
static uint32_t code_of_unlocked(void *code)
{
    size_t size;
    uint32_t idx;
    if (blocks_get(codemap, (uintptr_t)code, &size, &idx))
        return idx;
    int64_t dead;
    if (dead_codes && imap_count(dead_codes)) {
        struct pyframe_code_id id = pyframe_code_identity(code);
        if (imap_get(dead_codes, id.a, id.b, &dead) && dead >= 0 && !codes[dead].ptr &&
            blocks_put(codemap, (uintptr_t)code, 0, (uint32_t)dead, &size, &idx) >= 0) {
            struct tcode *c = &codes[dead];
            imap_put(dead_codes, id.a, id.b, c->next_dead == TB_NONE ? -1 : (int64_t)c->next_dead);
            c->ptr = code; /* named already, and sent if it was */
            return (uint32_t)dead;
        }
    }
    if (grow32((void **)&codes, sizeof *codes, ncodes + 1, &capcodes) < 0)
        return TB_NONE;
    idx = ncodes;
    if (blocks_put(codemap, (uintptr_t)code, 0, idx, &size, &idx) < 0)
        return TB_NONE;
    memset(&codes[ncodes], 0, sizeof codes[ncodes]);
    codes[ncodes++].ptr = code;
    return idx;
}

static uint64_t hash_node(uint32_t parent, uint32_t code_idx, const void *code, int32_t lasti)
{
    uint64_t what = code_idx == CI_NATIVE ? (uint64_t)(uintptr_t)code : code_idx;
    return mix64(((uint64_t)parent << 32 ^ what) ^ mix64((uint32_t)lasti));
}

static uint64_t node_hash_of(uint32_t id)
{
    return hash_node(nodes[id].parent, nodes[id].code_idx, nodes[id].code, nodes[id].lasti);
}

/* The node of frame f (of tcode ci, | CI_ENTRY; CI_NATIVE for a native
 * frame, keyed by its address) under parent, made when new. */
static uint32_t node_intern_unlocked(uint32_t parent, uint32_t ci, const struct pyframe_raw *f)
{
    uint64_t h = hash_node(parent, ci, f->code, f->lasti);
    for (size_t i = h & nindex.mask; nindex.slots && nindex.slots[i]; i = (i + 1) & nindex.mask) {
        const struct tnode *nd = &nodes[nindex.slots[i] - 1];
        if (nd->parent == parent && nd->code_idx == ci && nd->lasti == f->lasti &&
            (ci != CI_NATIVE || nd->code == f->code))
            return nindex.slots[i] - 1;
    }
    if (idx_reserve_unlocked(&nindex) < 0)
        return NODE_NONE;
    if (grow32((void **)&nodes, sizeof *nodes, nnodes + 1, &capnodes) < 0)
        return NODE_NONE;
    int line = ci == CI_NATIVE ? -1 : pyframe_code_line(f->code, f->lasti);
    nodes[nnodes] = (struct tnode){f->code, f->lasti, line > 0 ? line : -1, parent, ci, {0, 0}};
    idx_insert_unlocked(&nindex, nnodes);
    return nnodes++;
}

/* The traceback whose innermost frame is node leaf (NODE_NONE: no frame),
 * n frames deep, made when new. */
static uint32_t tb_of_leaf_unlocked(uint32_t leaf, int n, int truncated)
{
    uint32_t *tb1 = leaf == NODE_NONE ? &frameless_tb1[truncated] : &nodes[leaf].tb1[truncated];
    if (*tb1)
        return *tb1 - 1;
    if (grow32((void **)&tbs, sizeof *tbs, ntbs + 1, &captbs) < 0 ||
        grow32((void **)&tb_stat, sizeof *tb_stat, ntbs + 1, &capstat) < 0)
        return TB_NONE;
    tbs[ntbs] = (struct tb){.leaf = leaf, .nframes = (uint16_t)n, .truncated = (uint8_t)truncated};
    tb_stat[ntbs] = (struct tbstat){0, 0};
    *tb1 = ntbs + 1;
    return ntbs++;
}

/*
 * Frames are told apart by line, as tracemalloc tells them apart (file and
 * line), not by instruction: a line that calls in two places (fib(n - 1) +
 * fib(n - 2)) is one frame, so the tracebacks of a recursion grow with its
 * depth, not with its 2^depth call paths, and so do the tracer's tables.
 * Each instruction of a code object is mapped once to the first instruction
 * seen on its line, which stands for the line from then on (the line table
 * is read once per instruction, not per allocation). A dead code object's
 * entries stay, unused: a new one at its address has a new index.
 */
#define LK_LASTI (1ull << 62) /* (code index, instruction) */
#define LK_LINE (2ull << 62)  /* (code index, line) */

static struct lkentry *lk_slot(uint64_t key)
{
    size_t i = mix64(key) & lkmask;
    while (lkeys[i].key && lkeys[i].key != key)
        i = (i + 1) & lkmask;
    return &lkeys[i];
}

/* Room for two more entries, keeping the table at most half full. */
static int lk_reserve_unlocked(void)
{
    if (lkeys && (lkused + 2) * 2 <= lkmask + 1)
        return 0;
    size_t cap = lkeys ? (lkmask + 1) * 2 : INDEX_FIRST;
    struct lkentry *old = lkeys;
    size_t oldcap = old ? lkmask + 1 : 0;
    if (!(lkeys = calloc(cap, sizeof *lkeys))) {
        lkeys = old;
        return PYSCOPE_ENOMEM;
    }
    lkmask = cap - 1;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *lk_slot(old[i].key) = old[i];
    free(old);
    return 0;
}

/* The instruction that stands for the line of instruction lasti of the
 * code object at code (index ci); lasti itself when that line is not known
 * or there is no room. */
static int32_t linekey_unlocked(uint32_t ci, void *code, int32_t lasti)
{
    uint64_t at = LK_LASTI | (uint64_t)ci << 32 | (uint32_t)lasti;
    if (lkeys) {
        const struct lkentry *e = lk_slot(at);
        if (e->key)
            return e->value;
    }
    if (lk_reserve_unlocked() < 0)
        return lasti;
    int line = pyframe_code_line(code, lasti);
    int32_t key = lasti;
    if (line > 0) {
        struct lkentry *l = lk_slot(LK_LINE | (uint64_t)ci << 32 | (uint32_t)line);
        if (l->key) {
            key = l->value;
        } else {
            *l = (struct lkentry){LK_LINE | (uint64_t)ci << 32 | (uint32_t)line, lasti};
            lkused++;
        }
    }
    *lk_slot(at) = (struct lkentry){at, key};
    lkused++;
    return key;
}

/* ---- live blocks (the GIL held) ---------------------------------------- */

static void copy_peak_unlocked(void)
{
    if (grow32((void **)&peak_stat, sizeof *peak_stat, ntbs, &peak_cap) < 0)
        return;
    memcpy(peak_stat, tb_stat, ntbs * sizeof *tb_stat);
    peak_ntbs = ntbs;
    peak_copy_bytes = traced_bytes;
    peak_copy_blocks = (int64_t)blocks_count(live);
    peak_copy_at = traced_bytes + traced_bytes / PEAK_STEP + 1;
    peak_copy_ns = (uint64_t)util_mono_ns();
}

/* A block of size bytes from traceback id comes (sign 1) or goes (-1). */
static void account_unlocked(uint32_t id, size_t size, int sign)
{
    tb_stat[id].size += sign * (int64_t)size;
    tb_stat[id].count += sign;
    traced_bytes += sign * (int64_t)size;
}

/* Forget block ptr; 1 with what it was when it was recorded. */
static int forget_unlocked(uintptr_t ptr, size_t *size, uint32_t *id)
{
    if (!blocks_take(live, ptr, size, id))
        return 0;
    account_unlocked(*id, *size, -1);
    return 1;
}

/* An older record of an address found when a newer one moved out of the
 * live table's nursery (blocks.h): a block we missed the free of. */
static void replaced_unlocked(void *ctx, size_t size, uint32_t id)
{
    (void)ctx;
    account_unlocked(id, size, -1);
}

static void add_unlocked(uintptr_t ptr, size_t size, uint32_t id)
{
    size_t old_size;
    uint32_t old_id;
    int r = id == TB_NONE ? PYSCOPE_ENOMEM : blocks_put(live, ptr, size, id, &old_size, &old_id);
    if (r < 0) {
        atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
        return;
    }
    if (r == 1) /* a block we missed the free of */
        account_unlocked(old_id, old_size, -1);
    account_unlocked(id, size, 1);
    if (traced_bytes > peak_bytes) {
        peak_bytes = traced_bytes;
        if (traced_bytes >= peak_copy_at)
            copy_peak_unlocked();
    }
}

/* ---- the hooks ---------------------------------------------------------- */

/*
 * The last traceback each thread interned, with the frames it was made
 * from and their nodes. A program allocates again and again from nearly the
 * same stack: frames equal to the last ones, compared as raw bytes, give its
 * id at once, and the outer frames it shares with them give their nodes, so
 * that only the frames that moved (most often the innermost one or two) are
 * looked up, by line and as nodes. Hashing and matching every frame cost
 * most of the tracer's time: under a chain of 10,000 generators the depth
 * limit's 128 frames at each allocation, and even at a moderate depth a
 * pass over every frame per allocation. A loop allocates at a few
 * instructions in turn under the same outer frames: the tracebacks that
 * differ from the last one only in their innermost frame are kept by that
 * frame (leaf), which then gives their id without a lookup, until the outer
 * frames change. A code object's death ends every
 * thread's: a new code object could be made at its address. Made on a
 * thread's first traced allocation (the C library's calloc: the module's
 * thread-local storage is static and small), freed when the thread ends.
 */
#define LEAF_SLOTS 16 /* a power of two */
struct tb_memo {
    uint32_t id1; /* the traceback's id + 1; 0: none */
    int n, truncated;
    uint64_t deaths;
    uint32_t *nodes; /* memo_cap: each frame's node, innermost first */
    struct {
        struct pyframe_raw f; /* the innermost frame as walked */
        uint32_t id1;         /* 0: none */
    } leaf[LEAF_SLOTS];
    struct pyframe_raw frames[]; /* memo_cap as walked */
};

/*
 * Frames as walked under a parent node -> their node: a frame seen again
 * under the same caller (a recursion going down again, a loop calling the
 * same function) skips its code object's, its line's and its node's
 * lookups. Direct-mapped; an entry holds while no code object has died
 * since it was made. The GIL.
 */
#define NODE_CACHE 1024 /* a power of two */
static struct {
    struct pyframe_raw f;
    uint32_t parent, node;
    uint64_t deaths;
} node_cache[NODE_CACHE];

static unsigned node_cache_slot(uint32_t parent, const struct pyframe_raw *f)
{
    uint64_t h = ((uint64_t)parent << 32 ^ (uint64_t)(uintptr_t)f->code >> 4 ^
                  (uint32_t)f->lasti << 8) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> 54); /* NODE_CACHE */
}

/* Whether frames a[0..n) and b[0..n) are the same, as walked: a loop, not
 * memcmp, for the few frames most calls compare. */
static int frames_equal(const struct pyframe_raw *a, const struct pyframe_raw *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i].code != b[i].code || a[i].lasti != b[i].lasti || a[i].reserved != b[i].reserved)
            return 0;
    return 1;
}

static unsigned leaf_slot(const struct pyframe_raw *f)
{
    uint32_t h = ((uint32_t)((uintptr_t)f->code >> 4) ^ (uint32_t)f->lasti) * 0x9e3779b1u;
    return h >> (32 - 4); /* LEAF_SLOTS */
}

static void memo_free(void *m)
{
    free(m);
    memo = NULL;
}

/* The id of frames[0..n) as a traceback. The GIL held. */
static uint32_t tb_of_unlocked(const struct pyframe_raw *frames, int n, int truncated)
{
    struct tb_memo *m = memo;
    size_t bytes = (size_t)n * sizeof *frames;
    int valid = m && m->id1 && m->deaths == code_deaths;
    /* Only the innermost frame differs from the memo's, if any. */
    int outer = valid && m->n == n && m->truncated == truncated &&
                (n <= 1 || frames_equal(m->frames + 1, frames + 1, n - 1));
    unsigned k = n ? leaf_slot(frames) : 0;
    if (outer) {
        if (!n || frames_equal(m->frames, frames, 1))
            return m->id1 - 1;
        if (m->leaf[k].id1 && frames_equal(&m->leaf[k].f, frames, 1))
            return m->leaf[k].id1 - 1;
    }
    uint32_t nd[NATIVE_MERGE_MAX + TRACEMEM_MAX_DEPTH];
    if (n > (int)(sizeof nd / sizeof *nd))
        return TB_NONE;
    int shared = 0; /* outermost frames equal to the memo's, as walked */
    if (outer) {
        shared = n - 1;
        memcpy(nd + 1, m->nodes + 1, (size_t)shared * sizeof *nd);
    } else if (valid)
        while (shared < n && shared < m->n &&
               frames_equal(&frames[n - 1 - shared], &m->frames[m->n - 1 - shared], 1)) {
            nd[n - 1 - shared] = m->nodes[m->n - 1 - shared];
            shared++;
        }
    uint32_t parent = shared ? nd[n - shared] : NODE_NONE;
    for (int i = n - 1 - shared; i >= 0; i--) {
        struct pyframe_raw f = frames[i];
        uint32_t caller = parent;
        unsigned c = node_cache_slot(caller, &f);
        if (node_cache[c].parent == parent && node_cache[c].deaths == code_deaths &&
            frames_equal(&node_cache[c].f, &f, 1)) {
            nd[i] = parent = node_cache[c].node;
            continue;
        }
        /* The memo's frame as deep (from the root): the same code object
         * there gives its tcode, and the same line under the same parent
         * its node. */
        int j = valid ? i + m->n - n : -1;
        const struct tnode *was =
            j >= 0 && j < m->n && m->frames[j].code == f.code ? &nodes[m->nodes[j]] : NULL;
        uint32_t ci = CI_NATIVE;
        if (!(f.reserved & PYFRAME_NATIVE)) {
            if (was && was->code_idx != CI_NATIVE)
                ci = CI_INDEX(was->code_idx);
            else if ((ci = code_of_unlocked(f.code)) == TB_NONE)
                return TB_NONE;
            f.lasti = linekey_unlocked(ci, f.code, f.lasti);
            if (f.reserved & PYFRAME_ENTRY)
                ci |= CI_ENTRY;
        }
        if (was && was->parent == parent && was->code_idx == ci && was->lasti == f.lasti)
            parent = m->nodes[j];
        else if ((parent = node_intern_unlocked(parent, ci, &f)) == NODE_NONE)
            return TB_NONE;
        node_cache[c].f = frames[i];
        node_cache[c].parent = caller;
        node_cache[c].node = parent;
        node_cache[c].deaths = code_deaths;
        nd[i] = parent;
    }
    uint32_t id = tb_of_leaf_unlocked(n ? nd[0] : NODE_NONE, n, truncated);
    if (id == TB_NONE || n > memo_cap)
        return id;
    if (!m) {
        m = calloc(1, sizeof *m + (size_t)memo_cap * (sizeof *frames + sizeof *m->nodes));
        if (!m || pthread_setspecific(memo_key, m) != 0) {
            free(m);
            return id;
        }
        m->nodes = (uint32_t *)(m->frames + memo_cap);
        memo = m;
    }
    if (!outer) { /* new outer frames: the leaves kept were under others */
        memset(m->leaf, 0, sizeof m->leaf);
        m->deaths = code_deaths;
        m->n = n;
        m->truncated = truncated;
        memcpy(m->frames + 1, frames + 1, bytes - (n ? sizeof *frames : 0));
        memcpy(m->nodes + 1, nd + 1, (size_t)(n ? n - 1 : 0) * sizeof *nd);
    }
    m->id1 = id + 1;
    if (n) {
        m->frames[0] = frames[0];
        m->nodes[0] = nd[0];
        m->leaf[k].f = frames[0];
        m->leaf[k].id1 = id + 1;
    }
    return id;
}

/*
 * Whether the calling thread holds the main interpreter's GIL, which guards
 * the tables; and, into *walk, the thread state whose frames are the
 * caller's, NULL when they are not walked (the thread has none, or it is a
 * subinterpreter's, whose code objects die unseen: pyframe_in_main_interpreter).
 * A MEM or OBJ call holds its interpreter's GIL: the C API's rule.
 */
static int tables_mine(const struct domain *d, void **walk)
{
    void *gil = d->raw ? pyframe_gil_tstate() : pyframe_current_tstate();
    int main = gil && pyframe_in_main_interpreter(gil);
    if (walk) {
        void *own = gil ? gil : d->raw ? pyframe_own_tstate() : NULL;
        *walk = own && (own == gil ? main : pyframe_in_main_interpreter(own)) ? own : NULL;
    }
    return main;
}

/* Note a new block, with the calling thread's frames. */
static void track(const struct domain *d, void *ptr, size_t size)
{
    /* With --native the native frames come first (innermost first), then
     * the Python ones: the merge waits for the traceback to be sent. */
    struct pyframe_raw frames[NATIVE_MERGE_MAX + TRACEMEM_MAX_DEPTH];
    int truncated = 0, n = 0;
    if (native_on) {
        void *ips[NATIVE_MERGE_MAX];
        int nips = unwind_backtrace(ips, NATIVE_MERGE_MAX);
        for (int i = 0; i < nips; i++)
            frames[n++] = (struct pyframe_raw){.code = ips[i], .reserved = PYFRAME_NATIVE};
    }
    void *tstate;
    int mine = tables_mine(d, &tstate);
    if (tstate)
        n += pyframe_walk_own(tstate, frames + n, depth_limit, &truncated, native_on);
    reentrant++;
    if (!mine) {
        queue_push(Q_ALLOC, (uintptr_t)ptr, size, frames, n, truncated);
    } else {
        tables_enter();
        if (atomic_load_explicit(&tracing, memory_order_relaxed))
            add_unlocked((uintptr_t)ptr, size, tb_of_unlocked(frames, n, truncated));
    }
    reentrant--;
}

/* Forget block ptr before it is freed or moved: once it is, another thread
 * may be given the address. With the GIL, 1 with what it was (*size, *id)
 * when it was recorded; 0 when it was not, or when the thread queued the
 * free (*size is then 0 and *id TB_NONE). */
static int untrack(const struct domain *d, void *ptr, size_t *size, uint32_t *id)
{
    int had = 0;
    *size = 0;
    *id = TB_NONE;
    reentrant++;
    if (!tables_mine(d, NULL)) {
        queue_push(Q_FREE, (uintptr_t)ptr, 0, NULL, 0, 0);
    } else {
        tables_enter();
        had = forget_unlocked((uintptr_t)ptr, size, id);
    }
    reentrant--;
    return had;
}

/* Put back block ptr, which untrack forgot, for a realloc that failed. */
static void retrack(const struct domain *d, void *ptr, size_t size, uint32_t id, int had)
{
    reentrant++;
    if (!tables_mine(d, NULL)) {
        queue_push(Q_RESTORE, (uintptr_t)ptr, 0, NULL, 0, 0);
    } else if (had) {
        tables_enter();
        add_unlocked((uintptr_t)ptr, size, id);
    }
    reentrant--;
}

/* What threads without the GIL queued, in their order. The GIL held. */
static void queue_apply(const uint8_t *buf, size_t len)
{
    for (size_t at = 0; at < len;) {
        struct qrec r;
        memcpy(&r, buf + at, sizeof r);
        const struct pyframe_raw *frames = (const void *)(buf + at + sizeof r);
        at += sizeof r + (size_t)r.nframes * sizeof *frames;
        size_t size;
        uint32_t id;
        if (r.op == Q_ALLOC) {
            if (atomic_load_explicit(&tracing, memory_order_relaxed))
                add_unlocked(r.ptr, r.size, tb_of_unlocked(frames, r.nframes, r.truncated));
        } else if (r.op == Q_FREE) {
            if (forget_unlocked(r.ptr, &size, &id)) {
                unsigned k = q_freed_at++ % Q_FREED;
                q_freed[k].ptr = r.ptr;
                q_freed[k].size = size;
                q_freed[k].id = id;
            }
        } else {
            /* A realloc that failed: its block, if its free was among the
             * last ones applied. */
            for (unsigned k = 0; k < Q_FREED; k++) {
                unsigned i = (q_freed_at - 1 - k) % Q_FREED;
                if (q_freed[i].ptr == r.ptr) {
                    add_unlocked(r.ptr, q_freed[i].size, q_freed[i].id);
                    q_freed[i].ptr = 0;
                    break;
                }
            }
        }
    }
}

static int traced_here(void)
{
    return atomic_load_explicit(&tracing, memory_order_relaxed) && !reentrant;
}

/*
 * The program's tracemalloc.start() puts tracemalloc's hooks on top of
 * pyscope's, and tracemalloc keeps the RAW allocator it replaced (pyscope's
 * hook) for its own records of the blocks it traces: pyscope would count
 * each of those records as one more block of the program's, at the same
 * line. So, once tracemalloc's flag is seen on (by the next MEM or OBJ hook,
 * with the GIL), pyscope's RAW hook goes back on top, calling tracemalloc's
 * hook below it, and tracemalloc's kept allocator becomes DOMAIN_TM_RAW,
 * which passes through untraced while tracemalloc traces: the program's RAW
 * blocks reach pyscope first, tracemalloc's records never. Only the ctx of
 * the kept allocator changes (every entry of pyscope's has the same
 * functions), so a thread reading it meanwhile calls one whole entry or the
 * other. tracemalloc.stop() installs its kept allocator again: DOMAIN_TM_RAW,
 * tracemalloc no longer tracing, then traces as the RAW hook does; a later
 * start() finds it kept and is followed the same way. MEM and OBJ need
 * nothing: tracemalloc's records are RAW blocks, and its stop() gives back
 * pyscope's hooks. A layer other than tracemalloc's right above the RAW hook
 * is left alone.
 */
static void *hook_malloc(void *ctx, size_t size);
static void *hook_calloc(void *ctx, size_t nelem, size_t elsize);
static void *hook_realloc(void *ctx, void *ptr, size_t size);
static void hook_free(void *ctx, void *ptr);

static void tm_follow(void)
{
    int now = *tm_tracing;
    if (now == tm_seen)
        return;
    tm_seen = now;
    PyMemAllocatorEx top;
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &top);
    PyMemAllocatorEx *kept = top.ctx;
    if (!now || top.malloc == hook_malloc || !kept || kept->malloc != hook_malloc)
        return;
    struct domain *raw = &domains[DOMAIN_RAW], *own = &domains[DOMAIN_TM_RAW];
    if (kept->ctx == raw)
        own->prev = raw->prev;
    else if (kept->ctx != own)
        return;
    kept->ctx = own;
    raw->prev = top;
    PyMemAllocatorEx hook = {raw, hook_malloc, hook_calloc, hook_realloc, hook_free};
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &hook);
}

/*
 * tracemalloc started before pyscope (-X tracemalloc, PYTHONTRACEMALLOC) is
 * under pyscope's hooks and keeps the allocators from before them, for its
 * records too: nothing is counted twice, but its stop() would install those
 * again and leave pyscope's hooks out. So pyscope's MEM and OBJ hooks move
 * under it, into the allocators it keeps, and its kept RAW allocator becomes
 * DOMAIN_TM_RAW, as tm_follow leaves them: the RAW hook stays on top. Called
 * by tracemem_start, before any other thread uses the allocators, with its
 * hooks just installed on tracemalloc's (whose ctx is the kept allocator).
 */
static void tm_under(void)
{
    static const PyMemAllocatorDomain which[] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                 PYMEM_DOMAIN_OBJ};
    for (int i = 0; i < DOMAIN_TM_RAW; i++)
        if (!domains[i].prev.ctx)
            return; /* not tracemalloc's hooks */
    for (int i = 0; i < DOMAIN_TM_RAW; i++) {
        PyMemAllocatorEx *kept = domains[i].prev.ctx, tm_hook = domains[i].prev;
        struct domain *d = i == DOMAIN_RAW ? &domains[DOMAIN_TM_RAW] : &domains[i];
        d->prev = *kept;
        *kept = (PyMemAllocatorEx){d, hook_malloc, hook_calloc, hook_realloc, hook_free};
        if (i != DOMAIN_RAW)
            PyMem_SetAllocator(which[i], &tm_hook);
    }
}

/* A call the hook passes through untraced: tracemalloc's own record. */
static int tm_record(const struct domain *d)
{
    return d->tm_own && *tm_tracing;
}

/* Before anything else in a traced hook. */
static void hook_enter(const struct domain *d, int alloc)
{
    if (d->raw)
        return;
    /* GIL held. */
    if (*tm_tracing != tm_seen)
        tm_follow();
    if (alloc)
        freelist_check(); /* never from a free hook (freelist.h) */
}

/*
 * The allocator a hook replaced runs with the thread marked reentrant: a
 * block pymalloc hands on to the RAW domain is the caller's block, traced
 * once, by the domain the caller asked. The rest of a traced hook is
 * pyscope's own work (ownwork_begin); the allocator it calls is the
 * program's, as without pyscope. A call passed through untraced is not
 * marked, and an allocation is made before the hook's own work, so the
 * thread is marked once per traced allocation.
 */
static void *hook_malloc(void *ctx, size_t size)
{
    struct domain *d = ctx;
    if (!traced_here() || tm_record(d))
        return d->prev.malloc(d->prev.ctx, size);
    reentrant++;
    void *p = d->prev.malloc(d->prev.ctx, size);
    reentrant--;
    int64_t own = ownwork_timed_begin();
    hook_enter(d, 1);
    if (p)
        track(d, p, size);
    ownwork_timed_end(own);
    return p;
}

static void *hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct domain *d = ctx;
    if (!traced_here() || tm_record(d))
        return d->prev.calloc(d->prev.ctx, nelem, elsize);
    reentrant++;
    void *p = d->prev.calloc(d->prev.ctx, nelem, elsize);
    reentrant--;
    int64_t own = ownwork_timed_begin();
    hook_enter(d, 1);
    if (p)
        track(d, p, nelem * elsize);
    ownwork_timed_end(own);
    return p;
}

static void *hook_realloc(void *ctx, void *ptr, size_t size)
{
    struct domain *d = ctx;
    if (!traced_here())
        return d->prev.realloc(d->prev.ctx, ptr, size);
    int64_t own = ownwork_timed_begin();
    hook_enter(d, 1);
    size_t old_size = 0;
    uint32_t old_id = TB_NONE;
    int had = ptr && untrack(d, ptr, &old_size, &old_id);
    reentrant++;
    ownwork_timed_end(own);
    void *p = d->prev.realloc(d->prev.ctx, ptr, size);
    own = ownwork_timed_begin();
    reentrant--;
    if (p) {
        /* The new block has the caller's traceback, as in tracemalloc. */
        if (!tm_record(d))
            track(d, p, size);
    } else if (ptr) {
        /* Failed: the old block stays as it was. */
        retrack(d, ptr, old_size, old_id, had);
    }
    ownwork_timed_end(own);
    return p;
}

/* tracemalloc's records are forgotten like any block: one made before
 * tm_follow moved the hooks was traced. */
static void hook_free(void *ctx, void *ptr)
{
    struct domain *d = ctx;
    if (!traced_here()) {
        d->prev.free(d->prev.ctx, ptr);
        return;
    }
    int64_t own = ownwork_timed_begin();
    hook_enter(d, 0);
    /* Forget first: once freed, another thread may be given the address. */
    size_t size;
    uint32_t id;
    if (ptr)
        untrack(d, ptr, &size, &id);
    reentrant++;
    ownwork_timed_end(own);
    d->prev.free(d->prev.ctx, ptr);
    reentrant--; /* one store: not worth a mark */
}

/* ---- code objects ------------------------------------------------------- */

static void name_unlocked(struct tcode *c)
{
    if (c->named || !c->ptr)
        return;
    if (pyframe_names(c->ptr, &c->info) < 0)
        memset(&c->info, 0, sizeof c->info);
    c->named = 1;
}

/* A code object dies (GIL held): name it while it is whole and forget its
 * address, which a new code object may be given. */
static void on_code_dealloc(void *code)
{
    if (!live)
        return;
    reentrant++;
    tables_enter(); /* the queue's frames may name it */
    size_t size;
    uint32_t ci;
    if (blocks_take(codemap, (uintptr_t)code, &size, &ci)) {
        struct tcode *c = &codes[ci];
        code_deaths++;
        name_unlocked(c);
        struct pyframe_code_id id = pyframe_code_identity(code);
        int64_t next;
        if (c->info.name && (dead_codes || (dead_codes = imap_new()))) {
            c->next_dead =
                imap_get(dead_codes, id.a, id.b, &next) && next >= 0 ? (uint32_t)next : TB_NONE;
            imap_put(dead_codes, id.a, id.b, ci); /* without room, it stays apart */
        }
        c->ptr = NULL;
    }
    reentrant--;
}

/* ---- snapshots ---------------------------------------------------------- */

/* Records packed into messages of at most WIRE_MSG_MAX bytes. */
struct obuf {
    uint8_t *buf;
    size_t len, cap, msg_start;
    size_t *ends;
    size_t nends, capends;
    int err;
};

static void ob_close(struct obuf *ob)
{
    if (ob->err || ob->len == ob->msg_start)
        return;
    if (util_reserve((void **)&ob->ends, &ob->capends, ob->nends + 1, sizeof *ob->ends, TM_FIRST) <
        0) {
        ob->err = PYSCOPE_ENOMEM;
        return;
    }
    ob->ends[ob->nends++] = ob->len;
    ob->msg_start = ob->len;
}

/* Room for a record of size bytes at the end of ob (in a new message when
 * the current one would grow past the limit); NULL after a failure. */
static uint8_t *ob_room(struct obuf *ob, size_t size)
{
    if (ob->err || size > WIRE_MSG_MAX)
        return NULL;
    if (ob->len - ob->msg_start + size > WIRE_MSG_MAX)
        ob_close(ob);
    if (util_reserve((void **)&ob->buf, &ob->cap, ob->len + size, 1, TM_FIRST) < 0) {
        ob->err = PYSCOPE_ENOMEM;
        return NULL;
    }
    ob->len += size;
    return ob->buf + ob->len - size;
}

static void ob_rec(struct obuf *ob, unsigned type, const void *fixed, size_t fsize,
                   const struct wire_str *strs, unsigned nstr)
{
    size_t size = wire_size(fsize, strs, nstr);
    uint8_t *p = ob_room(ob, size);
    if (p)
        wire_encode(p, size, type, fixed, fsize, strs, nstr);
}

/* A record wire_encode made already. */
static void ob_raw(struct obuf *ob, const uint8_t *rec, size_t size)
{
    uint8_t *p = ob_room(ob, size);
    if (p)
        memcpy(p, rec, size);
}

static void ob_release(struct obuf *ob)
{
    free(ob->buf);
    free(ob->ends);
}

static struct wire_str wstr(const char *s)
{
    return (struct wire_str){s ? s : "", s ? (uint32_t)strlen(s) : 0};
}

static void send_code_unlocked(struct obuf *ob, uint32_t ci)
{
    struct tcode *c = &codes[ci];
    if (c->sent)
        return;
    name_unlocked(c);
    struct wire_code wc = {.key = CODE_KEY_BIT | ci, .firstlineno = c->info.firstlineno};
    struct wire_str s[3] = {wstr(c->info.filename ? c->info.filename : "?"),
                            wstr(c->info.name ? c->info.name : "?"),
                            wstr(c->info.qualname ? c->info.qualname : "?")};
    ob_rec(ob, WIRE_CODE, &wc, sizeof wc, s, 3);
    c->sent = 1;
}

static void send_tb_unlocked(struct obuf *ob, uint32_t id)
{
    struct tb *t = &tbs[id];
    if (t->sent)
        return;
    static struct wire_frame wf[TRACEMEM_MAX_DEPTH], merged[TRACEMEM_MAX_DEPTH + NATIVE_MERGE_MAX];
    static uint8_t entry[TRACEMEM_MAX_DEPTH];
    static uint64_t ips[NATIVE_MERGE_MAX], keys[NATIVE_MERGE_MAX]; /* snap_lock */
    size_t npy = 0, nips = 0, nkeys = 0;
    uint32_t node = t->leaf;
    for (uint32_t i = 0; i < t->nframes; i++, node = nodes[node].parent) {
        uint32_t ci = nodes[node].code_idx;
        if (ci == CI_NATIVE) {
            if (nips < NATIVE_MERGE_MAX)
                ips[nips++] = (uint64_t)(uintptr_t)nodes[node].code;
            continue;
        }
        send_code_unlocked(ob, CI_INDEX(ci));
        entry[npy] = (ci & CI_ENTRY) != 0;
        wf[npy++] = (struct wire_frame){.code = CODE_KEY_BIT | CI_INDEX(ci), .line = nodes[node].line};
    }
    const struct wire_frame *frames = wf;
    size_t nframes = npy;
    if (nips) {
        nframes = native_merge(ips, nips, 0, wf, entry, npy, t->truncated, merged, keys, &nkeys);
        frames = merged;
        for (size_t k = 0; k < nkeys; k++) {
            uint8_t rec[NATIVE_REC_MAX];
            long len = native_put(keys[k], NATIVE_WRITER_MEMORY, rec, sizeof rec, 0);
            if (len > 0)
                ob_raw(ob, rec, (size_t)len);
        }
    }
    struct wire_traceback wt = {.key = (uint64_t)id + 1,
                                .flags = t->truncated ? WIRE_SAMPLE_TRUNCATED : 0};
    struct wire_str s = {(const char *)frames, (uint32_t)(nframes * sizeof *frames)};
    ob_rec(ob, WIRE_TRACEBACK, &wt, sizeof wt, &s, 1);
    t->sent = 1;
}

static uint64_t rss_bytes(void)
{
    char buf[128];
    unsigned long long size, resident;
    if (util_read_file("/proc/self/statm", buf, sizeof buf) < 0 ||
        sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * The records of one snapshot into ob, from the counters sizes/counts of the
 * first n tracebacks (the live ones, or the peak copy). The GIL held.
 */
static void build_unlocked(struct obuf *ob, struct wire_snapshot *ws, const char *label,
                           const struct tbstat *stat, uint32_t n)
{
    for (uint32_t id = 0; id < n; id++) {
        if (stat[id].count > 0) {
            send_tb_unlocked(ob, id);
            ws->ntraces++;
        }
    }
    struct wire_str ls = wstr(label);
    ob_rec(ob, WIRE_SNAPSHOT, ws, sizeof *ws, &ls, label ? 1 : 0);
    enum { PER_REC = (WIRE_MSG_MAX - 64) / sizeof(struct wire_trace) };
    static struct wire_trace chunk[PER_REC]; /* snap_lock */
    struct wire_snapshot_traces wt = {.seq = ws->seq};
    size_t k = 0;
    for (uint32_t id = 0; id <= n; id++) {
        if (k == PER_REC || (id == n && k)) {
            struct wire_str s = {(const char *)chunk, (uint32_t)(k * sizeof *chunk)};
            ob_rec(ob, WIRE_SNAPSHOT_TRACES, &wt, sizeof wt, &s, 1);
            k = 0;
        }
        if (id < n && stat[id].count > 0)
            chunk[k++] = (struct wire_trace){(uint64_t)id + 1, (uint64_t)stat[id].size,
                                             (uint64_t)stat[id].count};
    }
    ob_close(ob);
}

static int send_all(const struct obuf *ob)
{
    return channel_send_all(ob->buf, ob->ends, ob->nends);
}

/* The recorder's answer for snapshot seq; 0 when none came in time. */
static int64_t wait_reply(uint64_t seq)
{
    uint64_t deadline = (uint64_t)util_mono_ns() + REPLY_TIMEOUT_MS * 1000000ull;
    uint8_t buf[256];
    for (;;) {
        long len = channel_receive(buf, sizeof buf, deadline);
        if (len <= 0)
            return 0; /* none in time, or the recorder is gone */
        struct wire_rec rec;
        if (wire_decode(buf, (size_t)len, &rec) <= 0 || rec.type != WIRE_SNAPSHOT_ID)
            continue;
        struct wire_snapshot_id id;
        wire_fixed(&rec, &id, sizeof id);
        if (id.seq == seq)
            return id.id;
        /* an answer to a snapshot that stopped waiting: skip it */
    }
}

/* ---- the object graph ------------------------------------------------------ */

#define CHUNK_BYTES (WIRE_MSG_MAX - 128) /* a record's payload: room for its head */

struct heapdump {
    struct obuf *ob;
    uint64_t seq;
    struct blocks *types; /* type object -> key - 1 */
    uint64_t ntypes;
    struct wire_heap_obj objs[CHUNK_BYTES / sizeof(struct wire_heap_obj)];
    size_t nobjs;
    uint8_t edges[CHUNK_BYTES];
    size_t edge_bytes;
};

static void heap_emit_objs(struct heapdump *h)
{
    if (!h->nobjs)
        return;
    struct wire_heap_objects w = {h->seq};
    struct wire_str s = {(const char *)h->objs, (uint32_t)(h->nobjs * sizeof *h->objs)};
    ob_rec(h->ob, WIRE_HEAP_OBJECTS, &w, sizeof w, &s, 1);
    h->nobjs = 0;
}

static void heap_emit_edges(struct heapdump *h)
{
    if (!h->edge_bytes)
        return;
    struct wire_heap_edges w = {h->seq};
    struct wire_str s = {(const char *)h->edges, (uint32_t)h->edge_bytes};
    ob_rec(h->ob, WIRE_HEAP_EDGES, &w, sizeof w, &s, 1);
    h->edge_bytes = 0;
}

/* The snapshot's key of a type, sent the first time. */
static uint64_t heap_type_key(struct heapdump *h, const void *type)
{
    size_t size;
    uint32_t idx;
    if (blocks_get(h->types, (uintptr_t)type, &size, &idx))
        return (uint64_t)idx + 1;
    if (blocks_put(h->types, (uintptr_t)type, 0, (uint32_t)h->ntypes, &size, &idx) < 0) {
        h->ob->err = PYSCOPE_ENOMEM;
        return 0;
    }
    char name[TYPE_NAME_MAX];
    struct wire_heap_type w = {h->seq, ++h->ntypes};
    struct wire_str s = {name, (uint32_t)heap_type_name(type, name, sizeof name)};
    ob_rec(h->ob, WIRE_HEAP_TYPE, &w, sizeof w, &s, 1);
    return w.key;
}

static int heap_on_obj(const struct heap_obj *o, void *ctx)
{
    struct heapdump *h = ctx;
    uint64_t type = heap_type_key(h, o->type), tb = 0;
    if (atomic_load_explicit(&tracing, memory_order_relaxed)) {
        size_t size;
        uint32_t id;
        tables_enter();
        if (blocks_get(live, (uintptr_t)o->block, &size, &id)) {
            send_tb_unlocked(h->ob, id);
            tb = (uint64_t)id + 1;
        }
    }
    if (h->nobjs == sizeof h->objs / sizeof h->objs[0])
        heap_emit_objs(h);
    h->objs[h->nobjs++] =
        (struct wire_heap_obj){(uint64_t)(uintptr_t)o->obj, type, o->size, o->refcnt, tb};
    return h->ob->err;
}

static int heap_on_edge(const void *src, const void *dst, const char *label, size_t len, void *ctx)
{
    struct heapdump *h = ctx;
    heap_emit_objs(h); /* every object is out before the first edge */
    size_t need = WIRE_EDGE_SIZE(len);
    if (h->edge_bytes + need > sizeof h->edges)
        heap_emit_edges(h);
    uint8_t *p = h->edges + h->edge_bytes;
    uint64_t s = (uint64_t)(uintptr_t)src, d = (uint64_t)(uintptr_t)dst;
    uint32_t l = (uint32_t)len;
    memcpy(p, &s, 8);
    memcpy(p + 8, &d, 8);
    memcpy(p + 16, &l, 4);
    memcpy(p + WIRE_EDGE_LABEL_AT, label, len);
    memset(p + WIRE_EDGE_LABEL_AT + len, 0, need - WIRE_EDGE_LABEL_AT - len);
    h->edge_bytes += need;
    return h->ob->err;
}

/* The object graph of snapshot seq into ob (sent as it fills). GIL held. */
static void dump_heap(struct obuf *ob, uint64_t seq)
{
    static struct heapdump h; /* snap_lock */
    h = (struct heapdump){.ob = ob, .seq = seq, .types = blocks_new()};
    if (!h.types) {
        ob->err = PYSCOPE_ENOMEM;
        return;
    }
    int err = heap_walk(heap_on_obj, heap_on_edge, &h);
    heap_emit_objs(&h);
    heap_emit_edges(&h);
    if (err < 0 && err != PYSCOPE_EBUSY && !ob->err)
        ob->err = err; /* a collection under way: the snapshot has no graph */
    blocks_free(h.types);
}

/*
 * The object graph goes out from a thread of its own, so that a snapshot
 * stops the program only for the walk, not for the recorder's writing. The
 * next snapshot (and a fork, and a new connection) waits for it first, so
 * records never overtake each other.
 */
static pthread_t sender; /* these three: snap_lock */
static int sender_running;
static struct obuf sender_ob;

static void *send_graph(void *arg)
{
    if (!sender_ob.err)
        send_all(&sender_ob);
    return NULL;
}

/* Wait for the graph being sent, if any. snap_lock held, or the caller the
 * only one that can start a sender. */
static void sender_join(void)
{
    if (!sender_running)
        return;
    pthread_join(sender, NULL);
    sender_running = 0;
    ob_release(&sender_ob);
    memset(&sender_ob, 0, sizeof sender_ob);
}

/* Send ob in the background (takes it over); in this thread when no thread
 * can be started. */
static void sender_start(struct obuf *ob)
{
    sender_ob = *ob;
    memset(ob, 0, sizeof *ob);
    sender_running = threads_start_own(&sender, NULL, send_graph, NULL) == 0;
    if (!sender_running) {
        if (!sender_ob.err)
            send_all(&sender_ob);
        ob_release(&sender_ob);
        memset(&sender_ob, 0, sizeof sender_ob);
    }
}

/*
 * A fork child starts with its parent's objects: a program that forks many
 * short-lived children (a server's per-request fork, a test runner) would
 * pay at each child's exit for a graph of objects the child mostly never
 * touched, and the database would hold that graph once per child. So the
 * exit snapshot of a fork child has a graph only when the child ran at
 * least as long as its graph takes to record, about GRAPH_NS_PER_OBJECT per
 * tracked object from the walk to the database: that bounds what the graphs
 * add to a forking program to about its own time. Snapshots the child asks
 * for (pyscope.snapshot, the signal, the interval) always have one.
 */
#define GRAPH_NS_PER_OBJECT 4000

static int graph_wanted(int trigger)
{
    if (trigger == WIRE_TRIGGER_PEAK)
        return 0; /* the peak is a copy of the blocks: there is no graph of it */
    if (trigger != WIRE_TRIGGER_EXIT || !forked_ns)
        return 1;
    uint64_t lived = (uint64_t)util_mono_ns() - forked_ns;
    return lived / GRAPH_NS_PER_OBJECT >= heap_tracked_count();
}

/* What the tracer's own tables hold: what pyscope costs the program in
 * memory, beyond its fixed buffers. The GIL held. */
static uint64_t footprint_unlocked(void)
{
    uint64_t bytes = blocks_footprint(live) + blocks_footprint(codemap) +
                     (dead_codes ? imap_bytes(dead_codes) : 0) +
                     (uint64_t)capcodes * sizeof *codes + (uint64_t)captbs * sizeof *tbs +
                     (uint64_t)(capstat + peak_cap) * sizeof *tb_stat +
                     (uint64_t)capnodes * sizeof *nodes +
                     (nindex.slots ? (nindex.mask + 1) * sizeof *nindex.slots : 0) +
                     (lkeys ? (lkmask + 1) * sizeof *lkeys : 0) +
                     atomic_load_explicit(&q_pending, memory_order_relaxed);
    return bytes;
}

/* snap_lock held; reentrant set. */
static int64_t snapshot_locked(int trigger, const char *label, int wait)
{
    int with_graph = heap_on && graph_wanted(trigger); /* before the snapshot's own time */
    struct obuf ob = {0};
    struct wire_snapshot ws = {.trigger = (uint32_t)trigger, .rss_bytes = rss_bytes()};
    tables_enter();
    ws.seq = next_seq++;
    ws.peak_bytes = (uint64_t)peak_bytes;
    ws.own_bytes = footprint_unlocked();
    ws.flags = wait ? WIRE_SNAPSHOT_REPLY : 0;
    if (trigger == WIRE_TRIGGER_PEAK) {
        ws.t_ns = peak_copy_ns;
        ws.traced_bytes = (uint64_t)peak_copy_bytes;
        ws.traced_blocks = (uint64_t)peak_copy_blocks;
        build_unlocked(&ob, &ws, label, peak_stat, peak_ntbs);
    } else {
        ws.t_ns = (uint64_t)util_mono_ns();
        if (atomic_load(&tracing)) {
            ws.traced_bytes = (uint64_t)traced_bytes;
            ws.traced_blocks = blocks_count(live);
        } else {
            ws.flags |= WIRE_SNAPSHOT_UNTRACED;
        }
        build_unlocked(&ob, &ws, label, tb_stat, ntbs);
    }
    /* The snapshot ends before its graph: the program's id and the
     * statistics need not wait for the graph. */
    struct wire_snapshot_traces end = {ws.seq};
    ob_rec(&ob, WIRE_SNAPSHOT_END, &end, sizeof end, NULL, 0);
    ob_close(&ob);
    sender_join();
    int64_t rc = ob.err ? ob.err : send_all(&ob);
    ob_release(&ob);
    if (rc == 0 && with_graph) {
        struct obuf graph = {0};
        dump_heap(&graph, ws.seq);
        ob_close(&graph);
        sender_start(&graph);
    }
    if (rc == 0 && wait)
        rc = wait_reply(ws.seq);
    return rc;
}

int64_t tracemem_snapshot(int trigger, const char *label, int wait)
{
    if (!atomic_load(&enabled))
        return PYSCOPE_EINVAL;
    int64_t own = ownwork_timed_begin();
    reentrant++;
    pthread_mutex_lock(&snap_lock);
    int64_t rc = !connected ? PYSCOPE_EIO : snapshot_locked(trigger, label, wait);
    pthread_mutex_unlock(&snap_lock);
    reentrant--;
    ownwork_timed_end(own);
    return rc;
}

static void on_snapshot_signal(int sig)
{
    atomic_fetch_add_explicit(&signal_requests, 1, memory_order_relaxed);
}

int tracemem_due(void)
{
    if (!atomic_load(&enabled))
        return 0;
    if (atomic_load_explicit(&signal_requests, memory_order_relaxed) != signal_handled)
        return 1;
    if (atomic_load_explicit(&q_pending, memory_order_relaxed) >= QUEUE_DUE)
        return 1;
    return interval_ns && (uint64_t)util_mono_ns() >= next_interval_ns;
}

void tracemem_take_due(void)
{
    reentrant++;
    tables_enter();
    reentrant--;
    unsigned req = atomic_load(&signal_requests);
    if (req != signal_handled) {
        signal_handled = req;
        tracemem_snapshot(WIRE_TRIGGER_SIGNAL, NULL, 0);
    }
    uint64_t now = (uint64_t)util_mono_ns();
    if (interval_ns && now >= next_interval_ns) {
        while (next_interval_ns <= now)
            next_interval_ns += interval_ns;
        tracemem_snapshot(WIRE_TRIGGER_INTERVAL, NULL, 0);
    }
}

void tracemem_finish(void)
{
    if (!atomic_load(&enabled) || finished)
        return;
    finished = 1;
    tracemem_snapshot(WIRE_TRIGGER_EXIT, NULL, 0);
    if (atomic_load(&tracing) && peak_copy_bytes >= 0)
        tracemem_snapshot(WIRE_TRIGGER_PEAK, NULL, 0);
    atomic_store(&tracing, 0);
    atomic_store(&enabled, 0);
    freelist_restore();
}

/* A thread of pyscope's own: its allocations are never traced. */
static void ignore_thread(void)
{
    reentrant = 1;
}

/* The emitter's task: the snapshots that are due, and at the last flush
 * the exit snapshot and the peak. */
static int task_wanted(int last)
{
    return tracemem_due() || (last && tracemem_active());
}

static void task_run(int last)
{
    if (tracemem_due())
        tracemem_take_due();
    if (last)
        tracemem_finish();
}

/* ---- lifecycle ---------------------------------------------------------- */

int tracemem_start(int depth, int sig, uint64_t interval_ms, int heap, int native)
{
    if (installed)
        return PYSCOPE_EEXISTS;
    if (native && depth > 0) {
        unwind_warm();
        native_on = 1;
    }
    depth_limit = depth > TRACEMEM_MAX_DEPTH ? TRACEMEM_MAX_DEPTH : depth;
    memo_cap = depth_limit + (native_on ? NATIVE_MERGE_MAX : 0);
    if (depth > 0 && pthread_key_create(&memo_key, memo_free) != 0)
        return PYSCOPE_ENOMEM;
    live = blocks_new_nursery(replaced_unlocked, NULL);
    codemap = blocks_new();
    if (!live || !codemap)
        return PYSCOPE_ENOMEM;
    if (depth > 0) {
        int err = codewatch_add(on_code_dealloc);
        if (err < 0)
            return err;
        /* An object reused from a free list would keep the traceback of the
         * line that first allocated its memory (freelist.h). An interpreter
         * built otherwise keeps its free lists, and tracing goes on. */
        freelist_bypass();
        PyMemAllocatorEx hook = {.malloc = hook_malloc,
                                 .calloc = hook_calloc,
                                 .realloc = hook_realloc,
                                 .free = hook_free};
        static const PyMemAllocatorDomain which[] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                     PYMEM_DOMAIN_OBJ};
        tm_tracing = pyframe_tracemalloc_flag();
        tm_seen = *tm_tracing;
        domains[DOMAIN_TM_RAW] = (struct domain){.raw = 1, .tm_own = 1};
        for (int i = 0; i < DOMAIN_TM_RAW; i++) {
            PyMem_GetAllocator(which[i], &domains[i].prev);
            domains[i].raw = i == DOMAIN_RAW;
            hook.ctx = &domains[i];
            PyMem_SetAllocator(which[i], &hook);
        }
        if (tm_seen)
            tm_under();
    }
    heap_on = heap;
    installed = 1;
    threads_set_own_init(ignore_thread);
    static const struct emitter_task task = {1, task_wanted, task_run};
    emitter_add_task(&task);
    if (sig > 0 && sig < NSIG) {
        struct sigaction old;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO)) {
            struct sigaction sa = {.sa_handler = on_snapshot_signal, .sa_flags = SA_RESTART};
            sigemptyset(&sa.sa_mask);
            sigaction(sig, &sa, NULL);
        }
    }
    interval_ns = interval_ms * 1000000ull;
    next_interval_ns = (uint64_t)util_mono_ns() + interval_ns;
    atomic_store(&tracing, depth > 0);
    atomic_store(&enabled, 1);
    return 0;
}

int tracemem_active(void)
{
    return atomic_load(&enabled);
}

void tracemem_set_connected(int yes)
{
    /* Not while a snapshot is being sent on the old connection. */
    pthread_mutex_lock(&snap_lock);
    sender_join();
    connected = yes;
    pthread_mutex_unlock(&snap_lock);
}

uint64_t tracemem_untracked(void)
{
    return atomic_load_explicit(&untracked, memory_order_relaxed);
}


void tracemem_fork_prepare(void)
{
    if (!installed)
        return;
    pthread_mutex_lock(&snap_lock);
    sender_join(); /* the child would have half a graph */
    q_lock_take();
    forking = 1;
}

void tracemem_fork_parent(void)
{
    if (!installed)
        return;
    forking = 0;
    q_lock_release();
    pthread_mutex_unlock(&snap_lock);
}

void tracemem_fork_child(void)
{
    if (!installed)
        return;
    forking = 0;
    forked_ns = (uint64_t)util_mono_ns();
    q_lock_release();
    pthread_mutex_init(&snap_lock, NULL);
    /* A new connection: the recorder must be told everything again. The
     * child's peak is its own, from what it has now. */
    for (uint32_t i = 0; i < ncodes; i++)
        codes[i].sent = 0;
    for (uint32_t i = 0; i < ntbs; i++)
        tbs[i].sent = 0;
    connected = 0;
    peak_bytes = traced_bytes;
    peak_copy_bytes = -1;
    peak_copy_at = 0;
    finished = 0;
    atomic_store(&signal_requests, 0);
    signal_handled = 0;
    next_interval_ns = (uint64_t)util_mono_ns() + interval_ns;
}

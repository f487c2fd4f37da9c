/*
 * Error codes shared by every module: functions return 0 or a negative
 * PYSCOPE_E* value. The list below makes the enum, the names and the
 * messages, so they cannot drift apart; pyscope_strerror names them.
 */
#ifndef PYSCOPE_ERROR_H
#define PYSCOPE_ERROR_H

#define PYSCOPE_ERRNO_MAP(X)                                                                       \
    X(NOMEM, "out of memory")                                                                      \
    X(IO, "input/output error")                                                                    \
    X(INVAL, "invalid argument")                                                                   \
    X(PROTO, "malformed record")                                                                   \
    X(VERSION, "unsupported version")                                                              \
    X(FULL, "buffer full")                                                                         \
    X(NOTFOUND, "not found")                                                                       \
    X(EXISTS, "already exists")                                                                    \
    X(DB, "database error")                                                                        \
    X(NOTDB, "not a pyscope database")                                                             \
    X(BUSY, "busy")

enum {
#define PYSCOPE_ERR_ENUM(name, msg) PYSCOPE_E##name,
    PYSCOPE_E_FIRST = -100,
    PYSCOPE_ERRNO_MAP(PYSCOPE_ERR_ENUM)
#undef PYSCOPE_ERR_ENUM
        PYSCOPE_E_LAST
};

/* Static string for a PYSCOPE_E* code; "unknown error" for anything else. */
const char *pyscope_strerror(int err);

#endif

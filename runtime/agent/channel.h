/*
 * Target side: the connection to the recorder. This module owns the socket:
 * every record the process sends goes through it (the emitter's drains,
 * the session's first and last records, the memory tracer's snapshots),
 * and the one answer the recorder ever gives (a snapshot's id) comes back
 * through it. Messages are whole records, at most WIRE_MSG_MAX bytes each.
 */
#ifndef PYSCOPE_CHANNEL_H
#define PYSCOPE_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

/* Connect to the recorder at addr (WIRE_ENV_SOCKET: "@name" in the abstract
 * namespace, anything else a path), on a descriptor out of the program's
 * way: 0, PYSCOPE_EINVAL or PYSCOPE_EIO. */
int channel_connect(const char *addr);

/* Take fd, connected to the recorder, as the channel (closing one before). */
void channel_open(int fd);

/* Whether the channel is open and the recorder still reads it. */
int channel_usable(void);

/* Send one message. 0, or PYSCOPE_EIO once the recorder is gone (no more is
 * sent from then on). */
int channel_send(const void *msg, size_t len);

/* Send the messages of buf, message i ending at ends[i]: 0 or PYSCOPE_EIO. */
int channel_send_all(const uint8_t *buf, const size_t *ends, size_t n);

/* One message from the recorder into buf (cap bytes), waiting until
 * deadline_ns (util_mono_ns): its length, 0 when none came in time, or
 * PYSCOPE_EIO when the recorder is gone. */
long channel_receive(void *buf, size_t cap, uint64_t deadline_ns);

/* Close the channel. */
void channel_close(void);

/* In a fork child: the connection is the parent's; close it. */
void channel_fork_child(void);

#endif

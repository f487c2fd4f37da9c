/*
 * The connection of channel.h: a Unix socket of the recorder's, written to
 * by several threads (each message in one send: a datagram-like write the
 * recorder reads whole) and read only for snapshot ids.
 */
#define _GNU_SOURCE
#include "channel.h"
#include "error.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static _Atomic int conn_fd = -1;
static _Atomic int peer_gone;

/* Address "@name" is in the abstract namespace, anything else a path. */
static int connect_recorder(const char *addr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(addr);
    if (len == 0 || len >= sizeof sa.sun_path)
        return PYSCOPE_EINVAL;
    memcpy(sa.sun_path, addr, len);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PYSCOPE_EIO;
    if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
        close(fd);
        return PYSCOPE_EIO;
    }
    return util_fd_high(fd);
}
int channel_connect(const char *addr)
{
    int fd = connect_recorder(addr);
    if (fd < 0)
        return fd;
    channel_open(fd);
    return 0;
}

void channel_open(int fd)
{
    channel_close();
    atomic_store(&peer_gone, 0);
    atomic_store(&conn_fd, fd);
}

int channel_usable(void)
{
    return atomic_load(&conn_fd) >= 0 && !atomic_load(&peer_gone);
}

int channel_send(const void *msg, size_t len)
{
    int fd = atomic_load(&conn_fd);
    if (atomic_load(&peer_gone) || fd < 0)
        return PYSCOPE_EIO;
    for (;;) {
        ssize_t n = send(fd, msg, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        atomic_store(&peer_gone, 1);
        return PYSCOPE_EIO;
    }
}

int channel_send_all(const uint8_t *buf, const size_t *ends, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (channel_send(buf + start, ends[i] - start) < 0)
            return PYSCOPE_EIO;
        start = ends[i];
    }
    return 0;
}

long channel_receive(void *buf, size_t cap, uint64_t deadline_ns)
{
    int fd = atomic_load(&conn_fd);
    if (fd < 0)
        return PYSCOPE_EIO;
    for (;;) {
        uint64_t now = (uint64_t)util_mono_ns();
        if (now >= deadline_ns)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline_ns - now) / 1000000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        ssize_t len = recv(fd, buf, cap, MSG_DONTWAIT);
        if (len < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (len <= 0)
            return PYSCOPE_EIO;
        return (long)len;
    }
}

void channel_close(void)
{
    int fd = atomic_exchange(&conn_fd, -1);
    if (fd >= 0)
        close(fd);
}

void channel_fork_child(void)
{
    channel_close();
}

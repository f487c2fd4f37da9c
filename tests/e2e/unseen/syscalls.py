"""System calls that a signal would cut short, each as plain python makes
it: one os.write of 16 MiB to a pipe (drained by another thread, so the
writer copies on a CPU for a long time), a recv of an exact size with
MSG_WAITALL, repeated; they must move every byte in one call."""
import os
import socket
import threading

SIZE = 8 * 1024 * 1024


def drain(fd, total, out):
    got = 0
    while got < total:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        got += len(chunk)
    out.append(got)


short = 0
for _ in range(4):
    r, w = os.pipe()
    got = []
    reader = threading.Thread(target=drain, args=(r, SIZE, got))
    reader.start()
    written = os.write(w, b"x" * SIZE)
    os.close(w)
    reader.join()
    os.close(r)
    short += written != SIZE or got != [SIZE]
print("short pipe writes:", short)

def send_all(sock):
    try:
        sock.sendall(b"y" * SIZE)
    except OSError:
        pass


short = 0
for _ in range(4):
    a, b = socket.socketpair()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sender = threading.Thread(target=send_all, args=(a,))
    sender.start()
    data = b.recv(SIZE, socket.MSG_WAITALL)
    b.close()  # a short receive leaves the sender blocked: this ends it
    sender.join()
    a.close()
    short += len(data) != SIZE
print("short exact receives:", short)

"""Run a command (argv[1:]) where the kernel refuses perf events, as a
container's seccomp filter does: perf_event_open fails with EACCES, for the
command and everything it starts. x86-64 only."""
import ctypes
import errno
import os
import platform
import struct
import sys

if platform.machine() != "x86_64":
    sys.exit("no_perf.py: x86-64 only")

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
NR_PERF_EVENT_OPEN = 298
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


program = b"".join([
    insn(BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
    insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
    insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    insn(BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    insn(BPF_JEQ_K, 0, 1, NR_PERF_EVENT_OPEN),
    insn(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EACCES),
    insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
])
filters = ctypes.create_string_buffer(program)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


prog = SockFprog(len(program) // 8, ctypes.addressof(filters))
libc = ctypes.CDLL(None, use_errno=True)
if (libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or
        libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0):
    sys.exit(f"no_perf.py: seccomp: {os.strerror(ctypes.get_errno())}")
os.execvp(sys.argv[1], sys.argv[1:])

"""Closing a listening socket without resetting the connections the kernel has already completed.

Why: the kernel completes TCP handshakes on a listening socket by itself and queues the connections
until a process accepts them. A client whose connection sits in that queue has connected and sent its
request; when the last process holding the socket closes it, the kernel resets that connection, and the
client sees its request fail. So a server that stops first tells the kernel to complete no more
handshakes (a socket filter that drops every packet arriving at the listening socket: a client's SYN gets
no answer, and once the socket is closed its retry is refused), then accepts what the queue holds, and
only then closes the socket.

Only the last holder may do this: a socket filter applies to the socket, not to one process's
descriptor, so while another process (a gunicorn master reloading its workers) keeps listening on it, a
worker that stops just closes its descriptor and leaves the queue to the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

#: ``SO_ATTACH_FILTER`` (Linux): a classic BPF program run on every packet the socket receives.
SO_ATTACH_FILTER = 26
#: The one-instruction program ``ret #0``: accept 0 bytes of the packet, i.e. drop it.
_DROP_EVERY_PACKET = struct.pack("HBBI", 0x06, 0, 0, 0)


def held_by(process: int, sock: socket.socket) -> bool:
    """Whether ``process`` holds a descriptor of the same socket as ``sock`` (Linux's /proc; elsewhere,
    or when that cannot be read, True: the caller then leaves the socket alone)."""
    try:
        inode = os.fstat(sock.fileno()).st_ino
        target = f"socket:[{inode}]"
        for entry in Path(f"/proc/{process}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(entry) == target:
                    return True
    except OSError:
        return True
    return False


def master_listens(master: int, sockets: Iterable[socket.socket]) -> bool:
    """Whether ``master`` still holds every one of ``sockets`` (so the server goes on without this worker);
    False when that cannot be told (no /proc): the worker then stops as for the whole server."""
    if not Path(f"/proc/{master}/fd").is_dir():
        return False
    listeners = list(sockets)
    return bool(listeners) and all(held_by(master, listener) for listener in listeners)


def stop_handshakes(sock: socket.socket) -> bool:
    """Drop every packet that reaches the listening socket from now on, so the kernel completes no new
    connection on it (those it completed stay queued); False where the system has no socket filters."""
    program = ctypes.create_string_buffer(_DROP_EVERY_PACKET, len(_DROP_EVERY_PACKET))
    fprog = struct.pack("HL", 1, ctypes.addressof(program))  # struct sock_fprog {len; *filter}
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def queued_connections(sock: socket.socket) -> list[tuple[socket.socket, object]]:
    """Accept every connection the kernel has queued on the listening socket, without waiting."""
    accepted = []
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        while True:
            try:
                accepted.append(sock.accept())
            except OSError:  # BlockingIOError: the queue is empty
                return accepted
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)

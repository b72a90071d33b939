"""Closing a listening socket without resetting the connections the kernel had completed, and the board on
which a master's workers say whether they can answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from webapp.http.listener_shutdown import held_by, queued_connections, stop_handshakes
from webapp.http.worker_readiness import STALE_SECONDS, ReadinessBoard


def listening() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters are Linux's")
def test_connections_completed_before_are_taken_in_and_later_ones_refused():
    listener = listening()
    address = listener.getsockname()
    early = socket.create_connection(address, timeout=5)  # completed by the kernel, not accepted yet
    early.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert stop_handshakes(listener)
    late = socket.socket()
    late.settimeout(0.5)
    with pytest.raises(TimeoutError):  # its SYN is dropped: no connection is completed any more
        late.connect(address)
    late.close()

    taken = queued_connections(listener)
    assert len(taken) == 1
    client, _ = taken[0]
    assert client.recv(100) == b"GET / HTTP/1.1\r\n\r\n"  # the request that was sent is there
    client.sendall(b"answered")
    assert early.recv(100) == b"answered"
    assert queued_connections(listener) == []  # nothing more, and no waiting for it
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)
    for sock in (client, early):
        sock.close()


def test_only_a_process_holding_the_socket_is_said_to_hold_it():
    with listening() as listener:
        assert held_by(os.getpid(), listener)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], close_fds=True)
        try:
            assert not held_by(other.pid, listener)
        finally:
            other.kill()
            other.wait()


def test_the_board_tells_ready_paused_unready_and_unheard_siblings(tmp_path):
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # a live sibling's pid
    try:
        own = ReadinessBoard(tmp_path, master_pid=1, pid=os.getpid())
        sibling = ReadinessBoard(tmp_path, master_pid=1, pid=helper.pid)
        assert not own.others_ready() and not own.others_unsettled()  # nobody else said anything

        sibling.publish(ready=False)  # not ready, taking connections
        assert not own.others_ready() and own.others_unsettled()
        sibling.publish(ready=False, paused=True)
        assert not own.others_ready() and not own.others_unsettled()
        sibling.publish(ready=True)
        assert own.others_ready() and not own.others_unsettled()

        stale = time.time() - STALE_SECONDS - 1  # a sibling that has not spoken lately (starved, stuck)
        os.utime(sibling.folder / str(helper.pid), (stale, stale))
        assert not own.others_ready() and own.others_unsettled()
        sibling.refresh()
        assert own.others_ready() and not own.others_unsettled()

        sibling.leave()
        assert not own.others_ready() and not own.others_unsettled()
        own.leave()
        assert not own.folder.exists()
    finally:
        helper.kill()
        helper.wait()


def test_a_dead_sibling_does_not_count(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    ReadinessBoard(tmp_path, master_pid=1, pid=gone.pid).publish(ready=False)
    assert not ReadinessBoard(tmp_path, master_pid=1, pid=os.getpid()).others_unsettled()

"""bench/soak.py's short version (CI's): one minute of mixed REST, gRPC and uploads through compose.yaml's
stack with versions published (one corrupt), each replica killed and started again (two kills: in the
runs that found haproxy's connects hanging on a killed replica's address, no first kill lost a request,
the bursts came from the second on), and SIGHUP: no request may fail."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.container


def test_a_short_soak_loses_no_request(slim_image, haproxy_image, capsys):
    code = soak.main(["--duration", "60", "--publish-every", "15", "--kill-every", "20",
                      "--image", slim_image, "--haproxy-image", haproxy_image])
    output = capsys.readouterr().out
    assert "failed requests: 0" in output, output[-3000:]
    assert code == 0

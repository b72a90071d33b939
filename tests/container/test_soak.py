"""bench/soak.py's short version (CI's): one minute of mixed REST, gRPC and uploads through compose.yaml's
stack with versions published (one corrupt), a replica killed and started again, and SIGHUP: no request
may fail."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.container


def test_a_minute_of_soak_loses_no_request(slim_image, haproxy_image, capsys):
    code = soak.main(["--duration", "60", "--publish-every", "20", "--kill-every", "30",
                      "--image", slim_image, "--haproxy-image", haproxy_image])
    output = capsys.readouterr().out
    assert "failed requests: 0" in output, output[-3000:]
    assert code == 0

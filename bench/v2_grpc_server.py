"""A stand-alone gRPC server of the Open Inference Protocol for ``bench/protocol_load.py``.

One process on 127.0.0.1: the serving core from the same ``EMNIST_*`` settings as the app, and
``inference.GRPCInferenceService`` (``webapp.grpc.v2_servicer``) on a ``grpc.server`` with a thread pool.
``python bench/v2_grpc_server.py --port 8501`` serves until SIGTERM or SIGINT. The model server's own
gRPC port (TF Serving's services beside this one, a process per core) is measured the same way.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent import futures


def main(argv: list[str] | None = None) -> int:
    import grpc

    from serving_core.server_core import ServerCore
    from webapp.grpc import v2_servicer
    from webapp.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8, help="RPCs run at once (default 8)")
    args = parser.parse_args(argv)
    settings, _ = load_settings()
    core = ServerCore(settings.core_options())
    core.start()
    limit = settings["MAX_CONTENT_LENGTH"]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads),
                         options=[("grpc.max_receive_message_length", limit)])
    v2_servicer.add_to_server(server, core.service, settings.request_limits())
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"serving inference.GRPCInferenceService on 127.0.0.1:{args.port}", flush=True)
    stopping.wait()
    server.stop(5).wait()
    core.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

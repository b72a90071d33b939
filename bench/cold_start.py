"""Cold start of the app in a fresh interpreter: import, create_app (model load), first answer.

Run by ``bench/run_bench.py`` (once per engine) as ``python bench/cold_start.py --engine onnxruntime``;
prints one JSON line with the seconds of each step and the process RSS after the first answer.
"""

from __future__ import annotations

import json
import sys
import time

from engine_setup import configure_app, engine_parser  # bench/ is the script's folder


def main() -> int:
    # The clock starts here: the standard library and the argument parser only, then the app's imports.
    started = time.perf_counter()
    args = engine_parser(__doc__).parse_args()
    configure_app(args)
    import psutil

    from webapp.http.app import create_app

    imported = time.perf_counter()
    app = create_app()
    created = time.perf_counter()
    body = json.dumps({"instances": [[0.0] * 784]}).encode()
    response = app.test_client().post(
        f"/v1/models/{args.model_name}:predict", data=body, content_type="application/json"
    )
    answered = time.perf_counter()
    if response.status_code != 200:
        print(json.dumps({"error": f"HTTP {response.status_code}: {response.get_data(as_text=True)[:200]}"}))
        return 1
    app.extensions["serving_core"].stop()
    print(
        json.dumps(
            {
                "engine": args.engine,
                "import_s": imported - started,
                "create_app_s": created - imported,
                "first_answer_s": answered - created,
                "total_s": answered - started,
                "rss_mb": psutil.Process().memory_info().rss / 2**20,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What one request costs a worker: peak RSS and CPU seconds, per body type, at (and just past) the limits.

Each case runs in a fresh process that builds the app as a gunicorn worker does (``create_app()``, the
chosen engine), warms it up with a small request of each kind, then sends the case's request through the
whole WSGI stack (body buffering, fast path, Flask) and reports the process's peak RSS during the request
(Linux's ``VmHWM``, reset once warmed up) and the CPU seconds of all its threads. ``--parallel N``
sends N copies at once from N threads (as a worker's threads would run them): the pixel gate must keep
the peak near one request's. Bodies are made here from real drawings: a character on a huge canvas as
PNG (RGBA and greyscale), GIF, 1-bit BMP and WebP at MAX_IMAGE_PIXELS, a 48-megapixel JPEG photo, 64
photos in one multipart form, several PNGs that add up to MAX_DECODED_PIXELS, batches of 1,024 images as
JSON rows, b64 and .npy, and bodies past a limit (refused before the work they would cost).

Figures are printed (and written as JSON with ``--json``), never asserted. ``--quick``: small images, a
few cases (the tests run it).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

PREDICT = "/v1/models/emnist:predict"


def drawing(side: int, mode: str, width: int | None = None, height: int | None = None) -> Any:
    """A character (three strokes) drawn on a ``width`` x ``height`` canvas (``side`` square by default)."""
    from PIL import Image, ImageDraw

    width, height = width or side, height or side
    background = {"RGBA": (0, 0, 0, 0), "L": 255, "P": 255, "1": 1, "RGB": (250, 248, 240)}[mode]
    image = Image.new(mode, (width, height), background)
    ink = {"RGBA": (0, 0, 0, 255), "L": 0, "P": 0, "1": 0, "RGB": (20, 30, 110)}[mode]
    points = [(width * 0.3, height * 0.2), (width * 0.5, height * 0.8), (width * 0.7, height * 0.2)]
    ImageDraw.Draw(image).line(points, fill=ink, width=max(3, min(width, height) // 30))
    return image


def encoded(image: Any, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "emnist-bench-boundary"
    parts = []
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def photos(count: int, size: tuple[int, int]) -> list[bytes]:
    """JPEG 'photos': a pen character on off-white paper lit unevenly, with sensor noise."""
    import numpy as np
    from PIL import Image

    width, height = size
    light = np.linspace(0.75, 1.0, width, dtype=np.float32)[None, :, None]
    made = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        page = np.asarray(drawing(0, "RGB", width, height), dtype=np.float32) * light
        page += rng.normal(0, 6, page.shape).astype(np.float32)
        made.append(encoded(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)), "JPEG", quality=85))
    return made


def build_cases(quick: bool) -> list[dict[str, Any]]:
    """name, path, body, content type (and what it shows) of every case."""
    import numpy as np

    side = 2000 if quick else 6324  # 6324^2 = 39.99 megapixels: MAX_IMAGE_PIXELS
    cases: list[dict[str, Any]] = []

    def add(name: str, path: str, body: bytes, content_type: str, parallel: int = 1) -> None:
        cases.append({"name": name, "path": path, "body": body, "content_type": content_type,
                      "parallel": parallel})

    rgba = encoded(drawing(side, "RGBA"), "PNG")
    add(f"PNG RGBA {side}x{side}", "/predict", rgba, "image/png")
    add(f"PNG RGBA {side}x{side}, 4 at once", "/predict", rgba, "image/png", parallel=4)
    body, content_type = multipart([("upload.png", rgba)])
    add(f"the page: PNG RGBA {side}x{side} (and its thumbnail)", "/", body, content_type)
    add(f"PNG grey {side}x{side}", "/predict", encoded(drawing(side, "L"), "PNG"), "image/png")
    rows = np.random.default_rng(0).random((1024, 784)).round(4)
    add("JSON 1,024 rows", PREDICT, json.dumps({"instances": rows.tolist()}).encode(), "application/json")
    if quick:
        return cases
    palette = drawing(side, "L").convert("P")
    add(f"GIF {side}x{side}", "/predict", encoded(palette, "GIF", transparency=255), "image/gif")
    add(f"BMP 1-bit {side}x{side}", "/predict", encoded(drawing(side, "1"), "BMP"), "image/bmp")
    webp = int((side * side / 3) ** 0.5)  # a WebP pixel counts 3 against MAX_IMAGE_PIXELS
    add(f"WebP lossless {webp}x{webp}", "/predict",
        encoded(drawing(webp, "RGBA"), "WEBP", lossless=True, method=0), "image/webp")
    add("JPEG photo 8000x6000 (48 MP)", "/predict", photos(1, (8000, 6000))[0], "image/jpeg")
    files = [(f"photo{i}.jpg", data) for i, data in enumerate(photos(64, (640, 480)))]
    body, content_type = multipart(files)
    add("multipart: 64 photos 640x480", "/predict", body, content_type)
    six = encoded(drawing(0, "L", 2580, 2580), "PNG")  # 6 x 6.66 MP = MAX_DECODED_PIXELS
    body, content_type = multipart([(f"page{i}.png", six) for i in range(6)])
    add("multipart: 6 PNG 2580x2580", "/predict", body, content_type)
    small = encoded(drawing(64, "L"), "PNG")
    b64 = {"instances": [{"b64": base64.b64encode(small).decode()}] * 64}
    add("JSON 64 b64 PNG 64x64", PREDICT, json.dumps(b64).encode(), "application/json")
    pixels = (rows * 255).astype(np.uint8)
    raw = {"instances": [{"b64": base64.b64encode(row.tobytes()).decode()} for row in pixels]}
    add("JSON 1,024 b64 raw pixels", PREDICT, json.dumps(raw).encode(), "application/json")
    buffer = io.BytesIO()
    np.save(buffer, rows.astype(np.float32))
    add(".npy 1,024 x 784 float32", PREDICT, buffer.getvalue(), "application/x-npy")
    # Past a limit: refused before the work they would cost.
    tiny = {"instances": [{"b64": base64.b64encode(encoded(drawing(28, "L"), "PNG")).decode()}] * 1024}
    add("refused: 1,024 b64 PNG (MAX_DECODED_IMAGES)", PREDICT, json.dumps(tiny).encode(),
        "application/json")
    add("refused: PNG 7000x7000 (MAX_IMAGE_PIXELS)", "/predict", encoded(drawing(7000, "L"), "PNG"),
        "image/png")
    add(f"refused: WebP {side}x{side} (MAX_IMAGE_PIXELS)", "/predict",
        encoded(drawing(side, "RGBA"), "WEBP", lossless=True, method=0), "image/webp")
    body, content_type = multipart([(f"page{i}.png", six) for i in range(7)])
    add("refused: 7 PNG 2580x2580 (MAX_DECODED_PIXELS)", "/predict", body, content_type)
    return cases


def call(app: Any, path: str, body: bytes, content_type: str) -> int:
    """One request through the app's whole WSGI stack; its HTTP status."""
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
    }
    answer: dict[str, str] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        answer["status"] = status

    result = app(environ, start_response)
    b"".join(result)
    getattr(result, "close", lambda: None)()
    return int(answer["status"].split()[0])


def memory_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak since the last ``reset_peak``) of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Start a new high-water mark of the RSS (Linux: 5 > /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def child(case_file: Path, engine: str) -> dict[str, Any]:
    """Run one case in this (fresh) process and measure it."""
    case = json.loads(case_file.with_suffix(".json").read_text())
    body = case_file.read_bytes()
    from webapp import create_app
    from webapp.process_memory import share_one_malloc_arena

    share_one_malloc_arena()  # as wsgi.py does in every worker
    app = create_app({"ENGINE": engine, "FILE_SYSTEM_POLL_SECONDS": 0, "MODEL_RELOAD_ON_SIGHUP": False})
    warm_png = encoded(drawing(300, "L"), "PNG")
    warm_json = json.dumps({"instances": [[0.0] * 784]}).encode()
    for _ in range(2):
        call(app, "/predict", warm_png, "image/png")
        call(app, PREDICT, warm_json, "application/json")
    reset_peak()
    before_rss = memory_mb("VmRSS")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    statuses: list[int] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda: statuses.append(call(app, case["path"], body,
                                                                    case["content_type"])))
               for _ in range(case["parallel"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_rss = memory_mb("VmHWM")
    app.extensions["serving_core"].stop()
    return {
        "name": case["name"], "statuses": sorted(statuses), "parallel": case["parallel"],
        "body_bytes": len(body), "cpu_s_per_request": (usage.ru_utime + usage.ru_stime - cpu_before)
        / case["parallel"], "wall_s": wall, "rss_before_mb": before_rss,
        "peak_rss_mb": peak_rss,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="onnxruntime", choices=("onnxruntime", "tensorflow"))
    parser.add_argument("--quick", action="store_true", help="small images, five cases")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.engine)))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="request-cost-") as folder:
        for index, case in enumerate(build_cases(args.quick)):
            path = Path(folder) / f"case{index}.body"
            path.write_bytes(case.pop("body"))
            path.with_suffix(".json").write_text(json.dumps(case))
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            command = [sys.executable, __file__, "--child", str(path), "--engine", args.engine]
            output = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
            lines = [line for line in output.stdout.splitlines() if line.startswith("{")]
            if output.returncode != 0 or not lines:
                print(f"{case['name']}: failed ({output.returncode}): {output.stderr[-600:]}",
                      file=sys.stderr)
                return 1
            results.append(json.loads(lines[-1]))
    print(f"Per request, engine {args.engine} (a fresh worker-like process per case, "
          "peak = the process's high-water RSS during the request):")
    print("| case | body KB | status | CPU s / request | RSS before MB | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for row in results:
        statuses = ", ".join(str(s) for s in sorted(set(row["statuses"])))
        print(f"| {row['name']} | {row['body_bytes'] / 1024:,.0f} | {statuses} | "
              f"{row['cpu_s_per_request']:.2f} | {row['rss_before_mb']:.0f} | {row['peak_rss_mb']:.0f} |")
    worst_cpu = max(results, key=lambda r: r["cpu_s_per_request"])
    worst_rss = max(results, key=lambda r: r["peak_rss_mb"])
    print(f"most CPU: {worst_cpu['cpu_s_per_request']:.2f} s ({worst_cpu['name']}); highest peak RSS: "
          f"{worst_rss['peak_rss_mb']:.0f} MB ({worst_rss['name']})")
    if args.json:
        args.json.write_text(json.dumps({"engine": args.engine, "cases": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

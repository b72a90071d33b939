"""Decoding is bounded: reduced-scale decodes, the pixel limit as decoded, the gate, per-request counts."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from serving_core.deadline import Deadline, DeadlineExceededError, ServerBusyError
from serving_core.errors import InvalidArgumentError, ResourceExhaustedError
from serving_core.image_decoding import (
    REDUCED_MAX_SIDE,
    ImageTooLargeError,
    decode_cost,
    decode_greyscale,
    open_image,
    plan_decoding,
)
from serving_core.payloads.limits import ServerLimits
from serving_core.pixel_gate import PixelGate
from serving_core.preprocessing import preprocess_image


def drawn(side: int, mode: str, image_format: str = "PNG", **options) -> bytes:
    image = Image.new(mode, (side, side), (0, 0, 0, 0) if mode == "RGBA" else 255)
    ink = (255, 255, 255, 255) if mode == "RGBA" else 0
    ImageDraw.Draw(image).line([(side * 0.3, side * 0.2), (side * 0.5, side * 0.8), (side * 0.7, side * 0.2)],
                               fill=ink, width=side // 25)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def test_a_large_transparent_png_is_reduced_as_its_composite_would_be():
    """White strokes on transparent black, 2,100 px: the kept image is the premultiplied composite,
    reduced, equal to numpy's own box average of the full-size composite."""
    data = drawn(2100, "RGBA")
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), dtype=np.float64) / 255.0
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    alpha = rgba[..., 3]
    factor = -(-2100 // REDUCED_MAX_SIDE)
    side = 2100 // factor  # whole blocks only, for numpy's block mean
    blocks = lambda a: a[: side * factor, : side * factor].reshape(side, factor, side, factor).mean((1, 3))  # noqa: E731
    expected = blocks(grey * alpha) + 0.0 * (1 - blocks(alpha))  # white ink: the background is black
    image = open_image(data, 10_000_000)
    plan_decoding(image)
    out = decode_greyscale(image, decode_cost(image), None)
    assert out.shape[0] <= REDUCED_MAX_SIDE and out.shape == (-(-2100 // factor),) * 2
    np.testing.assert_allclose(out[:side, :side], expected, atol=2 / 255)


def test_the_pixel_limit_counts_what_a_file_decodes_to():
    photo = drawn(3000, "L", "JPEG", quality=80)  # 9 MP, decoded by libjpeg at 1/2 scale or less
    image = open_image(photo, 3_000_000)
    assert image.size == (3000, 3000)  # opening plans on a copy: the caller decodes it its own way
    plan_decoding(image)
    assert decode_cost(image) <= 1500 * 1500
    assert preprocess_image(photo, 3_000_000).shape == (784,)
    with pytest.raises(ImageTooLargeError, match=r"3000x3000 = 9000000 pixels is over the limit "
                                                 r"MAX_IMAGE_PIXELS=3000000"):
        preprocess_image(drawn(3000, "L"), 3_000_000)  # the same picture as a PNG decodes whole
    webp = drawn(1100, "RGBA", "WEBP", lossless=True)
    with pytest.raises(ImageTooLargeError, match="each counting 3 for WEBP's decoder"):
        preprocess_image(webp, 3_000_000)  # 1.21 MP x 3
    assert preprocess_image(webp, 4_000_000).shape == (784,)


def test_the_gate_lets_a_large_decode_wait_for_the_one_before_it():
    gate = PixelGate(100)
    order: list[str] = []
    first_holds, second_tried = threading.Event(), threading.Event()

    def second() -> None:
        second_tried.set()
        with gate.hold(60, None):
            order.append("second")

    with gate.hold(60, None):
        first_holds.set()
        thread = threading.Thread(target=second)
        thread.start()
        assert second_tried.wait(10)
        time.sleep(0.05)  # the second could have run by now if nothing held it back
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"] and gate.in_flight == 0
    with gate.hold(30, None), gate.hold(30, None):  # small ones share the room
        assert gate.in_flight == 60
    with gate.hold(250, None):  # larger than the gate: alone
        assert gate.in_flight == 250


def test_waiting_past_the_deadline_for_the_gate_is_503():
    gate = PixelGate(100)
    with gate.hold(90, None), pytest.raises(ServerBusyError) as refusal, gate.hold(20, Deadline.after(0.05)):
        pass
    assert refusal.value.http_status == 503 and "REQUEST_DEADLINE_SECONDS=0.05 s" in refusal.value.message
    assert gate.in_flight == 0


def test_a_request_counts_its_image_files_and_their_pixels():
    server = ServerLimits(max_instances=100, max_image_pixels=1000, max_decoded_images=3,
                          max_decoded_pixels=2500, gate=PixelGate(1000))
    budget = server.budget()
    for _ in range(2):
        with budget.decoding(1000):
            pass
    with pytest.raises(ResourceExhaustedError, match="MAX_DECODED_PIXELS=2500") as too_many_pixels, \
            budget.decoding(1000):
        pass
    assert too_many_pixels.value.http_status == 413
    fresh = server.budget()  # another request starts from nothing
    for _ in range(3):
        with fresh.decoding(10):
            pass
    with pytest.raises(InvalidArgumentError, match="4 image files in one request is over the limit "
                                                   "MAX_DECODED_IMAGES=3"), fresh.decoding(10):
        pass


def test_a_deadline_stops_the_next_step_with_504():
    expired = ServerLimits(max_instances=10, max_image_pixels=10**6).budget()
    expired.deadline = Deadline(time.monotonic() - 1, 2.0)
    expired.started = True  # its work had started in time
    with pytest.raises(DeadlineExceededError) as stopped:
        preprocess_image(drawn(200, "L"), 10**6, expired)
    assert stopped.value.http_status == 504
    assert stopped.value.message == ("the request did not finish within REQUEST_DEADLINE_SECONDS=2 s "
                                     "(stopped before decoding image file 1)")
    assert Deadline.after(0) is None

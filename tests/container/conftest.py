"""The images, built once per session from the checkout's Dockerfile over a base built from Debian."""

from __future__ import annotations

import os

import pytest

from bench.compose_stack import build_haproxy_image
from bench.containers import build_base_image, build_image, missing_tools


@pytest.fixture(scope="session")
def base_image() -> str:
    missing = missing_tools()
    if missing:
        message = f"the container tests need {', '.join(missing)} (make system-packages installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return build_base_image()


@pytest.fixture(scope="session")
def built_images(base_image) -> dict[str, str]:
    """target -> image, built on first use (the layer cache makes a rebuild of unchanged layers free)."""
    return {}


@pytest.fixture(scope="session", params=["slim", "full"])
def image(request, base_image, built_images) -> str:
    return target_image(request.param, base_image, built_images)


@pytest.fixture(scope="session")
def slim_image(base_image, built_images) -> str:
    return target_image("slim", base_image, built_images)


def target_image(target: str, base_image: str, built_images: dict[str, str]) -> str:
    if target not in built_images:
        name, seconds = build_image(target, base_image)
        print(f"built {name} in {seconds:.0f} s")
        built_images[target] = name
    return built_images[target]


@pytest.fixture(scope="session")
def haproxy_image(base_image) -> str:
    """compose.yaml's load balancer (deploy/compose/haproxy) over the same base."""
    return build_haproxy_image(base_image)

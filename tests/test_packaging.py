"""Packaging: pyproject's extras pin what requirements.txt pins, and the serving set stays small."""

from __future__ import annotations

import re
import tomllib

from tests.support.paths import REPO

PIN = re.compile(r"([A-Za-z0-9_.-]+)==([^\s;#\[\]]+)")


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.fullmatch(line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_every_extra_pins_the_version_requirements_txt_pins():
    required = pins((REPO / "requirements.txt").read_text(encoding="utf-8").splitlines())
    declared = project()["optional-dependencies"]
    for extra, packages in {"base": project()["dependencies"], **declared}.items():
        for name, version in pins(packages).items():
            assert required.get(name) == version, (
                f"{extra}: {name}=={version}, requirements.txt has {required.get(name)}")


def test_requirements_txt_is_a_constraints_file():
    """``make run`` installs the serve extra with requirements.txt as constraints: plain pins only."""
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert PIN.fullmatch(line.strip()), f"not a plain name==version pin: {line!r}"
    for packages in [project()["dependencies"], *project()["optional-dependencies"].values()]:
        for package in packages:
            assert PIN.fullmatch(package), f"pyproject: not a plain name==version pin: {package!r}"


def test_the_serving_set_has_no_training_or_conversion_tools():
    serve = set(pins(project()["optional-dependencies"]["serve"]))
    assert not serve & {"torch", "onnx2tf", "onnxscript", "matplotlib", "onnx", "playwright", "tf-keras"}
    assert {"flask", "gunicorn", "onnxruntime", "tensorflow"} <= serve

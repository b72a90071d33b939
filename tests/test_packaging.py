"""Packaging: pyproject's extras pin what requirements.txt pins, and the serving set stays small."""

from __future__ import annotations

import re
import tomllib

from tests.support.paths import REPO

PIN = re.compile(r"([A-Za-z0-9_.-]+)==([^\s;#\[\]]+)")
#: An extra that includes another extra of this project.
SELF_EXTRA = re.compile(r"emnist-serving\[([a-z-]+)\]")


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
    extras = project()["optional-dependencies"]
    for packages in [project()["dependencies"], *extras.values()]:
        for package in packages:
            included = SELF_EXTRA.fullmatch(package)
            if included:
                assert included.group(1) in extras, f"pyproject: {package!r} names no extra of the project"
                continue
            assert PIN.fullmatch(package), f"pyproject: not a plain name==version pin: {package!r}"


def extra_pins(extra: str) -> dict[str, str]:
    """An extra's pins, with the extras of the project it includes (``emnist-serving[serve]``)."""
    packages = project()["optional-dependencies"][extra]
    found = pins(packages)
    for package in packages:
        included = SELF_EXTRA.fullmatch(package)
        if included:
            found.update(extra_pins(included.group(1)))
    return found


def test_the_serving_set_has_no_tensorflow_training_or_conversion_tools():
    """``serve``: the onnxruntime engine and every front end; TF Serving's protos are tf_serving_protos, the
    upload preprocessing's image operations serving_core.imaging (numpy: no SciPy or scikit-image)."""
    serve = set(extra_pins("serve"))
    assert not serve & {"torch", "onnx2tf", "onnxscript", "matplotlib", "onnx", "playwright", "tf-keras",
                        "tensorflow", "tensorflow-serving-api", "scipy", "scikit-image"}
    assert {"flask", "gunicorn", "onnxruntime", "protobuf", "grpcio", "grpcio-health-checking"} <= serve


def test_serve_tf_is_the_serving_set_plus_tensorflow():
    serve, serve_tf = extra_pins("serve"), extra_pins("serve-tf")
    assert set(serve_tf) - set(serve) == {"tensorflow"}
    assert all(serve_tf[name] == version for name, version in serve.items())


def test_every_generated_proto_module_is_packaged():
    """setuptools finds packages by their ``__init__.py``: every folder of generated modules needs one."""
    from setuptools import find_packages

    find = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "packages"]["find"]
    packaged = set(find_packages(where=str(REPO), include=find["include"]))
    folders = {".".join(path.parent.relative_to(REPO).parts)
               for path in (REPO / "tf_serving_protos").rglob("*_pb2*.py")}
    assert len(folders) >= 6
    assert folders <= packaged, folders - packaged

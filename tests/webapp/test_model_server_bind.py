"""Where the model server's REST side listens: command-line options win, then GUNICORN_BIND, then defaults."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.paths import REPO
from webapp.model_server import main, rest_bind
from webapp.settings import load_settings


@pytest.mark.parametrize(("host", "port", "environ", "bind"), [
    (None, None, {}, None),  # gunicorn.conf.py reads GUNICORN_BIND itself
    (None, None, {"GUNICORN_BIND": "0.0.0.0:9000"}, None),
    ("0.0.0.0", None, {}, "0.0.0.0:8000"),
    ("0.0.0.0", None, {"GUNICORN_BIND": "127.0.0.1:9000"}, "0.0.0.0:9000"),
    (None, 8080, {"GUNICORN_BIND": "0.0.0.0:9000"}, "0.0.0.0:8080"),
    ("::", 8080, {}, "[::]:8080"),
    (None, 8080, {"GUNICORN_BIND": "[::1]:9000"}, "[::1]:8080"),
    (None, 8080, {"GUNICORN_BIND": "unix:/run/emnist.sock"}, "127.0.0.1:8080"),
])
def test_rest_bind(host, port, environ, bind):
    settings, _ = load_settings(environ=environ)
    assert rest_bind(host, port, settings["GUNICORN_BIND"]) == bind


def test_a_bad_gunicorn_bind_stops_the_model_server_with_the_variable_named(monkeypatch, caplog):
    """Refused at start, before anything is forked (both servers are switched off all the same, so that a
    value wrongly accepted only ends in "nothing to serve", never in a server on a fixed port)."""
    monkeypatch.setenv("GUNICORN_BIND", "localhost:http")
    assert main(["--port", "0", "--rest_api_port", "0"]) == 2
    assert "environment variable GUNICORN_BIND: " in caplog.text


def make_run(*variables: str) -> str:
    """The command ``make run`` would start, without running it."""
    done = subprocess.run(["make", "-n", "-o", ".venv/.serve-installed", "run", *variables], cwd=REPO,
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.replace("\\\n", " ")


def test_make_run_leaves_gunicorn_bind_alone_unless_told_where_to_listen():
    assert "--rest_api_port" not in make_run() and "--host" not in make_run()
    command = make_run("HOST=0.0.0.0", "PORT=8080", "GRPC_PORT=9500")
    assert "--host 0.0.0.0" in command and "--rest_api_port 8080" in command and "--port 9500" in command


def test_make_run_is_quiet_unless_verbose_is_asked():
    assert "--verbose" not in make_run()
    assert "--verbose" in make_run("VERBOSE=1")

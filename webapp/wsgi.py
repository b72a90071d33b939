"""gunicorn's entry point: ``gunicorn --config python:webapp.gunicorn_conf webapp.wsgi:app`` (in the package,
so an installed server has it; a checkout's ``wsgi.py`` is this module).

Settings come from ``EMNIST_*`` environment variables (``webapp/settings.py``). Each gunicorn worker
imports this module after the fork (``preload_app`` is off), so each has its own serving core. Other
libraries' start-up noise is silenced first, unless ``EMNIST_VERBOSE`` (``webapp.third_party_noise``).
"""

from webapp.http.app import create_app
from webapp.log_format import configure_logging
from webapp.process_memory import share_one_malloc_arena
from webapp.settings import load_settings
from webapp.third_party_noise import import_tensorflow_quietly, quiet_third_party

_settings = load_settings()[0]
configure_logging(_settings["LOG_FORMAT"])
share_one_malloc_arena()
quiet_third_party(_settings["VERBOSE"])
if not _settings["MODEL_SERVER"]:  # a front end to model servers runs no model
    import_tensorflow_quietly(_settings["ENGINE"], _settings["VERBOSE"])

app = create_app()

"""gunicorn's entry point: ``gunicorn --config python:webapp.gunicorn_conf webapp.wsgi:app`` (in the package,
so an installed server has it; a checkout's ``wsgi.py`` is this module).

Settings come from ``EMNIST_*`` environment variables (``webapp/settings.py``). Each gunicorn worker
imports this module after the fork (``preload_app`` is off), so each has its own serving core.
"""

from webapp.http.app import create_app
from webapp.log_format import configure_logging
from webapp.process_memory import share_one_malloc_arena
from webapp.settings import load_settings

configure_logging(load_settings()[0]["LOG_FORMAT"])
share_one_malloc_arena()

app = create_app()

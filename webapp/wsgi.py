"""gunicorn's entry point: ``gunicorn --config python:webapp.gunicorn_conf webapp.wsgi:app`` (in the package,
so an installed server has it; a checkout's ``wsgi.py`` is this module).

Settings come from ``EMNIST_*`` environment variables (``webapp/settings.py``). Each gunicorn worker
imports this module after the fork (``preload_app`` is off), so each has its own serving core.
"""

import logging

from webapp.http.app import create_app
from webapp.process_memory import share_one_malloc_arena

logging.basicConfig(
    level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
)
share_one_malloc_arena()

app = create_app()

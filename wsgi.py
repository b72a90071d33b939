"""gunicorn's entry point in a checkout: ``gunicorn --config gunicorn.conf.py wsgi:app``.

The app is built in the package (``webapp/wsgi.py``), so that an installed server has it too.
"""

from webapp.wsgi import app

__all__ = ["app"]

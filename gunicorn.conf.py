"""gunicorn settings for the EMNIST app, for ``gunicorn --config gunicorn.conf.py wsgi:app`` in a checkout.

They live in the package (``webapp/gunicorn_conf.py``), so that an installed server has them too. The module
is run afresh each time this file is read (as gunicorn reads a config file: at start and on reload), so the
environment of that moment counts, as it would in the file itself.
"""

import runpy

globals().update({name: value for name, value in runpy.run_module("webapp.gunicorn_conf").items()
                  if not name.startswith("__")})

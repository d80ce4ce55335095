"""Settings for building the load-test database straight from the models.

Used by run.sh only when the migration files lag behind the models (``makemigrations
--check`` fails while others are mid-change): every app is then created by
``migrate --run-syncdb`` as pytest's ``--nomigrations`` does. The server itself always
runs with config.settings.production.
"""

from config.settings.production import *  # noqa: F403
from config.settings.production import INSTALLED_APPS

MIGRATION_MODULES = {app.rsplit(".", 1)[-1].split(".apps")[0]: None for app in INSTALLED_APPS}

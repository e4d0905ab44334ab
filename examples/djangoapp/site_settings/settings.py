"""A minimal Django site whose tests run under leakwatch's runner."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "leakwatch-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["testserver", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "notes"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "site_settings.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"},
}
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every test watched: a test that leaks fails, with leakwatch's report.
TEST_RUNNER = "leakwatch.django.DiscoverRunner"

"""Settings for the test project; nothing here is for production."""

SECRET_KEY = "iiswsgi-tests-only-this-key-is-not-secret-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "django_site.urls"
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {}
USE_TZ = True
USE_I18N = False
DEFAULT_CHARSET = "utf-8"
# Uploads bigger than this go to a temporary file, as in real deployments.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1 << 20
LOGGING_CONFIG = None

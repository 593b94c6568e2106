"""Paste Deploy app factory for the Django project in django_site."""

import os


def make_app(global_conf, settings="django_site.settings", **local_conf):
    """``use = call:django_wsgi:make_app``."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    from django.core.wsgi import get_wsgi_application
    return get_wsgi_application()

"""A small Pyramid application served from IIS through iiswsgi."""

from pyramid.config import Configurator
from pyramid.response import Response


def home(request):
    greeting = request.registry.settings.get("greeting", "Hello")
    return Response("%s from Pyramid on IIS (script name %r)\n"
                    % (greeting, request.script_name),
                    content_type="text/plain")


def main(global_config, **settings):
    """Paste ``paste.app_factory``: the WSGI application."""
    with Configurator(settings=settings) as config:
        config.add_route("home", "/")
        config.add_view(home, route_name="home")
        return config.make_wsgi_app()

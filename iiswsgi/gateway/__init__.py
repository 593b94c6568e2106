"""The FastCGI gateway, one job per module.

server.py (IISWSGIServer, flup's server as the base), pipe.py (serving the
IIS pipe), listener.py (the pool serving a listening socket), signals.py
(stop signals, IIS's shutdown event), transport.py (channels, standard
input, bound addresses), responder.py (one connection's requests),
body.py (wsgi.input), environ.py (IIS server variables to a WSGI environ),
site.py (the site's folder), watch.py (restart on change), paste.py (the
Paste entry points), testapp.py (the test application) and errors.py
(GatewayError, the base of the gateway's errors).
"""

"""Serve and deploy Python WSGI applications on Microsoft IIS.

``egg:iiswsgi#iis`` (:class:`iiswsgi.gateway.server.IISWSGIServer`) is a
FastCGI-to-WSGI gateway that speaks IIS's variant of FastCGI: a duplex named
pipe on standard input.  ``python -m iiswsgi`` runs it the way Microsoft's
wfastcgi is run.
"""

__version__ = "1.0.dev0"

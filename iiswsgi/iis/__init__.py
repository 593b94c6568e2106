"""The one model of IIS that every part of iiswsgi uses: its configuration
files, the server variables it sends, Windows command lines, ``%VAR%``
expansion, appcmd, and (in :mod:`iiswsgi.iis.winapi`, imported lazily)
every Windows-only call."""

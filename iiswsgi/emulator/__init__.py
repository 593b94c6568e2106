"""A local stand-in for IIS's FastCGI module: HTTP in, FastCGI out, with
IIS's process pool, server variables and error behaviour."""

from .app import Emulator
from .config import ConfigError, load_site
from .server import EmulatorServer

__all__ = ["ConfigError", "Emulator", "EmulatorServer", "load_site"]

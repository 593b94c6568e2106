"""The emulator's FastCGI processes: those of
:mod:`iiswsgi.iis.fastcgi_process`, started and spoken to as IIS's FastCGI
module does (this module only names them where the emulator used to)."""

from ..iis.fastcgi_process import ExchangeEvent, FastCgiProcess, ProcessFailure

__all__ = ["ProcessFailure", "FastCgiProcess", "ExchangeEvent"]

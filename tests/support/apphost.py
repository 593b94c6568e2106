"""An applicationHost.config to run the fake appcmd on, and a way to run
the fake as an executable."""

import os
import shlex
import stat
import sys
from xml.sax.saxutils import quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_APPCMD = os.path.join(HERE, "fake_appcmd.py")

DEFAULT_SITES = (
    # (name, id, [(application path, pool, physical path of its root)])
    ("Default Web Site", 1, [
        ("/", "DefaultAppPool", "%SystemDrive%\\inetpub\\wwwroot"),
        ("/myapp", "MyAppPool", "C:\\inetpub\\myapp"),
    ]),
)


def apphost_config(sites=DEFAULT_SITES, fastcgi=()):
    """The text of an applicationHost.config with ``sites`` and the FastCGI
    applications ``fastcgi`` (dicts of attributes; an
    ``environmentVariables`` item is a dict of name to value)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<configuration>",
             "    <system.applicationHost>",
             "        <applicationPools>"]
    pools = sorted({app[1] for _, _, apps in sites for app in apps})
    for pool in pools:
        lines.append("            <add name=%s />" % quoteattr(pool))
    lines += ["        </applicationPools>", "        <sites>"]
    for name, site_id, apps in sites:
        lines.append('            <site name=%s id="%d"'
                     ' serverAutoStart="true">' % (quoteattr(name), site_id))
        for path, pool, physical in apps:
            lines += [
                "                <application path=%s applicationPool=%s>"
                % (quoteattr(path), quoteattr(pool)),
                '                    <virtualDirectory path="/"'
                " physicalPath=%s />" % quoteattr(physical),
                "                </application>"]
        lines += ["                <bindings>",
                  '                    <binding protocol="http"'
                  ' bindingInformation="*:%d:" />' % (79 + site_id),
                  "                </bindings>",
                  "            </site>"]
    lines += ['            <applicationDefaults'
              ' applicationPool="DefaultAppPool" />',
              "        </sites>", "    </system.applicationHost>",
              "    <system.webServer>", "        <fastCgi>"]
    for entry in fastcgi:
        entry = dict(entry)
        variables = entry.pop("environmentVariables", {})
        attributes = " ".join("%s=%s" % (key, quoteattr(str(value)))
                              for key, value in entry.items())
        if not variables:
            lines.append("            <application %s />" % attributes)
            continue
        lines += ["            <application %s>" % attributes,
                  "                <environmentVariables>"]
        for key, value in variables.items():
            lines.append('                    <environmentVariable name=%s'
                         ' value=%s />' % (quoteattr(key), quoteattr(value)))
        lines += ["                </environmentVariables>",
                  "            </application>"]
    lines += ["        </fastCgi>", "    </system.webServer>",
              "</configuration>", ""]
    return "\n".join(lines)


def write_apphost_config(path, sites=DEFAULT_SITES, fastcgi=()):
    """Write :func:`apphost_config` to ``path`` (making its folder);
    return ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(apphost_config(sites, fastcgi))
    return str(path)


def write_fake_appcmd(folder, name="appcmd.exe"):
    """An executable ``folder/name`` that runs the fake appcmd with this
    Python; return its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("#!/bin/sh\nexec %s %s \"$@\"\n"
                     % (shlex.quote(sys.executable), shlex.quote(FAKE_APPCMD)))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP
             | stat.S_IXOTH)
    return path

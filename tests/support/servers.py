"""Real web servers on loopback in front of the gateway, for the end-to-end
tests: nginx, Apache 2.4 (mod_proxy_fcgi and mod_fcgid), lighttpd (with a
socket and spawning the gateway), HAProxy, Caddy and h2o.

Each server runs in the foreground from a configuration written into one
temporary folder, on a port chosen free at run time, and is stopped (its
whole process group) at the end.  The part of each configuration a user
would write is the recipe of the README's "Behind other web servers"
section, read from README.md: :func:`readme_recipe`.  The rest (pid file,
logs, modules, the user to run as) is the harness's.

The process helpers (:class:`Proc`, :func:`wait_until`, ...) live here too;
tests/integration/peers_support.py re-exports them.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from tests.conftest import require

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
APPS = os.path.join(TESTS, "apps")

PYTHON = sys.executable
BIN_DIR = os.path.dirname(sys.executable)
IISWSGI = os.path.join(BIN_DIR, "iiswsgi")
PASTER = os.path.join(BIN_DIR, "paster")

#: Longest Unix socket path we trust on every platform (sun_path is 104
#: bytes on the BSDs and macOS, 108 on Linux).
_MAX_SOCKET_PATH = 100

START_TIMEOUT = 20
STOP_TIMEOUT = 5


# -- required programs -----------------------------------------------------

def require_binary(name, *known_paths):
    """The path of the program ``name``: one of ``known_paths`` or found on
    PATH (plus the sbin folders).  When it is missing the test is skipped,
    or fails when CI is set (tests/conftest.py's ``require``)."""
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    for path in list(known_paths) + [shutil.which(name, path=search)]:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    require(False, "%s is not installed: the end-to-end tests with it need"
            " it" % name)


def require_script(path):
    """A console script installed next to the running Python."""
    require(os.path.isfile(path), "%s is not installed next to %s" % (
        os.path.basename(path), sys.executable))
    return path


# -- places ----------------------------------------------------------------

@contextlib.contextmanager
def socket_path(directory, name="gateway.sock"):
    """A path for a Unix socket in ``directory`` or, when that would be
    too long for sun_path, in a short temporary folder removed after."""
    path = os.path.join(str(directory), name)
    if len(path) <= _MAX_SOCKET_PATH:
        yield path
        return
    import tempfile
    short = tempfile.mkdtemp(prefix="iw-")
    try:
        yield os.path.join(short, name)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra):
    """The environment for a Python subprocess: ``sample_apps`` and the
    other test applications importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT, APPS] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                        if p])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("WSGI_HANDLER", None)
    env.pop("WSGI_LOG", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


# -- processes ---------------------------------------------------------------

class Proc:
    """One started program, its output in ``NAME.out`` and ``NAME.err``."""

    def __init__(self, name, args, directory, env=None, cwd=None,
                 stdin=subprocess.DEVNULL, preexec_fn=None, pass_fds=()):
        self.name = name
        self.args = [str(a) for a in args]
        self.out_path = os.path.join(str(directory), name + ".out")
        self.err_path = os.path.join(str(directory), name + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.args, stdin=stdin, stdout=out, stderr=err, env=env,
                cwd=str(cwd or directory), close_fds=True,
                start_new_session=True, preexec_fn=preexec_fn,
                pass_fds=pass_fds)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def output(self, limit=4000):
        """The end of what the program wrote, for failure messages."""
        parts = []
        for path in (self.out_path, self.err_path):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if text:
                parts.append("--- %s ---\n%s" % (os.path.basename(path),
                                                 text[-limit:]))
        return "\n".join(parts) or "(no output)"

    def describe(self):
        state = ("running" if self.alive()
                 else "exited with %s" % self.popen.returncode)
        return "%s (%s, pid %d) %s\n%s" % (
            self.name, " ".join(self.args), self.pid, state, self.output())

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL for the whole process group after
        ``timeout`` seconds; also kills what the program left behind in
        its group (nginx workers)."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.popen.returncode


def wait_until(predicate, what, proc=None, timeout=START_TIMEOUT,
               interval=0.05):
    """Poll ``predicate`` until it is true; fail (showing the output of
    ``proc``) when ``proc`` exits first or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if proc is not None and not proc.alive():
            raise AssertionError("%s exited while waiting for %s:\n%s"
                                 % (proc.name, what, proc.describe()))
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s%s" % (
                timeout, what, ":\n" + proc.describe() if proc else ""))
        time.sleep(interval)


def unix_socket_ready(path):
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def http_get(port, path):
    """GET ``path`` from a server on 127.0.0.1:``port``: (status, body),
    an error status included."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def tcp_ready(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# -- Paste Deploy ini files and the gateway -----------------------------------

def write_ini(path, app, server=None, app_options=None):
    """An ini with ``[app:main] use = APP`` (and its options) and, when
    ``server`` is a dict, ``[server:main] use = egg:iiswsgi#iis`` with
    those options."""
    lines = ["[app:main]", "use = %s" % app]
    for name, value in (app_options or {}).items():
        lines.append("%s = %s" % (name, value))
    if server is not None:
        lines += ["", "[server:main]", "use = egg:iiswsgi#iis"]
        for name, value in server.items():
            lines.append("%s = %s" % (name, value))
    with open(str(path), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def start_gateway(directory, ini, sock, name="gateway", args=None):
    """``iiswsgi serve INI --socket SOCK`` (or ``args``), waited for until
    the socket accepts connections."""
    if args is None:
        args = [require_script(IISWSGI), "serve", ini, "--socket", sock]
    proc = Proc(name, args, directory, env=subprocess_env())
    try:
        wait_until(lambda: unix_socket_ready(sock), "the gateway socket " + sock,
                   proc)
    except BaseException:
        proc.stop()
        raise
    return proc


# -- nginx's temporary folders ------------------------------------------------

_TEMP_PATHS = (("client_body_temp_path", None),
               ("fastcgi_temp_path", "http_fastcgi_module"),
               ("proxy_temp_path", "http_proxy_module"),
               ("uwsgi_temp_path", "http_uwsgi_module"),
               ("scgi_temp_path", "http_scgi_module"))


def nginx_temp_paths(nginx, directory):
    # The compiled-in temp folders are under /var/lib/nginx, which an
    # unprivileged nginx cannot create: point every module it has here.
    try:
        built = subprocess.run([nginx, "-V"], capture_output=True,
                               timeout=10).stderr.decode("latin-1")
    except (OSError, subprocess.SubprocessError):
        built = ""
    lines = []
    for directive, module in _TEMP_PATHS:
        if module and "--without-%s" % module in built:
            continue
        lines.append("    %s %s/%s;" % (directive, directory,
                                        directive.split("_temp")[0]))
    return "\n".join(lines)


# -- the README's recipes ------------------------------------------------------

README = os.path.join(ROOT, "README.md")
SECTION = "## Behind other web servers"

#: The stand-ins the recipes use for what each test chooses.
RECIPE_SOCKET = "/run/iiswsgi/app.sock"
RECIPE_MOUNT_SOCKET = "/run/iiswsgi/mount.sock"
RECIPE_INI = "/srv/app/app.ini"
RECIPE_IISWSGI = "/srv/app/venv/bin/iiswsgi"
RECIPE_FOLDER = "/srv/app"


def readme_recipe(name, readme=README):
    """The code block after ``<!-- recipe: NAME -->`` in the README's
    "Behind other web servers" section."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        raise AssertionError("%s has no %r section" % (readme, SECTION))
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    match = re.search(r"<!-- recipe: %s -->\n```[a-z]*\n(.*?)\n```"
                      % re.escape(name), section, re.S)
    if match is None:
        raise AssertionError(
            "%s: no '<!-- recipe: %s -->' followed by a code block in the"
            " %r section" % (readme, name, SECTION))
    return match.group(1) + "\n"


def fill_recipe(text, required, optional=()):
    """``text`` with each ``(old, new)`` of ``required``, then of
    ``optional``, done in order; an ``old`` of ``required`` that is not
    there is an error (the README changed)."""
    for old, new in required:
        if old not in text:
            raise AssertionError("the README recipe no longer contains %r:"
                                 "\n%s" % (old, text))
        text = text.replace(old, new)
    for old, new in optional:
        text = text.replace(old, new)
    return text


# -- one folder for a server and its gateway ----------------------------------

class RunDir:
    """A short folder under /tmp (Unix socket paths must be short) that
    workers running as another user (Apache's www-data) can reach: mode
    755, with ``logs`` writable by anyone."""

    def __init__(self, prefix, path=None):
        if path is not None:
            # A folder of the caller's, for a server whose workers run as
            # the user running the tests: the logs go in it too.
            os.makedirs(path, exist_ok=True)
            self.path = self.logs = str(path)
            return
        self.path = tempfile.mkdtemp(prefix="iw-%s-" % prefix)
        os.chmod(self.path, 0o755)
        self.logs = self.join("logs")
        os.mkdir(self.logs)
        os.chmod(self.logs, 0o777)

    def join(self, *names):
        return os.path.join(self.path, *names)

    def write(self, name, text, mode=0o644):
        path = self.join(name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def _log_tail(path, limit=4000):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-limit:]
    except OSError:
        return "(none)"


# -- the web servers -------------------------------------------------------------

class WebServer:
    """One web server in front of the gateway.  Subclasses say which
    program runs (``binary``), its configuration (``config``) and command
    line (``command``).  ``spawns`` is true when the server starts the
    gateway itself."""

    name = None
    binary = None
    known_paths = ()
    spawns = False
    #: True when the server cannot send /app as SCRIPT_NAME: a second
    #: gateway with ``script_name = /app`` serves /app on mount.sock.
    mount_gateway = False
    #: Seconds the server gets to stop after SIGTERM.
    stop_timeout = STOP_TIMEOUT
    #: The program's files that describe a failure (relative to logs/).
    log_names = ()

    def __init__(self, run, ini):
        self.run = run
        self.ini = ini
        self.sock = run.join("app.sock")
        self.mount_sock = run.join("mount.sock")
        self.port = None
        self.proc = None

    # what subclasses give
    def config(self, port):
        raise NotImplementedError

    def command(self, program, conf):
        raise NotImplementedError

    conf_name = "server.conf"

    def recipe_replacements(self):
        """The stand-ins common to every recipe, most specific first."""
        return [(RECIPE_MOUNT_SOCKET, self.mount_sock),
                (RECIPE_SOCKET, self.sock), (RECIPE_INI, self.ini),
                (RECIPE_IISWSGI, IISWSGI), (RECIPE_FOLDER, self.run.path)]

    def recipe_text(self, name):
        """The README recipe ``name``, through ``edit_recipe`` (a test
        that runs a variant of it)."""
        return self.edit_recipe(readme_recipe(name))

    @staticmethod
    def edit_recipe(text):
        return text

    def start(self, attempts=3):
        program = require_binary(self.binary, *self.known_paths)
        for attempt in range(attempts):
            port = free_port()
            conf = self.run.write(self.conf_name, self.config(port))
            proc = Proc(self.name, self.command(program, conf), self.run.path,
                        env=subprocess_env(HOME=self.run.path))
            try:
                wait_until(lambda: tcp_ready(port), "%s on port %d"
                           % (self.name, port), proc)
            except AssertionError:
                proc.stop()
                if (("already in use" in proc.output()
                     or "already in use" in self.logs())
                        and attempt + 1 < attempts):
                    continue  # another program took the port meanwhile
                raise AssertionError("%s did not start:\n%s\n%s" % (
                    self.name, proc.describe(), self.logs()))
            self.port, self.proc = port, proc
            return self
        raise AssertionError("%s did not start" % self.name)

    def stop(self):
        if self.proc is not None:
            self.proc.stop(self.stop_timeout)

    def logs(self):
        return "\n".join("--- %s ---\n%s" % (name, _log_tail(
            os.path.join(self.run.logs, name))) for name in self.log_names)

    def describe(self):
        text = self.proc.describe() if self.proc else "%s not started" % (
            self.name)
        return text + "\n" + self.logs()


def nginx_user_line():
    """nginx's ``user`` line: as root, nginx would switch its workers to
    "nobody", who cannot reach a test's private temporary folder; keep
    them as the user running the tests."""
    if os.geteuid() != 0:
        return ""
    return "user %s;\n" % pwd.getpwuid(os.geteuid()).pw_name


class Nginx(WebServer):
    name = "nginx"
    binary = "nginx"
    known_paths = ("/usr/sbin/nginx",)
    conf_name = "nginx.conf"
    log_names = ("error.log",)

    HARNESS = """\
# Written by the iiswsgi end-to-end tests.
daemon off;
{user}worker_processes 1;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {logs}/error.log info;
events {{
    worker_connections 256;
}}
http {{
    default_type application/octet-stream;
    access_log {logs}/access.log;
{temp_paths}
    keepalive_timeout 30s;
    gzip off;
{recipe}}}
"""

    def fastcgi_params(self):
        # Debian's own file, as the recipe is meant for it.
        try:
            with open("/etc/nginx/fastcgi_params", encoding="utf-8") as f:
                return f.read()
        except OSError:
            return FALLBACK_FASTCGI_PARAMS

    def config(self, port):
        self.run.write("fastcgi_params", self.fastcgi_params())
        recipe = fill_recipe(self.recipe_text("nginx"), [
            ("listen 80;", "listen 127.0.0.1:%d;" % port)],
            self.recipe_replacements())
        return self.HARNESS.format(
            user=nginx_user_line(), dir=self.run.path, logs=self.run.logs,
            temp_paths=nginx_temp_paths(
                require_binary("nginx", *self.known_paths), self.run.path),
            recipe=recipe)

    def command(self, program, conf):
        return [program, "-p", self.run.path + "/", "-c", conf,
                "-e", "stderr"]


#: What Debian's /etc/nginx/fastcgi_params has, for a machine without it.
FALLBACK_FASTCGI_PARAMS = """\
fastcgi_param  QUERY_STRING       $query_string;
fastcgi_param  REQUEST_METHOD     $request_method;
fastcgi_param  CONTENT_TYPE       $content_type;
fastcgi_param  CONTENT_LENGTH     $content_length;
fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
fastcgi_param  REQUEST_URI        $request_uri;
fastcgi_param  DOCUMENT_URI       $document_uri;
fastcgi_param  SERVER_PROTOCOL    $server_protocol;
fastcgi_param  REQUEST_SCHEME     $scheme;
fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
fastcgi_param  REMOTE_ADDR        $remote_addr;
fastcgi_param  REMOTE_PORT        $remote_port;
fastcgi_param  SERVER_ADDR        $server_addr;
fastcgi_param  SERVER_PORT        $server_port;
fastcgi_param  SERVER_NAME        $server_name;
fastcgi_param  HTTP_HOST          $host;
"""


APACHE_MODULES = "/usr/lib/apache2/modules"


class Apache(WebServer):
    """Apache 2.4 with the event MPM; as root its children run as
    www-data (Apache will not serve as root)."""

    binary = "apache2"
    known_paths = ("/usr/sbin/apache2", "/usr/sbin/httpd")
    conf_name = "apache2.conf"
    log_names = ("apache-error.log",)
    recipe = None
    modules = ()

    HARNESS = """\
# Written by the iiswsgi end-to-end tests.
ServerRoot {dir}
ServerName localhost
PidFile {dir}/apache2.pid
DefaultRuntimeDir {dir}
Mutex file:{dir} default
ErrorLog {logs}/apache-error.log
LogLevel warn
{user}{modules}
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
KeepAlive On
MaxKeepAliveRequests 1000
{extra}{recipe}"""

    def extra(self):
        return ""

    def config(self, port):
        modules = "".join(
            "LoadModule %s_module %s/mod_%s.so\n" % (name, APACHE_MODULES,
                                                    name)
            for name in ("mpm_event", "authz_core",
                         "alias") + self.modules)
        user = ""
        if os.geteuid() == 0:
            user = "User www-data\nGroup www-data\n"
        recipe = fill_recipe(self.recipe_text(self.recipe), [
            ("Listen 80\n", "Listen 127.0.0.1:%d\n" % port),
            ("<VirtualHost *:80>", "<VirtualHost 127.0.0.1:%d>" % port)],
            self.recipe_replacements())
        return self.HARNESS.format(dir=self.run.path, logs=self.run.logs,
                                   user=user, modules=modules,
                                   extra=self.extra(), recipe=recipe)

    def command(self, program, conf):
        return [program, "-f", conf, "-DFOREGROUND"]


class ApacheProxyFcgi(Apache):
    name = "apache-proxy-fcgi"
    recipe = "apache-proxy-fcgi"
    modules = ("proxy", "proxy_fcgi")


class ApacheFcgid(Apache):
    name = "apache-fcgid"
    recipe = "apache-fcgid"
    modules = ("fcgid",)
    spawns = True

    def extra(self):
        # Where mod_fcgid keeps its sockets and table, and what the
        # gateway it starts needs to find the test applications.
        return ("FcgidIPCDir {dir}/fcgid\nFcgidProcessTableFile"
                " {dir}/fcgid.shm\nFcgidInitialEnv PYTHONPATH {path}\n"
                "FcgidMaxProcessesPerClass 8\n").format(
                    dir=self.run.path, path=apps_pythonpath())

    def config(self, port):
        wrapper = fill_recipe(self.recipe_text("apache-fcgid-wrapper"), [
            (RECIPE_IISWSGI, iiswsgi_for_others(self.run))],
            self.recipe_replacements())
        self.run.write("app.fcgi", wrapper, mode=0o755)
        return super().config(port)


class Lighttpd(WebServer):
    name = "lighttpd"
    binary = "lighttpd"
    known_paths = ("/usr/sbin/lighttpd",)
    conf_name = "lighttpd.conf"
    log_names = ("lighttpd-error.log",)
    recipe = "lighttpd"

    HARNESS = """\
# Written by the iiswsgi end-to-end tests.
server.document-root = "{dir}"
server.bind = "127.0.0.1"
server.errorlog = "{logs}/lighttpd-error.log"
server.upload-dirs = ( "{dir}" )
server.max-keep-alive-requests = 1000
{recipe}"""

    def config(self, port):
        replacements = [("server.port = 80\n", "server.port = %d\n" % port)]
        recipe = fill_recipe(self.recipe_text(self.recipe), replacements,
                             self.recipe_replacements())
        if self.spawns:
            recipe = recipe.replace(
                '"max-procs" => 1,', '"max-procs" => 1,\n        '
                '"bin-environment" => ( "PYTHONPATH" => "%s" ),'
                % apps_pythonpath())
        return self.HARNESS.format(dir=self.run.path, logs=self.run.logs,
                                   recipe=recipe)

    def command(self, program, conf):
        return [program, "-D", "-f", conf]


class LighttpdSpawn(Lighttpd):
    name = "lighttpd-spawn"
    recipe = "lighttpd-spawn"
    spawns = True


class HAProxy(WebServer):
    name = "haproxy"
    binary = "haproxy"
    known_paths = ("/usr/sbin/haproxy",)
    conf_name = "haproxy.cfg"

    def config(self, port):
        return fill_recipe(self.recipe_text("haproxy"), [
            ("bind :80\n", "bind 127.0.0.1:%d\n" % port)],
            self.recipe_replacements())

    def command(self, program, conf):
        return [program, "-db", "-f", conf]


class Caddy(WebServer):
    name = "caddy"
    binary = "caddy"
    known_paths = ("/usr/bin/caddy",)
    conf_name = "Caddyfile"

    HARNESS = """\
{{
    admin off
    auto_https off
    storage file_system {dir}/caddy
}}
{recipe}"""

    def config(self, port):
        recipe = fill_recipe(self.recipe_text("caddy"), [
            (":80 {", "http://127.0.0.1:%d {" % port)],
            self.recipe_replacements())
        return self.HARNESS.format(dir=self.run.path, recipe=recipe)

    def command(self, program, conf):
        return [program, "run", "--config", conf, "--adapter", "caddyfile"]


class H2o(WebServer):
    name = "h2o"
    binary = "h2o"
    known_paths = ("/usr/bin/h2o", "/usr/sbin/h2o")
    conf_name = "h2o.conf"
    log_names = ("h2o-error.log",)
    mount_gateway = True
    stop_timeout = 1  # it waits for idle keep-alive connections otherwise

    HARNESS = """\
# Written by the iiswsgi end-to-end tests.
pid-file: {dir}/h2o.pid
error-log: {logs}/h2o-error.log
{user}{recipe}"""

    def config(self, port):
        recipe = fill_recipe(self.recipe_text("h2o"), [
            ("listen: 80\n", "listen:\n  host: 127.0.0.1\n  port: %d\n"
             % port)], self.recipe_replacements())
        user = ""
        if os.geteuid() == 0:  # h2o would switch to "nobody"
            user = "user: %s\n" % pwd.getpwuid(os.geteuid()).pw_name
        return self.HARNESS.format(dir=self.run.path, logs=self.run.logs,
                                   user=user, recipe=recipe)

    def command(self, program, conf):
        return [program, "-c", conf]


#: Every server of the matrix, by name.
SERVERS = {cls.name: cls for cls in (
    Nginx, ApacheProxyFcgi, ApacheFcgid, Lighttpd, LighttpdSpawn, HAProxy,
    Caddy, H2o)}


def _reachable_by_others(path):
    """True when every folder above ``path`` lets other users through and
    ``path`` itself is executable by them."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o001:
        return False
    folder = os.path.dirname(path)
    while True:
        if not os.stat(folder).st_mode & 0o001:
            return False
        parent = os.path.dirname(folder)
        if parent == folder:
            return True
        folder = parent


#: The gateway for a server that starts it as another user, when the test
#: interpreter is out of that user's reach: the system Python of the same
#: version, seeing the test environment's packages.
_OTHER_USER_GATEWAY = """\
#!/bin/sh
exec {python} -c 'import site, sys; site.addsitedir(sys.argv.pop(1)); \
from iiswsgi.cli import main; sys.argv[0] = "iiswsgi"; sys.exit(main())' \
    {site_packages} "$@"
"""


def iiswsgi_for_others(run):
    """The ``iiswsgi`` a server running its children as www-data (Apache
    started as root) can execute: the test environment's, or a stand-in in
    ``run`` (the test interpreter may be under /root, which is private)."""
    if os.geteuid() != 0 or _reachable_by_others(sys.executable):
        return IISWSGI
    import sysconfig
    version = "python%d.%d" % sys.version_info[:2]
    python = shutil.which(version, path="/usr/bin:/usr/local/bin")
    require(python and _reachable_by_others(python),
            "Apache runs mod_fcgid's processes as www-data, who cannot run"
            " %s; no /usr/bin/%s to run the gateway with instead"
            % (sys.executable, version))
    return run.write("iiswsgi", _OTHER_USER_GATEWAY.format(
        python=python, site_packages=sysconfig.get_paths()["purelib"]),
        mode=0o755)


def apps_pythonpath():
    return os.pathsep.join([ROOT, APPS])


class Site:
    """A web server in front of the gateway serving one application."""

    def __init__(self, server, gateway):
        self.server = server
        self.gateway = gateway

    @property
    def port(self):
        return self.server.port

    @property
    def name(self):
        return self.server.name

    def describe(self):
        parts = [self.server.describe()]
        if self.gateway is not None:
            parts.append(self.gateway.describe())
        parts.append("--- gateway.log ---\n" + _log_tail(
            self.server.run.join("logs", "gateway.log")))
        return "\n".join(parts)


@contextlib.contextmanager
def server_site(name, app, server_options=None, edit_recipe=None,
                gateway_prefix=(), server_class=None):
    """The web server ``name`` (a key of SERVERS) in front of the gateway
    serving ``app`` (a Paste Deploy ``use`` value); the gateway is started
    here on a Unix socket, or by the server.  Everything is stopped and
    removed at the end.  ``edit_recipe(text)`` changes the README's recipe
    first (to show what a line of it is for); ``gateway_prefix`` is put
    before the gateway's command line (``setpriv ...``); ``server_class``
    replaces the server's class (a variant of its harness)."""
    cls = server_class or SERVERS[name]
    require_binary(cls.binary, *cls.known_paths)
    require_script(IISWSGI)
    run = RunDir(name)
    try:
        log = run.join("logs", "gateway.log")
        with open(log, "a"):
            pass
        os.chmod(log, 0o666)
        options = {"threads": 16, "log_file": log}
        if not cls.spawns:
            options.update(socket=run.join("app.sock"), umask="000")
        options.update(server_options or {})
        ini = write_ini(run.join("app.ini"), app, options)
        os.chmod(ini, 0o644)
        server = cls(run, ini)
        if edit_recipe is not None:
            server.edit_recipe = edit_recipe
        gateway = None
        with contextlib.ExitStack() as stack:
            if not cls.spawns:
                gateway = Proc("gateway", list(gateway_prefix)
                               + [IISWSGI, "serve", ini], run.path,
                               env=subprocess_env())
                stack.callback(gateway.stop)
                wait_until(lambda: unix_socket_ready(server.sock),
                           "the gateway socket " + server.sock, gateway)
            if cls.mount_gateway:
                options.update(socket=server.mount_sock, script_name="/app")
                mount_ini = write_ini(run.join("mount.ini"), app, options)
                mounted = Proc("mount-gateway", [IISWSGI, "serve", mount_ini],
                               run.path, env=subprocess_env())
                stack.callback(mounted.stop)
                wait_until(lambda: unix_socket_ready(server.mount_sock),
                           "the gateway socket " + server.mount_sock, mounted)
            stack.callback(server.stop)
            server.start()
            yield Site(server, gateway)
    finally:
        run.remove()

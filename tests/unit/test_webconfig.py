"""iiswsgi.iis.webconfig and iiswsgi.iis.apphost: IIS's configuration
rules, and errors that say file, line and column."""

import os

import pytest

from iiswsgi import safexml
from iiswsgi.errors import IISWSGIError
from iiswsgi.emulator.config import load_site
from iiswsgi.iis import apphost, webconfig
from iiswsgi.iis.webconfig import (ConfigError, configuration_for, merge,
                                   read_config_file, read_web_config)


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w", encoding="utf-8") as stream:
        stream.write(text)
    return str(path)


def web_config(folder, body):
    return write(os.path.join(str(folder), "web.config"),
                 "<configuration>\n%s\n</configuration>\n" % body)


HANDLER = ('<add name="%s" path="*" verb="*" modules="FastCgiModule"'
           ' scriptProcessor="C:\\py.exe|%s" />')


def test_config_error_is_the_project_error_and_a_value_error():
    error = ConfigError("wrong", "web.config", 3, 7)
    assert isinstance(error, IISWSGIError) and isinstance(error, ValueError)
    assert str(error) == "web.config: wrong (line 3, column 7)"
    assert error.location == "web.config:3:7"


def test_elements_know_their_line_and_column():
    root = safexml.parse('<?xml version="1.0"?>\n<configuration\n'
                         '  xmlns="http://schemas.microsoft.com/'
                         '.NetConfiguration/v2.0">\n'
                         '  <appSettings />\n</configuration>')
    assert root.tag == "configuration"           # namespace dropped
    (settings,) = list(root)
    assert (settings.tag, settings.line, settings.column) == (
        "appSettings", 4, 3)


@pytest.mark.parametrize("body, says, line, column", [
    ('<system.webServer><fastCgi>\n'
     '  <application fullPath="py" activityTimeout="5" />\n'
     "</fastCgi></system.webServer>",
     "activityTimeout=5 for py is outside 10-3600", 3, 3),
    ('<system.webServer><security>\n'
     '   <requestFiltering allowDoubleEscaping="yes" />\n'
     "</security></system.webServer>",
     "allowDoubleEscaping='yes' is not true or false", 3, 4),
    ("<system.webServer><security><requestFiltering>\n"
     '      <requestLimits maxAllowedContentLength="-1" />\n'
     "</requestFiltering></security></system.webServer>",
     "maxAllowedContentLength='-1' is not a whole number", 3, 7),
    ("<system.webServer><handlers>\n"
     '  <add path="*" />\n'
     "</handlers></system.webServer>",
     "a <handlers> entry has no name attribute", 3, 3),
    ("<system.webServer><handlers>\n" + HANDLER % ("h", "") + "\n"
     '   <add name="h2" resourceType="Files" />\n'
     "</handlers></system.webServer>",
     "resourceType='Files' is not one of File, Directory", 4, 4),
    ("<system.webServer><fastCgi>\n"
     '  <application fullPath="py" />\n'
     '    <application fullPath="PY" arguments="" />\n'
     "</fastCgi></system.webServer>",
     "cannot add a duplicate <fastCgi><application> 'py|'", 4, 5),
    ('<system.webServer><fastCgi><application fullPath="py">\n'
     '<environmentVariables><environmentVariable name="A" />\n'
     '     <environmentVariable name="a" />\n'
     "</environmentVariables></application></fastCgi></system.webServer>",
     "cannot add a duplicate environment variable 'a'", 4, 6),
])
def test_errors_say_file_line_and_column(tmp_path, body, says, line,
                                         column):
    path = web_config(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        read_web_config(path)
    assert says in str(caught.value)
    assert caught.value.location == "%s:%d:%d" % (path, line, column)


def test_a_deeper_level_comes_first_location_before_sub_folder(tmp_path):
    web_config(tmp_path, "<system.webServer><handlers>%s</handlers>"
               "</system.webServer>"
               '<location path="api"><system.webServer><handlers>%s'
               "</handlers></system.webServer></location>"
               % (HANDLER % ("root", "a"), HANDLER % ("location", "b")))
    web_config(tmp_path / "api", "<system.webServer><handlers>%s</handlers>"
               "</system.webServer>" % (HANDLER % ("folder", "c")))
    names = [handler.name for handler in
             configuration_for(str(tmp_path), "api/x").handlers]
    assert names == ["folder", "location", "root"]
    assert [handler.name for handler in
            configuration_for(str(tmp_path), "x").handlers] == ["root"]
    # A request for the folder itself reads its web.config too.
    assert [handler.name for handler in
            configuration_for(str(tmp_path), "api").handlers][0] == \
        "folder"


def test_inherit_in_child_applications(tmp_path):
    path = web_config(tmp_path, '<appSettings><add key="ALL" value="1" />'
                      "</appSettings>"
                      '<location path="." inheritInChildApplications='
                      '"false"><appSettings><add key="PARENT_ONLY"'
                      ' value="1" /></appSettings></location>')
    parent = read_config_file(path)
    assert merge([(parent, "")]).app_settings == {"ALL": "1",
                                                  "PARENT_ONLY": "1"}
    assert merge([(parent, "child")], child_application_levels=1
                 ).app_settings == {"ALL": "1"}


def test_app_settings_config_source(tmp_path):
    path = web_config(tmp_path, '<appSettings configSource="app.config" />')
    write(tmp_path / "app.config", '<appSettings><add key="A" value="1" />'
          "</appSettings>")
    assert read_web_config(path).app_settings == {"A": "1"}
    os.remove(str(tmp_path / "app.config"))
    with pytest.raises(ConfigError) as caught:
        read_web_config(path)
    assert "configSource file" in str(caught.value)
    assert caught.value.location == "%s:2:1" % path
    path = web_config(tmp_path, '<appSettings configSource="app.config">'
                      '<add key="B" value="2" /></appSettings>')
    with pytest.raises(ConfigError, match="cannot hold entries"):
        read_web_config(path)


def test_app_settings_file_missing_is_no_error(tmp_path):
    path = web_config(tmp_path, '<appSettings file="none.config">'
                      '<add key="A" value="1" /></appSettings>')
    assert read_web_config(path).app_settings == {"A": "1"}



def test_app_settings_file_that_cannot_be_used_says_where(tmp_path):
    # The file <appSettings file=...> names is read by the same reader as
    # web.config itself (webconfig.files.parse_root): its errors name it,
    # the line and the column.
    path = web_config(tmp_path, '<appSettings file="extra.config" />')
    extra = write(tmp_path / "extra.config",
                  '<?xml version="1.0"?>\n<configuration />\n')
    with pytest.raises(ConfigError) as caught:
        read_web_config(path)
    assert caught.value.location == "%s:2:1" % extra
    assert "the root element is <configuration>, not <appSettings>" in str(
        caught.value)
    write(tmp_path / "extra.config",
          '<!DOCTYPE x [<!ENTITY e "e">]>\n<appSettings />\n')
    with pytest.raises(ConfigError) as caught:
        read_web_config(path)
    assert caught.value.path == extra
    assert "DOCTYPE" in str(caught.value) and "remove it" in str(
        caught.value)
    write(tmp_path / "extra.config", "<appSettings>\n<add key=")
    with pytest.raises(ConfigError) as caught:
        read_web_config(path)
    assert (caught.value.path, caught.value.line) == (extra, 2)
    assert "fix the XML there" in str(caught.value)

def test_request_filtering_defaults_and_limits(tmp_path):
    defaults = webconfig.RequestFiltering()
    assert defaults.hidden_segment("a/BIN/x") == "BIN"
    assert defaults.hidden_segment("binary/x") is None
    assert not defaults.extension_allowed("src/model.cs")
    assert defaults.extension_allowed("x.py") and \
        defaults.extension_allowed("")
    assert defaults.max_allowed_content_length == 30000000
    path = web_config(tmp_path, "<system.webServer><security>"
                      "<requestFiltering><requestLimits"
                      ' maxAllowedContentLength="1024" />'
                      "<fileExtensions><remove fileExtension=\".cs\" />"
                      "</fileExtensions><hiddenSegments><clear />"
                      "</hiddenSegments></requestFiltering></security>"
                      "</system.webServer>")
    filtering = read_web_config(path).request_filtering
    assert filtering.max_allowed_content_length == 1024
    assert filtering.extension_allowed("model.cs")
    assert filtering.hidden_segment("bin/web.config") is None


def test_static_content_defaults():
    static = webconfig.StaticContent()
    assert static.mime_type("a/b/Style.CSS") == "text/css"
    assert static.mime_type("x.json") == "application/json"
    assert static.mime_type("app.py") is None
    assert static.mime_type("README") is None


@pytest.mark.parametrize("name, kind", [
    # Entries IIS ships that a web application meets, some surprising:
    # IIS serves .csv as a download and .ts as video, and source maps.
    ("app.js.map", "text/plain"), ("data.csv", "application/octet-stream"),
    ("main.ts", "video/vnd.dlna.mpeg-tts"), ("site.less", "text/css"),
    ("feed.atom", "application/atom+xml"), ("clip.ogg", "video/ogg"),
    ("event.ics", "text/calendar"), ("movie.ivf", "video/x-ivf"),
    ("model.glb", "model/gltf-binary"), ("cert.crt",
                                         "application/x-x509-ca-cert")])
def test_static_content_has_iis_own_mime_map(name, kind):
    assert webconfig.StaticContent().mime_type(name) == kind
    assert len(webconfig.DEFAULT_MIME_MAP) > 370


APPHOST = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.applicationHost>
    <sites>
      <site name="Default Web Site" id="%s">
        <application path="/" applicationPool="Python">
          <virtualDirectory path="/" physicalPath="%s" />
        </application>
        <application path="/api">
          %s
        </application>
      </site>
      <applicationDefaults applicationPool="DefaultAppPool" />
    </sites>
  </system.applicationHost>
  <system.webServer>
    <fastCgi>
      <application fullPath="C:\\py.exe" arguments="-m iiswsgi">
        <environmentVariables><environmentVariable name="A" value="1" />
        </environmentVariables>
      </application>
    </fastCgi>
  </system.webServer>
</configuration>
"""


def test_read_apphost(tmp_path):
    path = write(tmp_path / "applicationHost.config", APPHOST % (
        "1", str(tmp_path), '<virtualDirectory path="/" physicalPath='
        '"%SystemDrive%\\api" />'))
    host = apphost.read_apphost(path, {"SystemDrive": "D:"})
    (site,) = host.sites
    assert [(app.path, app.application_pool, app.root.expanded_path)
            for app in site.applications] == [
        ("/", "Python", str(tmp_path)), ("/api", "DefaultAppPool",
                                         "D:\\api")]
    (application,) = host.fastcgi_applications
    assert application.key == "c:\\py.exe|-m iiswsgi"
    assert application.environment_variables == {"A": "1"}


def test_apphost_errors_say_where(tmp_path):
    path = write(tmp_path / "applicationHost.config", APPHOST % (
        "one", str(tmp_path), ""))
    with pytest.raises(ConfigError) as caught:
        apphost.read_apphost(path)
    assert "site 'Default Web Site' has id 'one'" in str(caught.value)
    assert caught.value.location == "%s:5:7" % path
    write(path, APPHOST % ("1", str(tmp_path), ""))
    with pytest.raises(ConfigError) as caught:
        load_site(str(tmp_path), path)
    assert "application /api of site 'Default Web Site' has no" in str(
        caught.value)
    assert caught.value.location == "%s:9:9" % path

"""What iiswsgi.msdeploy writes as XML (Manifest.xml, Parameters.xml,
web.config) reads back through iiswsgi.safexml exactly as it was given:
markup characters, quotes, tabs, line ends and non-ASCII included; what
XML cannot hold at all is refused with a clear error, never written."""

import pytest
from hypothesis import given, settings, strategies as st

from iiswsgi import safexml
from iiswsgi.msdeploy import PackageError, decode_provider_options
from iiswsgi.msdeploy.manifest import build_manifest
from iiswsgi.msdeploy.parameters import (
    Entry, Parameter, parameters_xml, read_parameters, write_parameters)
from iiswsgi.msdeploy.template import substitute, xml_escape
from iiswsgi.msdeploy.webconfig import write_web_config

NASTY = 'a "quoted" <tag> & \'apos\' café ☃ 𝄞 tab\there\r\nline\rend'

# Every character XML 1.0 can hold.
xml_text = st.text(st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
                         "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
                         "\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff"),
    max_size=40)

WEB_CONFIG_IN = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <appSettings>
    <add key="DOUBLE" value="%VALUE%" />
    <add key='SINGLE' value='$VALUE' />
  </appSettings>
  <system.webServer>
    <fastCgi>
      <application fullPath="C:\\py${VALUE}" arguments="-m iiswsgi">
        <environmentVariables>
          <environmentVariable name="V" value="%VALUE%" />
        </environmentVariables>
      </application>
    </fastCgi>
  </system.webServer>
  <note>%VALUE%</note>
</configuration>
"""

MANIFEST_IN = """<?xml version="1.0" encoding="utf-8"?>
<MSDeploy.iisApp>
  <iisApp path="%VALUE%" />
  <runCommand path="run.exe &quot;%VALUE%&quot;" waitAttempts="$VALUE" />
</MSDeploy.iisApp>
"""


def write_template(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def web_config_round_trip(tmp_path, value):
    template = write_template(tmp_path, "web.config.in", WEB_CONFIG_IN)
    output = str(tmp_path / "web.config")
    config = write_web_config(template, output, {"VALUE": value})
    root = safexml.parse_file(output)
    return config, root


def check_web_config(tmp_path, value):
    config, root = web_config_round_trip(tmp_path, value)
    settings = {e.get("key"): e.get("value")
                for e in root.find("appSettings")}
    assert settings == {"DOUBLE": value, "SINGLE": value}
    (application,) = config.fastcgi_applications
    assert application.full_path == "C:\\py" + value
    assert application.environment_variables == {"V": value}
    # Text content: an XML parser turns CR LF and CR into LF whatever is
    # written, unless they are references, which xml_escape makes them.
    assert (root.find("note").text or "") == value


def test_web_config_round_trip(tmp_path):
    check_web_config(tmp_path, NASTY)


@settings(max_examples=150, deadline=None)
@given(value=xml_text)
def test_web_config_round_trip_any_text(tmp_path_factory, value):
    check_web_config(tmp_path_factory.mktemp("wc"), value)


def check_manifest(tmp_path, value):
    template = write_template(tmp_path, "Manifest.xml.in", MANIFEST_IN)
    output = str(tmp_path / "Manifest.xml")
    build_manifest(template, output, {"VALUE": value})
    root = safexml.parse_file(output)
    iis_app, run = list(root)
    assert iis_app.get("path") == value
    assert run.get("path") == 'run.exe "%s"' % value
    provider, path, options = decode_provider_options(
        run.get("MSDeploy.MSDeployProviderOptions"))
    assert (provider, path) == ("runCommand", 'run.exe "%s"' % value)
    assert options == [("waitAttempts", value)]


def test_manifest_round_trip(tmp_path):
    check_manifest(tmp_path, NASTY)


@settings(max_examples=100, deadline=None)
@given(value=xml_text)
def test_manifest_round_trip_any_text(tmp_path_factory, value):
    check_manifest(tmp_path_factory.mktemp("m"), value)


def parameter(value):
    return Parameter(
        "Application Path " + value, description=value,
        default_value="Default Web Site/" + value, tags=["iisApp"],
        entries=[Entry("ProviderPath", "iisApp", "^App$")],
        validation={"type": "RegularExpression", "validationString": value})


def check_parameters(tmp_path, value):
    given_ = [parameter(value), Parameter("Plain", default_value="")]
    path = write_parameters(given_, str(tmp_path / "Parameters.xml"))
    read = read_parameters(path)
    assert read.parameters == given_


def test_parameters_round_trip(tmp_path):
    check_parameters(tmp_path, NASTY)


@settings(max_examples=100, deadline=None)
@given(value=xml_text.filter(lambda v: v.strip() == v and "," not in v))
def test_parameters_round_trip_any_text(tmp_path_factory, value):
    # Tags are a comma-separated list of trimmed words: values that are
    # not such words are kept out of them (parameter() puts the value in
    # every other field).
    check_parameters(tmp_path_factory.mktemp("p"), value)


def test_escape_is_a_reference_for_every_special_character():
    assert xml_escape("&<>\"'\t\n\r") == (
        "&amp;&lt;&gt;&quot;&apos;&#9;&#10;&#13;")
    assert xml_escape("café ☃") == "café ☃"


@pytest.mark.parametrize("bad", ["nul\x00", "bell\x07", "\ud800lone",
                                 "\ufffe", "esc\x1b[0m"])
def test_characters_xml_cannot_hold_are_refused(tmp_path, bad):
    with pytest.raises(PackageError, match="U\\+%04X.*cannot represent" % (
            ord([c for c in bad if not c.isalnum() and c not in "[]"][0]))):
        web_config_round_trip(tmp_path, bad)
    assert not (tmp_path / "web.config").exists()
    with pytest.raises(PackageError, match="cannot be written"):
        substitute("$V", {"V": bad}, xml_escape, "Manifest.xml.in")
    with pytest.raises(PackageError, match="XML cannot represent"):
        parameters_xml([Parameter("p", description=bad)])

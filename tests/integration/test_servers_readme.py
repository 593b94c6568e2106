"""The README's "Behind other web servers" recipes are what the matrix
(test_servers_matrix.py) runs: tests/support/servers.py builds each
server's configuration from them.  These tests check that it uses every
line of each recipe, and that a recipe it cannot find is an error that
says where to look."""

import pytest

from tests.support import servers

#: Each server's recipes in the README.
RECIPES = {
    "nginx": ["nginx"], "apache-proxy-fcgi": ["apache-proxy-fcgi"],
    "apache-fcgid": ["apache-fcgid", "apache-fcgid-wrapper"],
    "lighttpd": ["lighttpd"], "lighttpd-spawn": ["lighttpd-spawn"],
    "haproxy": ["haproxy"], "caddy": ["caddy"], "h2o": ["h2o"],
}

#: Recipe lines the harness rewrites for a test: the listening address.
LISTEN = ("listen 80;", "Listen 80", "<VirtualHost *:80>", "server.port = 80",
          "bind :80", ":80 {", "listen: 80")


def test_every_server_has_its_recipes():
    assert set(RECIPES) == set(servers.SERVERS)
    for names in RECIPES.values():
        for name in names:
            assert servers.readme_recipe(name).strip()


@pytest.mark.parametrize("name", sorted(servers.SERVERS))
def test_configuration_holds_every_line_of_the_recipe(name, tmp_path):
    cls = servers.SERVERS[name]
    run = servers.RunDir(name, path=str(tmp_path))
    server = cls(run, str(tmp_path / "app.ini"))
    if name == "nginx":
        # The temp folders depend on how nginx was built: ask it only if
        # it is there.
        servers.require_binary("nginx", *cls.known_paths)
    written = server.config(8123)
    for recipe in RECIPES[name]:
        text = servers.fill_recipe(servers.readme_recipe(recipe), [],
                                   server.recipe_replacements())
        if recipe.endswith("-wrapper"):
            written = (tmp_path / "app.fcgi").read_text()
            text = text.replace(servers.IISWSGI,
                                servers.iiswsgi_for_others(run))
        for line in text.splitlines():
            if line.strip() in LISTEN:
                continue
            assert line in written, (
                "%s: the line %r of the README recipe %r is not in the"
                " configuration the tests run:\n%s" % (name, line, recipe,
                                                       written))
        assert "8123" in written or recipe.endswith("-wrapper")


def test_recipe_without_a_stand_in_is_an_error():
    with pytest.raises(AssertionError, match="no longer contains 'listen 80;'"):
        servers.fill_recipe("server {\n    listen 8080;\n}\n",
                            [("listen 80;", "listen 127.0.0.1:1;")])


def test_missing_recipe_names_the_readme_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Behind other web servers\n\nnothing\n\n"
                      "## Next\n\n<!-- recipe: nginx -->\n```nginx\nx\n```\n")
    with pytest.raises(AssertionError) as error:
        servers.readme_recipe("nginx", readme=str(readme))
    assert "<!-- recipe: nginx -->" in str(error.value)
    assert "Behind other web servers" in str(error.value)

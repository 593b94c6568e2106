"""A Pyramid application packaged for Web Deploy with iiswsgi.

Its install_msdeploy adds a set-up step of its own (the ``install()``
hook), as a project with a database or data folder would.
"""

import os

from setuptools import setup

try:
    from iiswsgi.commands.install_msdeploy import install_msdeploy
except ImportError:       # iiswsgi not installed yet: no custom command
    cmdclass = {}
else:
    class install_pyramid_msdeploy(install_msdeploy):
        """install_msdeploy, plus the application's data folder."""

        def install(self):
            data = os.path.join(self.app_dir, "data")
            os.makedirs(data, exist_ok=True)
            self.announce("created %s" % data, 2)
            self.variables["DATA_DIR"] = data

    cmdclass = {"install_msdeploy": install_pyramid_msdeploy}

setup(
    name="PyramidIISApp",
    version="0.3",
    title="Pyramid Application",
    description="Pyramid application project.",
    long_description=open("CHANGES.rst", encoding="utf-8").read(),
    url="https://trypyramid.com/",
    icon_url="https://trypyramid.com/img/pyramid-logo.png",
    author="The iiswsgi authors",
    author_url="https://example.org/iiswsgi",
    license="MIT",
    license_url="https://opensource.org/licenses/MIT",
    keywords="python pyramid IIS",
    msdeploy_url_template="https://example.org/iiswsgi/dist/{msdeploy_file}",
    packages=["pyramidiisapp"],
    install_requires=["iiswsgi", "pyramid"],
    webpi_dependencies=["iiswsgi"],
    entry_points={"paste.app_factory": ["main = pyramidiisapp:main"]},
    cmdclass=cmdclass,
)

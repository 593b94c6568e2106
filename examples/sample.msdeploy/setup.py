"""The iiswsgi sample: a Web Deploy package serving iiswsgi's test page.

    python setup.py bdist_msdeploy    # dist/WSGISampleIISApp-...msdeploy.zip
"""

from setuptools import setup

setup(
    name="WSGISampleIISApp",
    version="0.2",
    title="IIS WSGI Sample App",
    description="Sample app demonstrating the use of iiswsgi with Microsoft"
                " Web Deploy.",
    long_description=open("CHANGES.rst", encoding="utf-8").read(),
    keywords="python IIS FastCGI WSGI",
    url="https://example.org/iiswsgi/examples/"
        "sample.msdeploy",
    author="The iiswsgi authors",
    author_url="https://example.org/iiswsgi",
    license="MIT",
    license_url="https://opensource.org/licenses/MIT",
    help_url="https://example.org/iiswsgi/issues",
    msdeploy_url_template="https://example.org/iiswsgi/dist/{msdeploy_file}",
    icon_url="https://www.python.org/static/community_logos/"
             "python-powered-h-50x65.png",
    install_requires=["iiswsgi"],
    # bdist_webpi adds an entry for each: WebPI installs them with pip.
    extras_require={"webpi_eggs": ["iiswsgi"]},
    py_modules=[],
)

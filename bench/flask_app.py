"""The cold-start benchmark's application: a small, real Flask app (a
template, a JSON route, a URL with a converter), served as
``WSGI_HANDLER=flask_app.app``.  ``GET /`` answers a fixed page."""

from flask import Flask, jsonify, render_template_string

app = Flask(__name__)

_PAGE = """<!doctype html>
<title>{{ title }}</title>
<h1>{{ title }}</h1>
<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>
"""


@app.route("/")
def index():
    return render_template_string(_PAGE, title="Hello, Flask!",
                                  items=["one", "two", "three"])


@app.route("/items/<int:number>")
def item(number):
    return jsonify(number=number, square=number * number)

"""A Flask application for the end-to-end tests: a page, a form with a
file upload that is saved and hashed, and a streaming response."""

import hashlib
import os
import time

from flask import Flask, Response, abort, jsonify, request, \
    stream_with_context
from werkzeug.utils import secure_filename

app = Flask(__name__)
app.config["UPLOAD_DIR"] = None


@app.route("/")
def index():
    return jsonify(app="flask", path=request.path,
                   script_root=request.script_root,
                   args=request.args.to_dict(flat=False),
                   scheme=request.scheme, pid=os.getpid())


@app.route("/upload", methods=["POST"])
def upload():
    field = request.files.get("file")
    if field is None:
        abort(400)
    folder = app.config["UPLOAD_DIR"]
    saved = None
    digest = hashlib.sha256()
    size = 0
    out = None
    if folder:
        saved = os.path.join(folder, secure_filename(field.filename)
                             or "upload.bin")
        out = open(saved, "wb")
    try:
        while True:
            block = field.stream.read(65536)
            if not block:
                break
            size += len(block)
            digest.update(block)
            if out is not None:
                out.write(block)
    finally:
        if out is not None:
            out.close()
    return jsonify(filename=field.filename, content_type=field.mimetype,
                   size=size, sha256=digest.hexdigest(), saved=saved,
                   note=request.form.get("note"), pid=os.getpid())


@app.route("/stream")
def stream():
    count = request.args.get("n", 5, type=int)

    def generate():
        for n in range(count):
            yield "flask chunk %d\n" % n
            time.sleep(0.05)
    return Response(stream_with_context(generate()), mimetype="text/plain")


def make_app(global_conf, upload_dir=None, **local_conf):
    """Paste Deploy ``use = call:flask_app:make_app``."""
    if upload_dir:
        os.makedirs(upload_dir, exist_ok=True)
    app.config["UPLOAD_DIR"] = upload_dir
    return app

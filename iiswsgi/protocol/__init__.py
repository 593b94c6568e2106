"""The protocols iiswsgi speaks, with no I/O: FastCGI 1.0 (both sides)
and CGI response headers.  Bytes in, events out, bytes to send."""

"""A small HTTP(S) server for the specs and benchmarks, on a free loopback port.

    python3 httpd.py PORT_FILE [CERT KEY]

Writes its port to PORT_FILE once listening. Endpoints:
  /hello            "hello" (text/plain, X-Essh: yes)
  /echo             JSON of method, path, query, headers and body
  /redirect/N       302 to /redirect/N-1; /redirect/0 answers "done"
  /delay/MS         waits MS milliseconds, then "ok"
  /bytes/N          N bytes of a fixed pattern, streamed
  /status/CODE      an empty answer with that status
  http://...        (a proxy request) JSON naming the URL asked for
"""
import json, socketserver, ssl, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qsl

PATTERN = bytes(range(256)) * 256  # 64 KiB


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def log_message(self, *args):
        pass

    def send_body(self, status, body, content_type="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        if self.path.startswith("http://"):
            # Asked as a proxy: say so, with the URL the client wanted.
            self.send_body(200, json.dumps({"proxied": self.path}).encode(), "application/json")
            return
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts[0] == "hello":
            self.send_body(200, b"hello", extra=[("X-Essh", "yes"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        elif parts[0] == "script":
            self.send_body(200, b"echo script from the url for $ESSH_TASK_NAME\n")
        elif parts[0] == "echo":
            doc = {"method": self.command, "path": url.path, "query": dict(parse_qsl(url.query)),
                   "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode("latin-1")}
            self.send_body(200, json.dumps(doc).encode(), "application/json")
        elif parts[0] == "redirect":
            n = int(parts[1])
            if n == 0:
                self.send_body(200, b"done")
            else:
                self.send_body(302, b"", extra=[("Location", "/redirect/%d" % (n - 1))])
        elif parts[0] == "delay":
            time.sleep(int(parts[1]) / 1000)
            self.send_body(200, b"ok")
        elif parts[0] == "bytes":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            sent = 0
            while sent < n:
                chunk = PATTERN[: min(len(PATTERN), n - sent)]
                self.wfile.write(chunk)
                sent += len(chunk)
        elif parts[0] == "status":
            self.send_body(int(parts[1]), b"")
        else:
            self.send_body(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 3:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


main()

"""Python "hello" HTTP servers for greenshim's benchmark suite (driven by bench.py).

    python py_servers.py KIND PORT
    python -m gevent.monkey py_servers.py tcp_responder PORT

KIND:
  http_threading  http.server.ThreadingHTTPServer, HTTP/1.1 keep-alive handler
  pywsgi          gevent.pywsgi.WSGIServer with a plain WSGI app
  tcp_responder   socketserver.ThreadingTCPServer answering every request with one sendall
  flask_threaded  Flask's dev server, app.run(threaded=True); note that Werkzeug's dev
                  server answers every request with "Connection: close" (no keep-alive)
  flask_gevent    the same Flask app served by gevent.pywsgi.WSGIServer

Every server listens on 127.0.0.1 with a backlog of 4096 and logs no requests.
TCP_NODELAY is set on accepted sockets by the servers that write the headers and the
body with separate send calls (http_threading, flask_threaded) and, for symmetry, by
the pywsgi servers; tcp_responder writes each response with one sendall and the C
servers with one write, so those leave Nagle on.
"""
import socket
import sys

BODY = b"Hello, world\n"
BACKLOG = 4096


def quiet_errors(server_cls):
    """socketserver prints a traceback for every connection wrk resets at the end of a
    run; keep the logs for real errors."""

    class Quiet(server_cls):
        def handle_error(self, request, client_address):
            if isinstance(sys.exc_info()[1], OSError):
                return
            super().handle_error(request, client_address)

    return Quiet


def nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def http_threading(port):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            nodelay(self.connection)

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args):
            pass

    class Server(quiet_errors(ThreadingHTTPServer)):
        request_queue_size = BACKLOG
        daemon_threads = True

    Server(("127.0.0.1", port), Handler).serve_forever()


def wsgi_hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def serve_pywsgi(port, app):
    from gevent import pywsgi

    class Server(pywsgi.WSGIServer):
        def handle(self, sock, address):
            nodelay(sock)
            return super().handle(sock, address)

    Server(("127.0.0.1", port), app, log=None, error_log=None, backlog=BACKLOG).serve_forever()


def tcp_responder(port):
    import socketserver
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            sock = self.request
            buf = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
                n = buf.count(b"\r\n\r\n")
                if n:
                    buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
                    sock.sendall(resp * n)

    class Server(quiet_errors(socketserver.ThreadingTCPServer)):
        request_queue_size = BACKLOG
        daemon_threads = True
        allow_reuse_address = True

    Server(("127.0.0.1", port), Handler).serve_forever()


def flask_app():
    import logging
    from flask import Flask, Response
    logging.getLogger("werkzeug").disabled = True
    app = Flask("bench")

    @app.route("/")
    def hello():
        return Response(BODY, mimetype="text/plain")

    return app


def flask_threaded(port):
    import werkzeug.serving as ws

    class Handler(ws.WSGIRequestHandler):
        def setup(self):
            super().setup()
            nodelay(self.connection)

        def log_request(self, *args, **kw):
            pass

    ws.ThreadedWSGIServer.request_queue_size = BACKLOG
    flask_app().run("127.0.0.1", port, threaded=True, use_reloader=False, debug=False, request_handler=Handler)


def main():
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "http_threading":
        http_threading(port)
    elif kind == "pywsgi":
        serve_pywsgi(port, wsgi_hello)
    elif kind == "tcp_responder":
        tcp_responder(port)
    elif kind == "flask_threaded":
        flask_threaded(port)
    elif kind == "flask_gevent":
        serve_pywsgi(port, flask_app())
    else:
        sys.exit(f"unknown server kind {kind}")


if __name__ == "__main__":
    main()

"""A deliberately slow local HTTP server (0.5 s per request), run natively by the demo."""
import http.server, sys, time

class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        time.sleep(0.5)
        body = b"hello from the slow server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024

srv = Server(("127.0.0.1", 0), Slow)
print(srv.server_address[1], flush=True)
srv.serve_forever()

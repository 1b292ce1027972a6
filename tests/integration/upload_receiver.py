"""A local stand-in for CDI's upload proxy: POST /v1beta1/upload with a bearer
token and a (chunked, gzip-compressed or raw) disk image, written to a file.
Used by the transfer tests and bench/transfer. Listens on 127.0.0.1 only."""
import http.server
import threading
import zlib


class Receiver:
    def __init__(self, path, token="secret-token", status=200):
        self.path, self.token, self.status = path, token, status
        self.requests = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return
                        yield self.rfile.read(size)
                        self.rfile.readline()
                else:
                    left = int(self.headers.get("Content-Length", 0))
                    while left:
                        chunk = self.rfile.read(min(left, 1 << 20))
                        left -= len(chunk)
                        yield chunk

            def reply(self, code, text):
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                receiver.requests.append((self.path, dict(self.headers)))
                if self.headers.get("Authorization") != f"Bearer {receiver.token}":
                    for _ in self.read_body():
                        pass
                    return self.reply(401, "Unauthorized: bad upload token")
                if receiver.status != 200:
                    for _ in self.read_body():
                        pass
                    return self.reply(receiver.status, "upload refused")
                d = None
                wire = 0
                with open(receiver.path, "wb") as out:
                    for chunk in self.read_body():
                        wire += len(chunk)
                        if d is None:
                            # gzip when it starts with the magic, as CDI detects it
                            d = zlib.decompressobj(16 + zlib.MAX_WBITS) if chunk[:2] == b"\x1f\x8b" else False
                        out.write(d.decompress(chunk) if d else chunk)
                    if d:
                        out.write(d.flush())
                receiver.wire_bytes = wire
                self.reply(200, "")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1beta1/upload"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

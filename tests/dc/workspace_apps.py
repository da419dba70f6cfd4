"""Small servers to run INSIDE a workspace (stdlib only: the sandbox has the host's python3, not
the platform's virtualenv), for the preview proxy tests and the benchmark."""

from __future__ import annotations

import shlex
import time

from hemisphere.sdk import HemisphereClient

# Answers every request with JSON describing it; speaks WebSocket (echo) when asked to upgrade.
ECHO_APP = r"""
import base64, hashlib, http.server, json, struct, sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        data = json.dumps({"method": self.command, "path": self.path, "body": body,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("set-cookie", "app=1; Path=/")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self._reply()

    def do_GET(self):
        if self.headers.get("upgrade", "").lower() != "websocket":
            return self._reply()
        key = self.headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("upgrade", "websocket")
        self.send_header("connection", "Upgrade")
        self.send_header("sec-websocket-accept", accept)
        offered = self.headers.get("sec-websocket-protocol")
        if offered:
            self.send_header("sec-websocket-protocol", offered.split(",")[0].strip())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:
                self.wfile.write(b"\x88\x02" + data[:2])
                self.wfile.flush()
                return
            if opcode in (1, 2):
                if opcode == 1:
                    data = ("echo:" + data.decode()).encode()
                n = len(data)
                size = bytes([n]) if n < 126 else b"\x7e" + struct.pack("!H", n)
                self.wfile.write(bytes([0x80 | opcode]) + size + data)
                self.wfile.flush()

http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"""


def start_in_background(c: HemisphereClient, wid: int, command: str, port: int) -> None:
    """Run `command` detached in the workspace and wait until `port` is listening."""
    c.execute(wid, f"nohup {command} > /tmp/app-{port}.log 2>&1 &")
    deadline = time.monotonic() + 30
    while port not in [p.port for p in c.ports(wid)]:
        assert time.monotonic() < deadline, c.execute(wid, f"cat /tmp/app-{port}.log").output
        time.sleep(0.1)


def start_echo_app(c: HemisphereClient, wid: int, port: int) -> None:
    c.execute(wid, f"cat > ~/echo_app.py <<'EOF'\n{ECHO_APP}\nEOF")
    start_in_background(c, wid, f"python3 ~/echo_app.py {shlex.quote(str(port))}", port)

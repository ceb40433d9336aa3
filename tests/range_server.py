"""A local stand-in for an object store: HTTP with Range requests over a folder, counting requests.

`http.server` alone answers Range requests with the whole file; fsspec's HTTP file system (like
gs:// and s3://) reads blocks through Range requests, so this handler serves exactly those bytes.
"""

from __future__ import annotations

import os
import re
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class _RangeHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return None
        size = os.path.getsize(path)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        start, end = (int(match[1]), min(int(match[2] or size - 1), size - 1)) if match else (0, size - 1)
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206 if match else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "GET":
            self.server.requests.append((os.path.basename(path), start, end - start + 1))
            time.sleep(self.server.latency)  # an object store's time to first byte
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile) -> None:
        remaining = self._remaining
        while remaining > 0:
            chunk = source.read(min(remaining, 1 << 20))
            if not chunk:
                break
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the client closed the file mid-block
                return
            remaining -= len(chunk)


class RangeServer:
    """`with RangeServer(folder) as url:` serves folder at http://127.0.0.1:PORT; `.requests` lists
    every GET as (file name, first byte, length); `latency` seconds pass before each GET's body."""

    def __init__(self, folder, latency: float = 0.0) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(folder)))
        self.httpd.requests, self.httpd.latency = [], latency
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> list:
        return self.httpd.requests

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

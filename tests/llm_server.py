"""A scripted OpenAI-compatible chat server on 127.0.0.1 for backend and runner tests.

It answers from the prompt itself (no model): the query names the requested label and the
passage's title, e.g. "question about aspirin and the heart", so outputs are predictable. Faults
are injected from a queue: "500", "429", "slow" (answers after `slow_s`), "malformed" (HTTP 200
with a body that is not a chat completion), "drop" (closes the connection), "401". Every other answer waits `delay_s`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def scripted_answer(messages: list[dict]) -> str:
    content = messages[-1]["content"]
    title = content.split("Passage:\n", 1)[1].split("\n", 1)[0].lower()
    keys = re.search(r"JSON object whose keys are (.*), and nothing else", content)
    if keys:
        names = re.findall(r'"(\w+)"', keys.group(1))
        return json.dumps({n: ([*title.split()[:2], n] if n == "keywords" else f"{n} about {title}") for n in names})
    label = re.search(r"Now write the (.+) for the passage at the top", content).group(1)
    return f"{label} about {title}"


class ScriptedServer:
    def __init__(self, slow_s: float = 2.0, delay_s: float = 0.0):
        self.faults: deque[str] = deque()
        self.always: str | None = None
        self.requests = 0
        self.slow_s = slow_s
        self.delay_s = delay_s
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                    fault = server.faults.popleft() if server.faults else server.always
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault in ("500", "429", "401"):
                    self._send(int(fault), b'{"error": "injected"}')
                    return
                time.sleep(server.slow_s if fault == "slow" else server.delay_s)
                if fault == "malformed":
                    self._send(200, b'{"choices": [}')
                    return
                text = scripted_answer(body["messages"])
                answer = {
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split())},
                }
                self._send(200, json.dumps(answer).encode())

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

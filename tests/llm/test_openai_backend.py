"""The openai backend against a local HTTP stub server (no network)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opsgraft.errors import BackendError
from opsgraft.llm.openai_backend import OpenAIBackend
from opsgraft.types import Message


class Stub:
    def __init__(self, plan):
        self.plan = list(plan)  # list of (status, choices_count)
        self.requests = []

    def handler(self):
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((self.path, body, dict(self.headers)))
                status, count = stub.plan.pop(0) if stub.plan else (200, body.get("n", 1))
                # A plan count of None: a server that ignores n= and samples by its seed.
                seeded = count is None
                count = 1 if seeded else count
                if status != 200:
                    payload = {"error": {"message": "slow down", "type": "rate_limit"}}
                else:
                    payload = {
                        "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [
                            {"index": i, "finish_reason": "stop",
                             "message": {"role": "assistant", "content":
                                         f"```python\nprint({body.get('seed') if seeded else i})\n```"}}
                            for i in range(count)
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 4 * count, "total_tokens": 11 + 4 * count},
                    }
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after", "0.01")
                self.end_headers()
                self.wfile.write(data)

        return H


@pytest.fixture
def server():
    servers = []

    def start(plan):
        stub = Stub(plan)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), stub.handler())
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return stub, f"http://127.0.0.1:{httpd.server_address[1]}/v1"

    yield start
    for s in servers:
        s.shutdown()


MSGS = [Message("user", "hi")]


def test_429_then_200_is_retried(server, monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-test-secret")
    stub, url = server([(429, 0), (200, 1)])
    backend = OpenAIBackend(model="stub", base_url=url, api_key_env="STUB_KEY", base_delay=0.01)
    out = backend.generate(MSGS, n=1, max_tokens=10)
    assert out[0].text == "```python\nprint(0)\n```"
    assert len(stub.requests) == 2
    headers = {k.lower(): v for k, v in stub.requests[-1][2].items()}
    assert headers["authorization"] == "Bearer sk-test-secret"


def test_n_is_sent_and_topped_up_when_server_ignores_it(server):
    stub, url = server([(200, 1), (200, 2)])
    backend = OpenAIBackend(model="stub", base_url=url, base_delay=0.01)
    out = backend.generate(MSGS, n=3, max_tokens=10, seed=7)
    assert [g.index for g in out] == [0, 1, 2]
    assert stub.requests[0][1]["n"] == 3 and stub.requests[1][1]["n"] == 2
    assert stub.requests[0][1]["seed"] == 7
    assert out[0].usage.prompt_tokens == 11


def test_samples_differ_on_a_server_that_ignores_n_and_honours_seed(server):
    stub, url = server([(200, None)] * 3)
    backend = OpenAIBackend(model="stub", base_url=url, base_delay=0.01)
    out = backend.generate(MSGS, n=3, max_tokens=10, seed=7, first_index=3)
    assert [g.index for g in out] == [3, 4, 5]
    assert [r[1]["seed"] for r in stub.requests] == [10, 11, 12]
    assert len({g.text for g in out}) == 3


def test_rate_limit_forever_gives_up_with_a_hint(server):
    stub, url = server([(429, 0)] * 10)
    backend = OpenAIBackend(model="stub", base_url=url, attempts=3, base_delay=0.01)
    with pytest.raises(BackendError, match="rate limited.*after 3 attempts"):
        backend.generate(MSGS, n=1, max_tokens=10)
    assert len(stub.requests) == 3


def test_unreachable_endpoint_is_a_backend_error():
    backend = OpenAIBackend(model="stub", base_url="http://127.0.0.1:9/v1", attempts=2, base_delay=0.01, timeout_s=2)
    with pytest.raises(BackendError, match="cannot reach the endpoint"):
        backend.generate(MSGS, n=1, max_tokens=10)


def test_overflow_is_reported_before_the_call(server):
    stub, url = server([])
    backend = OpenAIBackend(model="stub", base_url=url, context_window=20)
    from opsgraft.errors import ContextOverflowError

    with pytest.raises(ContextOverflowError, match="context window of 20"):
        backend.generate([Message("user", "word " * 50)], n=1, max_tokens=10)
    assert stub.requests == []


def test_tiktoken_counts_offline():
    from opsgraft.llm.tokens import count_text_tokens

    assert count_text_tokens("gpt-4o", "hello world") == 2

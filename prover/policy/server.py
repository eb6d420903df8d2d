"""A tiny OpenAI-compatible HTTP server for a local HFPolicy (127.0.0.1 only).

    python -m prover.policy.server --model PATH --port 8000
    # then: load_policy("openai:http://127.0.0.1:8000/v1#PATH")

Endpoints: POST /v1/completions (prompt: str or list of str; n, temperature, top_p, max_tokens,
seed, stop), POST /v1/chat/completions (the model's chat template, if any, is applied to the
messages), GET /v1/models.  Requests are served one generation at a time.  Meant for tests and
local experiments, not production.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prover.policy.base import SamplingParams
from prover.policy.prompts import PromptTooLongError

if TYPE_CHECKING:
    from prover.policy.hf import HFPolicy

HOST = "127.0.0.1"


def _params(body: dict[str, Any]) -> SamplingParams:
    seed = body.get("seed")
    return SamplingParams(
        n=int(body.get("n", 1)),
        temperature=float(body.get("temperature", 1.0)),
        top_p=float(body.get("top_p", 1.0)),
        max_new_tokens=int(body.get("max_tokens", 16)),
        seed=None if seed is None else int(seed),
    )


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop") or []
    return [stop] if isinstance(stop, str) else [str(s) for s in stop]


def make_server(
    policy: HFPolicy, port: int = 0, model_name: str | None = None
) -> ThreadingHTTPServer:
    """A server (not yet serving) bound to 127.0.0.1:`port` (0 picks a free port; see
    `server.server_address`).  Call `serve_forever()`, and `shutdown()` + `server_close()`."""
    name = model_name or policy.config.model
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self._error(404, f"unknown path {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                params = _params(body)
            except (ValueError, TypeError) as e:
                self._error(400, f"bad request: {e}")
                return
            path = self.path.rstrip("/")
            if path == "/v1/completions":
                prompts = body.get("prompt", "")
                prompts = [prompts] if isinstance(prompts, str) else list(prompts)
                chat = False
            elif path == "/v1/chat/completions":
                messages = body.get("messages") or []
                tok = policy.tokenizer
                if getattr(tok, "chat_template", None):
                    prompts = [
                        tok.apply_chat_template(
                            messages, tokenize=False, add_generation_prompt=True
                        )
                    ]
                else:
                    prompts = ["\n".join(str(m.get("content", "")) for m in messages) + "\n"]
                chat = True
            else:
                self._error(404, f"unknown path {self.path}")
                return
            try:
                with lock:
                    outs = policy.complete(prompts, params, _stop(body))
            except PromptTooLongError as e:
                self._error(400, str(e))
                return
            choices: list[dict[str, Any]] = []
            used = 0
            for rows in outs:
                for text, ntok, reason in rows:
                    used += ntok
                    finish = "length" if reason == "length" else "stop"
                    index = len(choices)
                    if chat:
                        msg = {"role": "assistant", "content": text}
                        choices.append({"index": index, "message": msg, "finish_reason": finish})
                    else:
                        choices.append(
                            {
                                "index": index,
                                "text": text,
                                "logprobs": None,
                                "finish_reason": finish,
                            }
                        )
            prompt_tokens = sum(policy.count_tokens(p) for p in prompts)
            self._send(
                200,
                {
                    "id": f"cmpl-{uuid.uuid4().hex}",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": int(time.time()),
                    "model": name,
                    "choices": choices,
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": used,
                        "total_tokens": prompt_tokens + used,
                    },
                },
            )

    return ThreadingHTTPServer((HOST, port), Handler)


def serve_in_thread(
    policy: HFPolicy, port: int = 0, model_name: str | None = None
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start serving in a daemon thread; returns (server, thread).  Stop with
    `server.shutdown(); server.server_close()`."""
    server = make_server(policy, port, model_name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m prover.policy.server",
        description="Serve a local transformers model as an OpenAI-compatible API on 127.0.0.1.",
    )
    ap.add_argument("--model", required=True, help="local model directory (or hub id)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--served-model-name", default=None)
    args = ap.parse_args(argv)

    from prover.policy.hf import HFPolicy

    policy = HFPolicy(args.model, device=args.device, batch_size=args.batch_size)
    server = make_server(policy, args.port, args.served_model_name)
    port = server.server_address[1]
    print(f"serving {args.served_model_name or args.model} on http://{HOST}:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        policy.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

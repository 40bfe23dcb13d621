#!/usr/bin/env python3
"""A recording OpenAI-style server for tests/tools/eval-run.sh (test only).

It stands in for what mock-llm cannot show: the exact request bodies. It
tokenizes one token per character (POST /tokenize -> {"tokens": [ord(c)]},
POST /detokenize {"tokens": [...]} -> {"prompt": the characters}),
echoes prompts with deterministic logprobs (token i of a prompt gets
-(ord(c) % 7 + 1) / 8, the first is null, one extra generated token is
appended) and appends every request body as a JSON line to LOG.

usage: eval-run-fake.py PORT_FILE LOG [noecho|notok|cut|reflect]
  noecho: logprobs of the generated token only; notok: /tokenize and
  /detokenize answer 404; cut: the echo drops the prompt's first 3 tokens;
  reflect: every request gets 401 with a long body that echoes the
  Authorization header twice (whole, and its first 12 characters)
"""
import http.server
import json
import sys


def lp(code):
    return -((code % 7) + 1) / 8


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        raw = self.rfile.read(n)
        body = json.loads(raw)
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        mode = sys.argv[3] if len(sys.argv) > 3 else ""
        if mode == "reflect":
            auth = self.headers.get("Authorization", "")
            data = ("Unauthorized.\nYou sent: %s\nAlso known as %s...\n%s" % (
                auth, auth[7:19], "x" * 5000)).encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if mode == "notok" and self.path.endswith("tokenize"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.endswith("/detokenize"):
            out = {"prompt": "".join(chr(i) for i in body["tokens"])}
        elif self.path.endswith("/tokenize"):
            out = {"tokens": [ord(c) for c in body["prompt"]],
                   "count": len(body["prompt"])}
        elif "prompt" in body and body.get("echo"):
            p = body["prompt"]
            ids = p[0] if isinstance(p, list) else [ord(c) for c in p]
            toks = [chr(i) for i in ids] + ["!"]
            tl = [None] + [lp(i) for i in ids[1:]] + [-0.5]
            top = [None] + [{chr(i): lp(i)} for i in ids[1:]] + [{"!": -0.5}]
            if mode == "noecho":
                toks, tl, top = toks[-1:], tl[-1:], top[-1:]
            elif mode == "cut":
                toks, tl, top = toks[3:], [None] + tl[4:], [None] + top[4:]
            out = {"choices": [{"index": 0, "text": "!", "logprobs": {
                "tokens": toks, "token_logprobs": tl, "top_logprobs": top,
                "text_offset": list(range(len(toks)))}}]}
        else:
            out = {"choices": [{"index": 0, "text": " 42",
                                "message": {"role": "assistant",
                                            "content": " 42"}}]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_port))
srv.serve_forever()

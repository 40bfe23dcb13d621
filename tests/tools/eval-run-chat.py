#!/usr/bin/env python3
"""Test-only oracle for eval-run's chat-template rendering (tests/tools/eval-run.sh).

Renders message lists with python3-jinja2 the way transformers'
apply_chat_template(tokenize=False) does: ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and loopcontrols, HF's tojson (json.dumps,
ensure_ascii=False), raise_exception and strftime_now globals, the
tokenizer_config's special tokens as variables, then for
continue_final_message the text cut after the final message's stripped
content. lm-eval (local-completions + HF tokenizer) calls it with
add_generation_prompt = not gen_prefix, continue_final_message = gen_prefix.

usage:
  eval-run-chat.py bodies TOKDIR CHAT_BODIES COMPLETION_BODIES
      every chat-completions body's "messages", rendered, must equal the
      completions body's "prompt" at the same position
  eval-run-chat.py samples TOKDIR PLAIN_SAMPLES CHAT_SAMPLES
      0-shot multiple choice: each plain context as one user message,
      rendered, must equal the chat run's context; continuations lose the
      target delimiter
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox


def load(tokdir):
    cfg = json.load(open(os.path.join(tokdir, "tokenizer_config.json")))
    special = {}
    for k in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
              "cls_token", "mask_token"]:
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if v is not None:
            special[k] = v
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None,
               sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(cfg["chat_template"]), special


def render(tmpl, special, messages, gen_prompt, cont_final):
    out = tmpl.render(messages=messages, tools=None, documents=None,
                      add_generation_prompt=gen_prompt, **special)
    if cont_final:
        final = messages[-1]["content"].strip()
        out = out[:out.rindex(final) + len(final)]
    return out


def main():
    mode, tokdir, a, b = sys.argv[1:5]
    tmpl, special = load(tokdir)
    n = 0
    if mode == "bodies":
        chat = [json.loads(l)["body"] for l in open(a)]
        comp = [json.loads(l)["body"] for l in open(b)]
        chat = [x for x in chat if "messages" in x]
        comp = [x for x in comp if "prompt" in x and "echo" not in x]
        assert len(chat) == len(comp) and chat, (len(chat), len(comp))
        for c, p in zip(chat, comp):
            msgs = c["messages"]
            prefix = msgs[-1]["role"] == "assistant"
            want = render(tmpl, special, msgs, not prefix, prefix)
            assert p["prompt"] == want, ("rendering differs",
                                         json.dumps(msgs)[:300],
                                         json.dumps(p["prompt"])[:500],
                                         json.dumps(want)[:500])
            # completions (synchronous) add the tokenizer's EOS to stop
            assert p["stop"] == c["stop"] + [special["eos_token"]], (
                c["stop"], p["stop"])
            n += 1
    else:
        plain = [json.loads(l) for l in open(a)]
        chat = [json.loads(l) for l in open(b)]
        assert len(plain) == len(chat) and plain
        for p, c in zip(plain, chat):
            pa = list(p["arguments"].values())
            ca = list(c["arguments"].values())
            assert len(pa) == len(ca)
            for x, y in zip(pa, ca):
                want = render(tmpl, special,
                              [{"role": "user", "content": x["arg_0"]}],
                              True, False)
                assert y["arg_0"] == want, (y["arg_0"], want)
                assert y["arg_1"] == x["arg_1"].lstrip(" "), (x, y)
                n += 1
    print("rendered", n)


main()

#!/usr/bin/env python3
"""Headless Chromium for the HTML tests, driven over the DevTools protocol.

Chromium is started with --remote-debugging-pipe: commands and events are
NUL-terminated JSON messages on file descriptors 3 (to the browser) and 4
(from it), so no port is opened and no package beyond Debian's chromium is
needed. The tests use it to open a page, run JavaScript in it, type into a
field, click a link (following the navigation) and take screenshots.

    from browser import Browser
    with Browser() as b:
        b.open("file:///.../index.html")
        b.type("#filter", "tiny")
        rows = b.eval("document.querySelectorAll('tr:not([hidden])').length")
        b.click("a.version")
        b.screenshot("page.png")

Command line: browser.py eval URL JS      prints the value as JSON
              browser.py shot URL PNG [WIDTH]   full-page screenshot
"""
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, width=1280, height=900, timeout=30):
        exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or \
            shutil.which("chromium-browser")
        if not exe:
            raise BrowserError("no chromium")
        self.timeout = timeout
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="mg-chromium-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def fds():
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--hide-scrollbars",
             "--user-data-dir=" + self.profile, "about:blank"],
            preexec_fn=fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.wfd, self.rfd = to_w, from_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None
        tid = self.call("Target.createTarget", {"url": "about:blank"},
                        browser=True)["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": tid, "flatten": True},
                                 browser=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": False})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc:
            try:
                self.call("Browser.close", browser=True)
            except Exception:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            os.close(self.wfd)
            os.close(self.rfd)
            shutil.rmtree(self.profile, ignore_errors=True)
            self.proc = None

    def _read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            r, _, _ = select.select([self.rfd], [], [], left)
            if r:
                chunk = os.read(self.rfd, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium exited")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, browser=False):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            m["sessionId"] = self.session
        os.write(self.wfd, json.dumps(m).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            j = self._read(deadline)
            if j.get("id") == self.next_id:
                if "error" in j:
                    raise BrowserError("%s: %s" % (method, j["error"]))
                return j.get("result", {})
            if "method" in j:
                self.events.append(j)

    def wait_event(self, name, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    del self.events[:i + 1]
                    return e.get("params", {})
            self.events = []
            j = self._read(deadline)
            if "method" in j:
                self.events.append(j)

    def open(self, url):
        self.events = []
        r = self.call("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise BrowserError("cannot open %s: %s" % (url, r["errorText"]))
        self.wait_event("Page.loadEventFired")

    def eval(self, js):
        r = self.call("Runtime.evaluate",
                      {"expression": js, "returnByValue": True,
                       "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError("script failed: %s" % json.dumps(
                r["exceptionDetails"])[:500])
        return r["result"].get("value")

    def url(self):
        return self.eval("location.href")

    def _center(self, selector):
        box = self.eval(
            "(()=>{const e=document.querySelector(%s);if(!e)return null;"
            "e.scrollIntoView({block:'center'});const r=e.getBoundingClientRect();"
            "return [r.left+r.width/2,r.top+r.height/2]})()" % json.dumps(selector))
        if not box:
            raise BrowserError("no element matches %s" % selector)
        return box

    def type(self, selector, text):
        """Focuses the field, clears it and types text as a user would."""
        x, y = self._center(selector)
        self._mouse(x, y)
        self.eval("document.querySelector(%s).select()" % json.dumps(selector))
        self.call("Input.insertText", {"text": text})

    def _mouse(self, x, y):
        for t in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": t, "x": x, "y": y, "button": "left",
                       "clickCount": 1})

    def click(self, selector, navigates=False):
        """Clicks the element's centre; with navigates, waits for the new
        page to load."""
        x, y = self._center(selector)
        self.events = []
        self._mouse(x, y)
        if navigates:
            self.wait_event("Page.loadEventFired")

    def screenshot(self, path, full=True):
        params = {"format": "png"}
        if full:
            w, h = self.eval("[document.documentElement.scrollWidth,"
                             "document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": max(w, self.width),
                              "height": h, "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def main(argv):
    if len(argv) >= 4 and argv[1] == "eval":
        with Browser() as b:
            b.open(argv[2])
            print(json.dumps(b.eval(argv[3])))
        return 0
    if len(argv) >= 4 and argv[1] == "shot":
        with Browser(width=int(argv[4]) if len(argv) > 4 else 1280) as b:
            b.open(argv[2])
            b.screenshot(argv[3])
        return 0
    sys.stderr.write("usage: browser.py eval URL JS | shot URL PNG [WIDTH]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

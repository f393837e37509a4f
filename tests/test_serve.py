"""`scpo serve` (issue 31 item 11): a local page where a person types a tweet and sees its tags, their scores
and the cleaned text the model read; a JSON endpoint for scripts; everything echoed HTML-escaped.

The server runs in this process on an ephemeral port (port 0) in a thread and is shut down in ``finally``;
the real-browser test drives headless Chromium through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: no websocket library, no network beyond 127.0.0.1): it types the tweet into the
form, clicks the button and reads the tags back from the page. It skips, saying so, where Chromium is absent.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def model_dir(tiny_tfidf_model) -> Path:
    return tiny_tfidf_model


@contextmanager
def running(model_dir: Path, k: int = 5):
    """The demo server on 127.0.0.1 and a free port, serving in a thread; yields its base URL."""
    from networks.recommender import HashtagRecommender
    from networks.serve import make_server, url_of

    recommender = HashtagRecommender.load(model_dir)
    server = make_server(recommender, "127.0.0.1", 0, k)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url_of(server), recommender
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_form_page(model_dir):
    with running(model_dir) as (url, _):
        status, body = get(url)
    assert status == 200
    assert '<form method="get" action="/">' in body and 'name="text"' in body
    assert 'id="tags"' not in body  # no tweet yet, no result


def test_submitted_tweet_shows_tags_scores_and_cleaned_text(model_dir):
    tweet = "Latte and espresso at the cafe #coffee http://t.co/x"
    with running(model_dir) as (url, recommender):
        status, body = get(url + "?" + urllib.parse.urlencode({"text": tweet, "k": 2}))
        posted = get(url, data=urllib.parse.urlencode({"text": tweet, "k": 2}).encode())
    expected = recommender.recommend([tweet], 2, with_scores=True)[0]
    assert expected[0][0] == "coffee"
    assert status == 200 and posted == (200, body)
    for tag, score in expected:
        assert f'<td class="tag">#{tag}</td><td class="score">{score:.3f}</td>' in body
    assert body.count('<td class="tag">') == 2
    from features.text import prepare_text

    cleaned = prepare_text(tweet, recommender.leakage)
    assert "#coffee" not in cleaned and "http" not in cleaned
    assert f'<code id="cleaned">{html.escape(cleaned)}</code>' in body


def test_api_answers_json(model_dir):
    tweet = "marathon miles this morning #running"
    with running(model_dir) as (url, recommender):
        status, body = get(url + "api/recommend?" + urllib.parse.urlencode({"text": tweet, "k": 3}))
        missing = get(url + "api/recommend")
        bad_k = get(url + "api/recommend?text=x&k=zero")
    assert status == 200
    answer = json.loads(body)
    expected = recommender.recommend([tweet], 3, with_scores=True)[0]
    assert [(t["tag"], t["score"]) for t in answer["tags"]] == [(t, round(s, 6)) for t, s in expected]
    assert answer["tags"][0]["tag"] == "running"
    assert answer["cleaned"] == "marathon miles this morning" and answer["text"] == tweet
    assert missing[0] == 400 and "text" in json.loads(missing[1])["error"]
    assert bad_k[0] == 400 and "'zero'" in json.loads(bad_k[1])["error"]


def test_echoed_text_is_escaped(model_dir):
    tweet = '<script>alert("x")</script> latte & "beans"'
    with running(model_dir) as (url, _):
        status, body = get(url + "?" + urllib.parse.urlencode({"text": tweet}))
    assert status == 200
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert html.escape(tweet) in body  # in the textarea and as "your tweet"


def test_bad_model_dir_is_one_line_exit_2(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "nothing"), "--port", "0"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ") and "not found" in result.output


def test_port_in_use_is_one_line_exit_2(model_dir):
    from typer.testing import CliRunner

    from cli import app

    with running(model_dir) as (url, _):
        port = urllib.parse.urlsplit(url).port
        result = CliRunner().invoke(app, ["serve", "--model", str(model_dir), "--port", str(port)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output


class DevTools:
    """The Chrome DevTools protocol over ``--remote-debugging-pipe``: JSON messages ending in NUL, written
    to the browser's fd 3 and read from its fd 4."""

    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int):
        self.process, self.to_browser, self.from_browser = process, to_browser, from_browser
        self.buffer, self.next_id, self.events = b"", 0, []

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: str | None = None, timeout: float = 20, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, method: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))


@contextmanager
def chromium(profile: Path):
    """Headless Chromium with the DevTools protocol on a pipe; killed in ``finally``."""
    to_read, to_browser = os.pipe()  # the browser reads commands on its fd 3
    from_browser, to_write = os.pipe()  # and writes answers on its fd 4

    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (to_read, to_write)]  # 3 and 4 may be taken
        os.dup2(high[0], 3)  # inheritable: survives exec (close_fds=False keeps only inheritable fds)
        os.dup2(high[1], 4)

    process = subprocess.Popen(
        [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--disable-component-update",
         f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        close_fds=False, preexec_fn=child_setup)
    os.close(to_read)
    os.close(to_write)
    try:
        yield DevTools(process, to_browser, from_browser)
    finally:
        process.kill()
        process.wait(timeout=10)
        os.close(to_browser)
        os.close(from_browser)


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (Debian: apt-get install chromium): the real-browser test "
                           "of `scpo serve` did not run")
def test_real_browser_types_a_tweet_and_reads_the_tags(model_dir, tmp_path):
    tweet = "Espresso and a latte at the cafe <b>today</b> #coffee"
    with running(model_dir, k=2) as (url, recommender), chromium(tmp_path / "profile") as browser:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.call("Page.enable", session)
        browser.call("Page.navigate", session, url=url)
        browser.wait_event("Page.loadEventFired")

        def evaluate(expression: str):
            return browser.call("Runtime.evaluate", session, expression=expression,
                                returnByValue=True)["result"].get("value")

        evaluate("document.getElementById('text').focus()")
        browser.call("Input.insertText", session, text=tweet)  # typed, as a keyboard would
        box = evaluate("(() => { const r = document.getElementById('go').getBoundingClientRect();"
                       " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            browser.call("Input.dispatchMouseEvent", session, type=kind, x=box[0], y=box[1], button="left",
                         clickCount=1)
        browser.wait_event("Page.loadEventFired")
        shown = evaluate("JSON.stringify({url: location.href,"
                         " tags: [...document.querySelectorAll('#tags td.tag')].map(e => e.textContent),"
                         " scores: [...document.querySelectorAll('#tags td.score')].map(e => e.textContent),"
                         " cleaned: document.getElementById('cleaned').textContent,"
                         " scripts: document.querySelectorAll('b').length})")
    shown = json.loads(shown)
    expected = recommender.recommend([tweet], 2, with_scores=True)[0]
    assert shown["tags"] == [f"#{t}" for t, _ in expected] and shown["tags"][0] == "#coffee"
    assert shown["scores"] == [f"{s:.3f}" for _, s in expected]
    from features.text import prepare_text

    assert shown["cleaned"] == prepare_text(tweet, recommender.leakage)
    assert shown["scripts"] == 0  # the tweet's markup is shown as text, not rendered
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(shown["url"]).query)["text"] == [tweet]


@pytest.mark.parametrize(("stop", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                     (signal.SIGTERM, 143, "terminated")])
def test_signal_stops_the_server_cleanly(model_dir, stop, status, word):
    """The CLI as a user runs it: the URL printed on start, the page answers there, Ctrl-C or SIGTERM
    stops it with one line and the usual status (a subprocess: the CLI's start-up and signals are the subject)."""
    import sys

    from _children import child

    root = Path(__file__).resolve().parents[1]
    args = [sys.executable, "-m", "cli", "serve", "--model", str(model_dir), "--port", "0"]
    with child(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        ready = select.select([server.stdout], [], [], 60)[0]
        assert ready, "no URL printed within 60 s"
        line = server.stdout.readline()
        assert line.startswith("serving tfidf-lr model at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        assert json.loads(get(url + "api/recommend?text=latte")[1])["tags"][0]["tag"] == "coffee"
        server.send_signal(stop)
        out, err = server.communicate(timeout=30)
    assert server.returncode == status
    assert err == f"{word}\n" and out == ""

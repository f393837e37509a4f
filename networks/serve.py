"""``scpo serve``: a local web page over a saved :class:`~networks.recommender.HashtagRecommender`.

A person types a tweet and sees the recommended tags with their scores and the cleaned text the model read
(``features.prepare_text`` with the model's ``leakage``), as the TagFinder report's demo showed. Standard
library only (``http.server``): no web framework to install for a demo. ``GET /`` is the form; the form
submits by GET (``/?text=...&k=...``) so a result is a link; ``POST /`` (form-encoded) answers the same;
``GET /api/recommend?text=...&k=3`` answers JSON for scripts. Everything echoed is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from features.text import prepare_text

MAX_BODY = 64 * 1024  # a POSTed form larger than this is refused (a tweet is far shorter)
MAX_K = 50

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scpo hashtags</title>
<style>body{{font-family:sans-serif;max-width:42em;margin:2em auto}}textarea{{width:100%}}
table{{border-collapse:collapse}}td,th{{padding:.2em .8em;text-align:left}}</style></head>
<body><h1>Hashtags for a tweet</h1>
<p>Model: <code>{model}</code> ({n_tags} tags). Scores: {score_note}</p>
<form method="get" action="/">
<textarea id="text" name="text" rows="4" maxlength="2000">{text}</textarea><br>
<label>tags shown <input id="k" name="k" type="number" min="1" max="{max_k}" value="{k}"></label>
<button id="go" type="submit">Recommend</button>
</form>
{result}
</body></html>
"""

SCORE_NOTES = {
    "frequency": "each tag's share of the training tweets (the same for every tweet).",
    "tfidf-lr": "one logistic regression per tag: each is that tag's own probability (they need not sum to 1).",
}


def _result_html(text: str, cleaned: str, pairs: list[tuple[str, float]], error: str | None) -> str:
    if error is not None:
        return f'<p id="error">{html.escape(error)}</p>'
    rows = "".join(f'<tr><td class="tag">#{html.escape(t)}</td><td class="score">{s:.3f}</td></tr>'
                   for t, s in pairs)
    return (f'<h2>Tags</h2><table id="tags"><tr><th>tag</th><th>score</th></tr>{rows}</table>'
            f'<h2>What the model read</h2><p><code id="cleaned">{html.escape(cleaned)}</code></p>'
            f'<p>Your tweet: <code id="original">{html.escape(text)}</code></p>')


def make_server(recommender, host: str = "127.0.0.1", port: int = 8000, k: int = 5,
                model_name: str = "") -> ThreadingHTTPServer:
    """Bind (``port`` 0: any free port; ``server.server_address`` says which) and return the server,
    not yet serving: ``serve_forever()`` runs it, ``shutdown()`` from another thread stops it.
    Raises ``OSError`` when the address is taken."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer in 1..{MAX_K}, got {k!r}")
    lock = threading.Lock()  # one prediction at a time: the model's objects are not promised thread-safe
    default_k = k

    def recommend(text: str, k_text: str | None) -> tuple[str, list[tuple[str, float]], int]:
        try:
            k = default_k if k_text in (None, "") else int(k_text)
        except ValueError:
            raise ValueError(f"k must be an integer in 1..{MAX_K}, got {k_text!r}") from None
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be an integer in 1..{MAX_K}, got {k}")
        cleaned = prepare_text(text, recommender.leakage)
        with lock:
            pairs = recommender.recommend([text], k, with_scores=True)[0]
        return cleaned, pairs, k

    class Handler(BaseHTTPRequestHandler):
        server_version = "scpo-serve"

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature; quiet: no line per request
            pass

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(data)

        def _page(self, query: dict[str, list[str]]) -> None:
            text = query.get("text", [""])[0]
            k_text = query.get("k", [None])[0]
            result, status, shown_k = "", HTTPStatus.OK, default_k
            if text.strip():
                try:
                    cleaned, pairs, shown_k = recommend(text, k_text)
                    result = _result_html(text, cleaned, pairs, None)
                except ValueError as exc:
                    result, status = _result_html(text, "", [], str(exc)), HTTPStatus.BAD_REQUEST
            body = PAGE.format(model=html.escape(model_name or recommender.model), n_tags=len(recommender.classes_),
                               score_note=html.escape(SCORE_NOTES.get(recommender.model, "see the README.")),
                               text=html.escape(text), k=shown_k, max_k=MAX_K, result=result)
            self._send(status, body, "text/html")

        def _api(self, query: dict[str, list[str]]) -> None:
            text = query.get("text", [None])[0]
            if text is None:
                self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": "give text=..."}), "application/json")
                return
            try:
                cleaned, pairs, _ = recommend(text, query.get("k", [None])[0])
            except ValueError as exc:
                self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}), "application/json")
                return
            body = {"text": text, "cleaned": cleaned, "model": recommender.model,
                    "tags": [{"tag": t, "score": round(s, 6)} for t, s in pairs]}
            self._send(HTTPStatus.OK, json.dumps(body, ensure_ascii=False), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            if url.path == "/":
                self._page(query)
            elif url.path == "/api/recommend":
                self._api(query)
            else:
                self._send(HTTPStatus.NOT_FOUND, "not found\n", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if url.path not in ("/", "/api/recommend") or not 0 <= length <= MAX_BODY:
                self._send(HTTPStatus.BAD_REQUEST, "bad request\n", "text/plain")
                return
            query = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
            (self._page if url.path == "/" else self._api)(query)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    """The address to open in a browser."""
    host, port = server.server_address[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

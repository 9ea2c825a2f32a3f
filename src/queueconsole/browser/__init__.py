"""``queueconsole serve``: the console in a browser, behind the HTTP API's tokens.

textual-serve runs one console process per browser tab and relays its screen
over a WebSocket to xterm.js. This package puts a token check in front of every
page and socket (:mod:`.access`, reusing :func:`queueconsole.api.auth.verify`),
remembers a browser by a session cookie (:mod:`.sessions`), and starts each
console as an attached, possibly read-only child with the server's settings in
its environment (:mod:`.child`). The server process itself never imports Textual.
"""

"""The Management Console in the browser: server-rendered pages (Jinja2) with htmx on top.

Why server-rendered rather than a single-page app: every page works as plain HTML forms (no JS
needed to log in, create or delete anything), escaping is Jinja's autoescape everywhere instead
of something each component must remember, there is no front-end build step (the few packages,
htmx + idiomorph for live updates and xterm.js for the terminal, come from npm at set-up time and
are served as they are), and the pages read the same REST API as the CLI and the SDK (called
in-process, `client.py`), so authorization and validation live in one place. JavaScript only
enhances: live workspace status, port lists, and the terminal, which needs it.
"""

"""bark-clone serve: the HTTP API and its page, on top of every capability below it.

- ``app``: the routes (one module-level router) and ``create_app``; ``web/`` holds the page.
- ``jobs``: what the worker threads run (make a speaker, preview, speak, search).
- ``service``: models loaded once, the bounded job queue, in-flight sharing, searches and their cancelling.
- ``speakers``: the speakers folder (safe names, whole pairs, repair after a crash).
- ``cache``: answers on disk, bounded by everything they hold.
- ``guard``: token and body limits before a byte of the body is read; loopback checks.
"""

"""bark-clone serve: the HTTP API and its page, on top of every capability below it.

- ``app``: the routes (one module-level router) and ``create_app``; ``web/`` holds the page.
- ``jobs``: what the worker threads run (make a speaker, preview, speak, search).
- ``service``: the configuration, the bounded job queue, in-flight sharing, searches and their cancelling.
- ``hub``: the models, each loaded once when first needed, and the speaking session every job shares.
- ``speakers``: the speakers folder (safe names, whole pairs, repair after a crash).
- ``cache``: answers on disk, bounded by everything they hold.
- ``guard``: token and body limits before a byte of the body is read; loopback checks; OpenAI's error shape.
- ``speaking``: /speak (one speaker's text or a script), whole or streamed, in any output format.
- ``openai_api``: OpenAI's audio routes: speech, voice consents, voices, models.
- ``consents``: the consent recordings OpenAI's voice routes keep, and their checks.
- ``uploads``: uploads received in bounded chunks into the process's own folder.
- ``batcher``: one Bark batch for every client: rows of all jobs gathered into each generation.
- ``queueing``: the bounded job queue and in-flight sharing of identical requests.
- ``searches``: searches' status shared between processes (status files beside the speakers).
- ``ray_serve``: replicas of the application on Ray Serve, searches as detached actors.
"""

"""The same application on Ray Serve: a deployment whose ingress is our FastAPI app (every route, the page, OpenAI's
API), built on each replica over that replica's own Bark, models and batcher (``num_gpus`` per replica on GPUs),
with Ray's HTTP proxy in front. Replicas share one speakers folder (a network filesystem across machines): its
writes are atomic and a speaker is written by one process at a time (``SpeakerFolder.writing``); WAV caches, uploads
and searches are per replica. Ray is an optional extra (``pip install bark-clone[ray]``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..options import BarkOptions, ModelSources, Sampling
from .service import ServiceConfig

REPLICA_HEADER = b"x-replica"  # which replica answered: load balancing is visible to clients and tests


class ReplicaLabel:
    """ASGI middleware adding the replica's id to every response."""

    def __init__(self, app, label: str) -> None:
        self.app, self.label = app, label.encode()

    async def __call__(self, scope, receive, send) -> None:
        async def labelled(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (REPLICA_HEADER, self.label)]}
            await send(message)

        await self.app(scope, receive, labelled if scope["type"] == "http" else send)


def settings_of(config: ServiceConfig) -> dict[str, Any]:
    """The configuration as plain values, to travel to the replicas."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in dataclasses.asdict(config).items()}


def replica_app(settings: dict[str, Any]):
    """Run on each replica when it starts: our application over a configuration from ``settings``."""
    from ray import serve

    from .app import create_app

    app = create_app(config_from(settings))
    app.add_middleware(ReplicaLabel, label=serve.get_replica_context().replica_id.unique_id)
    app.state.service.search_runner = RaySearchRunner(settings)
    return app


NESTED = {"bark": BarkOptions, "sampling": Sampling, "models": ModelSources}  # ServiceConfig's option objects


def config_from(settings: dict[str, Any]) -> ServiceConfig:
    return ServiceConfig(**{**settings, "speakers": Path(settings["speakers"]),
                            **{name: kind(**settings[name]) for name, kind in NESTED.items()}})


def flat_settings() -> dict[str, tuple[str | None, str]]:
    """``serve run``'s setting names: ServiceConfig's own fields, and its option objects' fields by their own
    names (``bark`` is the Bark's source, as on the command line): name -> (option object or None, field)."""
    names: dict[str, tuple[str | None, str]] = {field.name: (None, field.name)
                                                for field in dataclasses.fields(ServiceConfig)
                                                if field.name not in NESTED}
    for outer, kind in NESTED.items():
        for field in dataclasses.fields(kind):
            names["bark" if (outer, field.name) == ("bark", "source") else field.name] = (outer, field.name)
    return names


def setting_value(default: Any, text: str) -> Any:
    """A ``serve run`` argument read as its setting's type (a setting that is None by default is a number)."""
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    if isinstance(default, (int, float)):
        return type(default)(text)
    return float(text) if default is None else text


SEARCH_NAMESPACE = "bark-clone-searches"


class RaySearchRunner:
    """Runs each voice search in a detached Ray actor of its own (not inside a replica that may be scaled down or
    killed): ``runner(name, recording, client_name, minutes)`` starts one, ``alive(name)`` says whether it still
    runs. Its progress goes to the shared status file (``searches``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def __call__(self, name: str, recording: Path, client_name: str, minutes: float) -> None:
        # everything travels with the actor's creation, which Ray's control store owns: a replica killed right
        # after this call loses no search (a method call queued by it would die with it)
        import shutil

        import ray

        from .searches import status_path

        # handed over beside the status file: a replica's start-up repair never touches it (it would remove the
        # search folder of this replica if it died before the actor took the recording)
        handover = status_path(Path(self.settings["speakers"]), name).with_suffix(Path(recording).suffix or ".audio")
        shutil.move(str(recording), handover)
        shutil.rmtree(Path(recording).parent, ignore_errors=True)
        worker = ray.remote(num_cpus=0)(SearchWorker).options(name=f"search-{name}", namespace=SEARCH_NAMESPACE,
                                                               lifetime="detached", max_restarts=0)
        worker.remote(self.settings, name, str(handover), client_name, minutes)

    def alive(self, name: str) -> bool:
        import ray

        try:
            ray.get_actor(f"search-{name}", namespace=SEARCH_NAMESPACE)
        except ValueError:
            return False
        return True


class SearchWorker:
    """The actor a search runs in, from its creation: a service of its own over the shared speakers folder (its
    models load there), the recording moved into the actor's own private folder first (a replica's start-up repair
    keeps the folders of live processes only), stopped by the marker ``DELETE`` writes; the actor ends itself when
    the search ends."""

    def __init__(self, settings: dict[str, Any], name: str, recording: str, client_name: str, minutes: float) -> None:
        import threading

        from .service import Service

        self.service = Service(config_from(settings))
        threading.Thread(target=self.run, args=(name, recording, client_name, minutes), daemon=True).start()

    def run(self, name: str, recording: str, client_name: str, minutes: float) -> None:
        import shutil
        import threading

        import ray

        from .jobs import search_job
        from .searches import SharedStatus, read_status, status_path, watch_for_stop

        root = self.service.config.speakers
        source = Path(recording)
        kept = self.service.speakers.search_folder(name) / source.name
        status = SharedStatus(status_path(root, name), read_status(root, name) or {"status": "searching"})
        stop, done = threading.Event(), threading.Event()
        try:
            shutil.move(str(source), kept)
            watch_for_stop(root, name, stop, done)
            search_job(self.service, name, kept, client_name, minutes, status, stop)
        except Exception as error:  # noqa: BLE001 - said in the status every replica reads
            if status.get("status") == "searching":
                status.update(status="ready", error=f"the search stopped: {type(error).__name__}")
        finally:
            done.set()
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


class BarkCloneReplica:
    """The deployment's class: the ASGI application ``replica_app`` builds is its ingress."""


def application(config: ServiceConfig, replicas: int = 1, num_gpus: float = 0.0,
                autoscaling: dict[str, Any] | None = None):
    """The Ray Serve application: ``replicas`` copies (or ``autoscaling``, Ray's autoscaling_config, passed
    through), each reserving ``num_gpus``."""
    from ray import serve

    settings = settings_of(config)
    ingress = serve.ingress(lambda: replica_app(settings))(BarkCloneReplica)
    scaling = {"autoscaling_config": autoscaling} if autoscaling else {"num_replicas": replicas}
    return serve.deployment(name="bark-clone", ray_actor_options={"num_gpus": num_gpus}, **scaling)(ingress).bind()


def build_app(args: dict[str, str]):
    """For ``serve run bark_clone.server.ray_serve:build_app speakers=/shared/speakers bark=suno/bark-small
    replicas=2``: ServiceConfig's fields as strings, plus ``replicas`` and ``num_gpus``."""
    names, defaults = flat_settings(), ServiceConfig()
    values: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {name: {} for name in NESTED}
    for key, text in args.items():
        if key in ("replicas", "num_gpus"):
            continue
        if key not in names:
            raise ValueError(f"{key} is not a bark-clone serve setting ({', '.join(names)})")
        outer, name = names[key]
        if outer is None:
            values[key] = Path(text) if key == "speakers" else setting_value(getattr(defaults, key), text)
        else:
            nested[outer][name] = setting_value(getattr(getattr(defaults, outer), name), text)
    config = ServiceConfig(**values, **{name: NESTED[name](**nested[name]) for name in NESTED})
    return application(config, int(args.get("replicas", 1)), float(args.get("num_gpus", 0)))


def run_on_ray(config: ServiceConfig, host: str, port: int, replicas: int, address: str | None,
               num_gpus: float = 0.0) -> None:
    """``bark-clone serve --ray``: connect to (or start) Ray, start Serve's proxy on ``host:port``, run the
    application until interrupted."""
    import ray
    from ray import serve

    ray.init(address=address, ignore_reinit_error=True)
    serve.start(http_options={"host": host, "port": port})
    serve.run(application(config, replicas, num_gpus), name="bark-clone", route_prefix="/", blocking=True)

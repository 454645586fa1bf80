"""The service on Ray Serve, on a local Ray instance (CPU, tiny models): two replicas behind Ray's proxy share the
speakers folder; requests spread over both; a speaker made through one is heard through the other; a replica
killed mid-run is replaced and its client gets an answer or a clear retryable error, never a hang. Without Ray the
plain server is what it was."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("ray", reason="the ray extra (scripts/test.sh installs it)")
pytestmark = pytest.mark.slow

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.service import ServiceConfig  # noqa: E402


@pytest.fixture(scope="module")
def ray_service(tiny, tmp_path_factory):
    import ray
    from ray import serve

    from bark_clone.server.ray_serve import application

    speakers = tmp_path_factory.mktemp("ray") / "speakers"
    config = ServiceConfig(speakers=speakers, bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                           models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                               quantizer=str(tiny["quantizer"])),
                           workers=2)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(application(config, replicas=2), name="bark-clone", route_prefix="/")
    try:
        yield f"http://127.0.0.1:{port}", speakers
    finally:
        serve.shutdown()
        ray.shutdown()


def spoken(base: str, text: str, name: str = "alice") -> httpx.Response:
    return httpx.get(f"{base}/speak/{name}", params={"text": text}, timeout=300)


def test_two_replicas_share_speakers_and_requests(ray_service, arctic):
    base, speakers = ray_service
    made = httpx.post(f"{base}/speakers", data={"name": "alice"}, files={"audio": ("a.wav", arctic.read_bytes())},
                      timeout=300)
    assert made.status_code == 201, made.text
    assert (speakers / "alice.npz").is_file()  # in the one shared folder
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: spoken(base, f"Hello number {n}."), range(16)))
    assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
    replicas = {answer.headers["x-replica"] for answer in answers}
    assert len(replicas) == 2, replicas  # each replica answered some, and each knew the speaker made through one
    page = httpx.get(base + "/", timeout=60)
    assert page.status_code == 200 and "bark-clone" in page.text
    assert httpx.get(f"{base}/v1/models", timeout=60).status_code == 200  # OpenAI's routes too


def test_a_killed_replica_is_replaced_and_its_client_is_answered(ray_service, arctic):
    import ray
    from ray import serve

    base, _ = ray_service
    if spoken(base, "Warm up.").status_code == 404:
        httpx.post(f"{base}/speakers", data={"name": "alice"}, files={"audio": ("a.wav", arctic.read_bytes())},
                   timeout=300)
    long_text = " ".join(f"The keeper number {n} climbed the stairs and lit the lamp." for n in range(6))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(spoken, base, f"{long_text} Take {n}.") for n in range(4)]
        time.sleep(1.5)
        victim = next(actor for actor in ray.util.list_named_actors(all_namespaces=True)
                      if "SERVE_REPLICA" in actor["name"])
        ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
        outcomes = []
        for future in in_flight:
            try:
                outcomes.append(future.result(timeout=300).status_code)  # never a hang
            except httpx.HTTPError as error:  # a dropped connection: the client may retry
                outcomes.append(type(error).__name__)
    assert all(outcome == 200 or outcome in (500, 502, 503) or isinstance(outcome, str) for outcome in outcomes)
    deadline = time.time() + 120
    while time.time() < deadline:
        replicas = serve.status().applications["bark-clone"].deployments["bark-clone"].replica_states
        if replicas.get("RUNNING", 0) == 2:
            break
        time.sleep(1)
    assert replicas.get("RUNNING", 0) == 2, replicas  # Serve replaced it
    assert spoken(base, "After the replacement.").status_code == 200


def search_status(base: str, name: str) -> tuple[dict, str]:
    answer = httpx.get(f"{base}/speakers/{name}", timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["x-replica"]


def test_a_search_outlives_the_replica_that_started_it(ray_service, arctic):
    """The search runs in a Ray actor of its own: the replica that took the request is killed, and the search still
    ends, its progress readable from every replica, the speaker replaced by its result."""
    import ray

    base, _ = ray_service
    made = httpx.post(f"{base}/speakers", data={"name": "searched", "search_minutes": "0.2"},
                      files={"audio": ("a.wav", arctic.read_bytes())}, timeout=300)
    assert made.status_code == 201 and made.json()["status"] == "searching", made.text
    starter = made.headers["x-replica"]
    replica = next(actor for actor in ray.util.list_named_actors(all_namespaces=True)
                   if "SERVE_REPLICA" in actor["name"] and actor["name"].endswith(starter))
    ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]), no_restart=True)
    seen, deadline = set(), time.time() + 240
    while time.time() < deadline:
        try:
            document, answered_by = search_status(base, "searched")
        except httpx.HTTPError:  # the proxy noticing the dead replica
            time.sleep(1)
            continue
        seen.add(document["status"])
        if document["status"] != "searching":
            break
        time.sleep(1)
    # the search ran to its own end in its actor: random Bark's silence leaves no candidate to score, which the
    # search says itself (never "the process running it ended", which a search lost with its replica would say)
    outcome = document["search"].get("error", "")
    assert document["status"] == "ready" and outcome.startswith("the search stopped: no candidate could be scored")
    assert "searching" in seen and answered_by != starter
    assert not ray.util.list_named_actors(all_namespaces=True) or not any(
        actor["name"] == "search-searched" for actor in ray.util.list_named_actors(all_namespaces=True))


def test_a_search_whose_actor_dies_is_reported_failed(ray_service, arctic):
    import ray

    base, _ = ray_service
    made = httpx.post(f"{base}/speakers", data={"name": "doomed", "search_minutes": "30"},
                      files={"audio": ("a.wav", arctic.read_bytes())}, timeout=300)
    assert made.status_code == 201, made.text
    ray.kill(ray.get_actor("search-doomed", namespace="bark-clone-searches"))
    deadline = time.time() + 60
    while time.time() < deadline:
        document, _ = search_status(base, "doomed")
        if document["status"] != "searching":
            break
        time.sleep(0.5)
    assert document["status"] == "ready" and "process running it ended" in document["search"]["error"]
    assert httpx.delete(f"{base}/speakers/doomed", timeout=60).status_code == 204


def test_one_speaker_is_written_by_one_process_at_a_time(tmp_path):
    """A process holding a speaker's lock (another replica writing it): this one answers 409, never writes too."""
    from bark_clone.errors import ApiError
    from bark_clone.server.speakers import SpeakerFolder

    folder = SpeakerFolder(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); time.sleep(30)"), str(tmp_path / ".locks" / "alice.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ApiError) as refused:
            with folder.writing("alice"):
                pass
        assert refused.value.status == 409 and "another request" in refused.value.message
    finally:
        holder.kill()
        holder.wait()
    with folder.writing("alice"):  # free again once the other process let go
        pass


def test_without_ray_the_plain_server_is_unchanged(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from bark_clone.server.app import create_app\n"
            "from bark_clone.server.service import ServiceConfig\n"
            f"app = create_app(ServiceConfig(speakers=__import__('pathlib').Path({str(tmp_path)!r})))\n"
            "assert 'ray' not in [name.split('.')[0] for name in sys.modules if sys.modules[name] is not None]\n"
            "print(sorted(app.openapi()['paths'])[:2])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    refused = subprocess.run([sys.executable, "-c", "import sys; sys.modules['ray'] = None; "
                              "from bark_clone.cli.main import main; sys.argv = ['bark-clone', 'serve', '--ray']; "
                              "main()"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "--ray needs Ray Serve" in refused.stderr, refused.stderr

#!/usr/bin/env python3
"""Checks a built modgate image the way deploy/README.md tells people to run it.

Run through deploy/smoke-test, which builds the image and provides the grpcio virtualenv:

1. the image runs as an unprivileged user and carries a health check;
2. without a configuration it refuses to listen beyond loopback and says why (exit 2);
3. with one: a read-only root filesystem, state on a volume, `modgate health` and the
   image's HEALTHCHECK report SERVING, API keys are enforced, decisions come back,
   metrics are served, `stop` drains and exits 0 well within the grace period, and a new
   container on the same volume still has the held comment;
4. two containers sharing one Redis enforce one rate limit and see each other's decisions.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from client_test import check, comment_request, load_stubs  # noqa: E402

API_KEY = "smoke-test-key-0123456789"
MODERATOR_TOKEN = "smoke-test-moderator-0123456789"
CONFIG = f"""
[sites.default]
api_keys = ["{API_KEY}"]
suspect_terms = ["bầu cử"]
rate_limits = [{{ key = "ip", rate = "1/minute", burst = 1 }}]

[[moderators]]
name = "lan"
token = "{MODERATOR_TOKEN}"
"""
UNPRIVILEGED = "65532:65532"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    def __init__(self, name: str, image: str, run_id: str):
        self.name, self.image, self.run_id = name, image, run_id
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def __call__(self, *args: str, check_rc: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([self.name, *args], capture_output=True, text=True, timeout=timeout)
        if check_rc and result.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
        return result

    def volume(self, label: str) -> str:
        name = f"modgate-smoke-{self.run_id}-{label}"
        self("volume", "create", name)
        self.volumes.append(name)
        return name

    def start(self, label: str, env: dict[str, str], mounts: list[str], extra: tuple[str, ...] = ()) -> str:
        name = f"modgate-smoke-{self.run_id}-{label}"
        args = ["run", "-d", "--name", name, "--network", "host", "--read-only", *extra]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        for mount in mounts:
            args += ["-v", mount]
        self(*args, self.image)
        self.containers.append(name)
        return name

    def wait_serving(self, container: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self("exec", container, "/usr/local/bin/modgate", "health", check_rc=False)
            if result.returncode == 0 and result.stdout.strip() == "SERVING":
                return
            time.sleep(0.3)
        logs = self("logs", container, check_rc=False)
        raise AssertionError(f"{container} did not report SERVING within {timeout}s\n{logs.stderr}{logs.stdout}")

    def cleanup(self) -> None:
        for container in self.containers:
            self("rm", "-f", container, check_rc=False)
        for volume in self.volumes:
            self("volume", "rm", "-f", volume, check_rc=False)


def image_facts(engine: Engine) -> None:
    [facts] = json.loads(engine("image", "inspect", engine.image).stdout)
    config = facts.get("Config", {})
    check(config.get("User") == UNPRIVILEGED, f"the image runs as {UNPRIVILEGED}, not root")
    # Docker keeps it under Config, podman beside it.
    healthcheck = config.get("Healthcheck") or facts.get("Healthcheck") or {}
    check("health" in " ".join(healthcheck.get("Test", [])), "the image carries a HEALTHCHECK calling `modgate health`")
    check(
        {"50051/tcp", "9090/tcp"} <= set(config.get("ExposedPorts", {})),
        "it exposes the gRPC and metrics ports",
    )


def refuses_without_keys(engine: Engine) -> None:
    result = engine("run", "--rm", "--network", "host", engine.image, check_rc=False, timeout=60)
    check(result.returncode == 2, "without a configuration the container exits 2")
    check("api_keys" in result.stderr and "0.0.0.0" in result.stderr, "and says that listening on 0.0.0.0 needs API keys")


def embedded_state(engine: Engine, pb, rpc, config_file: Path) -> None:
    data = engine.volume("data")
    grpc_port, metrics_port = free_port(), free_port()
    # A wildcard address, as in the image: modgate's checks for keys and tokens apply.
    env = {
        "MODGATE_CONFIG": "/etc/modgate/modgate.toml",
        "MODGATE_LISTEN": f"0.0.0.0:{grpc_port}",
        "MODGATE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
    }
    mounts = [f"{config_file}:/etc/modgate/modgate.toml:ro", f"{data}:/var/lib/modgate"]
    first = engine.start("first", env, mounts)
    engine.wait_serving(first)
    check(True, "`modgate health` in the container reports SERVING")
    if engine.name == "podman":
        result = engine("healthcheck", "run", first, check_rc=False)
        check(result.returncode == 0, "the image's HEALTHCHECK passes")

    auth = (("authorization", f"Bearer {API_KEY}"),)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = rpc.ModerationStub(channel)

        def request(comment_id: str, text: str, ip: str) -> "pb.ModerateRequest":
            return comment_request(pb, comment_id, text, ip)

        try:
            stub.Moderate(request("c-0", "Bài viết hay", "203.0.113.1"), timeout=10)
            check(False, "a call without the API key is refused")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.UNAUTHENTICATED, "a call without the API key is UNAUTHENTICATED")

        clean = stub.Moderate(request("c-1", "Đội tuyển chơi quá hay, chúc mừng", "203.0.113.1"), metadata=auth, timeout=10)
        check(clean.action == pb.APPROVE, "a clean comment is approved")
        spam = stub.Moderate(
            request("c-2", "Vay tiền nhanh không thế chấp, giải ngân trong ngày, liên hệ zalo 0912 345 678", "203.0.113.2"),
            metadata=auth,
            timeout=10,
        )
        check(spam.action == pb.REJECT and pb.SPAM in [r.code for r in spam.reasons], "a loan ad is rejected as SPAM")
        held = stub.Moderate(
            request("c-3", "Tôi nghĩ cuộc bầu cử này rất quan trọng", "203.0.113.3"), metadata=auth, timeout=10
        )
        check(held.action == pb.HOLD, "a comment with a suspect term is held")

    queue = engine(
        "exec", "-e", f"MODGATE_TOKEN={MODERATOR_TOKEN}", first,
        "/usr/local/bin/modgate", "queue", "--server", f"127.0.0.1:{grpc_port}", "list", "--json",
    )
    listed = json.loads(queue.stdout)
    check(
        [item.get("comment_id") for item in listed] == ["c-3"],
        "a moderator with a token lists the held comment from inside the container",
    )
    refused = engine(
        "exec", first, "/usr/local/bin/modgate", "queue", "--server", f"127.0.0.1:{grpc_port}", "list",
        check_rc=False,
    )
    check(refused.returncode == 2 and "Unauthenticated" in refused.stderr, "and without a token is refused")

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        body = response.read().decode()
    check('modgate_decisions_total{site="default",action="hold"} 1' in body, "metrics count the decisions")

    started = time.monotonic()
    engine("stop", "-t", "30", first, timeout=60)
    stopped_in = time.monotonic() - started
    state = json.loads(engine("inspect", first).stdout)[0]["State"]
    check(state.get("ExitCode") == 0, "`stop` ends the server with exit 0")
    check(stopped_in < 12, f"within modgate's own 10 s grace, not the engine's kill ({stopped_in:.1f} s)")

    second = engine.start("second", env, mounts)
    engine.wait_serving(second)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = rpc.ModerationStub(channel)
        stored = stub.GetDecision(pb.GetDecisionRequest(site_id="default", comment_id="c-3"), metadata=auth, timeout=10)
    check(
        stored.action == pb.HOLD and stored.moderation_id == held.moderation_id,
        "a new container on the same volume still has the held comment",
    )
    engine("rm", "-f", second)


def shared_redis(engine: Engine, pb, rpc, config_file: Path, workdir: Path) -> None:
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ports = []
        for label in ("replica-a", "replica-b"):
            port = free_port()
            env = {
                "MODGATE_CONFIG": "/etc/modgate/modgate.toml",
                "MODGATE_LISTEN": f"127.0.0.1:{port}",
                "MODGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
                "MODGATE_REDIS_URL": f"redis://127.0.0.1:{redis_port}",
            }
            mounts = [f"{config_file}:/etc/modgate/modgate.toml:ro", f"{engine.volume(label)}:/var/lib/modgate"]
            engine.wait_serving(engine.start(label, env, mounts))
            ports.append(port)
        check(True, "two containers start on one Redis")

        auth = (("authorization", f"Bearer {API_KEY}"),)
        answers = []
        for n, port in enumerate(ports):
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = rpc.ModerationStub(channel)
                answers.append(
                    stub.Moderate(
                        comment_request(
                            pb, f"r-{n}", f"Ý kiến thứ {n} của tôi về bài viết", "198.51.100.7", thread_id="bai-viet-2"
                        ),
                        metadata=auth,
                        timeout=10,
                    )
                )
        check(answers[0].action == pb.APPROVE, "the first comment from an address is approved by replica A")
        check(
            pb.RATE_LIMITED in [r.code for r in answers[1].reasons],
            "the second, sent to replica B, meets the same limit (burst 1)",
        )
        with grpc.insecure_channel(f"127.0.0.1:{ports[1]}") as channel:
            stored = rpc.ModerationStub(channel).GetDecision(
                pb.GetDecisionRequest(site_id="default", comment_id="r-0"), metadata=auth, timeout=10
            )
        check(stored.moderation_id == answers[0].moderation_id, "replica B returns replica A's decision")
    finally:
        redis.terminate()
        redis.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="podman")
    parser.add_argument("--image", default="localhost/modgate:smoke")
    args = parser.parse_args()
    for tool in (args.engine, "redis-server"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing", file=sys.stderr)
            return 2

    engine = Engine(args.engine, args.image, str(os.getpid()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pb, rpc = load_stubs(tmp)

        config_file = tmp / "modgate.toml"
        config_file.write_text(CONFIG, encoding="utf-8")
        # The container's user must be able to read the mounted file.
        config_file.chmod(0o644)
        tmp.chmod(0o755)
        try:
            image_facts(engine)
            refuses_without_keys(engine)
            embedded_state(engine, pb, rpc, config_file)
            shared_redis(engine, pb, rpc, config_file, tmp)
        finally:
            engine.cleanup()
    print("container smoke test: the image behaved")
    return 0


if __name__ == "__main__":
    sys.exit(main())

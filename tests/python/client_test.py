#!/usr/bin/env python3
"""A client in another language: Python grpcio stubs generated from proto/ at test time,
talking to the real `modgate serve` binary.

Run by scripts/test (which creates the virtualenv); by hand:
    tests/python/run        # needs target/debug/modgate (cargo build), or MODGATE_BIN
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]
# The debug binary `cargo test` built: under CARGO_TARGET_DIR when it is set (cargo reads a
# relative one from the directory it runs in, the repository root in scripts/test).
TARGET_DIR = REPO / os.environ.get("CARGO_TARGET_DIR", "target")
BINARY = Path(os.environ.get("MODGATE_BIN", TARGET_DIR / "debug" / "modgate"))


def generate_stubs(out: Path) -> None:
    """Compile the proto files with grpcio-tools' bundled protoc (it ships the
    google/protobuf well-known types too)."""
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto"))
    args = ["protoc", f"-I{REPO / 'proto'}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on proto/")


def load_stubs(tmp: Path):
    """Generates the stubs under `tmp` and imports them: (messages module, service module)."""
    stubs = tmp / "stubs"
    stubs.mkdir()
    generate_stubs(stubs)
    sys.path.insert(0, str(stubs))
    from modgate.v1 import moderation_pb2, moderation_pb2_grpc

    return moderation_pb2, moderation_pb2_grpc


CONFIG = """
[sites.default]
banned_terms = ["nhà cái"]
rate_limits = [{ key = "ip", rate = "1/minute", burst = 3 }]
"""


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    config = data_dir.parent / "modgate.toml"
    config.write_text(CONFIG, encoding="utf-8")
    proc = subprocess.Popen(
        [str(BINARY), "serve", "--config", str(config), "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    for line in proc.stdout:
        if line.startswith("modgate: serving gRPC on "):
            return proc, line.split(" on ", 1)[1].strip()
    raise SystemExit("modgate serve exited before listening")


def comment_request(pb, comment_id: str, text: str, ip: str, thread_id: str = "bai-viet-1", **extra):
    """A Moderate request for site "default" from reader Lan (also used by
    deploy/smoke_test.py)."""
    return pb.ModerateRequest(
        site_id="default",
        comment_id=comment_id,
        thread_id=thread_id,
        text=text,
        author=pb.Author(name="Lan", email=f"{comment_id}@example.vn"),
        client=pb.Client(ip=ip, user_agent="python-test"),
        **extra,
    )


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
    print(f"ok   {message}")


def main() -> int:
    if not BINARY.exists():
        print(f"{BINARY} is missing: run `cargo build` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pb, rpc = load_stubs(tmp)

        proc, addr = start_server(tmp / "data")
        try:
            with grpc.insecure_channel(addr) as channel:
                stub = rpc.ModerationStub(channel)

                # Each comment comes from its own address unless a test says otherwise, so
                # the per-IP limit (3 at once) only bites where it is meant to.
                addresses = iter(range(1, 250))

                def request(comment_id: str, text: str, ip: str = "", **extra) -> "pb.ModerateRequest":
                    return comment_request(pb, comment_id, text, ip or f"203.0.113.{next(addresses)}", **extra)

                clean = stub.Moderate(request("py-1", "Đội tuyển chơi quá hay, chúc mừng chiến thắng"), timeout=10)
                check(clean.action == pb.APPROVE, "a clean comment is approved")
                check(len(clean.moderation_id) > 0, "the decision has a moderation id")

                spam = stub.Moderate(
                    request("py-2", "Vay tiền nhanh không thế chấp, giải ngân trong ngày, liên hệ zalo 0912 345 678"),
                    timeout=10,
                )
                check(spam.action in (pb.HOLD, pb.REJECT), "a loan ad is held or rejected")
                check(pb.SPAM in [r.code for r in spam.reasons], "with the SPAM reason")

                again = stub.Moderate(
                    request("py-2", "Vay tiền nhanh không thế chấp, giải ngân trong ngày, liên hệ zalo 0912 345 678"),
                    timeout=10,
                )
                check(again.moderation_id == spam.moderation_id, "a resubmission gets the same decision")

                stored = stub.GetDecision(pb.GetDecisionRequest(site_id="default", comment_id="py-2"), timeout=10)
                check(stored.action == spam.action, "GetDecision returns the stored decision")

                abusive = stub.Moderate(request("py-4", "đm thằng óc chó ngu như bò, cút đi"), timeout=10)
                check(abusive.action in (pb.HOLD, pb.REJECT), "an abusive comment is held or rejected")
                check(
                    {pb.ABUSE, pb.HATE} & {r.code for r in abusive.reasons},
                    "with the ABUSE or HATE reason",
                )

                banned = stub.Moderate(request("py-5", "vào n.h.a c.a.i này chơi thử đi anh em"), timeout=10)
                check(banned.action == pb.REJECT, "a banned term in disguise is rejected")
                check(pb.BLOCKED_TERM in [r.code for r in banned.reasons], "with BLOCKED_TERM")

                burst = [
                    stub.Moderate(request(f"py-burst-{n}", f"Ý kiến thứ {n} của tôi về bài viết", ip="198.51.100.9"), timeout=10)
                    for n in range(4)
                ]
                limited = burst[-1]
                check(all(r.action == pb.APPROVE for r in burst[:3]), "a burst within the limit passes")
                check(pb.RATE_LIMITED in [r.code for r in limited.reasons], "the next comment is RATE_LIMITED")
                check(limited.retry_after.seconds > 0 or limited.retry_after.nanos > 0, "with retry_after")

                try:
                    stub.Moderate(request("py-3", "   "), timeout=10)
                    check(False, "an empty comment is refused")
                except grpc.RpcError as error:
                    check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "an empty comment is INVALID_ARGUMENT")
                    check("text" in error.details(), "naming the field")

                try:
                    stub.GetDecision(pb.GetDecisionRequest(site_id="default", comment_id="never-sent"), timeout=10)
                    check(False, "an unknown comment is NOT_FOUND")
                except grpc.RpcError as error:
                    check(error.code() == grpc.StatusCode.NOT_FOUND, "an unknown comment is NOT_FOUND")
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print("python client: all calls behaved")
    return 0


if __name__ == "__main__":
    sys.exit(main())

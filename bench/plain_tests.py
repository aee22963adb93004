"""Runs a test module's `test_*` functions without pytest, so the test command needs no
third-party Python packages: `plain_tests.run(globals())` under `if __name__ == "__main__"`.
"""

import stat
import subprocess
import sys
import tempfile
from pathlib import Path


def run(namespace: dict) -> None:
    tests = [(name, fn) for name, fn in sorted(namespace.items()) if name.startswith("test_") and callable(fn)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok   {name}")
        except AssertionError as exc:
            failed += 1
            print(f"FAIL {name}: {exc}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def fake_check_modgate(folder: Path, answer: str, exit_code: str = "0") -> Path:
    """An executable standing in for `modgate check --json -`: it reads the comment from
    standard input into `text`, prints `answer` and exits with `exit_code`, both Python
    expressions of it (`check` exits 1 when the comment would be held or rejected)."""
    fake = folder / "modgate"
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, sys\ntext = sys.stdin.read()\n"
        f"print(json.dumps({answer}))\nsys.exit({exit_code})\n",
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True)


def assert_names_a_missing_data_folder(script: str) -> None:
    """The script, pointed at an empty data folder, exits 2 naming it and ../shared/data."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_script(script, "--model", "m.model", "--data", tmp)
        assert result.returncode == 2
        assert tmp in result.stderr and "../shared/data" in result.stderr

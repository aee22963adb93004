"""Runs a test module's `test_*` functions without pytest, so the test command needs no
third-party Python packages: `plain_tests.run(globals())` under `if __name__ == "__main__"`.
"""

import sys


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

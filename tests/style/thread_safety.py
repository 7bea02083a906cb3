#!/usr/bin/env python3
"""Clang's thread-safety analysis over every source file of src/.

Compiles each file of BUILD_DIR/compile_commands.json under src/ with
clang++ -fsyntax-only -Wthread-safety -Werror (GCC builds the project; clang
only checks the lock annotations: ABSL_GUARDED_BY,
ABSL_EXCLUSIVE_LOCKS_REQUIRED and absl::Mutex's own). Fails on any warning.
Usage: thread_safety.py BUILD_DIR
"""
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys


def clang_args(entry):
    args = shlex.split(entry["command"])[1:]
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c" or a.startswith("-O") or a.startswith("-g") or a.startswith("-fsanitize"):
            continue
        out.append(a)
    return ["clang++", "-fsyntax-only", "-Wthread-safety", "-Wthread-safety-beta", "-Werror=thread-safety",
            "-Werror=thread-safety-beta", "-Wno-unknown-warning-option"] + out


def check(entry):
    r = subprocess.run(clang_args(entry), cwd=entry["directory"], capture_output=True, text=True)
    return entry["file"], r.returncode, r.stderr


def main():
    build = os.path.abspath(sys.argv[1])
    src = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))
    if shutil.which("clang++") is None:
        print("SKIP: clang++ is not installed (make deps installs it)")
        return 77
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    seen, todo = set(), []
    for e in entries:
        path = os.path.abspath(os.path.join(e["directory"], e["file"]))
        if path.startswith(src + os.sep) and path not in seen:
            seen.add(path)
            todo.append(e)
    bad = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, code, err in pool.map(check, todo):
            if code != 0 or "warning:" in err:
                bad += 1
                print(err, end="")
    print(f"thread-safety analysis: {len(todo)} files, {bad} with findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

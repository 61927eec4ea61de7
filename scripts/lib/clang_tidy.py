#!/usr/bin/env python3
"""clang-tidy over every C++ translation unit git tracks, for scripts/lint.

Usage: scripts/lib/clang_tidy.py [--jobs N] [--no-cache] BUILD_DIR [BUILD_DIR...]

Reads each build directory's compile_commands.json (CMake writes it) and runs
clang-tidy-14 with the repository's .clang-tidy on every source file git
tracks (generated protobuf code is not tracked, so it is not checked), N at a
time, with a progress line per file. Any finding fails (.clang-tidy sets
WarningsAsErrors: '*'); the findings are printed and the exit status is 1.

A clean result is remembered under ~/.cache/ovoflow/clang-tidy/ (or
$OVOFLOW_CACHE/clang-tidy/), keyed by the clang-tidy version, .clang-tidy, the
compile command and the contents of every file the unit includes (ninja's
dependency log of the last build), with the repository's path taken out so
that a fresh clone on the same machine hits the same entries. A unit whose
dependency log is missing or stale is always checked. A full run takes about
12 minutes on two cores (the unit that includes LibTorch alone about a
minute), which is why the cache exists.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time

TIDY = "clang-tidy-14"
# GCC-only warning flags of the build (-Wno-maybe-uninitialized) are unknown to clang.
EXTRA_ARGS = ["--extra-arg=-Wno-unknown-warning-option"]


def git_tracked(repo):
    out = subprocess.run(["git", "ls-files", "-z", "--", "*.cc", "*.cpp"], cwd=repo, check=True,
                         capture_output=True).stdout.decode()
    return {os.path.join(repo, f) for f in out.split("\0") if f}


def object_of(command):
    args = shlex.split(command)
    for i, a in enumerate(args):
        if a == "-o" and i + 1 < len(args):
            return args[i + 1]
    return None


def ninja_deps(build_dir):
    """Object path (relative to build_dir) -> list of absolute dependency paths, VALID entries only."""
    try:
        out = subprocess.run(["ninja", "-C", build_dir, "-t", "deps"], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    deps, current = {}, None
    for line in out.splitlines():
        if not line:
            current = None
        elif not line.startswith(" "):
            target, _, info = line.partition(": ")
            current = target if "(VALID)" in info else None
            if current:
                deps[current] = []
        elif current:
            deps[current].append(os.path.normpath(os.path.join(build_dir, line.strip())))
    return deps


class Hasher:
    def __init__(self):
        self.memo = {}

    def file(self, path):
        if path not in self.memo:
            try:
                with open(path, "rb") as f:
                    self.memo[path] = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                self.memo[path] = "missing"
        return self.memo[path]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("build_dirs", nargs="+")
    opts = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tracked = git_tracked(repo)
    cache_dir = os.path.join(os.environ.get("OVOFLOW_CACHE", os.path.expanduser("~/.cache/ovoflow")), "clang-tidy")
    os.makedirs(cache_dir, exist_ok=True)
    version = subprocess.run([TIDY, "--version"], check=True, capture_output=True, text=True).stdout
    with open(os.path.join(repo, ".clang-tidy"), "rb") as f:
        config = f.read()
    hasher = Hasher()

    units = []  # (build_dir, file, cache key or None)
    seen = set()
    for build_dir in opts.build_dirs:
        build_dir = os.path.abspath(build_dir)
        db = os.path.join(build_dir, "compile_commands.json")
        if not os.path.exists(db):
            print(f"clang-tidy: {db} is missing: build first (make build)", file=sys.stderr)
            return 2
        deps = ninja_deps(build_dir)
        with open(db) as f:
            for entry in json.load(f):
                path = os.path.normpath(entry["file"])
                # A file both builds compile is checked once, in the first.
                if path not in tracked or path in seen:
                    continue
                seen.add(path)
                key = None
                obj = object_of(entry["command"])
                if not opts.no_cache and obj in deps:
                    h = hashlib.sha256()
                    h.update(version.encode() + config)
                    h.update(entry["command"].replace(repo, "<repo>").encode())
                    # Sorted after the repository's path is taken out, so that
                    # every clone orders (and hashes) them alike.
                    for name, dep in sorted((d.replace(repo, "<repo>"), d) for d in deps[obj]):
                        h.update(name.encode() + hasher.file(dep).encode())
                    key = h.hexdigest()
                units.append((build_dir, path, key))

    def check(unit):
        build_dir, path, key = unit
        if key and os.path.exists(os.path.join(cache_dir, key)):
            return unit, True, 0, ""
        args = list(EXTRA_ARGS)
        with open(path, errors="replace") as f:
            if "#include <torch/" in f.read():
                # LibTorch 1.13's headers do not compile under clang 14 as C++20
                # (c10::IValue is incomplete where C++20's constexpr std::vector
                # destructor needs it); the unit compiles as C++17, so check it so.
                args.append("--extra-arg=-std=c++17")
        proc = subprocess.run([TIDY, "-p", build_dir, "--quiet", *args, path], capture_output=True, text=True)
        output = (proc.stdout + proc.stderr).strip()
        # "N warnings generated." and "Suppressed ..." are clang's chatter, not findings.
        lines = [l for l in output.splitlines() if not l.endswith("warnings generated.") and
                 not l.endswith("warning generated.") and not l.startswith("Suppressed ")]
        if proc.returncode == 0 and key:
            with open(os.path.join(cache_dir, key), "w") as f:
                f.write(path.replace(repo, "<repo>") + "\n")
        return unit, False, proc.returncode, "\n".join(lines)

    start = time.monotonic()
    failed, cached, done = [], 0, 0
    print(f"clang-tidy: {len(units)} translation units, {opts.jobs} at a time "
          f"(clean results cached in {cache_dir})", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        futures = [pool.submit(check, u) for u in units]
        for future in concurrent.futures.as_completed(futures):
            unit, from_cache, rc, output = future.result()
            done += 1
            cached += from_cache
            rel = os.path.relpath(unit[1], repo)
            if rc != 0:
                failed.append(rel)
                print(output, flush=True)
            state = "cached" if from_cache else ("FINDINGS" if rc else "clean")
            print(f"clang-tidy: [{done}/{len(units)}] {rel}: {state}", flush=True)
    secs = time.monotonic() - start
    print(f"clang-tidy: {len(units)} units in {secs:.0f} s ({cached} from the cache), "
          f"{len(failed)} with findings", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

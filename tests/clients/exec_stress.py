#!/usr/bin/env python3
"""Drives berthd (or dockerd) through docker-py and counts output that did not arrive.

Usage: exec_stress.py MODE RUNS
  DOCKER_HOST names the daemon; BERTH_TEST_IMAGE the image (default busybox).
  MODE exec     container.exec_run(cmd) on one running container, cycling through commands
                that exit at once, exit with a code, or exit a little after their output
  MODE exec-tty the same with tty=True (raw stream)
  MODE demux    exec_run(cmd, demux=True): stdout and stderr apart
  MODE run      client.containers.run(image, 'echo out', remove=True)
  MODE attach   a created container attached before its start (attach_socket, then start),
                read with docker-py's frame reader until the end of the stream

Prints one JSON line: {"mode", "runs", "lost" (runs whose output was not exactly the expected
one), "bytes_lost", "bad_exit" (wrong exit codes), "seconds", "first_failures"}.
"""

import json
import os
import sys
import time

import docker
from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

IMAGE = os.environ.get("BERTH_TEST_IMAGE", "busybox")
# No network: the streams are the point, and a veth per container only slows the runs.
NET = {"network_mode": "none"}

EXEC_CASES = [
    (["echo", "out"], b"out\n", 0),
    (["sh", "-c", "echo out; exit 3"], b"out\n", 3),
    (["sh", "-c", "echo out; sleep 0.05; exit 3"], b"out\n", 3),
    (["sh", "-c", "printf '%s' abcdefghijklmnopqrstuvwxyz0123456789; exit 1"],
     b"abcdefghijklmnopqrstuvwxyz0123456789", 1),
]


class Tally:
    def __init__(self, mode):
        self.mode = mode
        self.runs = 0
        self.lost = 0
        self.bytes_lost = 0
        self.bad_exit = 0
        self.failures = []

    def check(self, what, got, want, code=None, want_code=None):
        self.runs += 1
        if got != want:
            self.lost += 1
            self.bytes_lost += max(len(want) - len(got), 0) if want.startswith(got) else len(want)
            if len(self.failures) < 5:
                self.failures.append({"case": what, "got": got.decode("latin-1"),
                                      "want": want.decode("latin-1")})
        if want_code is not None and code != want_code:
            self.bad_exit += 1
            if len(self.failures) < 5:
                self.failures.append({"case": what, "exit": code, "want_exit": want_code})


def exec_mode(client, runs, tally, tty=False, demux=False):
    ctr = client.containers.run(IMAGE, ["sleep", "3600"], detach=True, **NET)
    try:
        for i in range(runs):
            if demux:
                cmd = ["sh", "-c", "echo err >&2; echo out; exit 2"]
                res = client.api.exec_create(ctr.id, cmd)
                out = client.api.exec_start(res["Id"], demux=True)
                code = client.api.exec_inspect(res["Id"])["ExitCode"]
                got = (out[0] or b"") + b"|" + (out[1] or b"")
                tally.check(" ".join(cmd), got, b"out\n|err\n", code, 2)
                continue
            cmd, want, want_code = EXEC_CASES[i % len(EXEC_CASES)]
            code, out = ctr.exec_run(cmd, tty=tty)
            if tty:
                want = want.replace(b"\n", b"\r\n")
            tally.check(" ".join(cmd), out, want, code, want_code)
    finally:
        ctr.remove(force=True)


def run_mode(client, runs, tally):
    for _ in range(runs):
        out = client.containers.run(IMAGE, ["echo", "out"], remove=True, **NET)
        tally.check("run echo out", out, b"out\n")


def attach_mode(client, runs, tally):
    for _ in range(runs):
        ctr = client.containers.create(IMAGE, ["sh", "-c", "echo out; echo err >&2"], **NET)
        try:
            sock = client.api.attach_socket(ctr.id, params={"stdout": 1, "stderr": 1, "stream": 1})
            ctr.start()
            frames = (demux_adaptor(*f) for f in frames_iter(sock, False))
            out = consume_socket_output(frames, demux=True)
            sock.close()
            code = ctr.wait()["StatusCode"]
            got = (out[0] or b"") + b"|" + (out[1] or b"")
            tally.check("attach then start", got, b"out\n|err\n", code, 0)
        finally:
            ctr.remove(force=True)


def main():
    mode, runs = sys.argv[1], int(sys.argv[2])
    client = docker.from_env(timeout=60)
    tally = Tally(mode)
    started = time.monotonic()
    if mode == "exec":
        exec_mode(client, runs, tally)
    elif mode == "exec-tty":
        exec_mode(client, runs, tally, tty=True)
    elif mode == "demux":
        exec_mode(client, runs, tally, demux=True)
    elif mode == "run":
        run_mode(client, runs, tally)
    elif mode == "attach":
        attach_mode(client, runs, tally)
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps({
        "mode": mode, "runs": tally.runs, "lost": tally.lost, "bytes_lost": tally.bytes_lost,
        "bad_exit": tally.bad_exit, "seconds": round(time.monotonic() - started, 2),
        "docker_py": docker.__version__, "first_failures": tally.failures,
    }))


if __name__ == "__main__":
    main()

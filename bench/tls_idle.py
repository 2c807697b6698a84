#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tls_idle.py: idle memory per stream over TLS (HTTP/1.1) and plain, the
# way bench/fanout measures it for plain streams: the server's VmRSS
# before the streams and once they are all open and idle, divided by the
# stream count. Starts BUILD/sserooms itself (release build) with an
# ECDSA P-256 certificate it makes with openssl, one warm-up stream first
# so the one-time costs (OpenSSL's tables, the first room) are not counted.
# Usage: bench/tls_idle.py BUILD_DIR [STREAMS] [tls|plain|both]
import asyncio
import os
import re
import resource
import ssl
import subprocess
import sys
import tempfile
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


async def open_stream(port, ctx, keep):
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    w.write(b"GET /sse?room=idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:40])
    keep.append((r, w))


async def measure(build, n, use_tls, certdir):
    args = [f"{build}/sserooms", "--port", "0", "--heartbeat-ms", "0",
            "--max-connections-per-addr", "0", "--threads", "1"]
    ctx = None
    if use_tls:
        args += ["--tls-cert", f"{certdir}/cert.pem", "--tls-key", f"{certdir}/key.pem"]
        ctx = ssl.create_default_context(cafile=f"{certdir}/cert.pem")
        ctx.set_alpn_protocols(["http/1.1"])
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(200):
            log.seek(0)
            m = re.search(rb"listening on https?://127\.0\.0\.1:(\d+)", log.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if not port:
            raise RuntimeError("server did not start")
        warm = []
        await open_stream(port, ctx, warm)
        await asyncio.sleep(0.5)
        before = rss_kb(proc.pid)
        keep = []
        sem = asyncio.Semaphore(64)  # handshakes in flight, as a crowd arrives

        async def one():
            async with sem:
                await open_stream(port, ctx, keep)

        await asyncio.gather(*(one() for _ in range(n)))
        await asyncio.sleep(2)
        after = rss_kb(proc.pid)
        for r, w in keep + warm:
            w.close()
        return before, after
    finally:
        proc.terminate()
        proc.wait()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    modes = sys.argv[3] if len(sys.argv) > 3 else "both"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * n + 100)), hard))
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{d}/key.pem",
                        "-out", f"{d}/cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        for mode in (["plain", "tls"] if modes == "both" else [modes]):
            before, after = asyncio.run(measure(build, n, mode == "tls", d))
            print(f"{mode:5} streams {n}: RSS {before} KiB before, {after} KiB after, "
                  f"{(after - before) * 1024 / n:.0f} bytes per idle stream")


if __name__ == "__main__":
    main()

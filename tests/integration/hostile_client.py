#!/usr/bin/env python3
"""hostile_client.py — clients that misbehave against a tower on loopback, for
the integration tests of the API's and the agent port's limits. Every mode is
bounded in connections and time and prints one JSON line of what it saw.

  pipeline  HOST PORT CA SRC CONNS REQS STOP MAX_S
      TLS connections from SRC that pipeline REQS artifact GETs each and
      never read; held until the file STOP exists or MAX_S pass.
  watch     HOST PORT CA SRC CONNS PATH TOKEN STOP MAX_S
      event-stream watchers that read the response head and nothing after.
  slowloris HOST PORT CA SRC CONNS INTERVAL MAX_S
      connections that send one byte of a request header per INTERVAL; says
      how many were refused at once and how long the others were kept open.
  reader    HOST PORT CA COUNT
      the well-behaved counterpart: pipelines COUNT artifact GETs and a
      /healthz on one connection and reads every answer in order.
  hold      HOST PORT SRC CONNS STOP MAX_S
      plain TCP connections that say nothing (each takes one of the
      server's fds once accepted); held until STOP exists or MAX_S pass.
  agent     HOST PORT AGENT_STATE TASK_ID COUNT MAX_S
      an enrolled agent's certificate: hello, then COUNT task.accepted for
      TASK_ID, then heartbeats; says whether and when the tower hung up.
"""
import json
import os
import select
import socket
import ssl
import struct
import sys
import time


def tls_context(ca, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def dial(ctx, host, port, src, timeout=10.0):
    """A TLS connection from src, with a small receive buffer so that a
    client that does not read holds the server back at once."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    if src:
        raw.bind((src, 0))
    raw.settimeout(timeout)
    raw.connect((host, port))
    return ctx.wrap_socket(raw, server_hostname="overcloud-tower")


def wait_stop(stop, max_s, start):
    while not os.path.exists(stop) and time.monotonic() - start < max_s:
        time.sleep(0.2)


def mode_pipeline(host, port, ca, src, conns, reqs, stop, max_s):
    start = time.monotonic()
    ctx = tls_context(ca)
    arch = os.uname().machine
    req = ("GET /v1/artifacts/agent/%s HTTP/1.1\r\nHost: tower\r\n\r\n" % arch).encode()
    socks, failed = [], 0
    for _ in range(int(conns)):
        try:
            s = dial(ctx, host, int(port), src)
            s.sendall(req * int(reqs))
            socks.append(s)
        except OSError:
            failed += 1
    print(json.dumps({"connected": len(socks), "failed": failed}), flush=True)
    wait_stop(stop, float(max_s), start)
    for s in socks:
        s.close()


def mode_watch(host, port, ca, src, conns, path, token, stop, max_s):
    start = time.monotonic()
    ctx = tls_context(ca)
    req = ("GET %s HTTP/1.1\r\nHost: tower\r\nAuthorization: Bearer %s\r\n\r\n"
           % (path, token)).encode()
    socks, failed = [], 0
    for _ in range(int(conns)):
        try:
            s = dial(ctx, host, int(port), src)
            s.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 4096:
                chunk = s.recv(1)
                if not chunk:
                    raise OSError("closed before the head")
                head += chunk
            if not head.startswith(b"HTTP/1.1 200"):
                raise OSError("not 200: %r" % head[:40])
            socks.append(s)
        except OSError:
            failed += 1
    print(json.dumps({"attached": len(socks), "failed": failed}), flush=True)
    wait_stop(stop, float(max_s), start)
    for s in socks:
        s.close()


def mode_slowloris(host, port, ca, src, conns, interval, max_s):
    start = time.monotonic()
    ctx = tls_context(ca)
    header = b"GET /healthz HTTP/1.1\r\nHost: tower\r\nX-Slow: " + b"a" * 4096
    live, refused = [], 0
    for _ in range(int(conns)):
        try:
            s = dial(ctx, host, int(port), src, timeout=5.0)
            s.setblocking(False)
            live.append({"s": s, "at": time.monotonic(), "sent": 0})
        except (OSError, ssl.SSLError):
            refused += 1
    accepted = len(live)
    kept = []
    next_byte = time.monotonic()
    while live and time.monotonic() - start < float(max_s):
        now = time.monotonic()
        if now >= next_byte:
            next_byte = now + float(interval)
            for c in live:
                try:
                    c["s"].send(header[c["sent"]:c["sent"] + 1])
                    c["sent"] += 1
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except (OSError, ssl.SSLError):
                    c["gone"] = True
        ready, _, _ = select.select([c["s"] for c in live], [], [], 0.2)
        for c in live:
            if c["s"] in ready:
                try:
                    if c["s"].recv(4096) == b"":
                        c["gone"] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except (OSError, ssl.SSLError):
                    c["gone"] = True
        for c in [c for c in live if c.get("gone")]:
            kept.append(time.monotonic() - c["at"])
            c["s"].close()
        live = [c for c in live if not c.get("gone")]
    print(json.dumps({"accepted": accepted, "refused": refused, "closed": len(kept),
                      "still_open": len(live),
                      "bytes_sent_max": max([c["sent"] for c in live] + [0]),
                      "longest_open_s": round(max(kept + [0]), 1)}), flush=True)
    for c in live:
        c["s"].close()


def mode_reader(host, port, ca, count):
    import hashlib
    ctx = tls_context(ca)
    s = dial(ctx, host, int(port), None, timeout=60.0)
    arch = os.uname().machine
    req = ("GET /v1/artifacts/agent/%s HTTP/1.1\r\nHost: tower\r\n\r\n" % arch).encode()
    s.sendall(req * int(count) + b"GET /healthz HTTP/1.1\r\nHost: tower\r\n\r\n")
    buf, answers = b"", []
    while len(answers) < int(count) + 1:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(json.dumps({"error": "closed", "answers": answers}))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(json.dumps({"error": "short body", "answers": answers}))
            buf += chunk
        body, buf = buf[:length], buf[length:]
        answers.append({"status": int(head.split(b" ")[1]), "bytes": length,
                        "sha256": hashlib.sha256(body).hexdigest()})
    print(json.dumps({"answers": answers}), flush=True)
    s.close()


def mode_hold(host, port, src, conns, stop, max_s):
    start = time.monotonic()
    socks, failed = [], 0
    for _ in range(int(conns)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(2)
            s.connect((host, int(port)))
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    print(json.dumps({"connected": len(socks), "failed": failed}), flush=True)
    wait_stop(stop, float(max_s), start)
    for s in socks:
        s.close()


def mp_str(s):
    b = s.encode()
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b


def mp_uint(n):
    return b"\xcf" + struct.pack(">Q", n)


def mp_map(d):
    out = bytes([0x80 | len(d)])
    for k, v in d.items():
        out += mp_str(k) + (mp_uint(v) if isinstance(v, int) else mp_str(v))
    return out


def frame(d):
    body = mp_map(d)
    return struct.pack(">I", len(body)) + body


def mode_agent(host, port, state, task_id, count, max_s):
    start = time.monotonic()
    ctx = tls_context(os.path.join(state, "ca.pem"), os.path.join(state, "agent.crt"),
                      os.path.join(state, "agent.key"))
    s = dial(ctx, host, int(port), None)
    s.sendall(frame({"t": "hello", "version": "0.1.0", "hostname": "impostor",
                     "arch": os.uname().machine, "os": "linux", "kernel": "6",
                     "cpus": 1, "mem_total": 1 << 30}))
    s.settimeout(10)
    got = b""
    while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
        chunk = s.recv(4096)
        if not chunk:
            print(json.dumps({"welcomed": False}), flush=True)
            return
        got += chunk
    welcomed = b"welcome" in got
    frames = frame({"t": "task.accepted", "id": task_id}) * int(count)
    closed, reason, sent = False, "", 0
    try:
        s.sendall(frames)
        sent = int(count)
    except (OSError, ssl.SSLError):
        closed = True
    s.settimeout(0.5)
    while not closed and time.monotonic() - start < float(max_s):
        try:
            s.sendall(frame({"t": "heartbeat", "uptime": 1, "mem_free": 1,
                             "load1_milli": 0, "running": 0}))
            data = s.recv(65536)
            if data == b"":
                closed = True
            elif b"error" in data:
                reason = data[data.find(b"reason"):].decode("utf-8", "replace")[:120]
        except socket.timeout:
            pass
        except (OSError, ssl.SSLError):
            closed = True
    print(json.dumps({"welcomed": welcomed, "sent": sent, "closed": closed,
                      "after_s": round(time.monotonic() - start, 1), "error": reason}),
          flush=True)
    s.close()


MODES = {"pipeline": mode_pipeline, "watch": mode_watch, "slowloris": mode_slowloris,
         "reader": mode_reader, "hold": mode_hold, "agent": mode_agent}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](*sys.argv[2:])

#!/usr/bin/python3
# openstack_fake.py - a local HTTPS OpenStack for the tests: Keystone v3
# password auth, Nova (flavors, servers at microversions 2.1..2.96), Glance v2
# images and Neutron v2.0 networks, the documented subset the openstack
# provider uses. It checks requests the way the real services do and refuses
# what they refuse (401 without a valid token, 406 for an unsupported
# microversion, 400 with Nova's {"badRequest": ...} for bad bodies, bad base64
# user_data, unknown flavors/images/networks, `networks` missing at >= 2.37).
#
# A "server" boots like a cloud-init VM would: the fake decodes its user_data,
# checks it is the tower's #cloud-config (USERDATA-CONTRACT.md), writes the CA
# from write_files and starts the real agent it describes (`overcloud-agent
# join ... --no-run`, then `overcloud-agent run`). Deleting the server kills
# that agent and removes its directory.
#
# Test-only control (no token, loopback): GET /_fake/inventory, GET
# /_fake/stats, POST /_fake/faults {...} (see FAULTS). Tokens are written to
# --secrets so that the tests can grep every log for them; the request log
# (--log) never holds a token or a password.
import argparse
import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

MIN_MV, MAX_MV = (2, 1), (2, 96)
USER_DATA_MAX = 65535
FAULTS = {
    "quota_instances": None,     # int: servers a project may have
    "quota_status": 403,         # 403 forbidden (Nova today) or 413 overLimit
    "fail_posts": 0,             # the next N POST /servers get a 503
    "fail_posts_after_create": 0,  # the next N POST /servers make the server, then 500
    "rate_limit_posts": 0,       # the next N POST /servers get 413 overLimit + Retry-After
    "rate_limit_retry_after": 1,  # its seconds; a POST back sooner is refused again
    "never_active": False,       # new servers stay in BUILD
    "error_build": None,         # str: new servers go to ERROR with this fault
    "boot_delay": 0.2,           # seconds in BUILD before ACTIVE
    "delete_delay": 0.3,         # seconds a deleted server is still listed
    "token_ttl": 3600,           # seconds a token is accepted
    "token_claimed_ttl": None,   # int: the lifetime the token body claims, if other
    "revoke_after": None,        # int: revoke every token after N more authenticated calls
}

USERS = {}       # (user, domain) -> password, from the environment
PROJECTS = {("oc-project", "Default"): "f4f1d7e8a3b24a0d9a1b2c3d4e5f6a7b"}
FLAVORS = [
    {"id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1},
    {"id": "2", "name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20},
    {"id": "3", "name": "m1.medium", "ram": 4096, "vcpus": 2, "disk": 40},
    {"id": "4", "name": "m1.large", "ram": 8192, "vcpus": 4, "disk": 80},
    {"id": "oc-7", "name": "oc.test", "ram": 1024, "vcpus": 1, "disk": 10},
]
FLAVOR_PAGE = 2
IMAGES = [
    {"id": "6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f60", "name": "debian-12", "status": "active"},
    {"id": "0b7e1f2a-9c8d-4e5f-8a7b-6c5d4e3f2a10", "name": "debian-11", "status": "deactivated"},
    {"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "name": "twin", "status": "active"},
    {"id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "name": "twin", "status": "active"},
]
NETWORKS = [
    {"id": "9d3e1c2b-4a5f-4e6d-8c7b-0a1b2c3d4e5f", "name": "oc-net", "status": "ACTIVE"},
    {"id": "8c2d0b1a-3f4e-4d5c-9b6a-1f0e2d3c4b5a", "name": "twin-net", "status": "ACTIVE"},
    {"id": "7b1c9a0f-2e3d-4c4b-8a59-0e1d2c3b4a59", "name": "twin-net", "status": "ACTIVE"},
]
# path prefix -> (region, interface); only RegionOne public is served.
ENDPOINTS = [("", "RegionOne", "public"), ("/internal", "RegionOne", "internal"),
             ("/r2", "RegionTwo", "public")]


def now_iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


class Cloud:
    """All state, under one lock."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.faults = dict(FAULTS)
        self.tokens = {}          # token -> expiry (monotonic)
        self.servers = {}         # id -> dict
        self.next_ip = 10
        self.rate_limited_until = 0.0   # monotonic; POSTs before it get 413 again
        self.stats = {"auth": 0, "auth_failed": 0, "unauthorized": 0, "requests": 0,
                      "posts": 0, "posts_503": 0, "posts_500": 0,
                      "posts_413": 0, "posts_413_early": 0, "deletes": 0, "created": 0,
                      "boot_errors": [], "revoked": 0, "wrong_endpoint": 0}
        self.log_lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1) if args.log else sys.stderr
        self.base = None

    def note(self, line):
        with self.log_lock:
            self.log.write(time.strftime("%H:%M:%S ") + line + "\n")

    # ---- tokens ----
    def issue_token(self):
        tok = "gAAAAA" + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=")
        with self.lock:
            ttl = self.faults["token_ttl"]
            self.tokens[tok] = time.monotonic() + ttl
            claimed = self.faults["token_claimed_ttl"] or ttl
            self.stats["auth"] += 1
        if self.args.secrets:
            with open(self.args.secrets, "a") as f:
                f.write(tok + "\n")
        return tok, claimed

    def token_ok(self, tok):
        with self.lock:
            exp = self.tokens.get(tok)
            if exp is None or exp < time.monotonic():
                self.stats["unauthorized"] += 1
                return False
            if self.faults["revoke_after"] is not None:
                self.faults["revoke_after"] -= 1
                if self.faults["revoke_after"] <= 0:
                    # every token dies now, as if it had expired mid-run
                    self.faults["revoke_after"] = None
                    self.stats["revoked"] += len(self.tokens)
                    self.tokens.clear()
            return True

    def catalog(self):
        def entries(path):
            return [{"id": uuid.uuid4().hex, "interface": iface, "region": region,
                     "region_id": region, "url": self.base + prefix + path}
                    for prefix, region, iface in ENDPOINTS]
        return [
            {"type": "identity", "name": "keystone", "id": uuid.uuid4().hex,
             "endpoints": entries("/identity/v3")},
            {"type": "compute", "name": "nova", "id": uuid.uuid4().hex,
             "endpoints": entries("/compute/v2.1")},
            {"type": "image", "name": "glance", "id": uuid.uuid4().hex,
             "endpoints": entries("/image")},
            {"type": "network", "name": "neutron", "id": uuid.uuid4().hex,
             "endpoints": entries("/network")},
        ]

    # ---- VMs ----
    def boot(self, sid):
        with self.lock:
            delay = self.faults["boot_delay"]
        time.sleep(delay)
        with self.lock:
            s = self.servers.get(sid)
            if s is None or s["deleting"]:
                return
            if self.faults["never_active"]:
                return
            if self.faults["error_build"]:
                s["status"] = "ERROR"
                s["fault"] = {"code": 500, "created": now_iso(time.time()),
                              "message": self.faults["error_build"]}
                return
            # ACTIVE first, cloud-init after: like a real VM
            s["status"] = "ACTIVE"
        self.start_agent(sid)

    def start_agent(self, sid):
        with self.lock:
            s = self.servers[sid]
            ud = s["user_data"]
        vmdir = os.path.join(self.args.state, "vms", sid)
        try:
            join, ca = check_user_data(ud)
        except ValueError as e:
            with self.lock:
                s["boot_error"] = str(e)
                self.stats["boot_errors"].append(f"{sid}: {e}")
            self.note(f"server {sid}: boot: {e}")
            return
        os.makedirs(vmdir, mode=0o700, exist_ok=True)
        with open(os.path.join(vmdir, "ca.pem"), "w") as f:
            f.write(ca)
        env = {"PATH": "/usr/bin:/bin", "HOME": vmdir}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        log = open(os.path.join(vmdir, "agent.log"), "ab")
        state = os.path.join(vmdir, "state")
        join_cmd = [self.args.agent, "join", "--tower", join["tower"], "--token", join["token"],
                    "--ca", os.path.join(vmdir, "ca.pem"), "--state", state, "--no-run"]
        # join then run in one process group, so that deleting kills both
        try:
            p = subprocess.Popen(["/bin/sh", "-c",
                                  '"$0" "$@" && exec "$0" run --state "$OC_VM_STATE"'] +
                                 join_cmd, env=dict(env, OC_VM_STATE=state), stdout=log,
                                 stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                 cwd=vmdir)
        except OSError as e:
            with self.lock:
                s["boot_error"] = f"cannot start the agent: {e}"
            return
        finally:
            log.close()
        with self.lock:
            if sid in self.servers and not self.servers[sid]["deleting"]:
                self.servers[sid]["proc"] = p
                self.servers[sid]["vmdir"] = vmdir
                self.note(f"server {sid}: user_data {len(ud)} bytes base64; agent started "
                          f"(pid {p.pid}, role {join['role']})")
                return
        stop_proc(p)
        shutil.rmtree(vmdir, ignore_errors=True)

    def reap(self, sid):
        with self.lock:
            delay = self.faults["delete_delay"]
        time.sleep(delay)
        with self.lock:
            s = self.servers.pop(sid, None)
        if s is None:
            return
        if s.get("proc") is not None:
            stop_proc(s["proc"])
        vmdir = os.path.join(self.args.state, "vms", sid)
        shutil.rmtree(vmdir, ignore_errors=True)
        self.note(f"server {sid}: gone")

    def shutdown(self):
        with self.lock:
            procs = [s.get("proc") for s in self.servers.values()]
        for p in procs:
            if p is not None:
                stop_proc(p)


def stop_proc(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def check_user_data(b64):
    """The tower's cloud-config -> (join.conf dict, ca.pem); ValueError says why not."""
    if b64 is None:
        raise ValueError("no user_data: nothing would start an agent")
    text = base64.b64decode(b64, validate=True).decode("utf-8")
    if not text.startswith("#cloud-config"):
        raise ValueError("user_data does not start with #cloud-config")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("write_files"), list):
        raise ValueError("user_data has no write_files list")
    files = {}
    for wf in doc["write_files"]:
        if not isinstance(wf, dict) or not isinstance(wf.get("path"), str):
            raise ValueError("a write_files entry without a path")
        content = wf.get("content", "")
        enc = wf.get("encoding", "")
        if enc in ("b64", "base64"):
            content = base64.b64decode(content).decode("utf-8")
        elif enc not in ("", "text/plain"):
            raise ValueError(f"write_files {wf['path']}: unexpected encoding {enc}")
        perms = wf.get("permissions", "")
        if isinstance(perms, int):   # an unquoted 0600 is octal to YAML 1.1
            perms = "0%o" % perms
        files[wf["path"]] = (content, str(perms))
    for need in ("/etc/overcloud/join.conf", "/etc/overcloud/ca.pem"):
        if need not in files:
            raise ValueError(f"write_files has no {need}")
    conf, perms = files["/etc/overcloud/join.conf"]
    if perms not in ("0600", "600", "0o600"):
        raise ValueError(f"join.conf permissions are {perms or 'unset'}, not 0600")
    join = {}
    for line in conf.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, sep, v = line.partition("=")
        if not sep:
            raise ValueError("join.conf: a line without '='")
        join[k.strip()] = v.strip()
    for k in ("tower", "api", "token", "ca_hash", "role", "arch"):
        if not join.get(k):
            raise ValueError(f"join.conf has no {k}")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", join["ca_hash"]):
        raise ValueError("join.conf ca_hash is not sha256:<64 hex>")
    if join["arch"] not in ("x86_64", "aarch64", "armv7"):
        raise ValueError(f"join.conf arch {join['arch']}")
    ca = files["/etc/overcloud/ca.pem"][0]
    if "-----BEGIN CERTIFICATE-----" not in ca:
        raise ValueError("ca.pem is not a PEM certificate")
    # the pin must be the CA's public key, as the agent's --ca-hash checks
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=ca.encode(),
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    if "sha256:" + hashlib.sha256(der).hexdigest() != join["ca_hash"]:
        raise ValueError("join.conf ca_hash does not pin ca.pem's public key")
    return join, ca


class BadRequest(Exception):
    def __init__(self, status, kind, message, retry_after=None):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.retry_after = retry_after


def nova_error(status, kind, message):
    return BadRequest(status, kind, message)


def parse_microversion(headers):
    """Nova's rules: OpenStack-API-Version wins over the legacy header; none is 2.1."""
    raw = None
    for v in headers.get_all("OpenStack-API-Version") or []:
        for part in v.split(","):
            svc, _, ver = part.strip().partition(" ")
            if svc.lower() == "compute":
                raw = ver.strip()
    if raw is None:
        raw = headers.get("X-OpenStack-Nova-API-Version")
    if raw is None:
        return MIN_MV
    if raw == "latest":
        return MAX_MV
    m = re.fullmatch(r"(\d+)\.(\d+)", raw.strip())
    if not m:
        raise nova_error(400, "badRequest", f"API Version String {raw} is of invalid format. "
                         "Must be of format MajorNum.MinorNum.")
    mv = (int(m.group(1)), int(m.group(2)))
    if mv < MIN_MV or mv > MAX_MV:
        raise nova_error(406, "computeFault",
                         f"Version {raw} is not supported by the API. Minimum is "
                         f"{MIN_MV[0]}.{MIN_MV[1]} and maximum is {MAX_MV[0]}.{MAX_MV[1]}.")
    return mv


SERVER_KEYS = {"name", "imageRef", "flavorRef", "networks", "user_data", "metadata", "adminPass",
               "security_groups", "key_name", "availability_zone", "config_drive", "min_count",
               "max_count", "block_device_mapping_v2", "description", "tags", "hostname"}
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def invalid(field, value, why):
    shown = value if isinstance(value, str) else json.dumps(value)
    return nova_error(400, "badRequest",
                      f"Invalid input for field/attribute {field}. Value: {shown}. {why}")


def validate_server(body, mv, cloud):
    if not isinstance(body, dict) or set(body) != {"server"}:
        extra = sorted(set(body) - {"server"}) if isinstance(body, dict) else []
        if extra:
            raise nova_error(400, "badRequest", "Invalid input for field/attribute . "
                             f"Additional properties are not allowed ({extra!r} were unexpected)")
        raise nova_error(400, "badRequest", "Invalid input: 'server' is a required property")
    s = body["server"]
    if not isinstance(s, dict):
        raise invalid("server", s, "is not of type 'object'")
    extra = sorted(set(s) - SERVER_KEYS)
    if extra:
        raise nova_error(400, "badRequest", "Invalid input for field/attribute server. "
                         f"Additional properties are not allowed ({extra!r} were unexpected)")
    required = ["name", "flavorRef"] + (["networks"] if mv >= (2, 37) else [])
    for k in required:
        if k not in s:
            raise nova_error(400, "badRequest", f"Invalid input for field/attribute server. "
                             f"Value: {json.dumps(s)[:200]}. '{k}' is a required property")
    name = s["name"]
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or name != name.strip():
        raise invalid("name", name, "is not a valid name")
    flavor = s["flavorRef"]
    if not isinstance(flavor, (str, int)) or str(flavor) == "":
        raise invalid("flavorRef", flavor, "is not of type 'string', 'integer'")
    if "imageRef" in s and not isinstance(s["imageRef"], str):
        raise invalid("imageRef", s["imageRef"], "is not of type 'string'")
    nets = s.get("networks")
    if nets is not None:
        if isinstance(nets, str):
            if nets not in ("auto", "none") or mv < (2, 37):
                raise invalid("networks", nets, "is not valid under any of the given schemas")
        elif isinstance(nets, list):
            for n in nets:
                if not isinstance(n, dict) or set(n) - {"uuid", "port", "fixed_ip", "tag"}:
                    raise invalid("networks", nets, "is not valid under any of the given schemas")
                if "uuid" in n and (not isinstance(n["uuid"], str) or
                                    not UUID_RE.fullmatch(n["uuid"])):
                    raise invalid("networks/uuid", n.get("uuid"), "is not a 'uuid'")
        else:
            raise invalid("networks", nets, "is not valid under any of the given schemas")
    ud = s.get("user_data")
    if ud is not None:
        if not isinstance(ud, str):
            raise invalid("user_data", ud, "is not of type 'string'")
        if len(ud) > USER_DATA_MAX:
            raise invalid("user_data", ud[:64] + "...", f"is too long (over {USER_DATA_MAX})")
        try:
            base64.b64decode(ud, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("user_data", ud[:64], f"'{ud[:64]}' is not a 'base64'")
    md = s.get("metadata", {})
    if not isinstance(md, dict):
        raise invalid("metadata", md, "is not of type 'object'")
    for k, v in md.items():
        if not 1 <= len(k) <= 255 or not isinstance(v, str) or len(v) > 255:
            raise invalid(f"metadata/{k[:40]}", v, "is not a string of at most 255 characters")
    # references, in Nova's order: flavor, image, networks
    fl = [f for f in FLAVORS if f["id"] == str(flavor)]
    if not fl:
        raise nova_error(400, "badRequest", f"Flavor {flavor} could not be found.")
    if "imageRef" not in s or s["imageRef"] == "":
        raise nova_error(400, "badRequest", "Block Device Mapping is Invalid: "
                         "Boot sequence for the instance and image/block device mapping "
                         "combination is not valid.")
    im = [i for i in IMAGES if i["id"] == s["imageRef"]]
    if not im:
        raise nova_error(400, "badRequest", "Can not find requested image")
    if im[0]["status"] != "active":
        raise nova_error(400, "badRequest", f"Image {im[0]['id']} is not active.")
    net_ids = []
    if isinstance(nets, list):
        for n in nets:
            if "uuid" in n:
                if not any(x["id"] == n["uuid"] for x in NETWORKS):
                    raise nova_error(400, "badRequest",
                                     f"Network {n['uuid']} could not be found.")
                net_ids.append(n["uuid"])
    if not net_ids:
        raise nova_error(400, "badRequest", "This fake boots servers on a given network uuid "
                         "only")
    return s, fl[0], im[0], net_ids


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openstack/1"

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----
    def reply(self, status, body=None, headers=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
        self.status = status

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise nova_error(400, "badRequest", "Malformed request body")

    def handle_any(self):
        cloud = self.server.cloud
        self.status = 0
        mv = None
        u = urllib.parse.urlsplit(self.path)
        path, q = u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True)
        with cloud.lock:
            cloud.stats["requests"] += 1
        try:
            if path.startswith("/_fake/"):
                return self.control(path)
            for prefix, region, iface in ENDPOINTS[1:]:
                if path.startswith(prefix + "/"):
                    with cloud.lock:
                        cloud.stats["wrong_endpoint"] += 1
                    return self.reply(404, raw=b"404 Not Found: this fake serves RegionOne "
                                      b"public only\n", ctype="text/plain")
            if path == "/identity/v3/auth/tokens" and self.command == "POST":
                return self.keystone_auth()
            if path.startswith(("/compute/v2.1/", "/image/v2/", "/network/v2.0/")):
                tok = self.headers.get("X-Auth-Token")
                if not tok or not cloud.token_ok(tok):
                    return self.reply(401, {"error": {
                        "code": 401, "title": "Unauthorized",
                        "message": "The request you have made requires authentication."}},
                        headers={"WWW-Authenticate":
                                 f"Keystone uri=\"{cloud.base}/identity\""})
            if path.startswith("/compute/v2.1/"):
                mv = parse_microversion(self.headers)
                return self.nova(path[len("/compute/v2.1"):], q, mv)
            if path.startswith("/image/v2/"):
                return self.glance(path[len("/image/v2"):], q)
            if path.startswith("/network/v2.0/"):
                return self.neutron(path[len("/network/v2.0"):], q)
            return self.reply(404, raw=b"404 Not Found\n", ctype="text/plain")
        except BadRequest as e:
            hdr = {}
            if mv is not None:
                hdr["OpenStack-API-Version"] = f"compute {mv[0]}.{mv[1]}"
            fault = {"message": e.message, "code": e.status}
            if e.retry_after is not None:
                # Nova's rate limiting (the legacy "limits" middleware): 413
                # overLimit, the wait in the Retry-After header and in the body
                hdr["Retry-After"] = str(e.retry_after)
                fault["retryAfter"] = str(e.retry_after)
                fault["details"] = "Only 10 POST request(s) can be made to \"*\" every minute."
            return self.reply(e.status, {e.kind: fault}, headers=hdr)
        finally:
            mvs = f" mv={mv[0]}.{mv[1]}" if mv else ""
            cloud.note(f"{self.command} {self.path} -> {self.status}{mvs}")

    do_GET = do_POST = do_DELETE = do_PUT = handle_any

    # ---- test control ----
    def control(self, path):
        cloud = self.server.cloud
        if path == "/_fake/inventory" and self.command == "GET":
            with cloud.lock:
                out = [{"id": s["id"], "name": s["name"], "status": s["status"],
                        "metadata": s["metadata"], "deleting": s["deleting"],
                        "pid": s["proc"].pid if s.get("proc") else None,
                        "boot_error": s.get("boot_error")} for s in cloud.servers.values()]
            return self.reply(200, {"servers": out})
        if path == "/_fake/stats" and self.command == "GET":
            with cloud.lock:
                return self.reply(200, dict(cloud.stats, faults=cloud.faults))
        if path == "/_fake/faults" and self.command == "POST":
            body = self.body_json()
            if not isinstance(body, dict) or set(body) - set(FAULTS):
                raise BadRequest(400, "badRequest", f"faults are {sorted(FAULTS)}")
            with cloud.lock:
                cloud.faults.update(body)
            return self.reply(200, cloud.faults)
        if path == "/_fake/reset" and self.command == "POST":
            with cloud.lock:
                cloud.faults = dict(FAULTS)
                cloud.rate_limited_until = 0.0
            return self.reply(200, cloud.faults)
        return self.reply(404, raw=b"no such control\n", ctype="text/plain")

    # ---- Keystone ----
    def keystone_auth(self):
        cloud = self.server.cloud

        def unauthorized():
            with cloud.lock:
                cloud.stats["auth_failed"] += 1
            return self.reply(401, {"error": {
                "code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}})

        def bad(msg):
            return self.reply(400, {"error": {"code": 400, "title": "Bad Request",
                                              "message": msg}})
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self.reply(415, {"error": {"code": 415, "title": "Unsupported Media Type",
                                              "message": "Content-Type must be application/json"}})
        try:
            body = self.body_json()
        except BadRequest:
            return bad("Expecting to find valid JSON in request body.")
        try:
            ident = body["auth"]["identity"]
            methods = ident["methods"]
            user = ident["password"]["user"]
            name, password = user["name"], user["password"]
            udom = user["domain"].get("name")
            proj = body["auth"]["scope"]["project"]
            pname, pdom = proj["name"], proj["domain"].get("name")
        except (KeyError, TypeError, AttributeError):
            return bad("Invalid input for field 'identity' or 'scope': a required property "
                       "is missing")
        if not isinstance(methods, list) or methods != ["password"]:
            return bad("Invalid input for field 'identity/methods'")
        if not all(isinstance(x, str) for x in (name, password, udom, pname, pdom)):
            return bad("Invalid input: names and password must be strings")
        want = USERS.get((name, udom))
        if want is None or not secrets.compare_digest(want.encode(), password.encode()):
            return unauthorized()
        pid = PROJECTS.get((pname, pdom))
        if pid is None:
            return unauthorized()
        tok, claimed = cloud.issue_token()
        t = time.time()
        token = {"methods": ["password"], "is_domain": False,
                 "user": {"id": hashlib.sha256(name.encode()).hexdigest()[:32], "name": name,
                          "domain": {"id": "default", "name": udom},
                          "password_expires_at": None},
                 "project": {"id": pid, "name": pname, "domain": {"id": "default", "name": pdom}},
                 "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
                 "issued_at": now_iso(t), "expires_at": now_iso(t + claimed),
                 "audit_ids": [secrets.token_urlsafe(16)],
                 "catalog": cloud.catalog()}
        return self.reply(201, {"token": token}, headers={"X-Subject-Token": tok})

    # ---- Nova ----
    def server_view(self, s, mv):
        v = {"id": s["id"], "name": s["name"], "status": s["status"],
             "tenant_id": PROJECTS[("oc-project", "Default")], "user_id": "u",
             "metadata": s["metadata"], "created": s["created"], "updated": s["created"],
             "flavor": {"id": s["flavor"]["id"], "links": []},
             "image": {"id": s["image"]["id"], "links": []},
             "addresses": {}, "accessIPv4": "", "accessIPv6": "", "hostId": "",
             "OS-EXT-STS:task_state": "deleting" if s["deleting"] else None,
             "OS-EXT-STS:vm_state": s["status"].lower(), "OS-EXT-STS:power_state": 1,
             "links": [{"rel": "self", "href": f"{self.server.cloud.base}/compute/v2.1/servers/"
                        f"{s['id']}"}]}
        if s["status"] == "ACTIVE":
            v["addresses"] = {s["netname"]: [
                {"addr": s["ip"], "version": 4, "OS-EXT-IPS:type": "fixed",
                 "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:%02x" % (s["n"] % 256)}]}
        if "fault" in s:
            v["fault"] = s["fault"]
        return v

    def nova(self, path, q, mv):
        cloud = self.server.cloud
        hdr = {"OpenStack-API-Version": f"compute {mv[0]}.{mv[1]}",
               "X-OpenStack-Nova-API-Version": f"{mv[0]}.{mv[1]}",
               "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}
        m = self.command
        if path == "/flavors/detail" and m == "GET":
            start = 0
            if "marker" in q:
                ids = [f["id"] for f in FLAVORS]
                if q["marker"][0] not in ids:
                    raise nova_error(400, "badRequest", f"marker [{q['marker'][0]}] not found")
                start = ids.index(q["marker"][0]) + 1
            page = FLAVORS[start:start + FLAVOR_PAGE]
            body = {"flavors": [dict(f, links=[]) for f in page]}
            if start + FLAVOR_PAGE < len(FLAVORS):
                body["flavors_links"] = [{"rel": "next", "href": f"{cloud.base}/compute/v2.1/"
                                          f"flavors/detail?marker={page[-1]['id']}"}]
            return self.reply(200, body, headers=hdr)
        mt = re.fullmatch(r"/flavors/([^/]+)", path)
        if mt and m == "GET":
            f = [f for f in FLAVORS if f["id"] == mt.group(1)]
            if not f:
                raise nova_error(404, "itemNotFound", f"Flavor {mt.group(1)} could not be found.")
            return self.reply(200, {"flavor": f[0]}, headers=hdr)
        if path == "/servers" and m == "POST":
            return self.create_server(mv, hdr)
        if path in ("/servers", "/servers/detail") and m == "GET":
            rx = None
            if "name" in q:
                try:
                    rx = re.compile(q["name"][0])
                except re.error:
                    raise nova_error(400, "badRequest", "Invalid regular expression in name")
            with cloud.lock:
                out = [self.server_view(s, mv) if path.endswith("detail") else
                       {"id": s["id"], "name": s["name"], "links": []}
                       for s in cloud.servers.values() if rx is None or rx.search(s["name"])]
            return self.reply(200, {"servers": out}, headers=hdr)
        ms = re.fullmatch(r"/servers/([^/]+)", path)
        if ms and m in ("GET", "DELETE"):
            sid = ms.group(1)
            with cloud.lock:
                s = cloud.servers.get(sid)
                if s is None:
                    raise nova_error(404, "itemNotFound", f"Instance {sid} could not be found.")
                if m == "GET":
                    return self.reply(200, {"server": self.server_view(s, mv)}, headers=hdr)
                cloud.stats["deletes"] += 1
                first = not s["deleting"]
                s["deleting"] = True
            if first:
                threading.Thread(target=cloud.reap, args=(sid,), daemon=True).start()
            return self.reply(204, headers=hdr)
        raise nova_error(404, "itemNotFound", "The resource could not be found.")

    def create_server(self, mv, hdr):
        cloud = self.server.cloud
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise nova_error(415, "badMediaType", "The server could not comply with the request "
                             "since it is either malformed or otherwise incorrect.")
        body = self.body_json()
        with cloud.lock:
            cloud.stats["posts"] += 1
            now = time.monotonic()
            if now < cloud.rate_limited_until:
                # back before Retry-After said: a rate limiter refuses again
                cloud.stats["posts_413_early"] += 1
                raise BadRequest(413, "overLimit", "This request was rate-limited.",
                                 retry_after=max(1, int(cloud.rate_limited_until - now + 0.999)))
            if cloud.faults["rate_limit_posts"] > 0:
                cloud.faults["rate_limit_posts"] -= 1
                cloud.stats["posts_413"] += 1
                wait = cloud.faults["rate_limit_retry_after"]
                cloud.rate_limited_until = now + wait
                raise BadRequest(413, "overLimit", "This request was rate-limited.",
                                 retry_after=wait)
            if cloud.faults["fail_posts"] > 0:
                cloud.faults["fail_posts"] -= 1
                cloud.stats["posts_503"] += 1
                return self.reply(503, raw=b"<html><body><h1>503 Service Unavailable</h1>\n"
                                  b"No server is available to handle this request.\n"
                                  b"</body></html>\n", ctype="text/html")
        s, flavor, image, nets = validate_server(body, mv, cloud)
        with cloud.lock:
            quota = cloud.faults["quota_instances"]
            live = sum(1 for x in cloud.servers.values())
            if quota is not None and live + 1 > quota:
                if cloud.faults["quota_status"] == 413:
                    raise nova_error(413, "overLimit", "Quota exceeded for instances: Requested "
                                     f"1, but already used {live} of {quota} instances")
                raise nova_error(403, "forbidden", "Quota exceeded for instances: Requested 1, "
                                 f"but already used {live} of {quota} instances")
            sid = str(uuid.uuid4())
            cloud.next_ip += 1
            net = next(x for x in NETWORKS if x["id"] == nets[0])
            cloud.servers[sid] = {
                "id": sid, "name": s["name"], "status": "BUILD", "metadata": s.get("metadata", {}),
                "flavor": flavor, "image": image, "netname": net["name"],
                "ip": f"10.20.0.{cloud.next_ip % 250 + 2}", "n": cloud.next_ip,
                "user_data": s.get("user_data"), "deleting": False, "proc": None,
                "created": now_iso(time.time())}
            cloud.stats["created"] += 1
            lost = cloud.faults["fail_posts_after_create"] > 0
            if lost:
                cloud.faults["fail_posts_after_create"] -= 1
                cloud.stats["posts_500"] += 1
        threading.Thread(target=cloud.boot, args=(sid,), daemon=True).start()
        if lost:
            # made, but the answer is lost: the client must not make a second one
            return self.reply(500, {"computeFault": {"message": "Unexpected API Error.",
                                                     "code": 500}}, headers=hdr)
        hdr = dict(hdr, Location=f"{cloud.base}/compute/v2.1/servers/{sid}")
        return self.reply(202, {"server": {
            "id": sid, "OS-DCF:diskConfig": "MANUAL", "adminPass": secrets.token_urlsafe(9),
            "security_groups": [{"name": "default"}],
            "links": [{"rel": "self", "href": f"{cloud.base}/compute/v2.1/servers/{sid}"}]}},
            headers=hdr)

    # ---- Glance ----
    def glance(self, path, q):
        if path == "/images" and self.command == "GET":
            out = IMAGES
            for k in ("name", "id", "status"):
                if k in q:
                    out = [i for i in out if i[k] == q[k][0]]
            return self.reply(200, {"images": out, "schema": "/v2/schemas/images",
                                    "first": "/v2/images"})
        mi = re.fullmatch(r"/images/([^/]+)", path)
        if mi and self.command == "GET":
            im = [i for i in IMAGES if i["id"] == mi.group(1)]
            if im:
                return self.reply(200, im[0])
        return self.reply(404, raw=b"404 Not Found\n\nThe resource could not be found.\n\n   ",
                          ctype="text/plain")

    # ---- Neutron ----
    def neutron(self, path, q):
        if path == "/networks" and self.command == "GET":
            out = NETWORKS
            for k in ("name", "id"):
                if k in q:
                    out = [n for n in out if n[k] == q[k][0]]
            return self.reply(200, {"networks": out})
        return self.reply(404, {"NeutronError": {"type": "HTTPNotFound", "detail": "",
                                                 "message": "The resource could not be found."}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--log")
    ap.add_argument("--secrets")
    args = ap.parse_args()
    # the one user, with the password from the environment (never in argv)
    USERS[("oc-user", "Default")] = os.environ["FAKE_OS_PASSWORD"]
    cloud = Cloud(args)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.cloud = cloud
    port = srv.server_address[1]
    cloud.base = f"https://127.0.0.1:{port}"

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, args.port_file)
    cloud.note(f"listening on {cloud.base}")
    try:
        srv.serve_forever()
    finally:
        cloud.shutdown()
        cloud.note("stopped; every agent killed")


if __name__ == "__main__":
    main()

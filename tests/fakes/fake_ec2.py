#!/usr/bin/env python3
"""fake_ec2.py -- a local HTTPS server that speaks the subset of the EC2 Query
API (Version 2016-11-15) the `aws` provider uses, for the tests only.

It checks requests the way EC2 does and rejects what EC2 rejects, with EC2's
XML error format (<Response><Errors><Error><Code/><Message/></Error></Errors>
<RequestID/></Response>):
  - SigV4: it recomputes the signature itself (hashlib/hmac, independent of
    tower/providers/sigv4.c) from the request as received and the secret key:
    SignatureDoesNotMatch (403); unknown key or bad session token AuthFailure
    (401); no Authorization MissingAuthenticationToken (401); no or malformed
    X-Amz-Date IncompleteSignature (400); a date more than 15 minutes off
    RequestExpired (400).
  - Version: missing MissingParameter, other than 2016-11-15 NoSuchVersion;
    Action: missing MissingAction, unknown InvalidAction (400).
  - Parameters: missing MissingParameter, bad values InvalidParameterValue,
    parameters it does not know UnknownParameter, unknown AMI / subnet /
    security group InvalidAMIID.NotFound / InvalidSubnetID.NotFound /
    InvalidGroup.NotFound, bad instance ids InvalidInstanceID.Malformed,
    unknown ones InvalidInstanceID.NotFound, reused client tokens with other
    parameters IdempotentParameterMismatch.
Faults on demand: --instance-limit N (InstanceLimitExceeded beyond N live
instances), --fail ACTION:N:CODE (the first N calls of ACTION answer CODE:
503 Unavailable or RequestLimitExceeded), --stuck K (the K-th launched
instance never leaves pending).

An instance "boots" like a cloud VM would from its user-data
(USERDATA-CONTRACT.md): base64-decoded, checked (#cloud-config, at most 16 KB,
YAML), join.conf and ca.pem taken from write_files, and a real
`overcloud-agent join ... --no-run` then `overcloud-agent run` started in its
own state dir (agent binary: --agent). Terminating kills that agent and removes
the dir. The inventory (every instance and its state) is rewritten to
STATE/inventory.json after each change. Secrets never reach its log.

  fake_ec2.py serve --cert C --key K --state DIR --port-file F --region R
                    --access-key A --secret-key S [--session-token T] ...
  fake_ec2.py probe --url U --ca CA --region R --access-key A --secret-key S
                    [--session-token T] CASE     (sends one crafted request,
                    prints "HTTP-STATUS CODE"; for the rejection tests)
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import yaml

API_VERSION = "2016-11-15"
NS = "http://ec2.amazonaws.com/doc/%s/" % API_VERSION
USER_DATA_MAX = 16384
INSTANCE_TYPES = {"t3.micro", "t3.small", "t3.medium", "m5.large", "c5.large", "c5d.xlarge", "m1.small"}
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
RUN_PARAMS = re.compile(r"^(Action|Version|ImageId|InstanceType|MinCount|MaxCount|ClientToken|SubnetId|"
                        r"SecurityGroupId\.\d+|UserData|TagSpecification\.\d+\.(ResourceType|Tag\.\d+\.(Key|Value)))$")
DESCRIBE_PARAMS = re.compile(r"^(Action|Version|InstanceId\.\d+|Filter\.\d+\.(Name|Value\.\d+)|MaxResults|NextToken)$")
TERMINATE_PARAMS = re.compile(r"^(Action|Version|InstanceId\.\d+)$")
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
SKEW = datetime.timedelta(minutes=15)


def log(msg):
    sys.stderr.write("fake-ec2: %s\n" % msg)
    sys.stderr.flush()


class Ec2Error(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def xml_escape(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


# ---- SigV4, written from AWS's description, independently of sigv4.c ----

def uri_encode(s, keep_slash=False):
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def canonical_uri(path):
    segs = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    out = "/" + "/".join(uri_encode(s) for s in segs)
    if segs and trailing:
        out += "/"
    return out


def canonical_query(query):
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(k)), uri_encode(urllib.parse.unquote(v))))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def signing_key(secret, date, region, service):
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sign(secret, method, path, query, headers, signed, body, amz_date, region, service):
    """headers: list of (name, value) as received; signed: lower-case names."""
    values = {}
    for name, value in headers:
        n = name.lower()
        if n in signed:
            values.setdefault(n, []).append(" ".join(value.strip().split()))
    canon_headers = "".join("%s:%s\n" % (n, ",".join(values[n])) for n in signed)
    creq = "\n".join([method, canonical_uri(path), canonical_query(query), canon_headers,
                      ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    return hmac.new(signing_key(secret, amz_date[:8], region, service), sts.encode(), hashlib.sha256).hexdigest()


AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                     r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")


# ---- the cloud ----

class Cloud:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.instances = {}           # id -> dict
        self.order = []
        self.tokens = {}              # client token -> (params digest, id)
        self.launches = 0
        self.faults = {}              # action -> [remaining, code]
        for f in args.fail or []:
            action, n, code = f.split(":")
            self.faults[action] = [int(n), code]
        self.stuck = set(args.stuck or [])
        self.next_ip = 1
        os.makedirs(os.path.join(args.state, "vms"), exist_ok=True)
        self.save()

    def save(self):
        inv = [{k: i[k] for k in ("id", "state", "name", "overcloud", "private_ip", "image", "type")}
               | {"agent_running": i.get("proc") is not None and i["proc"].poll() is None}
               for i in (self.instances[x] for x in self.order)]
        tmp = os.path.join(self.args.state, "inventory.json.tmp")
        with open(tmp, "w") as f:
            json.dump(inv, f, indent=1)
        os.replace(tmp, os.path.join(self.args.state, "inventory.json"))

    def fault(self, action, canonical=""):
        f = self.faults.get(action)
        if f and f[0] > 0:
            f[0] -= 1
            if f[1] == "SignatureDoesNotMatch":
                # EC2 quotes the canonical request it computed, session token
                # and all, in this message
                raise Ec2Error(403, "SignatureDoesNotMatch",
                               "The request signature we calculated does not match the signature you "
                               "provided. The Canonical String for this request should have been\n'%s'"
                               % canonical)
            if f[1] == "503":
                raise Ec2Error(503, "Unavailable", "The server is overloaded and can't handle the request.")
            raise Ec2Error(503, "RequestLimitExceeded", "Request limit exceeded.")

    # -- actions --
    def run_instances(self, p):
        for key in p:
            if not RUN_PARAMS.match(key):
                raise Ec2Error(400, "UnknownParameter", "The parameter %s is not recognized" % key)
        for key in ("ImageId", "MinCount", "MaxCount"):
            if key not in p:
                raise Ec2Error(400, "MissingParameter", "The request must contain the parameter %s" % key)
        for key in ("MinCount", "MaxCount"):
            if not re.fullmatch(r"[1-9][0-9]{0,3}", p[key]):
                raise Ec2Error(400, "InvalidParameterValue", "Invalid value '%s' for %s" % (p[key], key))
        if p["MinCount"] != "1" or p["MaxCount"] != "1":
            raise Ec2Error(400, "InvalidParameterValue", "this fake launches one instance per call")
        if not re.fullmatch(r"ami-[0-9a-f]{8}([0-9a-f]{9})?", p["ImageId"]):
            raise Ec2Error(400, "InvalidAMIID.Malformed", "Invalid id: \"%s\"" % p["ImageId"])
        if p["ImageId"] != self.args.image:
            raise Ec2Error(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist" % p["ImageId"])
        itype = p.get("InstanceType", "m1.small")
        if itype not in INSTANCE_TYPES:
            raise Ec2Error(400, "InvalidParameterValue", "Invalid value '%s' for InstanceType." % itype)
        if "SubnetId" in p and p["SubnetId"] != self.args.subnet:
            raise Ec2Error(400, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist" % p["SubnetId"])
        groups = [v for k, v in p.items() if k.startswith("SecurityGroupId.")]
        for g in groups:
            if g != self.args.security_group:
                raise Ec2Error(400, "InvalidGroup.NotFound", "The security group '%s' does not exist" % g)
        tags = {}
        specs = {}
        for k, v in p.items():
            m = re.fullmatch(r"TagSpecification\.(\d+)\.(ResourceType|Tag\.(\d+)\.(Key|Value))", k)
            if m:
                specs.setdefault(m.group(1), {})[m.group(2)] = v
        for spec in specs.values():
            if spec.get("ResourceType") != "instance":
                raise Ec2Error(400, "InvalidParameterValue", "'%s' is not a valid taggable resource type"
                               % spec.get("ResourceType", ""))
            n = 1
            while "Tag.%d.Key" % n in spec:
                key, value = spec["Tag.%d.Key" % n], spec.get("Tag.%d.Value" % n, "")
                if not key or len(key) > 128 or len(value) > 256 or key.startswith("aws:"):
                    raise Ec2Error(400, "InvalidParameterValue", "invalid tag")
                tags[key] = value
                n += 1
        ud = b""
        if "UserData" in p:
            try:
                ud = base64.b64decode(p["UserData"], validate=True)
            except Exception:
                raise Ec2Error(400, "InvalidParameterValue", "Invalid BASE64 encoding of user data.")
            if len(ud) > USER_DATA_MAX:
                raise Ec2Error(400, "InvalidParameterValue", "User data is limited to 16384 bytes")
        token = p.get("ClientToken")
        if token is not None and (len(token) > 64 or not token.isascii()):
            raise Ec2Error(400, "InvalidParameterValue", "Invalid value for ClientToken")
        digest = hashlib.sha256(json.dumps(sorted((k, v) for k, v in p.items() if k != "ClientToken")).encode()).hexdigest()
        with self.lock:
            if token is not None and token in self.tokens:
                old_digest, iid = self.tokens[token]
                if old_digest != digest:
                    raise Ec2Error(400, "IdempotentParameterMismatch",
                                   "Client token already used before with different parameters")
                log("RunInstances: client token seen before, same instance %s" % iid)
                return self.instance_xml_response("RunInstancesResponse", [self.instances[iid]], run=True)
            live = sum(1 for i in self.instances.values() if i["state"] not in ("terminated",))
            if self.args.instance_limit is not None and live + 1 > self.args.instance_limit:
                raise Ec2Error(400, "InstanceLimitExceeded",
                               "You have requested more instances (%d) than your current instance limit of "
                               "%d allows for the specified instance type. Please visit "
                               "http://aws.amazon.com/contact-us/ec2-request to request an adjustment to "
                               "this limit." % (live + 1, self.args.instance_limit))
            self.launches += 1
            iid = "i-" + secrets.token_hex(9)[:17]
            inst = {"id": iid, "state": "pending", "image": p["ImageId"], "type": itype,
                    "name": tags.get("overcloud:node", ""), "overcloud": tags.get("overcloud:id", ""),
                    "private_ip": "127.0.1.%d" % self.next_ip, "tags": tags, "token": token,
                    "launched": time.monotonic(), "stuck": self.launches in self.stuck,
                    "user_data": ud, "proc": None, "dir": os.path.join(self.args.state, "vms", iid)}
            self.next_ip += 1
            self.instances[iid] = inst
            self.order.append(iid)
            if token is not None:
                self.tokens[token] = (digest, iid)
            self.save()
            log("RunInstances: launched %s for node %s%s" % (iid, inst["name"] or "?",
                                                             " (will stay pending)" if inst["stuck"] else ""))
            return self.instance_xml_response("RunInstancesResponse", [inst], run=True)

    def instance_ids(self, p, required):
        ids = [v for k, v in sorted(p.items(), key=lambda kv: kv[0]) if k.startswith("InstanceId.")]
        if required and not ids:
            raise Ec2Error(400, "MissingParameter", "The request must contain the parameter InstanceId")
        for iid in ids:
            if not INSTANCE_ID.match(iid):
                raise Ec2Error(400, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"" % iid)
        missing = [i for i in ids if i not in self.instances]
        if missing:
            raise Ec2Error(400, "InvalidInstanceID.NotFound",
                           "The instance ID%s '%s' do%s not exist" % ("s" if len(missing) > 1 else "",
                                                                     ", ".join(missing),
                                                                     "" if len(missing) > 1 else "es"))
        return ids

    def describe_instances(self, p):
        for key in p:
            if not DESCRIBE_PARAMS.match(key):
                raise Ec2Error(400, "UnknownParameter", "The parameter %s is not recognized" % key)
        with self.lock:
            ids = self.instance_ids(p, False)
            filters = {}
            for k, v in p.items():
                m = re.fullmatch(r"Filter\.(\d+)\.Name", k)
                if m:
                    vals = [vv for kk, vv in p.items() if kk.startswith("Filter.%s.Value." % m.group(1))]
                    filters[v] = vals
            for name in filters:
                if name not in ("client-token", "instance-state-name", "instance-id") and not name.startswith("tag:"):
                    raise Ec2Error(400, "InvalidParameterValue", "The filter '%s' is invalid" % name)
            out = []
            for iid in self.order:
                i = self.instances[iid]
                if ids and iid not in ids:
                    continue
                ok = True
                for name, vals in filters.items():
                    have = (i["token"] if name == "client-token" else i["state"] if name == "instance-state-name"
                            else iid if name == "instance-id" else i["tags"].get(name[4:]))
                    ok = ok and have in vals
                if ok:
                    out.append(i)
            return self.instance_xml_response("DescribeInstancesResponse", out)

    def terminate_instances(self, p):
        for key in p:
            if not TERMINATE_PARAMS.match(key):
                raise Ec2Error(400, "UnknownParameter", "The parameter %s is not recognized" % key)
        with self.lock:
            ids = self.instance_ids(p, True)
            items = []
            for iid in ids:
                i = self.instances[iid]
                prev = i["state"]
                if prev != "terminated":
                    i["state"] = "shutting-down"
                    i["terminating"] = time.monotonic()
                items.append((i, prev))
            self.save()
            body = "".join("<item><instanceId>%s</instanceId><currentState><code>%d</code><name>%s</name>"
                           "</currentState><previousState><code>%d</code><name>%s</name></previousState></item>"
                           % (i["id"], STATE_CODES[i["state"]], i["state"], STATE_CODES[prev], prev)
                           for i, prev in items)
            log("TerminateInstances: %s" % " ".join(ids))
            return ('<?xml version="1.0" encoding="UTF-8"?>\n<TerminateInstancesResponse xmlns="%s"><requestId>%s'
                    '</requestId><instancesSet>%s</instancesSet></TerminateInstancesResponse>'
                    % (NS, secrets.token_hex(8), body))

    def instance_xml_response(self, root, insts, run=False):
        def item(i):
            return ("<item><instanceId>%s</instanceId><imageId>%s</imageId><instanceState><code>%d</code>"
                    "<name>%s</name></instanceState><instanceType>%s</instanceType>%s<tagSet>%s</tagSet></item>"
                    % (i["id"], i["image"], STATE_CODES[i["state"]], i["state"], i["type"],
                       "<privateIpAddress>%s</privateIpAddress>" % i["private_ip"] if i["state"] != "terminated" else "",
                       "".join("<item><key>%s</key><value>%s</value></item>" % (xml_escape(k), xml_escape(v))
                               for k, v in i["tags"].items())))
        rid = secrets.token_hex(8)
        if run:
            return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s"><requestId>%s</requestId>'
                    '<reservationId>r-%s</reservationId><ownerId>123456789012</ownerId><groupSet/>'
                    '<instancesSet>%s</instancesSet></%s>' % (root, NS, rid, secrets.token_hex(8),
                                                             "".join(item(i) for i in insts), root))
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s"><requestId>%s</requestId><reservationSet>%s'
                '</reservationSet></%s>' % (root, NS, rid, "".join(
                    "<item><reservationId>r-%s</reservationId><ownerId>123456789012</ownerId><groupSet/>"
                    "<instancesSet>%s</instancesSet></item>" % (i["id"][2:], item(i)) for i in insts), root))

    # -- the instances' lives --
    def tick(self):
        to_boot, to_kill, changed = [], [], False
        with self.lock:
            now = time.monotonic()
            for i in self.instances.values():
                if i["state"] == "pending" and not i["stuck"] and now - i["launched"] >= self.args.boot_ms / 1000:
                    i["state"] = "running"
                    changed = True
                    if self.args.agent:
                        to_boot.append(i)
                elif (i["state"] == "shutting-down" and not i.get("killing")
                      and now - i["terminating"] >= self.args.terminate_ms / 1000):
                    i["killing"] = True
                    to_kill.append(i)
            if changed:
                self.save()
        for i in to_boot:
            threading.Thread(target=self.boot, args=(i,), daemon=True).start()
        for i in to_kill:
            # the agent dies before EC2 says "terminated"
            self.kill_agent(i)
            shutil.rmtree(i["dir"], ignore_errors=True)
            with self.lock:
                i["state"] = "terminated"
                i["user_data"] = b""
                self.save()

    def usable(self, i):
        return i["state"] == "running" and not i.get("killing")

    def boot(self, i):
        """Does what cloud-init would, as far as the contract goes; a user-data
        that does not meet the contract leaves the instance without an agent."""
        try:
            conf, ca = check_user_data(i["user_data"])
        except (ValueError, UnicodeDecodeError, yaml.YAMLError) as e:
            log("instance %s: user-data refused: %s" % (i["id"], str(e).splitlines()[0]))
            return
        os.makedirs(i["dir"], mode=0o700, exist_ok=True)
        ca_path = os.path.join(i["dir"], "ca.pem")
        with open(ca_path, "w") as f:
            f.write(ca)
        state = os.path.join(i["dir"], "state")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": i["dir"]}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LD_LIBRARY_PATH"):
            if k in os.environ:
                env[k] = os.environ[k]
        with open(os.path.join(i["dir"], "agent.log"), "ab") as logf:
            with self.lock:
                if not self.usable(i):
                    return
                i["join"] = subprocess.Popen([self.args.agent, "join", "--tower", conf["tower"], "--token",
                                              conf["token"], "--ca", ca_path, "--state", state, "--no-run"],
                                             stdout=logf, stderr=logf, env=env, start_new_session=True)
            try:
                rc = i["join"].wait(timeout=120)
            except subprocess.TimeoutExpired:
                i["join"].kill()
                rc = i["join"].wait()
            if rc != 0:
                log("instance %s: agent join failed (exit %d)" % (i["id"], rc))
                return
            with self.lock:
                if not self.usable(i):
                    return
                i["proc"] = subprocess.Popen([self.args.agent, "run", "--state", state], stdout=logf,
                                             stderr=logf, env=env, start_new_session=True)
                self.save()
        log("instance %s: agent started (pid %d), role %s" % (i["id"], i["proc"].pid, conf.get("role", "?")))

    def kill_agent(self, i):
        with self.lock:
            procs = [p for p in (i.get("join"), i.get("proc")) if p is not None]
            i["proc"] = None
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if procs:
            log("instance %s: agent stopped" % i["id"])

    def shutdown(self):
        for i in list(self.instances.values()):
            with self.lock:
                i["killing"] = True
            self.kill_agent(i)
        with self.lock:
            self.save()


def check_user_data(ud):
    """USERDATA-CONTRACT.md: #cloud-config, <= 16 KB, YAML with write_files
    holding /etc/overcloud/join.conf and /etc/overcloud/ca.pem."""
    if not ud:
        raise ValueError("no user-data")
    if len(ud) > USER_DATA_MAX:
        raise ValueError("user-data over 16 KB")
    text = ud.decode("utf-8")
    if not text.startswith("#cloud-config\n"):
        raise ValueError("user-data does not start with #cloud-config")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("write_files"), list):
        raise ValueError("no write_files")
    files = {f.get("path"): f for f in doc["write_files"] if isinstance(f, dict)}
    for need in ("/etc/overcloud/join.conf", "/etc/overcloud/ca.pem"):
        if need not in files or not isinstance(files[need].get("content"), str):
            raise ValueError("write_files lacks %s" % need)
    if str(files["/etc/overcloud/join.conf"].get("permissions", "")) not in ("0600", "600"):
        raise ValueError("join.conf is not 0600")
    conf = {}
    for line in files["/etc/overcloud/join.conf"]["content"].splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, sep, v = line.partition("=")
        if not sep:
            raise ValueError("join.conf: line without '='")
        conf[k.strip()] = v.strip()
    for need in ("tower", "api", "token", "ca_hash", "role", "arch"):
        if not conf.get(need):
            raise ValueError("join.conf lacks %s" % need)
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", conf["ca_hash"]):
        raise ValueError("join.conf: bad ca_hash")
    ca = files["/etc/overcloud/ca.pem"]["content"]
    if "-----BEGIN CERTIFICATE-----" not in ca:
        raise ValueError("ca.pem is no certificate")
    return conf, ca


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ec2"

    def log_message(self, fmt, *args):   # the default would print request lines
        pass

    def do_GET(self):
        self.handle_query()

    def do_POST(self):
        self.handle_query()

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_query(self):
        cloud = self.server.cloud
        args = cloud.args
        action = "?"
        try:
            length = int(self.headers.get("Content-Length", "0") or "0")
            if length < 0 or length > 1 << 20:
                raise Ec2Error(400, "InvalidParameterValue", "request body too large")
            body = self.rfile.read(length) if length else b""
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/":
                raise Ec2Error(400, "InvalidAction", "The action is not valid for this web service.")
            self.check_signature(url, body)
            params = {}
            sources = [url.query]
            if self.command == "POST":
                ctype = self.headers.get("Content-Type", "")
                if not ctype.startswith("application/x-www-form-urlencoded"):
                    raise Ec2Error(400, "InvalidParameterValue", "POST needs application/x-www-form-urlencoded")
                sources.append(body.decode("utf-8"))
            for src in sources:
                try:
                    for k, v in urllib.parse.parse_qsl(src, keep_blank_values=True, strict_parsing=bool(src)):
                        if k in params:
                            raise Ec2Error(400, "InvalidParameterValue", "parameter %s given twice" % k)
                        params[k] = v
                except ValueError:
                    raise Ec2Error(400, "MalformedQueryString", "The query string is malformed")
            action = params.get("Action", "?")
            if "Action" not in params:
                raise Ec2Error(400, "MissingAction", "The request must contain the parameter Action")
            if "Version" not in params:
                raise Ec2Error(400, "MissingParameter", "The request must contain the parameter Version")
            if params["Version"] != API_VERSION:
                raise Ec2Error(400, "NoSuchVersion", "The requested version (%s) of service AmazonEC2 does not exist"
                               % params["Version"][:40])
            verbs = {"RunInstances": cloud.run_instances, "DescribeInstances": cloud.describe_instances,
                     "TerminateInstances": cloud.terminate_instances}
            if action not in verbs:
                raise Ec2Error(400, "InvalidAction", "The action %s is not valid for this web service." % action[:40])
            with cloud.lock:
                cloud.fault(action, self.canonical_request(url, body))
            out = verbs[action](params)
            log("%s -> 200" % action)
            self.answer(200, out)
        except Ec2Error as e:
            log("%s -> %d %s" % (action, e.status, e.code))
            self.answer(e.status, '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
                        '<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>'
                        % (e.code, xml_escape(e.message), secrets.token_hex(8)))

    def canonical_request(self, url, body):
        """The canonical request of SigV4 over the headers the client signed."""
        m = AUTH_RE.match((self.headers.get("Authorization") or "").strip())
        names = m.group(5).split(";") if m else []
        lines = ["%s:%s" % (n, " ".join((self.headers.get(n) or "").strip().split())) for n in names]
        return "\n".join([self.command, url.path or "/", url.query] + lines +
                         ["", ";".join(names), hashlib.sha256(body).hexdigest()])

    def check_signature(self, url, body):
        args = self.server.cloud.args
        auth = self.headers.get("Authorization")
        if auth is None:
            raise Ec2Error(401, "MissingAuthenticationToken", "Request is missing Authentication Token")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise Ec2Error(400, "IncompleteSignature", "The request signature does not conform to AWS standards.")
        key_id, cdate, region, service, signed, signature = m.groups()
        amz_date = self.headers.get("X-Amz-Date")
        if amz_date is None or not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
            raise Ec2Error(400, "IncompleteSignature",
                           "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        now = datetime.datetime.now(datetime.timezone.utc)
        if abs(now - when) > SKEW:
            raise Ec2Error(400, "RequestExpired", "Request has expired.")
        if key_id != args.access_key:
            raise Ec2Error(401, "AuthFailure", "AWS was not able to validate the provided access credentials")
        if args.session_token is not None and not hmac.compare_digest(
                self.headers.get("X-Amz-Security-Token", ""), args.session_token):
            raise Ec2Error(401, "AuthFailure", "The security token included in the request is invalid.")
        names = signed.split(";")
        if names != sorted(names) or "host" not in names or "x-amz-date" not in names:
            raise Ec2Error(403, "SignatureDoesNotMatch", "SignedHeaders must include host and x-amz-date, sorted.")
        for n in names:
            if self.headers.get(n) is None:
                raise Ec2Error(403, "SignatureDoesNotMatch", "Signed header %s is missing" % n)
        if cdate != amz_date[:8] or region != args.region or service != "ec2":
            raise Ec2Error(403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, service "
                           "and date.")
        want = sign(args.secret_key, self.command, url.path, url.query, self.headers.items(), names, body,
                    amz_date, region, service)
        if not hmac.compare_digest(want, signature):
            raise Ec2Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                           "signature you provided. Check your AWS Secret Access Key and signing method. Consult "
                           "the service documentation for details.")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(args):
    cloud = Cloud(args)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.cloud = cloud
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    stop = threading.Event()

    def ticker():
        while not stop.wait(0.05):
            try:
                cloud.tick()
            except Exception as e:      # keep serving; the test sees the log
                log("tick: %s" % e)
    threading.Thread(target=ticker, daemon=True).start()

    def on_term(signum, frame):
        stop.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, args.port_file)
    log("listening on 127.0.0.1:%d, region %s" % (srv.server_address[1], args.region))
    srv.serve_forever(poll_interval=0.1)
    cloud.shutdown()
    log("stopped")


# ---- probe: one crafted request, signed by this file's own signer ----

def probe(args):
    url = urllib.parse.urlsplit(args.url)
    host = url.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    case = args.case
    params = {"Action": "DescribeInstances", "Version": API_VERSION}
    secret, key_id, region = args.secret_key, args.access_key, args.region
    if case == "expired":
        now -= datetime.timedelta(minutes=20)
    elif case == "future":
        now += datetime.timedelta(minutes=20)
    elif case == "wrong-version":
        params["Version"] = "2014-10-01"
    elif case == "no-version":
        del params["Version"]
    elif case == "no-action":
        del params["Action"]
    elif case == "bad-action":
        params["Action"] = "DeleteEverything"
    elif case == "bad-secret":
        secret = secret[:-1] + ("x" if secret[-1] != "x" else "y")
    elif case == "bad-key":
        key_id = "AKIDUNKNOWN0000000000"
    elif case == "bad-region":
        region = "eu-nowhere-1"
    elif case == "unknown-id":
        params["InstanceId.1"] = "i-0123456789abcdef0"
    elif case == "malformed-id":
        params["InstanceId.1"] = "i-NOTHEX"
    elif case == "terminate-no-id":
        params["Action"] = "TerminateInstances"
    elif case == "terminate-unknown":
        params.update({"Action": "TerminateInstances", "InstanceId.1": "i-0123456789abcdef0"})
    elif case == "run-missing":
        params.update({"Action": "RunInstances", "MinCount": "1", "MaxCount": "1"})
    elif case == "run-bad-count":
        params.update({"Action": "RunInstances", "ImageId": args.image, "MinCount": "zero", "MaxCount": "1"})
    elif case == "run-bad-type":
        params.update({"Action": "RunInstances", "ImageId": args.image, "MinCount": "1", "MaxCount": "1",
                       "InstanceType": "x9.huge"})
    elif case == "run-bad-image":
        params.update({"Action": "RunInstances", "ImageId": "ami-00000000", "MinCount": "1", "MaxCount": "1"})
    elif case == "run-bad-userdata":
        params.update({"Action": "RunInstances", "ImageId": args.image, "MinCount": "1", "MaxCount": "1",
                       "UserData": "not base64!"})
    elif case == "run-unknown-param":
        params.update({"Action": "RunInstances", "ImageId": args.image, "MinCount": "1", "MaxCount": "1",
                       "Bogus": "1"})
    elif case not in ("good", "tampered", "no-date", "no-auth", "no-token", "unsigned-header"):
        sys.exit("unknown probe case %s" % case)
    body = urllib.parse.urlencode(params, quote_via=urllib.parse.quote).encode()
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    headers = [("Host", host), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
               ("X-Amz-Date", amz_date)]
    if args.session_token and case != "no-token":
        headers.append(("X-Amz-Security-Token", args.session_token))
    signed = sorted(h[0].lower() for h in headers)
    sig = sign(secret, "POST", "/", "", headers, signed, body, amz_date, region, "ec2")
    auth = "AWS4-HMAC-SHA256 Credential=%s/%s/%s/ec2/aws4_request, SignedHeaders=%s, Signature=%s" % (
        key_id, amz_date[:8], region, ";".join(signed), sig)
    if case == "tampered":
        body += b"&InstanceId.1=i-0123456789abcdef0"
    if case == "unsigned-header":
        auth = auth.replace("SignedHeaders=", "SignedHeaders=content-type;x-amz-date;")
    send = dict(headers)
    if case == "no-date":
        del send["X-Amz-Date"]
    if case != "no-auth":
        send["Authorization"] = auth
    req = urllib.request.Request(args.url, data=body, headers=send, method="POST")
    ctx = ssl.create_default_context(cafile=args.ca)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    m = re.search(r"<Code>([^<]*)</Code>", text)
    print("%d %s" % (status, m.group(1) if m else "-"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--port-file", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--state", required=True)
    s.add_argument("--agent")
    s.add_argument("--instance-limit", type=int)
    s.add_argument("--fail", action="append", help="ACTION:N:CODE (CODE 503, RequestLimitExceeded or SignatureDoesNotMatch)")
    s.add_argument("--stuck", type=int, action="append", help="the K-th launch stays pending")
    s.add_argument("--boot-ms", type=int, default=300)
    s.add_argument("--terminate-ms", type=int, default=200)
    p = sub.add_parser("probe")
    p.add_argument("--url", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("case")
    for a in (s, p):
        a.add_argument("--region", required=True)
        a.add_argument("--access-key", required=True)
        a.add_argument("--secret-key", required=True)
        a.add_argument("--session-token")
        a.add_argument("--image", default="ami-0123456789abcdef0")
    s.add_argument("--subnet", default="subnet-0123456789abcdef0")
    s.add_argument("--security-group", default="sg-0123456789abcdef0")
    args = ap.parse_args()
    serve(args) if args.cmd == "serve" else probe(args)


if __name__ == "__main__":
    main()

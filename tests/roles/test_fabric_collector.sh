#!/usr/bin/env bash
# fabric-collector (the Visible Fabric) against shims: the node exporter on
# every node (armv7 edge devices too), installed, enabled and removed again;
# on the post kube-state-metrics from its pinned upstream manifests (served
# by a loopback mirror), Prometheus and Grafana from our manifests, with
# passwords made on the post (secret outputs, bcrypt for Prometheus), data
# on PVCs of the default StorageClass, the real `promtool check config` on
# the Prometheus configuration it applies, dashboards that are JSON, every
# image rewritable to a mirror, idempotent re-runs and a complete remove.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/kube_sim.sh"

ROLE=fabric-collector
RDIR=$ROLES_DIR/$ROLE

for tool in curl sha256sum perl python3 promtool htpasswd; do
	type -P "$tool" >/dev/null ||
		fail "$tool is not installed (promtool: Debian package prometheus; htpasswd: apache2-utils)"
done
# what the role needs on a real node besides the shims: curl and sha256sum
# (artifacts.sh and the config checksum), perl (Essential in Debian: the
# bcrypt hash through crypt(3))
for tool in curl sha256sum perl; do
	ln -sf "$(type -P "$tool")" "$T/bin/$tool"
done

check_role_yaml $ROLE

# --- Weave Scope is gone, everywhere -------------------------------------
hits=$(grep -rniE 'weave|scope' "$RDIR" "$OC_SRC/tower/patterns" \
	"$OC_SRC/tests/fuzz/corpus/fuzz_role/real-fabric-collector.yaml" "$OC_SRC/README.md" || true)
[ -z "$hits" ] || fail "Weave Scope is still referenced: $hits"
ok "no Weave Scope in the role, the patterns, the fuzz corpus or the README"

# --- static facts of the role --------------------------------------------
archs=$(sed -n 's/^archs: \[\(.*\)\]$/\1/p' "$RDIR/role.yaml")
[ "$archs" = "x86_64, aarch64, armv7" ] || fail "archs are '$archs': the node exporter runs on x86_64, aarch64 and armv7 edge devices"
! grep -q 'name: kubeconfig' "$RDIR/role.yaml" || fail "the role still takes a kubeconfig input"
for o in prometheus_password grafana_admin_password; do
	awk -v o="$o" '$0 == "  - name: " o { getline; if ($0 == "    secret: true") f = 1 } END { exit !f }' \
		"$RDIR/role.yaml" || fail "output $o is not declared secret"
done
ok "role.yaml: x86_64, aarch64, armv7; no kubeconfig input; passwords are secret outputs"
for d in nodes cluster overcloud; do
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["uid"] and d["title"] and d["panels"], "no uid, title or panels"
for p in d["panels"]:
    assert p["datasource"]["uid"] == "prometheus", "panel %s has another datasource" % p["title"]
    assert p["targets"] and all(t["expr"] for t in p["targets"]), "panel %s has no query" % p["title"]
' "$RDIR/dashboard-$d.json" || fail "dashboard-$d.json is not a dashboard of valid JSON"
done
ok "dashboards nodes, cluster, overcloud: valid JSON, every panel queries the provisioned Prometheus"

# --- the loopback mirror for kube-state-metrics' upstream manifests --------
# Stand-ins with the same names and kinds as the pinned release's files
# (the real ones are not copied here); the bundle copy's artifacts file pins
# the stand-ins.
MIRROR=$T/mirror
KSM_PATH=raw.githubusercontent.com/kubernetes/kube-state-metrics/v2.18.0/examples/standard
mkdir -p "$MIRROR/$KSM_PATH"
ksm_obj() { # FILE KIND [NAMESPACED]
	{
		printf 'apiVersion: %s\nkind: %s\nmetadata:\n  name: kube-state-metrics\n' "$3" "$2"
		[ "${4:-}" = ns ] && printf '  namespace: kube-system\n'
		cat
	} >"$MIRROR/$KSM_PATH/$1.yaml"
}
ksm_obj service-account ServiceAccount v1 ns </dev/null
ksm_obj cluster-role ClusterRole rbac.authorization.k8s.io/v1 <<'EOF'
rules:
  - apiGroups: [""]
    resources: [nodes, pods]
    verbs: [list, watch]
EOF
ksm_obj cluster-role-binding ClusterRoleBinding rbac.authorization.k8s.io/v1 <<'EOF'
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kube-state-metrics
subjects:
  - kind: ServiceAccount
    name: kube-state-metrics
    namespace: kube-system
EOF
ksm_obj deployment Deployment apps/v1 ns <<'EOF'
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: kube-state-metrics
  template:
    metadata:
      labels:
        app.kubernetes.io/name: kube-state-metrics
    spec:
      containers:
        - image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.18.0
          name: kube-state-metrics
      serviceAccountName: kube-state-metrics
EOF
ksm_obj service Service v1 ns <<'EOF'
spec:
  clusterIP: None
  ports:
    - name: http-metrics
      port: 8080
  selector:
    app.kubernetes.io/name: kube-state-metrics
EOF

serve_mirror "$MIRROR"

# The shipped pins are the upstream ones (checked here for form); the
# bundle copy gets the stand-ins' sums.
BUNDLE=$(role_bundle $ROLE)
for a in service-account cluster-role cluster-role-binding deployment service; do
	grep -Eq "^ksm-$a v2\.18\.0 [0-9a-f]{64} https://$KSM_PATH/$a\.yaml\$" "$RDIR/artifacts" ||
		fail "artifacts: no pin of ksm-$a at https://$KSM_PATH/$a.yaml"
	sum=$(sha256sum <"$MIRROR/$KSM_PATH/$a.yaml" | cut -d' ' -f1)
	sed -i "s|^ksm-$a v2.18.0 [0-9a-f]* |ksm-$a v2.18.0 $sum |" "$BUNDLE/artifacts"
done
ok "artifacts: kube-state-metrics v2.18.0's five manifests pinned by upstream URL and sha256"

# new_debian_node NAME: a fresh node with Debian 12's own package source, as
# its cloud image has it (deb822, signed by the archive keyring)
new_debian_node() {
	new_node "$1"
	mkdir -p "$NODE/root/etc/apt/sources.list.d" "$NODE/root/usr/share/keyrings"
	printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		>"$NODE/root/etc/apt/sources.list.d/debian.sources"
	if [ -s /usr/share/keyrings/debian-archive-keyring.gpg ]; then
		cp /usr/share/keyrings/debian-archive-keyring.gpg "$NODE/root/usr/share/keyrings/"
	else
		printf 'stand-in keyring\n' >"$NODE/root/usr/share/keyrings/debian-archive-keyring.gpg"
	fi
}

# A kubectl for the post: the shared fake (tests/roles/shims/installable,
# a model of kubectl 1.34 and its API server that validates every applied
# object), wrapped to keep a copy of each applied file in
# $NODE/state/applied/ (secrets included, to check them); the post's
# admin.conf that kubeadm wrote.
post_kubectl() {
	preinstall kubectl
	mkdir -p "$NODE/state/applied"
	cat >"$NODE/installed/kubectl" <<EOF
#!/bin/sh
fake="$SHIMS/installable/kubectl"
state="$NODE/state"
EOF
	cat >>"$NODE/installed/kubectl" <<'EOF'
case " $* " in
*" apply -f "*)
	f=$(printf '%s\n' "$*" | sed 's/.* -f \([^ ]*\).*/\1/')
	n=$(ls "$state/applied" | wc -l)
	[ -f "$f" ] && cp "$f" "$state/applied/$(printf '%03d' "$n")-${f##*/}"
	;;
esac
exec "$fake" "$@"
EOF
	chmod +x "$NODE/installed/kubectl"
	mkdir -p "$NODE/root/etc/kubernetes"
	printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: https://10.0.0.5:6443\n' \
		>"$NODE/root/etc/kubernetes/admin.conf"
	kube_sim '{"nodes": ["post", "w1"]}'
}
# storage_class NAME [default]: the cluster gets a StorageClass (the
# DataLake's, as rook-datalake makes it)
storage_class() {
	local ann=""
	[ "${2:-}" = default ] && ann=$'  annotations:\n    storageclass.kubernetes.io/is-default-class: "true"\n'
	printf 'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: %s\n%sprovisioner: rook-ceph.rbd.csi.ceph.com\nreclaimPolicy: Delete\n' \
		"$1" "$ann" | kube_get apply -f - >/dev/null
}
# cluster_objects: "Kind namespace/name" of every object in the fake
# cluster's store that apply makes (ours and kube-state-metrics'; not the
# namespace's default ServiceAccount, which Kubernetes makes), sorted
cluster_objects() {
	python3 - "$NODE/state/kube/store.json" <<'EOF'
import json, sys
objs = json.load(open(sys.argv[1]))["objects"].values()
for o in sorted("%s %s/%s" % (x["kind"], x["metadata"].get("namespace", ""), x["metadata"]["name"]) for x in objs
                if not (x["kind"] == "ServiceAccount" and x["metadata"]["name"] == "default") and
                (x["metadata"].get("namespace") == "overcloud-fabric" or x["metadata"]["name"] in
                ("overcloud-fabric", "kube-state-metrics", "overcloud-prometheus"))):
    print(o)
EOF
}
applied() { # NAME: the newest applied copy of NAME
	ls "$NODE/state/applied/"*"-$1" 2>/dev/null | tail -n 1
}
# --- a cluster node: install, enable; remove uninstalls what apply installed
new_debian_node worker
run_step $ROLE apply
expect_rc_ok "apply (node)"
expect_calls "apply (node)" <<'CALLS'
apt-get -o DPkg::Lock::Timeout=300 update -q
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends prometheus-node-exporter
systemctl enable --now prometheus-node-exporter
CALLS
parse_outputs
[ ${#OUT[@]} -eq 0 ] || fail "a plain node published outputs: ${!OUT[*]}"
ok "apply (node): no outputs"
expect_progress "apply (node)" final

run_step $ROLE apply
expect_rc_ok "re-apply (node)"
calls | grep -q '^apt-get' && fail "re-apply installed again"
ok "re-apply (node): nothing installed again"

run_step $ROLE remove
expect_rc_ok "remove (node)"
expect_calls "remove (node)" <<'CALLS'
systemctl disable --now prometheus-node-exporter
apt-get -o DPkg::Lock::Timeout=300 remove -y -q prometheus-node-exporter
CALLS
expect_progress "remove (node)" final
[ ! -e "$NODE/root/var/lib/overcloud/fabric-collector" ] || fail "remove left its marker"
ok "remove (node): marker gone"

# --- an armv7 edge device (no kubelet, no kubectl): the exporter only ------
new_debian_node edge
NODE_IP=10.0.0.9 run_step $ROLE apply
expect_rc_ok "apply (armv7 edge device)"
calls | grep -qx 'apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends prometheus-node-exporter' ||
	fail "apply (armv7 edge device): no node exporter installed"
calls | grep -q '^kubectl' && fail "apply (edge device) called kubectl"
ok "apply (armv7 edge device): node exporter from Debian, no kubectl, no kubeconfig"

# --- a node whose exporter was already there and enabled: remove keeps it
new_debian_node preinstalled
preinstall prometheus-node-exporter
run_step $ROLE apply
expect_rc_ok "apply (exporter already there)"
run_step $ROLE remove
expect_rc_ok "remove (exporter already there)"
calls | grep -Eq '^(apt-get|systemctl disable)' && fail "remove took away an exporter apply did not install"
ok "remove (exporter already there): left as it was"

# --- the post: servers with the default StorageClass (the DataLake's) -----
new_debian_node post
preinstall prometheus-node-exporter
post_kubectl
storage_class ceph-block default
TOWER_TOKEN=towerMetricsToken0123456789abcdefXYZ
mkdir -p "$NODE/root/etc/overcloud"
printf -- '-----BEGIN CERTIFICATE-----\nMIIBfakeTowerCA\n-----END CERTIFICATE-----\n' >"$NODE/root/etc/overcloud/ca.pem"
POST_INPUTS=(post=true manifest_base_url="$BASE" tower_metrics_url=https://192.0.2.10:6125/metrics
	tower_metrics_token="$TOWER_TOKEN" overcloud_id=oc-1234abcd)
run_step $ROLE apply "${POST_INPUTS[@]}"
expect_rc_ok "apply (post)"
expect_calls "apply (post)" <<'CALLS'
systemctl is-enabled --quiet prometheus-node-exporter
systemctl enable --now prometheus-node-exporter
kubectl get storageclass -o name
kubectl get storageclass ceph-block -o yaml
kubectl apply -f <roles>/fabric-collector/namespace.yaml
kubectl apply -f <work>/kube-state-metrics/ksm-service-account.yaml
kubectl apply -f <work>/kube-state-metrics/ksm-cluster-role.yaml
kubectl apply -f <work>/kube-state-metrics/ksm-cluster-role-binding.yaml
kubectl apply -f <work>/kube-state-metrics/ksm-deployment.yaml
kubectl apply -f <work>/kube-state-metrics/ksm-service.yaml
kubectl apply -f <work>/storage.yaml
kubectl apply -f <work>/secrets.yaml
kubectl apply -f <work>/fabric.yaml
kubectl -n kube-system rollout status deployment/kube-state-metrics --timeout=300s
kubectl -n overcloud-fabric rollout status deployment/prometheus --timeout=600s
kubectl -n overcloud-fabric rollout status deployment/grafana --timeout=600s
CALLS
for a in service-account cluster-role cluster-role-binding deployment service; do
	grep -q "GET /$KSM_PATH/$a.yaml" "$T/http.log" || fail "kube-state-metrics $a.yaml was not fetched from the mirror"
done
ok "apply (post): kube-state-metrics fetched from manifest_base_url as BASE/HOST/PATH"
[ ! -e "$RUN_WORK/secrets.yaml" ] || fail "the secrets' manifest stayed in the work dir"
ok "apply (post): the secrets' manifest is gone from the work dir after kubectl apply"

parse_outputs
expect_output prometheus_url http://10.0.0.5:30090
expect_output grafana_url http://10.0.0.5:30300
PROM_PW=${OUT[prometheus_password]:-}
GRAFANA_PW=${OUT[grafana_admin_password]:-}
[[ $PROM_PW =~ ^[A-Za-z0-9]{32}$ ]] || fail "prometheus_password is not 32 letters and digits"
[[ $GRAFANA_PW =~ ^[A-Za-z0-9]{32}$ ]] || fail "grafana_admin_password is not 32 letters and digits"
[ "$PROM_PW" != "$GRAFANA_PW" ] || fail "Prometheus and Grafana share a password"
ok "apply (post): outputs grafana_url, prometheus_url and two different generated passwords"
expect_progress "apply (post)" final
expect_no_secrets "apply (post)" "$PROM_PW" "$GRAFANA_PW" "$TOWER_TOKEN"
! grep -qF -e "$PROM_PW" -e "$GRAFANA_PW" -e "$TOWER_TOKEN" "$NODE/calls.log" ||
	fail "a password or the tower token is in a command's arguments"
ok "apply (post): no password or token in any command line"

FABRIC=$(applied fabric.yaml)
SECRETS=$(applied secrets.yaml)
STORAGE=$(applied storage.yaml)
[ -n "$FABRIC" ] && [ -n "$SECRETS" ] && [ -n "$STORAGE" ] || fail "apply (post): fabric, secrets or storage manifest not applied"

# Prometheus: the configuration, checked by the real promtool
python3 -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
c = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "prometheus-config"]
assert len(c) == 1, "no ConfigMap prometheus-config"
open(sys.argv[2], "w").write(c[0]["data"]["prometheus.yml"])' "$FABRIC" "$T/prometheus.yml" ||
	fail "no Prometheus configuration in the applied manifest"
# promtool checks that the files the config names exist: give it the
# secret's files under the paths the pod mounts them at, in a private root
mkdir -p "$T/promroot/etc/prometheus/tower"
printf '%s' "$TOWER_TOKEN" >"$T/promroot/etc/prometheus/tower/token"
cp "$NODE/root/etc/overcloud/ca.pem" "$T/promroot/etc/prometheus/tower/ca.crt"
# Debian's promtool (package prometheus 2.42) is built without Kubernetes
# service discovery (its binary knows no kubernetes_sd_configs): each such
# block is checked here against the fields Prometheus documents for
# kubernetes_sd_config (docs/configuration/configuration.md at v3.14.0) and
# then swapped for an empty static_configs, so that promtool checks all the
# rest (relabelling, the tower's job, http_sd, TLS and auth files).
python3 - "$T/prometheus.yml" "$T/promroot" "$T/prometheus-check.yml" <<'EOF' ||
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
roles = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}
keys = {"api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata",
        "basic_auth", "authorization", "oauth2", "follow_redirects", "enable_http2", "tls_config",
        "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header"}
for j in c["scrape_configs"]:
    for sd in j.pop("kubernetes_sd_configs", None) or []:
        assert set(sd) <= keys, "job %s: unknown kubernetes_sd_config keys %s" % (j["job_name"], set(sd) - keys)
        assert sd["role"] in roles, "job %s: role %s" % (j["job_name"], sd["role"])
        assert set(sd.get("namespaces", {})) <= {"own_namespace", "names"}
        j.setdefault("static_configs", []).append({"targets": []})
text = yaml.safe_dump(c).replace("/etc/prometheus/tower/", sys.argv[2] + "/etc/prometheus/tower/")
open(sys.argv[3], "w").write(text)
EOF
	fail "the Kubernetes service discovery blocks of prometheus.yml are wrong"
promtool check config "$T/prometheus-check.yml" >"$T/promtool.out" 2>&1 ||
	fail "promtool check config refuses the Prometheus configuration: $(cat "$T/promtool.out")"
ok "prometheus.yml: promtool check config ($(promtool --version 2>&1 | head -n 1 | cut -d' ' -f3)): SUCCESS"
python3 - "$T/prometheus.yml" <<'EOF' || fail "prometheus.yml does not scrape what the Fabric needs"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
jobs = {j["job_name"]: j for j in c["scrape_configs"]}
assert set(jobs) == {"node", "kube-state-metrics", "overcloud-tower", "edge-devices"}, sorted(jobs)
n = jobs["node"]
assert n["kubernetes_sd_configs"][0]["role"] == "node"
assert any(r.get("replacement") == "${1}:9100" for r in n["relabel_configs"]), "node exporters not on 9100"
k = jobs["kube-state-metrics"]
assert any(r.get("action") == "keep" and r["regex"] == "kube-state-metrics;http-metrics" for r in k["relabel_configs"])
t = jobs["overcloud-tower"]
assert t["scheme"] == "https" and t["metrics_path"] == "/metrics"
assert t["static_configs"][0]["targets"] == ["192.0.2.10:6125"], t["static_configs"]
assert t["authorization"]["credentials_file"] == "/etc/prometheus/tower/token"
assert t["tls_config"]["ca_file"] == "/etc/prometheus/tower/ca.crt"
e = jobs["edge-devices"]["http_sd_configs"][0]
assert e["url"] == "https://192.0.2.10:6125/v1/sd/prometheus", e["url"]
assert e["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/tower/token"}, e["authorization"]
keep = jobs["edge-devices"]["relabel_configs"][0]
assert keep["action"] == "keep" and keep["source_labels"] == ["role", "overcloud"], keep
assert keep["regex"] == "edge-device;oc-1234abcd", keep["regex"]
EOF
ok "prometheus.yml: scrapes node exporters (9100), kube-state-metrics, the tower's /metrics over HTTPS with its token and CA, this OverCloud's edge devices from the tower's http_sd"

# auth: the Prometheus web config's bcrypt hash checks the output password;
# Grafana gets its admin password from the Secret, no anonymous access
python3 - "$SECRETS" "$T" <<'EOF' || fail "the Fabric's secrets are wrong"
import sys, yaml
docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
assert set(docs) == {"prometheus-web", "grafana-credentials", "prometheus-tower"}, sorted(docs)
for d in docs.values():
    assert d["kind"] == "Secret" and d["metadata"]["namespace"] == "overcloud-fabric"
web = yaml.safe_load(docs["prometheus-web"]["stringData"]["web.yml"])
open(sys.argv[2] + "/htpasswd", "w").write("admin:" + web["basic_auth_users"]["admin"] + "\n")
g = docs["grafana-credentials"]["stringData"]
open(sys.argv[2] + "/grafana-secret", "w").write(g["admin-password"] + "\n" + g["prometheus-password"] + "\n")
t = docs["prometheus-tower"]["stringData"]
open(sys.argv[2] + "/tower-secret", "w").write(t["token"] + "\n")
assert "BEGIN CERTIFICATE" in t["ca.crt"]
EOF
grep -Eqx 'admin:\$2y\$10\$[./A-Za-z0-9]{53}' "$T/htpasswd" || fail "the Prometheus web config holds no bcrypt hash"
printf '%s' "$PROM_PW" | htpasswd -vi "$T/htpasswd" admin >/dev/null 2>&1 ||
	fail "the bcrypt hash in prometheus-web does not check prometheus_password"
printf 'wrong' | htpasswd -vi "$T/htpasswd" admin >/dev/null 2>&1 &&
	fail "the bcrypt hash in prometheus-web accepts a wrong password"
[ "$(cat "$T/grafana-secret")" = "$GRAFANA_PW"$'\n'"$PROM_PW" ] || fail "grafana-credentials does not hold the output passwords"
[ "$(cat "$T/tower-secret")" = "$TOWER_TOKEN" ] || fail "prometheus-tower does not hold the tower token"
ok "secrets: bcrypt of prometheus_password (htpasswd -v agrees, refuses a wrong one); Grafana's passwords; the tower token and CA"

python3 - "$FABRIC" <<'EOF' || fail "the Prometheus or Grafana manifest is wrong"
import sys, yaml, json
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def obj(kind, name):
    m = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(m) == 1, "%d %s/%s" % (len(m), kind, name)
    return m[0]
prom = obj("Deployment", "prometheus")["spec"]["template"]["spec"]
c = prom["containers"][0]
assert "--web.config.file=/etc/prometheus/web/web.yml" in c["args"], c["args"]
assert "--web.enable-lifecycle" not in c["args"] and "--web.enable-admin-api" not in c["args"]
vols = {v["name"]: v for v in prom["volumes"]}
assert vols["web"]["secret"]["secretName"] == "prometheus-web"
# every file the pod reads is in the volume that holds it, and no mount sits
# inside another (a mount point in a read-only ConfigMap cannot be made)
pm = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
paths = sorted(pm.values())
for a in paths:
    for b in paths:
        assert a == b or not b.startswith(a + "/"), "mount %s inside %s" % (b, a)
assert "--config.file=%s/prometheus.yml" % pm["config"] in c["args"], (pm, c["args"])
assert "--web.config.file=%s/web.yml" % pm["web"] in c["args"], (pm, c["args"])
assert vols["config"]["configMap"]["name"] == "prometheus-config"
assert vols["tower"]["secret"]["secretName"] == "prometheus-tower" and pm["tower"] == "/etc/prometheus/tower"
assert vols["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": "prometheus-data"}}, vols["data"]
graf = obj("Deployment", "grafana")["spec"]["template"]["spec"]
g = graf["containers"][0]
env = {e["name"]: e for e in g["env"]}
assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "grafana-credentials", "key": "admin-password"}
assert env["GF_AUTH_ANONYMOUS_ENABLED"]["value"] == "false"
assert env["GF_USERS_ALLOW_SIGN_UP"]["value"] == "false"
gvols = {v["name"]: v for v in graf["volumes"]}
assert gvols["data"]["persistentVolumeClaim"]["claimName"] == "grafana-data"
mounts = {m["name"]: m["mountPath"] for m in g["volumeMounts"]}
ds = yaml.safe_load(obj("ConfigMap", "grafana-datasources")["data"]["prometheus.yaml"])["datasources"][0]
assert ds["uid"] == "prometheus" and ds["url"] == "http://prometheus.overcloud-fabric.svc:9090"
assert ds["basicAuth"] is True and ds["secureJsonData"]["basicAuthPassword"] == "$PROMETHEUS_PASSWORD"
assert env["PROMETHEUS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "prometheus-password"
prov = yaml.safe_load(obj("ConfigMap", "grafana-dashboard-providers")["data"]["overcloud.yaml"])["providers"][0]
assert prov["options"]["path"] == mounts["dashboards"], (prov, mounts)
assert mounts["datasources"] == "/etc/grafana/provisioning/datasources"
assert mounts["dashboard-providers"] == "/etc/grafana/provisioning/dashboards"
dash = obj("ConfigMap", "grafana-dashboards")["data"]
assert sorted(dash) == ["cluster.json", "nodes.json", "overcloud.json"], sorted(dash)
for k, v in dash.items():
    assert json.loads(v)["panels"], k
for name, port in (("prometheus", 30090), ("grafana", 30300)):
    s = obj("Service", name)["spec"]
    assert s["type"] == "NodePort" and s["ports"][0]["nodePort"] == port
EOF
ok "manifests: Prometheus behind --web.config.file; Grafana's admin password from the Secret, no anonymous access; datasource and 3 dashboards provisioned; NodePorts 30090/30300"

python3 - "$STORAGE" <<'EOF' || fail "the volume claims are wrong"
import sys, yaml
docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
assert set(docs) == {"prometheus-data", "grafana-data"}, sorted(docs)
for d in docs.values():
    assert d["kind"] == "PersistentVolumeClaim" and d["metadata"]["namespace"] == "overcloud-fabric"
    assert "storageClassName" not in d["spec"], "the default StorageClass is meant"
assert docs["prometheus-data"]["spec"]["resources"]["requests"]["storage"] == "20Gi"
EOF
ok "storage: PVCs prometheus-data (20Gi) and grafana-data on the default StorageClass"

# every image is pinned by a tag
images=$(cat "$(applied ksm-deployment.yaml)" "$FABRIC" | sed -n 's/^ *- *image: *//p; s/^ *image: *//p')
[ "$(printf '%s\n' "$images" | sort -u)" = "docker.io/grafana/grafana:13.2.0
quay.io/prometheus/prometheus:v3.14.0
registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.18.0" ] || fail "images: $images"
ok "images: grafana 13.2.0, prometheus v3.14.0, kube-state-metrics v2.18.0"

want_objects="ClusterRole /kube-state-metrics
ClusterRole /overcloud-prometheus
ClusterRoleBinding /kube-state-metrics
ClusterRoleBinding /overcloud-prometheus
ConfigMap overcloud-fabric/grafana-dashboard-providers
ConfigMap overcloud-fabric/grafana-dashboards
ConfigMap overcloud-fabric/grafana-datasources
ConfigMap overcloud-fabric/prometheus-config
Deployment kube-system/kube-state-metrics
Deployment overcloud-fabric/grafana
Deployment overcloud-fabric/prometheus
Namespace /overcloud-fabric
PersistentVolumeClaim overcloud-fabric/grafana-data
PersistentVolumeClaim overcloud-fabric/prometheus-data
Secret overcloud-fabric/grafana-credentials
Secret overcloud-fabric/prometheus-tower
Secret overcloud-fabric/prometheus-web
Service kube-system/kube-state-metrics
Service overcloud-fabric/grafana
Service overcloud-fabric/prometheus
ServiceAccount kube-system/kube-state-metrics
ServiceAccount overcloud-fabric/prometheus"
got_objects=$(cluster_objects)
[ "$got_objects" = "$want_objects" ] || { diff <(echo "$want_objects") <(echo "$got_objects") >&2; fail "the cluster does not hold what apply makes"; }
ok "apply (post): the fake cluster (kubectl 1.34 model, every object schema-validated) holds the $(echo "$got_objects" | wc -l) objects of the Fabric"

# --- re-running changes nothing --------------------------------------------
cp "$FABRIC" "$T/fabric.1"
cp "$SECRETS" "$T/secrets.1"
run_step $ROLE apply "${POST_INPUTS[@]}"
expect_rc_ok "re-apply (post)"
calls | grep -q '^apt-get' && fail "re-apply (post) installed something"
parse_outputs
expect_output prometheus_password "$PROM_PW"
expect_output grafana_admin_password "$GRAFANA_PW"
diff "$T/fabric.1" "$(applied fabric.yaml)" >&2 || fail "re-apply rendered other manifests"
cmp -s "$T/secrets.1" "$(applied secrets.yaml)" || fail "re-apply rendered other secrets (a new bcrypt salt?)"
ok "re-apply (post): same passwords, byte-identical manifests and secrets, nothing installed"

# --- remove on the post: everything apply made, and the passwords ----------
run_step $ROLE remove post=true
expect_rc_ok "remove (post)"
expect_calls "remove (post)" <<'CALLS'
kubectl delete --ignore-not-found --timeout=300s namespace overcloud-fabric
kubectl -n kube-system delete --ignore-not-found deployment/kube-state-metrics service/kube-state-metrics serviceaccount/kube-state-metrics
kubectl delete --ignore-not-found clusterrolebinding/kube-state-metrics clusterrole/kube-state-metrics clusterrolebinding/overcloud-prometheus clusterrole/overcloud-prometheus
CALLS
expect_progress "remove (post)" final
[ ! -e "$NODE/root/var/lib/overcloud/fabric-collector" ] || fail "remove (post) left passwords on the post: $(ls "$NODE/root/var/lib/overcloud/fabric-collector")"
ok "remove (post): nothing of the Fabric left on the post"
[ -z "$(cluster_objects)" ] || fail "remove (post) left in the cluster: $(cluster_objects)"
kube_get get storageclass ceph-block -o name >/dev/null || fail "remove (post) took the DataLake's StorageClass"
ok "remove (post): nothing of the Fabric left in the cluster; the DataLake's StorageClass stays"
python3 - "$RDIR" <<'EOF' || fail "remove does not delete every cluster-scoped object apply makes"
import sys, yaml, glob
scoped = set()
for f in ("prometheus.yaml", "grafana.yaml"):
    for d in yaml.safe_load_all(open(sys.argv[1] + "/" + f)):
        if d and "namespace" not in d["metadata"]:
            scoped.add("%s/%s" % (d["kind"].lower(), d["metadata"]["name"]))
text = open(sys.argv[1] + "/remove").read()
missing = [s for s in scoped if s not in text]
assert not missing, missing
EOF
ok "remove (post): every cluster-scoped object of our manifests is deleted by name"

# --- the mirror inputs rewrite every image ---------------------------------
new_debian_node mirror
preinstall prometheus-node-exporter
post_kubectl
storage_class fast-ssd
run_step $ROLE apply post=true manifest_base_url="$BASE" image_registry=mirror.lab:5000 \
	storage_class=fast-ssd prometheus_storage_size=50Gi
expect_rc_ok "apply (post, image_registry, storage_class)"
images=$(cat "$NODE/state/applied/"*.yaml | sed -n 's/^ *- *image: *//p; s/^ *image: *//p')
[ "$(printf '%s\n' "$images" | wc -l)" -eq 3 ] || fail "expected 3 images, got: $images"
bad=$(printf '%s\n' "$images" | grep -v '^mirror\.lab:5000/' || true)
[ -z "$bad" ] || fail "images not from the mirror: $bad"
printf '%s\n' "$images" | grep -qx 'mirror.lab:5000/registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.18.0' ||
	fail "kube-state-metrics is not mirrored as REGISTRY/HOST/PATH: $images"
ok "image_registry: all 3 images (kube-state-metrics, Prometheus, Grafana) pulled from mirror.lab:5000/HOST/PATH"
[ "$(calls | grep -c "^kubectl apply")" -ge 9 ] || fail "apply (post, image_registry) applied too little"
expect_no_secrets "apply (post, image_registry)" "${OUT[prometheus_password]:-x}"
python3 - "$(applied storage.yaml)" <<'EOF' || fail "storage_class is not used"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert all(d["spec"]["storageClassName"] == "fast-ssd" for d in docs)
assert docs[0]["spec"]["resources"]["requests"]["storage"] == "50Gi"
EOF
ok "storage_class=fast-ssd (no default class needed), prometheus_storage_size=50Gi: the claims name the class and size"

# --- storage choices --------------------------------------------------------
new_debian_node nosc
preinstall prometheus-node-exporter
post_kubectl
run_step $ROLE apply post=true manifest_base_url="$BASE"
expect_failure "apply (post) without a default StorageClass" "the cluster has no default StorageClass"
calls | grep -q '^kubectl apply' && fail "applied something without a StorageClass"

run_step $ROLE apply post=true manifest_base_url="$BASE" storage_class=missing
expect_failure "apply (post) with a missing storage_class" "storage_class missing does not exist"


new_debian_node emptydir
preinstall prometheus-node-exporter
post_kubectl
run_step $ROLE apply post=true manifest_base_url="$BASE" storage=emptydir
expect_rc_ok "apply (post, storage=emptydir)"
calls | grep -q 'storageclass\|storage.yaml' && fail "storage=emptydir still looked for a StorageClass or applied claims"
python3 - "$(applied fabric.yaml)" <<'EOF' || fail "storage=emptydir does not use emptyDir"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment":
        v = {x["name"]: x for x in d["spec"]["template"]["spec"]["volumes"]}["data"]
        assert v == {"name": "data", "emptyDir": {}}, v
EOF
grep -q "storage=emptydir" "$RUN_STDERR" || fail "storage=emptydir gave no warning"
ok "storage=emptydir (asked explicitly): emptyDir volumes, no claims, a warning"

# --- failures ---------------------------------------------------------------
new_debian_node fail
run_step $ROLE apply SHIM_FAIL="apt-get -o DPkg::Lock::Timeout=300 install"
expect_failure "apply with apt-get install failing" "apt-get install prometheus-node-exporter failed"
calls | grep -q '^systemctl' && fail "systemctl ran after the install failed"

preinstall prometheus-node-exporter kubectl
run_step $ROLE apply post=true
expect_failure "apply (post) without the post's admin.conf" "post=true needs the post's admin kubeconfig /etc/kubernetes/admin.conf"

post_kubectl
storage_class ceph-block default
sed -i 's/^\(ksm-deployment v2.18.0\) [0-9a-f]*/\1 '"$(printf '%064d' 0)"'/' "$BUNDLE/artifacts"
run_step $ROLE apply post=true manifest_base_url="$BASE"
expect_failure "apply (post) with a manifest that does not match its pin" "sha256"
grep -q "refusing it" "$RUN_STDERR" || fail "no refusal of the mismatching manifest"
calls | grep -q '^kubectl apply' && fail "applied something after a pin mismatch"
sum=$(sha256sum <"$MIRROR/$KSM_PATH/deployment.yaml" | cut -d' ' -f1)
sed -i "s/^\(ksm-deployment v2.18.0\) [0-9a-f]*/\1 $sum/" "$BUNDLE/artifacts"


run_step $ROLE apply post=true manifest_base_url="$BASE" SHIM_FAIL="kubectl -n overcloud-fabric rollout status deployment/grafana"
expect_failure "apply (post) with Grafana not rolling out" "the grafana deployment did not become available"
expect_no_secrets "failed apply (post)" $(cat "$NODE/root/var/lib/overcloud/fabric-collector/"*-password)

run_step $ROLE apply post=true tower_metrics_url=https://192.0.2.10:6125/metrics
expect_failure "tower_metrics_url without a token" "tower_metrics_url needs tower_metrics_token"
run_step $ROLE apply post=true tower_metrics_url='ftp://x:1/metrics' tower_metrics_token=t
expect_failure "tower_metrics_url ftp://" "must start with https://"
run_step $ROLE apply post=true tower_metrics_url=https://192.0.2.10/metrics tower_metrics_token=t
expect_failure "tower_metrics_url without a port" "must name HOST:PORT"
run_step $ROLE apply post=true tower_metrics_url=https://192.0.2.10:6125/metrics tower_metrics_token=t tower_ca_file=/nonexistent
expect_failure "tower_metrics_url with no CA" "holds no PEM certificate"
run_step $ROLE apply post=true overcloud_id='oc-1|.*'
expect_failure "overcloud_id with a regular expression" "is not an OverCloud id"
run_step $ROLE apply post=true storage=ceph
expect_failure "storage=ceph" "storage 'ceph' must be pvc or emptydir"
run_step $ROLE apply post=true prometheus_storage_size=lots
expect_failure "prometheus_storage_size=lots" "must be a size like 20Gi"
run_step $ROLE apply post=yes
expect_failure "apply with post=yes" "post 'yes' must be true or false"

new_debian_node failrm
run_step $ROLE apply
expect_rc_ok "apply (node, before a failing remove)"
run_step $ROLE remove SHIM_FAIL="systemctl disable"
expect_failure "remove with systemctl failing" "systemctl disable --now prometheus-node-exporter failed"

// kubectl.mjs — the fake kubectl of the role tests (tests/roles/shims/installable/kubectl
// runs it). An API server in a JSON file: objects applied, read and deleted the way
// kubectl 1.34 does for the verbs the roles use, each object validated first.
//
// What it models (and refuses, with the real tool's messages):
// - no usable kubeconfig: "The connection to the server localhost:8080 was refused";
// - built-in kinds validated against the Kubernetes 1.34 OpenAPI schemas
//   (npm kubernetes-models@5.1.0, its validate());
// - custom resources need their CRD applied first (the mapping is resolved for every
//   document of a file before any is applied, as kubectl does: a CRD and its CR in one
//   file fail for the CR); they are validated against the CRD's openAPIV3Schema with
//   ajv, unknown fields refused (kubectl's default --validate=strict);
// - a namespaced object in a namespace that does not exist is refused;
// - client-side apply of an object over 262144 bytes of last-applied annotation is
//   refused (the reason large CRDs need --server-side);
// - controllers, evaluated when an object is read: a Deployment becomes available when
//   its namespace, service account and referenced config maps/secrets exist; a Rook
//   CephCluster gets phase/health/OSD count from the scripted disks and nodes; a
//   CephBlockPool gets Ready; a PVC binds when its (default) StorageClass is Rook's RBD
//   class, its pool is Ready and there are enough OSDs on distinct hosts; a NodePort
//   service gets a node port; the Rook operator writes rook-ceph-dashboard-password.
// Cluster state tests script (file $STATE/sim.json, see tests/roles/kube_sim.sh):
//   nodes: registered nodes (absent: any node name asked for is registered and Ready)
//   disks: {"node": ["sdb", ...]} raw disks Rook may use (absent: none, like a cloud VM)
//   notReady: ["node"...]; imagePullFails: ["deploy-name"...]; cephHealth: override;
//   rbdImages: {"pool/image": "content"} (bound PVCs add their image).
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
// yaml and ajv load on first use: most calls only read the store
let YAML = null, Ajv = null;
const loadYAML = async () => { YAML = YAML || (await import("yaml")).default; return YAML; };

const STATE = process.env.SHIM_KUBE_STATE || path.join(process.env.SHIM_STATE || ".", "kube");
const STORE = path.join(STATE, "store.json");
const SIM = path.join(STATE, "sim.json");
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

class KubectlError extends Error {}
const die = (msg) => { throw new KubectlError(msg); };

// ---- built-in kinds: resource names and scope (kubectl api-resources of 1.34)
const BUILTIN = [
  // kind, group, version, plural, short names, namespaced
  ["Namespace", "", "v1", "namespaces", ["ns"], false],
  ["Node", "", "v1", "nodes", ["no"], false],
  ["PersistentVolume", "", "v1", "persistentvolumes", ["pv"], false],
  ["PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", ["pvc"], true],
  ["Pod", "", "v1", "pods", ["po"], true],
  ["Service", "", "v1", "services", ["svc"], true],
  ["ServiceAccount", "", "v1", "serviceaccounts", ["sa"], true],
  ["ConfigMap", "", "v1", "configmaps", ["cm"], true],
  ["Secret", "", "v1", "secrets", [], true],
  ["Endpoints", "", "v1", "endpoints", ["ep"], true],
  ["LimitRange", "", "v1", "limitranges", ["limits"], true],
  ["ResourceQuota", "", "v1", "resourcequotas", ["quota"], true],
  ["Deployment", "apps", "v1", "deployments", ["deploy"], true],
  ["DaemonSet", "apps", "v1", "daemonsets", ["ds"], true],
  ["StatefulSet", "apps", "v1", "statefulsets", ["sts"], true],
  ["ReplicaSet", "apps", "v1", "replicasets", ["rs"], true],
  ["Job", "batch", "v1", "jobs", [], true],
  ["CronJob", "batch", "v1", "cronjobs", ["cj"], true],
  ["Role", "rbac.authorization.k8s.io", "v1", "roles", [], true],
  ["RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", [], true],
  ["ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", [], false],
  ["ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", [], false],
  ["CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions", ["crd", "crds"], false],
  ["StorageClass", "storage.k8s.io", "v1", "storageclasses", ["sc"], false],
  ["CSIDriver", "storage.k8s.io", "v1", "csidrivers", [], false],
  ["VolumeAttachment", "storage.k8s.io", "v1", "volumeattachments", [], false],
  ["PriorityClass", "scheduling.k8s.io", "v1", "priorityclasses", ["pc"], false],
  ["PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", ["pdb"], true],
  ["NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", ["netpol"], true],
  ["Ingress", "networking.k8s.io", "v1", "ingresses", ["ing"], true],
  ["IngressClass", "networking.k8s.io", "v1", "ingressclasses", [], false],
  ["ValidatingWebhookConfiguration", "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", [], false],
  ["MutatingWebhookConfiguration", "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", [], false],
  ["APIService", "apiregistration.k8s.io", "v1", "apiservices", [], false],
  ["RuntimeClass", "node.k8s.io", "v1", "runtimeclasses", [], false],
  ["Lease", "coordination.k8s.io", "v1", "leases", [], true],
];
// the path of kind's model in kubernetes-models: v1/Pod, apps/v1/Deployment
const modelPath = (group, version, kind) => (group ? `${group}/${version}/${kind}` : `${version}/${kind}`);

// ---- store
function loadJSON(file, dflt) {
  try { return JSON.parse(fs.readFileSync(file, "utf8")); } catch { return dflt; }
}
function saveJSON(file, v) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file + ".tmp", JSON.stringify(v, null, 1));
  fs.renameSync(file + ".tmp", file);
}
let storeText = "";
try { storeText = fs.readFileSync(STORE, "utf8"); } catch { /* a fresh cluster */ }
let store = storeText ? JSON.parse(storeText) : null;
// tests/roles/kube_sim.sh writes sim.json; SHIM_KUBE_SIM (JSON) is the default for
// tests that cannot reach the node's state dir before the role runs
const sim = loadJSON(SIM, null) || JSON.parse(process.env.SHIM_KUBE_SIM || "{}");
if (!store) {
  // a fresh kubeadm cluster: its four namespaces, each with its default service account
  store = { objects: {}, seq: 0 };
  for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
    put({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  }
}
function key(t, ns, name) { return `${t.group}/${t.kind}/${t.namespaced ? ns : ""}/${name}`; }
function put(obj) {
  const t = typeOf(obj.apiVersion, obj.kind);
  const md = obj.metadata;
  if (!md.uid) { store.seq++; md.uid = crypto.createHash("sha256").update(`${t.kind}/${md.namespace}/${md.name}/${store.seq}`).digest("hex").slice(0, 32).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5"); }
  if (!t.namespaced) delete md.namespace;
  store.objects[key(t, md.namespace, md.name)] = obj;
  if (t.kind === "Namespace" && !get(typeOf("v1", "ServiceAccount"), md.name, "default")) {
    put({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: md.name } });
  }
}
function get(t, ns, name) { return store.objects[key(t, ns, name)]; }
function list(t, ns) {
  return Object.values(store.objects).filter((o) => {
    const ot = typeOf(o.apiVersion, o.kind);
    return ot.kind === t.kind && ot.group === t.group && (!t.namespaced || ns === null || o.metadata.namespace === ns);
  }).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
function remove(t, ns, name) { delete store.objects[key(t, ns, name)]; }

// ---- types: built-in or from an applied CRD
function crds() { return Object.values(store.objects).filter((o) => o.kind === "CustomResourceDefinition"); }
function typeOf(apiVersion, kind) {
  const [group, version] = apiVersion && apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const b = BUILTIN.find((x) => x[0] === kind && x[1] === group);
  if (b) return { kind, group, version, plural: b[3], short: b[4], namespaced: b[5], builtin: true };
  for (const c of crds()) {
    if (c.spec.group === group && c.spec.names.kind === kind) {
      const v = (c.spec.versions || []).find((x) => x.name === version && x.served);
      if (!v) continue;
      return crdType(c, version);
    }
  }
  return null;
}
function crdType(c, version) {
  const v = c.spec.versions.find((x) => x.name === version) || c.spec.versions.find((x) => x.storage);
  return {
    kind: c.spec.names.kind, group: c.spec.group, version: v.name, plural: c.spec.names.plural,
    singular: c.spec.names.singular || c.spec.names.kind.toLowerCase(), short: c.spec.names.shortNames || [],
    namespaced: c.spec.scope === "Namespaced", crd: c, schema: v.schema && v.schema.openAPIV3Schema,
  };
}
// a resource type as written on the command line: pods, pod, po, deployment.apps, cephcluster
function typeByName(word) {
  const w = word.toLowerCase();
  const [res, ...g] = w.split(".");
  const group = g.join(".");
  const match = (kind, grp, plural, short, singular) =>
    (group === "" || group === grp) && [kind.toLowerCase(), plural, singular, ...short].includes(res);
  for (const b of BUILTIN) {
    if (match(b[0], b[1], b[3], b[4], b[0].toLowerCase())) return typeOf(b[1] ? `${b[1]}/${b[2]}` : b[2], b[0]);
  }
  for (const c of crds()) {
    const n = c.spec.names;
    if (match(n.kind, c.spec.group, n.plural, n.shortNames || [], n.singular || n.kind.toLowerCase())) {
      return crdType(c, (c.spec.versions.find((x) => x.storage) || c.spec.versions[0]).name);
    }
  }
  die(`error: the server doesn't have a resource type "${word}"`);
}
const resourceName = (t) => (t.group ? `${t.plural}.${t.group}` : t.plural); // deployments.apps
const kindName = (t) => (t.group ? `${t.kind.toLowerCase()}.${t.group}` : t.kind.toLowerCase()); // deployment.apps

// ---- validation
let ajv = null;
const ajvCache = new Map();
async function crSchemaErrors(t, obj) {
  if (!t.schema) return [];
  if (!ajv) {
    Ajv = Ajv || (await import("ajv")).default;
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    for (const k of ["x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource",
      "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations"]) ajv.addKeyword(k);
  }
  const ck = `${t.group}/${t.version}/${t.kind}/${t.crd.metadata.uid}`;
  if (!ajvCache.has(ck)) {
    // metadata is the server's to check; apiVersion/kind are checked by the mapping
    const s = structuredClone(t.schema);
    if (s.properties) { delete s.properties.metadata; delete s.properties.status; }
    ajvCache.set(ck, ajv.compile(s));
  }
  const v = ajvCache.get(ck);
  const errs = [];
  const body = { ...obj };
  delete body.status;
  if (!v(body)) for (const e of v.errors) errs.push(`${e.instancePath.replace(/^\//, "").replace(/\//g, ".") || "<root>"}: ${e.message}`);
  unknownFields(t.schema, obj, "", errs);
  return errs;
}
// strict field validation: a field the structural schema does not declare
function unknownFields(schema, v, at, errs) {
  if (!schema || v === null || typeof v !== "object" || schema["x-kubernetes-preserve-unknown-fields"]) return;
  if (Array.isArray(v)) { v.forEach((x, i) => unknownFields(schema.items, x, `${at}[${i}]`, errs)); return; }
  if (schema.properties) {
    for (const k of Object.keys(v)) {
      if (at === "" && ["apiVersion", "kind", "metadata", "status"].includes(k)) continue;
      if (schema.properties[k]) unknownFields(schema.properties[k], v[k], `${at}.${k}`, errs);
      else if (!schema.additionalProperties) errs.push(`${at}.${k}: field not declared in schema`);
    }
  } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    for (const k of Object.keys(v)) unknownFields(schema.additionalProperties, v[k], `${at}.${k}`, errs);
  }
}
async function builtinErrors(t, obj) {
  const mod = await import(`kubernetes-models/${modelPath(t.group, t.version, t.kind)}`).catch(() => null);
  const Model = mod && mod[t.kind];
  if (!Model) die(`error: no Kubernetes 1.34 schema for ${t.group ? t.group + "/" : ""}${t.version} ${t.kind} in kubernetes-models`);
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return String(e.message).split("\n").map((l) => l.replace(/^data\//, "").replace(/\//g, "."));
  }
}

// ---- controllers: the state the cluster would have reached when it is read
const nodeType = () => typeOf("v1", "Node");
function nodes() {
  if (Array.isArray(sim.nodes)) {
    for (const n of sim.nodes) if (!get(nodeType(), "", n)) put(newNode(n));
  }
  // unscripted: the node kubeadm registered (the old fake's node-1)
  if (!Array.isArray(sim.nodes) && !list(nodeType(), "").length) put(newNode("node-1"));
  return list(nodeType(), "");
}
function newNode(name) {
  return { apiVersion: "v1", kind: "Node", metadata: { name, labels: { "kubernetes.io/hostname": name } }, spec: {},
    status: { conditions: [{ type: "Ready", status: (sim.notReady || []).includes(name) ? "False" : "True" }] } };
}
// a node name asked for: registered when scripted, or any name when no nodes are scripted
function findNode(name) {
  nodes();
  let n = get(nodeType(), "", name);
  if (!n && !Array.isArray(sim.nodes) && process.env.SHIM_NODE_MISSING !== "1") { n = newNode(name); put(n); }
  return n;
}
function deploymentProblem(d) {
  const ns = d.metadata.namespace;
  const spec = (d.spec.template || {}).spec || {};
  const sa = spec.serviceAccountName || spec.serviceAccount || "default";
  if (!get(typeOf("v1", "ServiceAccount"), ns, sa)) return `pods "${d.metadata.name}-" is forbidden: error looking up service account ${ns}/${sa}: serviceaccount "${sa}" not found`;
  for (const c of [...(spec.containers || []), ...(spec.initContainers || [])]) {
    for (const ef of c.envFrom || []) {
      if (ef.configMapRef && !ef.configMapRef.optional && !get(typeOf("v1", "ConfigMap"), ns, ef.configMapRef.name)) return `configmap "${ef.configMapRef.name}" not found`;
      if (ef.secretRef && !ef.secretRef.optional && !get(typeOf("v1", "Secret"), ns, ef.secretRef.name)) return `secret "${ef.secretRef.name}" not found`;
    }
    for (const e of c.env || []) {
      const r = e.valueFrom && (e.valueFrom.configMapKeyRef || e.valueFrom.secretKeyRef);
      if (!r || r.optional) continue;
      const kind = e.valueFrom.configMapKeyRef ? "ConfigMap" : "Secret";
      if (!get(typeOf("v1", kind), ns, r.name)) return `${kind.toLowerCase()} "${r.name}" not found`;
    }
  }
  for (const v of spec.volumes || []) {
    if (v.configMap && !v.configMap.optional && !get(typeOf("v1", "ConfigMap"), ns, v.configMap.name)) return `MountVolume.SetUp failed for volume "${v.name}": configmap "${v.configMap.name}" not found`;
    if (v.secret && !v.secret.optional && !get(typeOf("v1", "Secret"), ns, v.secret.secretName)) return `MountVolume.SetUp failed for volume "${v.name}": secret "${v.secret.secretName}" not found`;
  }
  if ((sim.imagePullFails || []).includes(d.metadata.name)) return `Back-off pulling image "${((spec.containers || [])[0] || {}).image}"`;
  return null;
}
function reconcile() {
  for (const o of Object.values(store.objects)) {
    if (["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind)) {
      const want = o.kind === "DaemonSet" ? nodes().length : (o.spec.replicas ?? 1);
      const bad = deploymentProblem(o);
      o.status = bad ? { replicas: want, availableReplicas: 0, readyReplicas: 0, conditions: [{ type: "Available", status: "False", message: bad }] }
        : { replicas: want, availableReplicas: want, readyReplicas: want, updatedReplicas: want, observedGeneration: 1,
          conditions: [{ type: "Available", status: "True" }, { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" }] };
      if (o.kind === "DaemonSet") o.status = { desiredNumberScheduled: want, numberReady: bad ? 0 : want, numberAvailable: bad ? 0 : want };
    }
    if (o.kind === "Service" && o.spec && ["NodePort", "LoadBalancer"].includes(o.spec.type)) {
      for (const p of o.spec.ports || []) if (!p.nodePort) p.nodePort = 30000 + (parseInt(crypto.createHash("sha256").update(`${o.metadata.namespace}/${o.metadata.name}/${p.port}`).digest("hex").slice(0, 6), 16) % 2768);
    }
    if (o.kind === "Service" && o.spec && !o.spec.clusterIP) o.spec.clusterIP = `10.96.${parseInt(o.metadata.uid.slice(0, 2), 16)}.${parseInt(o.metadata.uid.slice(2, 4), 16) % 254 + 1}`;
  }
  reconcileRook();
}
function operatorUp(ns) {
  const op = get(typeOf("apps/v1", "Deployment"), ns, "rook-ceph-operator");
  return op && !deploymentProblem(op);
}
// Rook: mons need distinct nodes (allowMultiplePerNode false), OSDs need raw disks
// matching the storage selection, health follows from the OSD count
function reconcileRook() {
  const ccT = typeOf("ceph.rook.io/v1", "CephCluster");
  if (!ccT) return;
  for (const cc of list(ccT, null)) {
    const ns = cc.metadata.namespace;
    if (!operatorUp(ns)) { delete cc.status; continue; }
    const all = nodes().filter((n) => !(n.spec.taints || []).some((t) => t.effect === "NoSchedule" && !((cc.spec.placement || {}).all || {}).tolerations));
    const ready = all.filter((n) => n.status.conditions.some((c) => c.type === "Ready" && c.status === "True"));
    const mon = cc.spec.mon || {};
    const monCount = mon.count || 3;
    if (!mon.allowMultiplePerNode && monCount > ready.length) {
      cc.status = { phase: "Progressing", state: "Creating", message: `failed to create cluster: failed to start ceph monitors: ${monCount} mons requested but only ${ready.length} nodes can host one (allowMultiplePerNode is false)` };
      continue;
    }
    const st = cc.spec.storage || {};
    const disks = sim.disks || {};
    let osds = 0; const osdHosts = new Set();
    for (const n of ready) {
      const nodeSpec = st.useAllNodes === false ? (st.nodes || []).find((x) => x.name === n.metadata.name) : {};
      if (!nodeSpec) continue;
      const devs = nodeSpec.devices || st.devices;
      const filter = nodeSpec.deviceFilter || st.deviceFilter;
      const useAll = nodeSpec.useAllDevices ?? st.useAllDevices;
      for (const d of disks[n.metadata.name] || []) {
        const ok = devs ? devs.some((x) => x.name === d || x.name === `/dev/${d}`) : filter ? new RegExp(filter).test(d) : !!useAll;
        if (ok) { osds++; osdHosts.add(n.metadata.name); }
      }
    }
    let health = osds >= 3 ? "HEALTH_OK" : "HEALTH_WARN";
    const details = {};
    if (osds < 3) details.TOO_FEW_OSDS = { severity: "HEALTH_WARN", message: `OSD count ${osds} < osd_pool_default_size 3` };
    if (sim.cephHealth) { health = sim.cephHealth; details.SCRIPTED = { severity: sim.cephHealth, message: "scripted by the test" }; }
    cc.status = { phase: "Ready", state: "Created", message: "Cluster created successfully",
      ceph: { health, details, fsid: "1b7c2e1c-0000-4000-8000-000000000001" },
      storage: { osd: { storeType: osds ? { bluestore: osds } : {} } } };
    cc.status._hosts = osdHosts.size; // read by pools below; not in the CRD schema
    // what the operator writes once mons are up (the toolbox mounts both)
    if (!get(typeOf("v1", "ConfigMap"), ns, "rook-ceph-mon-endpoints")) {
      put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "rook-ceph-mon-endpoints", namespace: ns },
        data: { data: Array.from({ length: monCount }, (_, i) => `${String.fromCharCode(97 + i)}=10.96.0.${10 + i}:6789`).join(","), mapping: "{}", maxMonId: String(monCount - 1) } });
    }
    if (!get(typeOf("v1", "Secret"), ns, "rook-ceph-mon")) {
      const b = (x) => Buffer.from(x).toString("base64");
      put({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/rook", metadata: { name: "rook-ceph-mon", namespace: ns },
        data: { "ceph-username": b("client.admin"), "ceph-secret": b("AQBfakefakefakefakefakefakefakefake=="), fsid: b(cc.status.ceph.fsid) } });
    }
    if (((cc.spec.dashboard || {}).enabled) && !get(typeOf("v1", "Secret"), ns, "rook-ceph-dashboard-password")) {
      put({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/rook", metadata: { name: "rook-ceph-dashboard-password", namespace: ns },
        data: { password: Buffer.from(sim.dashboardPassword || "Zr7-fake-dashboard-pass").toString("base64") } });
    }
    if ((cc.spec.dashboard || {}).enabled && !get(typeOf("v1", "Service"), ns, "rook-ceph-mgr-dashboard")) {
      put({ apiVersion: "v1", kind: "Service", metadata: { name: "rook-ceph-mgr-dashboard", namespace: ns },
        spec: { type: "ClusterIP", ports: [{ name: cc.spec.dashboard.ssl === false ? "http-dashboard" : "https-dashboard", port: cc.spec.dashboard.port || (cc.spec.dashboard.ssl === false ? 7000 : 8443) }] } });
    }
  }
  const bpT = typeOf("ceph.rook.io/v1", "CephBlockPool");
  for (const bp of bpT ? list(bpT, null) : []) {
    const cc = list(ccT, bp.metadata.namespace)[0];
    bp.status = cc && cc.status && cc.status.phase === "Ready" ? { phase: "Ready" } : { phase: "Progressing" };
  }
  reconcilePVCs();
}
function reconcilePVCs() {
  const pvcT = typeOf("v1", "PersistentVolumeClaim"), scT = typeOf("storage.k8s.io/v1", "StorageClass");
  for (const pvc of list(pvcT, null)) {
    if (pvc.status && pvc.status.phase === "Bound") continue;
    let scName = pvc.spec.storageClassName;
    if (scName === undefined) {
      const d = list(scT, "").find((s) => ((s.metadata.annotations || {})["storageclass.kubernetes.io/is-default-class"]) === "true");
      if (d) { scName = d.metadata.name; pvc.spec.storageClassName = scName; }
    }
    const sc = scName && get(scT, "", scName);
    pvc.status = { phase: "Pending" };
    if (!sc || !/rbd\.csi\.ceph\.com$/.test(sc.provisioner)) continue;
    const p = sc.parameters || {};
    const bpT = typeOf("ceph.rook.io/v1", "CephBlockPool"), ccT = typeOf("ceph.rook.io/v1", "CephCluster");
    const bp = bpT && get(bpT, p.clusterID, p.pool);
    const cc = ccT && list(ccT, p.clusterID)[0];
    if (!bp || bp.status.phase !== "Ready" || !cc || !cc.status) continue;
    // Rook v1.20 runs its CSI drivers through the Ceph CSI operator (csi-operator.yaml)
    const csi = get(typeOf("apps/v1", "Deployment"), p.clusterID, "ceph-csi-controller-manager");
    if (!csi || deploymentProblem(csi)) continue;
    const size = ((bp.spec.replicated || {}).size) || 3;
    const osds = ((cc.status.storage.osd.storeType || {}).bluestore) || 0;
    const hosts = (bp.spec.failureDomain || "host") === "host" ? cc.status._hosts : osds;
    if (osds < size || hosts < size) continue; // PGs cannot go active: the CSI provisioner's CreateVolume times out
    for (const s of ["provisioner-secret-name", "node-stage-secret-name"]) {
      const n = p[`csi.storage.k8s.io/${s}`];
      if (n && !get(typeOf("v1", "Secret"), p[`csi.storage.k8s.io/${s.replace("name", "namespace")}`], n)) {
        put({ apiVersion: "v1", kind: "Secret", metadata: { name: n, namespace: p.clusterID }, data: {} }); // the operator creates the CSI secrets
      }
    }
    const image = `csi-vol-${pvc.metadata.uid}`;
    const pvName = `pvc-${pvc.metadata.uid}`;
    put({ apiVersion: "v1", kind: "PersistentVolume", metadata: { name: pvName },
      spec: { capacity: { storage: pvc.spec.resources.requests.storage }, accessModes: pvc.spec.accessModes, storageClassName: scName,
        persistentVolumeReclaimPolicy: sc.reclaimPolicy || "Delete",
        claimRef: { namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid },
        csi: { driver: sc.provisioner, volumeHandle: `0001-0009-${p.clusterID}-0000000000000002-${pvc.metadata.uid}`, volumeAttributes: { clusterID: p.clusterID, pool: p.pool, imageName: image } } },
      status: { phase: "Bound" } });
    pvc.spec.volumeName = pvName;
    pvc.status = { phase: "Bound", capacity: { storage: pvc.spec.resources.requests.storage } };
    sim.rbdImages = sim.rbdImages || {};
    if (sim.rbdImages[`${p.pool}/${image}`] === undefined) sim.rbdImages[`${p.pool}/${image}`] = `rbd image ${p.pool}/${image} of ${pvc.metadata.namespace}/${pvc.metadata.name}\n`;
    saveJSON(SIM, sim);
  }
}

// ---- output
function jsonpath(tmpl, obj) {
  let out = "";
  const re = /\{([^}]*)\}/g;
  let last = 0, m;
  while ((m = re.exec(tmpl))) {
    out += tmpl.slice(last, m.index);
    last = re.lastIndex;
    const vals = evalPath(m[1].trim(), obj);
    out += vals.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(" ");
  }
  return out + tmpl.slice(last);
}
function evalPath(expr, obj) {
  if (expr.startsWith('"') || expr.startsWith("'")) return [expr.slice(1, -1)];
  let cur = [obj];
  const toks = expr.replace(/^\$/, "").match(/\.[^.[\]]+|\[[^\]]*\]/g) || [];
  for (const tk of toks) {
    const next = [];
    for (const c of cur) {
      if (c === undefined || c === null) continue;
      if (tk.startsWith(".")) { const k = tk.slice(1); if (k === "*") next.push(...Object.values(c)); else if (c[k] !== undefined) next.push(c[k]); }
      else {
        const inner = tk.slice(1, -1);
        if (inner === "*") next.push(...(Array.isArray(c) ? c : Object.values(c)));
        else if (/^-?\d+$/.test(inner)) { const i = +inner; const v = Array.isArray(c) ? c[i < 0 ? c.length + i : i] : undefined; if (v !== undefined) next.push(v); }
        else if (inner.startsWith("?(")) {
          const f = inner.match(/^\?\(@\.([\w.]+)\s*==\s*["']([^"']*)["']\)$/);
          if (!f) die(`error: error parsing jsonpath ${expr}: unsupported filter in this fake`);
          for (const x of Array.isArray(c) ? c : []) if (String(evalPath("." + f[1], x)[0]) === f[2]) next.push(x);
        } else { const k = inner.replace(/^['"]|['"]$/g, ""); if (c[k] !== undefined) next.push(c[k]); }
      }
    }
    cur = next;
  }
  return cur;
}
function goTemplate(tmpl, obj) {
  return tmpl.replace(/\{\{\s*([^}|]+?)\s*(\|\s*base64decode\s*)?\}\}/g, (_, p, dec) => {
    const v = evalPath(p.trim(), obj)[0];
    if (v === undefined) return "<no value>";
    return dec ? Buffer.from(String(v), "base64").toString("utf8") : String(v);
  });
}
function clean(o) {
  const c = structuredClone(o);
  if (c.status) delete c.status._hosts;
  return c;
}

// ---- command line
const argv = process.argv.slice(2);
let ns = null, allNs = false, kubeconfig = process.env.KUBECONFIG || "";
const rest = [];
const flags = {};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--") { rest.push(...argv.slice(i)); break; }
  if (a === "-n" || a === "--namespace") { ns = argv[++i]; continue; }
  if (a.startsWith("--namespace=")) { ns = a.slice(12); continue; }
  if (a === "--kubeconfig") { kubeconfig = argv[++i]; continue; }
  if (a.startsWith("--kubeconfig=")) { kubeconfig = a.slice(13); continue; }
  if (a === "-A" || a === "--all-namespaces") { allNs = true; continue; }
  if (a === "-f" || a === "--filename") { (flags.f = flags.f || []).push(argv[++i]); continue; }
  if (a === "-o" || a === "--output") { flags.o = argv[++i]; continue; }
  if (a.startsWith("-o") && a.length > 2 && !a.startsWith("--")) { flags.o = a.slice(2).replace(/^=/, ""); continue; }
  if (a === "-p" || a === "--patch") { flags.p = argv[++i]; continue; }
  if (a === "-l" || a === "--selector") { flags.l = argv[++i]; continue; }
  if (a === "--type") { flags.type = argv[++i]; continue; }
  if (a === "-i" || a === "-it" || a === "-ti") { flags.i = true; continue; }
  if (a.startsWith("--")) { const [k, v] = a.slice(2).split(/=(.*)/s); flags[k] = v === undefined ? true : v; continue; }
  rest.push(a);
}
const nsOr = () => ns || "default";

async function main() {
  if (argv[0] === "version" && flags.client) { console.log("Client Version: v1.34.2\nKustomize Version: v5.7.1"); return 0; }
  if (!kubeconfig || !fs.existsSync(kubeconfig) || fs.statSync(kubeconfig).size === 0) {
    if (flags.kubeconfig !== undefined || argv.includes("--kubeconfig")) die(`error: stat ${kubeconfig}: no such file or directory`);
    die("The connection to the server localhost:8080 was refused - did you specify the right host or port?");
  }
  const verb = rest.shift();
  reconcile();
  let rc = 0;
  switch (verb) {
    case "apply": case "create":
      if (verb === "create" && ["namespace", "ns"].includes(rest[0])) { rc = await applyObjects([{ apiVersion: "v1", kind: "Namespace", metadata: { name: rest[1] } }], "", true); break; }
      if (!flags.f) die(`error: must specify one of -f and -k`);
      for (const f of flags.f) rc |= await applyFile(f, verb === "create");
      break;
    case "get": rc = await doGet(); break;
    case "delete": rc = await doDelete(); break;
    case "wait": rc = await doWait(); break;
    case "rollout": rc = await doRollout(); break;
    case "patch": rc = await doPatch(); break;
    case "label": case "annotate": rc = await doLabel(verb); break;
    case "taint": rc = doTaint(); break;
    case "cordon": case "uncordon": case "drain": rc = doDrain(verb); break;
    case "exec": rc = await doExec(); break;
    case "cluster-info": console.log("Kubernetes control plane is running at https://10.0.0.5:6443"); break;
    default: die(`error: unknown command "${verb}" for "kubectl" (not modelled by the fake kubectl)`);
  }
  reconcile();
  const text = JSON.stringify(store);
  if (text !== storeText) {
    fs.mkdirSync(STATE, { recursive: true });
    fs.writeFileSync(STORE + ".tmp", text);
    fs.renameSync(STORE + ".tmp", STORE);
  }
  return rc;
}

async function readDocs(f) {
  await loadYAML();
  let text;
  if (f === "-") text = fs.readFileSync(0, "utf8");
  else if (!fs.existsSync(f)) die(`error: the path "${f}" does not exist`);
  else text = fs.readFileSync(f, "utf8");
  const docs = [];
  for (const d of YAML.parseAllDocuments(text, { version: "1.1" })) {
    if (d.errors.length) die(`error: error parsing ${f}: ${d.errors[0].message.split("\n")[0]}`);
    const o = d.toJS();
    if (o === null || o === undefined) continue;
    if (o.kind === "List" && Array.isArray(o.items)) docs.push(...o.items); else docs.push(o);
  }
  return docs;
}
async function applyFile(f, create) {
  return applyObjects(await readDocs(f), f === "-" ? "STDIN" : f, create);
}
async function applyObjects(docs, src, create) {
  const serverSide = !!flags["server-side"];
  const dry = flags["dry-run"] && flags["dry-run"] !== "none";
  let rc = 0;
  // resolve every document's type first, as kubectl's builder does
  const planned = [];
  for (const o of docs) {
    const missing = [!o.apiVersion && "apiVersion not set", !o.kind && "kind not set"].filter(Boolean);
    if (missing.length) { console.error(`error: error validating "${src}": error validating data: [${missing.join(", ")}]; if you choose to ignore these errors, turn validation off with --validate=false`); rc = 1; continue; }
    const t = typeOf(o.apiVersion, o.kind);
    const md = o.metadata || {};
    if (!t) {
      console.error(`error: resource mapping not found for name: "${md.name || ""}" namespace: "${md.namespace || ""}" from "${src}": no matches for kind "${o.kind}" in version "${o.apiVersion}"\nensure CRDs are installed first`);
      rc = 1; continue;
    }
    planned.push([o, t]);
  }
  for (const [o, t0] of planned) {
    const t = typeOf(o.apiVersion, o.kind) || t0;
    o.metadata = o.metadata || {};
    const md = o.metadata;
    if (!md.name) { console.error(`error: error when retrieving current configuration of:\nResource: "${resourceName(t)}", GroupVersionKind: "${o.apiVersion}, Kind=${o.kind}"\nName: "", Namespace: "${md.namespace || nsOr()}"\nfrom server for: "${src}": resource name may not be empty`); rc = 1; continue; }
    if (t.namespaced) {
      if (md.namespace && ns && md.namespace !== ns) { console.error(`error: the namespace from the provided object "${md.namespace}" does not match the namespace "${ns}". You must pass '--namespace=${md.namespace}' to perform this operation.`); rc = 1; continue; }
      md.namespace = md.namespace || nsOr();
      const nsObj = get(typeOf("v1", "Namespace"), "", md.namespace);
      if (!nsObj) { console.error(`Error from server (NotFound): error when creating "${src}": namespaces "${md.namespace}" not found`); rc = 1; continue; }
    }
    const errs = t.builtin ? await builtinErrors(t, o) : await crSchemaErrors(t, o);
    if (errs.length) {
      console.error(`Error from server (Invalid): error when creating "${src}": ${o.kind}.${t.group || "core"} "${md.name}" is invalid: ${errs.join(", ")}`);
      rc = 1; continue;
    }
    const old = get(t, md.namespace, md.name);
    if (create && old) { console.error(`Error from server (AlreadyExists): error when creating "${src}": ${resourceName(t)} "${md.name}" already exists`); rc = 1; continue; }
    const obj = structuredClone(o);
    if (!serverSide && !create) {
      const ann = JSON.stringify(o);
      if (ann.length > 262144) { console.error(`The ${o.kind} "${md.name}" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes`); rc = 1; continue; }
      obj.metadata.annotations = { ...(obj.metadata.annotations || {}), [LAST_APPLIED]: "(omitted by the fake)" };
    }
    if (t.kind === "CustomResourceDefinition") {
      // the API server refuses a CRD whose name is not PLURAL.GROUP
      if (md.name !== `${o.spec.names.plural}.${o.spec.group}`) { console.error(`The CustomResourceDefinition "${md.name}" is invalid: metadata.name: Invalid value: "${md.name}": must be spec.names.plural+"."+spec.group`); rc = 1; continue; }
    }
    let word = "created";
    if (old) {
      obj.metadata.uid = old.metadata.uid;
      if (old.status) obj.status = old.status;
      if (t.kind === "PersistentVolumeClaim" && old.spec.volumeName) obj.spec.volumeName = old.spec.volumeName;
      if (t.kind === "Service" && old.spec) for (const [i, p] of (obj.spec.ports || []).entries()) if (!p.nodePort && old.spec.ports && old.spec.ports[i]) p.nodePort = old.spec.ports[i].nodePort;
      const same = JSON.stringify({ ...old, metadata: { ...old.metadata, annotations: undefined }, status: undefined }) === JSON.stringify({ ...obj, metadata: { ...obj.metadata, annotations: undefined }, status: undefined });
      word = same ? "unchanged" : "configured";
    }
    if (serverSide) word = "serverside-applied";
    if (!dry) put(obj);
    console.log(`${kindName(t)}/${md.name} ${word}${dry ? " (dry run)" : ""}`);
  }
  return rc;
}

// TYPE NAME, TYPE/NAME, or TYPE (all)
async function targets() {
  if (flags.f) {
    const out = [];
    for (const f of flags.f) for (const o of await readDocs(f)) {
      const t = typeOf(o.apiVersion, o.kind);
      if (!t) { out.push({ missingType: o }); continue; }
      out.push({ t, ns: t.namespaced ? ((o.metadata || {}).namespace || nsOr()) : "", name: o.metadata.name, src: f });
    }
    return out;
  }
  const words = rest.slice();
  if (!words.length) die("error: you must specify the type of resource to get");
  if (words[0].includes("/")) return words.map((w) => { const [ty, n] = w.split("/"); const t = typeByName(ty); return { t, ns: t.namespaced ? nsOr() : "", name: n }; });
  const t = typeByName(words[0]);
  if (words.length === 1) return [{ t, ns: t.namespaced ? (allNs ? null : nsOr()) : "", all: true }];
  return words.slice(1).map((n) => ({ t, ns: t.namespaced ? nsOr() : "", name: n }));
}
function notFound(t, name) { return `Error from server (NotFound): ${resourceName(t)} "${name}" not found`; }
function lookup(x) {
  if (x.t.kind === "Node") return findNode(x.name);
  return get(x.t, x.ns, x.name);
}
function selectorMatch(o) {
  if (!flags.l) return true;
  const labels = o.metadata.labels || {};
  return flags.l.split(",").every((kv) => { const [k, v] = kv.split("="); return v === undefined ? k in labels : labels[k] === v; });
}
async function doGet() {
  let rc = 0;
  const ts = await targets();
  const found = [];
  for (const x of ts) {
    if (x.all) { found.push(...(x.t.kind === "Node" ? nodes() : list(x.t, x.ns)).filter(selectorMatch).map((o) => [x.t, o])); continue; }
    const o = lookup(x);
    if (!o) { if (!flags["ignore-not-found"]) { console.error(notFound(x.t, x.name)); rc = 1; } continue; }
    found.push([x.t, o]);
  }
  const single = ts.length === 1 && !ts[0].all;
  const o = flags.o || "";
  if (o === "name") for (const [t, ob] of found) console.log(`${kindName(t)}/${ob.metadata.name}`);
  else if (o.startsWith("jsonpath=") || o.startsWith("jsonpath-as-json=")) {
    const subject = single ? (found[0] && clean(found[0][1])) : { apiVersion: "v1", kind: "List", items: found.map(([, ob]) => clean(ob)) };
    if (subject) process.stdout.write(jsonpath(o.slice(o.indexOf("=") + 1), subject));
  } else if (o.startsWith("go-template=")) {
    if (single && found[0]) process.stdout.write(goTemplate(o.slice(12), clean(found[0][1])));
  } else if (o === "json") {
    const subject = single ? (found[0] && clean(found[0][1])) : { apiVersion: "v1", kind: "List", items: found.map(([, ob]) => clean(ob)) };
    if (subject) console.log(JSON.stringify(subject, null, 4));
  } else if (o === "yaml") {
    if (single && found[0]) process.stdout.write((await loadYAML()).stringify(clean(found[0][1])));
  } else if (o === "") {
    if (!found.length && !single) console.error(`No resources found${ts[0].t.namespaced && ts[0].ns ? ` in ${ts[0].ns} namespace` : ""}.`);
    else if (found.length) { console.log("NAME"); for (const [, ob] of found) console.log(ob.metadata.name); }
  } else die(`error: unable to match a printer suitable for the output format "${o}" (not modelled by the fake kubectl)`);
  return rc;
}
function deleteObject(t, o) {
  const md = o.metadata;
  if (t.kind === "Namespace") {
    for (const [k, x] of Object.entries(store.objects)) if (x.metadata.namespace === md.name) delete store.objects[k];
  }
  if (t.kind === "CustomResourceDefinition") {
    for (const [k, x] of Object.entries(store.objects)) if (x.apiVersion && x.apiVersion.split("/")[0] === o.spec.group && x.kind === o.spec.names.kind) delete store.objects[k];
  }
  if (t.group === "ceph.rook.io" && t.kind === "CephCluster" && !operatorUp(md.namespace)) {
    // the operator removes the finalizer; without it the delete never completes
    return `error: timed out waiting for the condition on ${resourceName(t)}/${md.name} (finalizer cephcluster.ceph.rook.io is kept: the Rook operator is not running)`;
  }
  if (t.kind === "PersistentVolumeClaim" && o.spec.volumeName) {
    const pv = get(typeOf("v1", "PersistentVolume"), "", o.spec.volumeName);
    if (pv) { remove(typeOf("v1", "PersistentVolume"), "", pv.metadata.name); if (pv.spec.csi) delete (sim.rbdImages || {})[`${pv.spec.csi.volumeAttributes.pool}/${pv.spec.csi.volumeAttributes.imageName}`]; saveJSON(SIM, sim); }
  }
  remove(t, md.namespace, md.name);
  return null;
}
async function doDelete() {
  let rc = 0;
  for (const x of await targets()) {
    if (x.missingType) {
      if (!flags["ignore-not-found"]) { console.error(`error: resource mapping not found for name: "${(x.missingType.metadata || {}).name}" namespace: "" from "${flags.f}": no matches for kind "${x.missingType.kind}" in version "${x.missingType.apiVersion}"\nensure CRDs are installed first`); rc = 1; }
      continue;
    }
    const objs = x.all ? (flags.all ? list(x.t, x.ns) : []) : [get(x.t, x.ns, x.name)];
    if (x.all && !flags.all) die("error: resource(s) were provided, but no name was specified");
    for (const o of objs) {
      if (!o) {
        if (!flags["ignore-not-found"]) { console.error(x.src ? `Error from server (NotFound): error when deleting "${x.src}": ${resourceName(x.t)} "${x.name}" not found` : notFound(x.t, x.name)); rc = 1; }
        continue;
      }
      const err = deleteObject(x.t, o);
      if (err) { console.error(err); rc = 1; continue; }
      console.log(`${kindName(x.t)} "${o.metadata.name}" deleted`);
    }
  }
  return rc;
}
function waitMet(t, o, cond) {
  if (cond === "delete") return !o;
  if (!o) return false;
  if (cond.startsWith("condition=")) {
    const [c, want = "True"] = cond.slice(10).split("=");
    return ((o.status || {}).conditions || []).some((x) => x.type.toLowerCase() === c.toLowerCase() && x.status.toLowerCase() === want.toLowerCase());
  }
  if (cond.startsWith("jsonpath=")) {
    const m = cond.slice(9).match(/^'?(\{[^}]*\})'?=(.*)$/);
    if (!m) die(`error: unrecognized condition: "${cond}" (this fake knows jsonpath='{...}'=VALUE)`);
    return evalPath(m[1].slice(1, -1), clean(o)).map(String).includes(m[2]);
  }
  die(`error: unrecognized condition: "${cond}"`);
}
async function doWait() {
  const cond = flags.for;
  if (!cond) die("error: --for must be specified");
  const ts = await targets();
  let rc = 0, any = false;
  for (const x of ts) {
    const objs = x.all || flags.all ? (x.t.kind === "Node" ? nodes() : list(x.t, x.ns)).filter(selectorMatch) : [lookup(x)];
    if (x.all && !flags.all && !flags.l) die("error: resource(s) were provided, but no name was specified");
    for (const o of objs) {
      if (!o && cond !== "delete") { console.error(notFound(x.t, x.name)); rc = 1; continue; }
      any = true;
      if (waitMet(x.t, o, cond)) console.log(`${kindName(x.t)}/${o ? o.metadata.name : x.name} condition met`);
      else { console.error(`error: timed out waiting for the condition on ${resourceName(x.t)}/${o.metadata.name}`); rc = 1; }
    }
  }
  if (!any && !rc) { console.error("error: no matching resources found"); rc = 1; }
  return rc;
}
async function doRollout() {
  const sub = rest.shift();
  if (sub !== "status") die(`error: rollout ${sub} is not modelled by the fake kubectl`);
  const [x] = await targets();
  const o = get(x.t, x.ns, x.name);
  if (!o) { console.error(notFound(x.t, x.name)); return 1; }
  const bad = deploymentProblem(o);
  if (bad) { console.log(`Waiting for deployment "${x.name}" rollout to finish: 0 of ${o.spec.replicas ?? 1} updated replicas are available...`); console.error(`error: timed out waiting for the condition`); return 1; }
  console.log(x.t.kind === "Deployment" ? `deployment "${x.name}" successfully rolled out` : `${x.t.kind.toLowerCase()} rolling update complete`);
  return 0;
}
function deepMerge(a, b) {
  if (b === null || typeof b !== "object" || Array.isArray(b) || a === null || typeof a !== "object" || Array.isArray(a)) return structuredClone(b);
  const r = { ...a };
  for (const [k, v] of Object.entries(b)) { if (v === null) delete r[k]; else r[k] = deepMerge(a[k], v); }
  return r;
}
async function doPatch() {
  const [x] = await targets();
  const o = get(x.t, x.ns, x.name);
  if (!o) { console.error(notFound(x.t, x.name)); return 1; }
  if (!["merge", undefined].includes(flags.type) || !flags.p) die("error: this fake kubectl models only --type merge -p JSON");
  let p;
  try { p = JSON.parse(flags.p); } catch (e) { die(`error: unable to parse "${flags.p}": ${e.message}`); }
  const n = deepMerge(o, p);
  const errs = x.t.builtin ? [] : await crSchemaErrors(x.t, n);
  if (errs.length) { console.error(`The ${x.t.kind} "${x.name}" is invalid: ${errs.join(", ")}`); return 1; }
  put(n);
  console.log(`${kindName(x.t)}/${x.name} patched`);
  return 0;
}
async function doLabel(verb) {
  const [ty, ...more] = rest;
  const t = typeByName(ty.split("/")[0]);
  const name = ty.includes("/") ? ty.split("/")[1] : more.shift();
  const o = lookup({ t, ns: t.namespaced ? nsOr() : "", name });
  if (!o) { console.error(notFound(t, name)); return 1; }
  const field = verb === "label" ? "labels" : "annotations";
  for (const kv of more) {
    const [k, v] = kv.split("=");
    o.metadata[field] = o.metadata[field] || {};
    if (k.endsWith("-")) delete o.metadata[field][k.slice(0, -1)];
    else { if (k in o.metadata[field] && o.metadata[field][k] !== v && !flags.overwrite) { console.error(`error: '${k}' already has a value (${o.metadata[field][k]}), and --overwrite is false`); return 1; } o.metadata[field][k] = v; }
  }
  console.log(`${kindName(t)}/${name} ${verb === "label" ? "labeled" : "annotated"}`);
  return 0;
}
function doTaint() {
  const [ty, name, ...specs] = rest;
  if (!["node", "nodes", "no"].includes(ty)) die(`error: taint applies to nodes, not ${ty}`);
  const n = findNode(name);
  if (!n) { console.error(`Error from server (NotFound): nodes "${name}" not found`); return 1; }
  n.spec.taints = n.spec.taints || [];
  for (const s of specs) {
    const m = s.match(/^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)(-?)$/) || s.match(/^([^=:]+)(-)$/);
    if (!m) { console.error(`error: invalid taint spec: ${s}`); return 1; }
    if (m[4] === "-" || m[2] === "-") { n.spec.taints = n.spec.taints.filter((x) => x.key !== m[1]); continue; }
    const i = n.spec.taints.findIndex((x) => x.key === m[1] && x.effect === m[3]);
    if (i >= 0 && !flags.overwrite) { console.error(`error: node ${name} already has ${m[1]} taint(s) with same effect(s) and --overwrite is false`); return 1; }
    if (i >= 0) n.spec.taints.splice(i, 1);
    n.spec.taints.push({ key: m[1], value: m[2] || undefined, effect: m[3] });
  }
  console.log(`node/${name} tainted`);
  return 0;
}
function doDrain(verb) {
  const name = rest[0];
  const n = findNode(name);
  if (!n) { console.error(`Error from server (NotFound): nodes "${name}" not found`); return 1; }
  n.spec.unschedulable = verb !== "uncordon";
  if (verb === "uncordon") { console.log(`node/${name} uncordoned`); return 0; }
  console.log(`node/${name} cordoned`);
  if (verb === "drain") console.log(`node/${name} drained`);
  return 0;
}
// exec into a deployment's pod: only the rook toolbox's rbd/ceph commands are modelled
async function doExec() {
  const dd = rest.indexOf("--");
  if (dd < 0) die("error: exec needs -- COMMAND (this fake models kubectl exec TARGET -- CMD...)");
  const target = rest[0];
  const cmd = rest.slice(dd + 1);
  const [ty, name] = target.includes("/") ? target.split("/") : ["pod", target];
  const t = typeByName(ty);
  const o = get(t, nsOr(), name);
  if (!o) { console.error(notFound(t, name)); return 1; }
  if (t.kind === "Deployment" && deploymentProblem(o)) { console.error(`error: unable to upgrade connection: container not found ("${name}")`); return 1; }
  const images = sim.rbdImages || {};
  if (cmd[0] === "rbd" && cmd[1] === "export" && cmd.length === 4 && cmd[3] === "-") {
    const img = cmd[2];
    if (images[img] === undefined) { console.error(`rbd: error opening image ${img.split("/")[1]}: (2) No such file or directory`); return 2; }
    process.stdout.write(images[img]);
    console.error("Exporting image: 100% complete...done.");
    return 0;
  }
  if (cmd[0] === "rbd" && cmd[1] === "ls") {
    const pool = cmd[cmd.length - 1];
    for (const k of Object.keys(images).sort()) if (k.startsWith(pool + "/")) console.log(k.split("/")[1]);
    return 0;
  }
  if (cmd[0] === "ceph" && cmd[1] === "health") {
    const cc = list(typeOf("ceph.rook.io/v1", "CephCluster") || die("error: no CephCluster"), nsOr())[0];
    console.log(cc && cc.status && cc.status.ceph ? cc.status.ceph.health : "HEALTH_ERR");
    return 0;
  }
  console.error(`error: command "${cmd.join(" ")}" is not modelled by the fake kubectl exec`);
  return 126;
}

main().then((rc) => process.exit(rc)).catch((e) => {
  if (e instanceof KubectlError) { console.error(e.message); process.exit(1); }
  console.error(`fake kubectl crashed: ${e.stack}`);
  process.exit(70);
});

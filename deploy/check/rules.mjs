// What an operator may rely on in every rendered overlay, beyond the schemas: the rules of
// docs/operations.md ("Kubernetes") and of the README's seed rule, each one a line here so that a
// later edit that breaks one fails the build. `expect` adds what one overlay promises (its number
// of nodes, demo mode, an Ingress, a ServiceMonitor).

const APP = { "app.kubernetes.io/name": "lms-realtime" };
const PUBLIC_PATHS = new Set(["/ws", "/sse", "/sdk"]);
const SOCKET_TIMEOUT_SECONDS = 3600;

/** Every broken rule of one rendered overlay, as lines; empty when it holds. */
export function ruleErrors(objects, expect = {}) {
  const errors = [];
  const fail = (message) => errors.push(message);
  const of = (kind) => objects.filter((o) => o.kind === kind);
  const named = (kind, name) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

  for (const o of objects) {
    if (o.metadata?.namespace !== undefined) {
      fail(`${o.kind}/${o.metadata.name}: names namespace ${o.metadata.namespace}; the files name none (kubectl -n, or your own overlay)`);
    }
    for (const s of strings(o)) {
      if (/\.[a-z0-9-]+\.svc(\.cluster\.local)?(:\d+)?(\/|$|,)/.test(s) || /\bdefault\.svc\b/.test(s)) {
        fail(`${o.kind}/${o.metadata?.name}: "${s}" names a namespace; use the short service name`);
      }
    }
  }

  const sets = of("StatefulSet");
  if (sets.length !== 1) {
    fail(`expected one StatefulSet, found ${sets.length}`);
    return errors;
  }
  const sts = sets[0];
  const pod = sts.spec.template.spec;
  const podLabels = sts.spec.template.metadata?.labels ?? {};
  const containers = pod.containers ?? [];
  const c = containers.find((x) => x.name === "lms-realtime");
  if (!c) {
    fail(`StatefulSet: no container named lms-realtime`);
    return errors;
  }
  const env = c.env ?? [];
  const envValue = (name) => env.find((e) => e.name === name)?.value;
  const where = `StatefulSet/${sts.metadata.name}`;

  // the image: a version, not :latest, not pulled on every start
  const tag = /:([^:/@]+)$/.exec(c.image ?? "")?.[1];
  if (!tag || tag === "latest" || !/^\d+\.\d+\.\d+/.test(tag)) {
    fail(`${where}: image ${c.image} has no versioned tag (x.y.z)`);
  }
  if (c.imagePullPolicy !== "IfNotPresent") {
    fail(`${where}: imagePullPolicy is ${c.imagePullPolicy}, expected IfNotPresent`);
  }

  // memory: a limit, a request equal to it, a heap that is a share of it, and out of memory ends the JVM
  const memLimit = c.resources?.limits?.memory;
  if (!memLimit || !c.resources?.requests?.memory || !c.resources?.requests?.cpu) {
    fail(`${where}: resources need requests (cpu, memory) and a memory limit`);
  } else if (c.resources.requests.memory !== memLimit) {
    fail(`${where}: memory request ${c.resources.requests.memory} differs from the limit ${memLimit} (the heap is sized from the limit)`);
  }
  const javaOpts = envValue("JAVA_OPTS") ?? "";
  const ram = /-XX:MaxRAMPercentage=(\d+(?:\.\d+)?)/.exec(javaOpts);
  if (!ram || Number(ram[1]) < 25 || Number(ram[1]) > 75) {
    fail(`${where}: JAVA_OPTS must size the heap with -XX:MaxRAMPercentage between 25 and 75 (is "${javaOpts}")`);
  }
  if (!javaOpts.includes("-XX:+ExitOnOutOfMemoryError")) {
    fail(`${where}: JAVA_OPTS lacks -XX:+ExitOnOutOfMemoryError`);
  }

  // stopping: a pause before SIGTERM, and time for the graceful shutdown
  if ((pod.terminationGracePeriodSeconds ?? 30) < 30) {
    fail(`${where}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < 30`);
  }
  const preStop = c.lifecycle?.preStop;
  const pause = Number(preStop?.exec?.command?.[0] === "sleep" ? preStop.exec.command[1] : preStop?.sleep?.seconds);
  if (!(pause > 0) || pause + 20 > (pod.terminationGracePeriodSeconds ?? 30)) {
    fail(`${where}: preStop must pause (sleep N) and leave the shutdown 20 s of the grace period`);
  }

  // probes
  if (c.readinessProbe?.httpGet?.path !== "/health/ready") {
    fail(`${where}: readinessProbe must GET /health/ready`);
  }
  if (c.livenessProbe?.httpGet?.path !== "/health/live") {
    fail(`${where}: livenessProbe must GET /health/live`);
  }

  // the restricted Pod Security Standard
  const psc = pod.securityContext ?? {};
  const csc = c.securityContext ?? {};
  if (psc.runAsNonRoot !== true && csc.runAsNonRoot !== true) fail(`${where}: runAsNonRoot is not true`);
  if ((csc.runAsUser ?? psc.runAsUser) !== 10001) fail(`${where}: runAsUser is not the image's 10001`);
  if ((csc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") fail(`${where}: seccompProfile is not RuntimeDefault`);
  if (csc.allowPrivilegeEscalation !== false) fail(`${where}: allowPrivilegeEscalation is not false`);
  if (!(csc.capabilities?.drop ?? []).includes("ALL") || (csc.capabilities?.add ?? []).length) fail(`${where}: capabilities must drop ALL and add none`);
  if (csc.readOnlyRootFilesystem !== true) fail(`${where}: readOnlyRootFilesystem is not true`);
  const emptyDirs = new Set((pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
  for (const dir of ["/tmp", "/data"]) {
    if (!(c.volumeMounts ?? []).some((m) => m.mountPath === dir && emptyDirs.has(m.name))) {
      fail(`${where}: ${dir} must be a writable emptyDir (the root filesystem is read-only)`);
    }
  }
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC || (pod.volumes ?? []).some((v) => v.hostPath)) {
    fail(`${where}: host namespaces or hostPath volumes break the restricted standard`);
  }

  // environment: $(VAR) may only name a variable defined before it (Kubernetes leaves it as text otherwise)
  env.forEach((e, i) => {
    for (const m of (e.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
      if (!env.slice(0, i).some((d) => d.name === m[1])) {
        fail(`${where}: env ${e.name} refers to $(${m[1]}), which is not defined before it`);
      }
    }
  });
  if (envValue("LMS_HTTP_HOST") !== "0.0.0.0") {
    fail(`${where}: LMS_HTTP_HOST must be 0.0.0.0 (probes and Services reach the pod by its IP)`);
  }

  // the cluster: stable names under a headless Service, the seed list naming every pod alike
  const headless = named("Service", sts.spec.serviceName);
  if (!headless || headless.spec.clusterIP !== "None" || headless.spec.publishNotReadyAddresses !== true) {
    fail(`${where}: serviceName ${sts.spec.serviceName} must be a headless Service publishing not-ready pods`);
  }
  const clusterPort = envValue("LMS_CLUSTER_PORT");
  const hostPattern = `$(POD_NAME).${sts.spec.serviceName}`;
  if (envValue("LMS_CLUSTER_HOST") !== hostPattern) {
    fail(`${where}: LMS_CLUSTER_HOST must be ${hostPattern} (is ${envValue("LMS_CLUSTER_HOST")})`);
  }
  const replicas = sts.spec.replicas ?? 1;
  const seeds = (envValue("LMS_SEED_NODES") ?? "").split(",").filter(Boolean);
  const wanted = Array.from({ length: replicas }, (_, i) => `${sts.metadata.name}-${i}.${sts.spec.serviceName}:${clusterPort}`);
  if (replicas > 1 && seeds.join(",") !== wanted.join(",")) {
    fail(`${where}: LMS_SEED_NODES must name every pod in order, ${wanted.join(",")} (is ${seeds.join(",")})`);
  }
  if (replicas === 1 && seeds.length > 1) {
    fail(`${where}: one replica but LMS_SEED_NODES names ${seeds.length} nodes`);
  }

  // references: Secrets and ConfigMaps the pod reads exist, with the keys it reads
  for (const e of env) {
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    if (ref && !ref.optional) {
      const kind = e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
      const target = named(kind, ref.name);
      if (!target || !(ref.key in (target.data ?? {}))) {
        fail(`${where}: env ${e.name} reads ${kind} ${ref.name} key ${ref.key}, which this overlay does not make`);
      }
    }
  }
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (ref && !ref.optional && !named(from.configMapRef ? "ConfigMap" : "Secret", ref.name)) {
      fail(`${where}: envFrom names ${ref.name}, which this overlay does not make`);
    }
  }
  // a placeholder secret must not be one a node would start with (it refuses one under 32 bytes)
  for (const secret of of("Secret")) {
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      const text = Buffer.from(value, "base64").toString("utf8");
      if (/CHANGE-?ME/i.test(text) && key === "jwt-secret" && Buffer.byteLength(text) >= 32) {
        fail(`Secret/${secret.metadata.name}: the placeholder ${key} is 32 bytes or more, so a node would start with it`);
      }
    }
  }
  if (pod.serviceAccountName && !named("ServiceAccount", pod.serviceAccountName)) {
    fail(`${where}: serviceAccountName ${pod.serviceAccountName} is not in the overlay`);
  }

  // Services: select the pods, and name ports the container has
  const portNames = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  for (const svc of of("Service")) {
    if (!selects(svc.spec.selector, podLabels)) fail(`Service/${svc.metadata.name}: its selector does not match the pods`);
    for (const p of svc.spec.ports ?? []) {
      if (typeof p.targetPort === "string" && !portNames.has(p.targetPort)) {
        fail(`Service/${svc.metadata.name}: targetPort ${p.targetPort} is not a port of the container`);
      }
    }
  }
  const internal = of("Service").find((s) => s.metadata.labels?.["app.kubernetes.io/component"] === "internal");
  if (!internal) fail(`no internal Service (app.kubernetes.io/component: internal) for /api/v1 and /metrics`);

  // disruption: one node at a time
  const pdbs = of("PodDisruptionBudget");
  if (pdbs.length !== 1 || pdbs[0].spec.maxUnavailable !== 1 || !selectorMatches(pdbs[0].spec.selector, podLabels)) {
    fail(`expected one PodDisruptionBudget with maxUnavailable: 1 over the pods`);
  }

  networkPolicyErrors(of("NetworkPolicy"), podLabels, portNames, fail);
  ingressErrors(of("Ingress"), objects, fail);
  for (const sm of of("ServiceMonitor")) {
    const target = of("Service").find((s) => selectorMatches(sm.spec.selector, s.metadata.labels ?? {}));
    if (target !== internal) fail(`ServiceMonitor/${sm.metadata.name}: must select the internal Service only`);
    for (const ep of sm.spec.endpoints ?? []) {
      if (!(target?.spec.ports ?? []).some((p) => p.name === ep.port)) fail(`ServiceMonitor/${sm.metadata.name}: port ${ep.port} is not a port of ${target?.metadata.name}`);
      if ((ep.path ?? "/metrics") !== "/metrics") fail(`ServiceMonitor/${sm.metadata.name}: path ${ep.path} is not /metrics`);
    }
  }

  // what this overlay promises
  if (expect.replicas !== undefined && replicas !== expect.replicas) fail(`${where}: ${replicas} replicas, expected ${expect.replicas}`);
  if (expect.demo !== undefined && (c.args ?? []).includes("--demo") !== expect.demo) fail(`${where}: --demo ${expect.demo ? "missing" : "must not be set"}`);
  if (expect.ingress && !of("Ingress").length) fail(`expected an Ingress`);
  if (expect.serviceMonitor && !of("ServiceMonitor").length) fail(`expected a ServiceMonitor`);
  if (expect.database) {
    const cm = (c.envFrom ?? []).map((f) => named("ConfigMap", f.configMapRef?.name)).find((m) => m?.data?.LMS_DB_URL);
    if (!envValue("LMS_DB_URL") && !cm) fail(`${where}: no LMS_DB_URL (a cluster keeps durable rooms in PostgreSQL)`);
  }
  if (expect.antiAffinity) {
    const terms = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    if (!terms.some((t) => t.topologyKey === "kubernetes.io/hostname" && selectorMatches(t.labelSelector, podLabels))) {
      fail(`${where}: pods must be kept on different Kubernetes nodes (required podAntiAffinity on kubernetes.io/hostname)`);
    }
  }
  return errors;
}

function networkPolicyErrors(policies, podLabels, portNames, fail) {
  const mine = policies.filter((p) => selectorMatches(p.spec.podSelector, podLabels));
  if (mine.length !== 1) {
    fail(`expected one NetworkPolicy over the pods, found ${mine.length}`);
    return;
  }
  const rules = mine[0].spec.ingress ?? [];
  const rulesFor = (port) => rules.filter((r) => (r.ports ?? []).some((p) => p.port === port || p.port === [...portNames].find(([, n]) => n === port)?.[0]));
  const only = (port, accept, what) => {
    const found = rulesFor(port);
    if (!found.length || !found.every((r) => (r.from ?? []).length && r.from.every(accept))) {
      fail(`NetworkPolicy/${mine[0].metadata.name}: port ${port} must be open to ${what} only`);
    }
  };
  only(portNames.get("remoting"), (f) => !f.namespaceSelector && !f.ipBlock && selectorMatches(f.podSelector, podLabels) && Object.keys(f.podSelector?.matchLabels ?? {}).length > 0, "the other nodes");
  only(portNames.get("management"), (f) => !f.namespaceSelector && !f.ipBlock && f.podSelector, "pods of the namespace");
  if (!rulesFor(portNames.get("http")).length) {
    fail(`NetworkPolicy/${mine[0].metadata.name}: port ${portNames.get("http")} (HTTP) is closed`);
  }
  if (rules.some((r) => !(r.ports ?? []).length)) {
    fail(`NetworkPolicy/${mine[0].metadata.name}: a rule without ports opens every port`);
  }
}

function ingressErrors(ingresses, objects, fail) {
  for (const ing of ingresses) {
    const where = `Ingress/${ing.metadata.name}`;
    const hosts = new Set();
    for (const rule of ing.spec.rules ?? []) {
      hosts.add(rule.host);
      for (const p of rule.http?.paths ?? []) {
        if (!PUBLIC_PATHS.has(p.path)) fail(`${where}: exposes ${p.path}; only ${[...PUBLIC_PATHS].join(", ")} are public`);
        const svc = objects.find((o) => o.kind === "Service" && o.metadata.name === p.backend?.service?.name);
        if (!svc || !(svc.spec.ports ?? []).some((sp) => sp.name === p.backend.service.port?.name || sp.port === p.backend.service.port?.number)) {
          fail(`${where}: path ${p.path} goes to ${p.backend?.service?.name}:${JSON.stringify(p.backend?.service?.port)}, not a port of a Service here`);
        } else if (svc.metadata.labels?.["app.kubernetes.io/component"] === "internal") {
          fail(`${where}: path ${p.path} goes to the internal Service`);
        }
      }
    }
    const covered = new Set((ing.spec.tls ?? []).flatMap((t) => (t.secretName ? t.hosts ?? [] : [])));
    for (const h of hosts) {
      if (!h || !covered.has(h)) fail(`${where}: host ${h} has no TLS`);
    }
    const a = ing.metadata.annotations ?? {};
    for (const key of ["proxy-read-timeout", "proxy-send-timeout"]) {
      if (!(Number(a[`nginx.ingress.kubernetes.io/${key}`]) >= SOCKET_TIMEOUT_SECONDS)) {
        fail(`${where}: nginx.ingress.kubernetes.io/${key} must be at least ${SOCKET_TIMEOUT_SECONDS} (sockets last)`);
      }
    }
    if (a["nginx.ingress.kubernetes.io/proxy-buffering"] !== "off") {
      fail(`${where}: nginx.ingress.kubernetes.io/proxy-buffering must be "off" (server-sent events)`);
    }
  }
}

function selects(selector, labels) {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v) && Object.entries(APP).every(([k, v]) => selector[k] === v);
}

function selectorMatches(selector, labels) {
  return selector?.matchExpressions === undefined && selects(selector?.matchLabels, labels);
}

function* strings(value) {
  if (typeof value === "string") {
    yield value;
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) yield* strings(v);
  }
}

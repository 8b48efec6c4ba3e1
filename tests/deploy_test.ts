/**
 * The deployment files under `deploy/`, checked offline: every Kubernetes manifest validates
 * against the Kubernetes API schema (the `kubernetes-models` package's validators), and the parts
 * refer to each other correctly (Service → pods, HPA and PDB → Deployment, probes → `/healthz`,
 * the admin token from a Secret, the cluster URL → the NATS Helm release's Service). The compose
 * file passes `docker-compose config` where that tool is installed (CI installs it), and the
 * container entry point runs `deno task run`'s flags with only the network grant widened.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Service } from "kubernetes-models/v1/Service";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";

const ROOT = new URL("../deploy/", import.meta.url);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // deno-lint-ignore no-explicit-any
  spec: any;
}

/** kind → the model that validates it. */
const MODELS: Record<string, (doc: Manifest) => { validate(): void }> = {
  "apps/v1/Deployment": (doc) => new Deployment(doc as never),
  "v1/Service": (doc) => new Service(doc as never),
  "autoscaling/v2/HorizontalPodAutoscaler": (doc) => new HorizontalPodAutoscaler(doc as never),
  "policy/v1/PodDisruptionBudget": (doc) => new PodDisruptionBudget(doc as never),
};

async function readYaml(path: URL): Promise<unknown[]> {
  const documents = parseAllDocuments(await Deno.readTextFile(path), { merge: true });
  return (Array.isArray(documents) ? documents : [documents]).map((document) => {
    assert.deepEqual(document.errors, [], `${path.pathname}: YAML errors`);
    return document.toJS();
  });
}

async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for await (const entry of Deno.readDir(new URL("kubernetes/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".yaml")) continue;
    for (const doc of await readYaml(new URL(`kubernetes/${entry.name}`, ROOT))) {
      out.push(doc as Manifest);
    }
  }
  return out;
}

function only(all: Manifest[], kind: string): Manifest {
  const found = all.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

Deno.test("every Kubernetes manifest validates against the Kubernetes API schema", async () => {
  const all = await manifests();
  assert.deepEqual(
    all.map((m) => m.kind).sort(),
    ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"],
  );
  for (const manifest of all) {
    const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
    assert.ok(model, `no schema for ${manifest.apiVersion} ${manifest.kind}`);
    model(manifest).validate();
  }
});

Deno.test("the schema check refuses a manifest with a wrongly typed field", () => {
  const broken = structuredClone({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: {
      selector: { matchLabels: { a: "b" } },
      template: {
        metadata: { labels: { a: "b" } },
        spec: { containers: [{ name: "c", image: "i", ports: [{ containerPort: "http" }] }] },
      },
    },
  });
  assert.throws(() => MODELS["apps/v1/Deployment"]!(broken).validate(), /containerPort/);
});

Deno.test("the Kubernetes parts refer to each other and to the engine's contract", async () => {
  const all = await manifests();
  const deployment = only(all, "Deployment");
  const pod = deployment.spec.template;
  const labels: Record<string, string> = pod.metadata.labels;
  assert.ok(matches(deployment.spec.selector.matchLabels, labels), "Deployment selects its pods");

  const service = only(all, "Service");
  assert.ok(matches(service.spec.selector, labels), "Service selects the engine pods");
  const pdb = only(all, "PodDisruptionBudget");
  assert.ok(matches(pdb.spec.selector.matchLabels, labels), "PDB selects the engine pods");
  const hpa = only(all, "HorizontalPodAutoscaler");
  assert.deepEqual(
    { kind: hpa.spec.scaleTargetRef.kind, name: hpa.spec.scaleTargetRef.name },
    { kind: "Deployment", name: deployment.metadata.name },
  );
  assert.ok(hpa.spec.minReplicas >= 3, "at least three engines, so one can fail");
  assert.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, "a drain can always proceed");

  const [container] = pod.spec.containers;
  const port = container.ports.find((p: { name: string }) =>
    p.name === service.spec.ports[0].targetPort
  );
  assert.ok(port, "the Service's target port is a named container port");
  const env = Object.fromEntries(
    container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
      e.name,
      e.value ?? e.valueFrom,
    ]),
  );
  assert.equal(env.PORT, String(port.containerPort));
  assert.equal(env.HOST, "0.0.0.0");
  assert.deepEqual(env.BUNDLEHOST_ADMIN_TOKEN, {
    secretKeyRef: { name: "bundlehost-admin", key: "token" },
  }, "the admin token comes from a Secret, never a literal");
  assert.deepEqual(env.BUNDLEHOST_SECRETS_KEY, {
    secretKeyRef: { name: "bundlehost-admin", key: "secrets-key" },
  }, "every engine gets the same secrets key, from a Secret");
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    assert.deepEqual(container[probe].httpGet, { path: "/healthz", port: "http" }, probe);
  }
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
  assert.ok(container.resources.limits.memory, "a memory limit bounds the engine");

  // The cluster URL names the Service the NATS chart's release "nats" creates.
  assert.equal(env.BUNDLEHOST_CLUSTER, "nats://nats:4222");
});

Deno.test("the NATS Helm values ask for a 3-server JetStream cluster on persistent volumes", async () => {
  const [values] = await readYaml(new URL("kubernetes/helm/nats-values.yaml", ROOT)) as [
    // deno-lint-ignore no-explicit-any
    any,
  ];
  assert.equal(values.config.cluster.enabled, true);
  assert.ok(values.config.cluster.replicas >= 3, "R3 buckets and streams need three servers");
  assert.equal(values.config.jetstream.enabled, true);
  assert.equal(values.config.jetstream.fileStore.enabled, true);
  assert.equal(values.config.jetstream.fileStore.pvc.enabled, true);
});

Deno.test("the compose file runs three NATS servers routed to each other and three engines", async () => {
  // deno-lint-ignore no-explicit-any
  const [compose] = await readYaml(new URL("compose.yaml", ROOT)) as [any];
  const services = compose.services as Record<
    string,
    { command?: string[]; environment?: Record<string, string>; ports?: string[] }
  >;
  const nats = Object.keys(services).filter((name) => name.startsWith("nats")).sort();
  const engines = Object.keys(services).filter((name) => name.startsWith("engine")).sort();
  assert.deepEqual(nats, ["nats1", "nats2", "nats3"]);
  assert.deepEqual(engines, ["engine1", "engine2", "engine3"]);
  for (const name of nats) {
    const command = services[name]!.command!;
    assert.ok(command.includes("--jetstream"), `${name} runs JetStream`);
    const routes = command[command.indexOf("--routes") + 1]!.split(",");
    assert.deepEqual(
      routes.map((route) => new URL(route).hostname).sort(),
      nats.filter((other) => other !== name),
      `${name} routes to the two others`,
    );
  }
  const hostPorts = new Set<string>();
  for (const name of engines) {
    const environment = services[name]!.environment!;
    assert.deepEqual(
      String(environment.BUNDLEHOST_CLUSTER).split(",").map((url) => new URL(url).hostname).sort(),
      nats,
      `${name} knows every NATS server`,
    );
    assert.match(String(environment.BUNDLEHOST_ADMIN_TOKEN), /^\$\{BUNDLEHOST_ADMIN_TOKEN:\?/);
    assert.match(String(environment.BUNDLEHOST_SECRETS_KEY), /^\$\{BUNDLEHOST_SECRETS_KEY:\?/);
    for (const port of services[name]!.ports!) {
      assert.match(port, /^127\.0\.0\.1:/, "published on loopback only");
      hostPorts.add(port.split(":")[1]!);
    }
  }
  assert.equal(hostPorts.size, 3, "each engine on its own host port");
});

function dockerComposeAvailable(): boolean {
  if (Deno.env.get("BUNDLEHOST_REQUIRE_DOCKER_COMPOSE") === "1") return true;
  try {
    new Deno.Command("docker-compose", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "docker-compose accepts the compose file, and refuses it without an admin token",
  ignore: !dockerComposeAvailable(),
}, async () => {
  const config = (token?: string) =>
    new Deno.Command("docker-compose", {
      args: ["-f", new URL("compose.yaml", ROOT).pathname, "config", "-q"],
      env: token ? { BUNDLEHOST_ADMIN_TOKEN: token, BUNDLEHOST_SECRETS_KEY: "a-key" } : {},
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const ok = await config("a-token");
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  const missing = await config();
  assert.notEqual(missing.code, 0);
  assert.match(new TextDecoder().decode(missing.stderr), /set BUNDLEHOST_ADMIN_TOKEN/);
});

Deno.test("the container entry point runs `deno task run`'s flags, widening only the network grant", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks;
  const runFlags = (tasks.run as string).split(/\s+/).slice(2); // after "deno run"
  const output = await new Deno.Command("sh", {
    args: [new URL("entrypoint.sh", ROOT).pathname, "--log-format", "json"],
    env: {
      DENO: "echo",
      BUNDLEHOST_CLUSTER: "nats://nats1:4222,nats://nats2,nats://10.0.0.3:4333",
      PORT: "8080",
    },
    stdout: "piped",
  }).output();
  assert.equal(output.code, 0);
  const printed = new TextDecoder().decode(output.stdout).trim().split(/\s+/);
  assert.equal(printed[0], "run");
  const args = printed.slice(1);
  const net = (flags: string[]) => flags.find((f) => f.startsWith("--allow-net="));
  assert.deepEqual(
    args.filter((f) => f !== net(args)),
    [...runFlags.filter((f) => f !== net(runFlags)), "--log-format", "json"],
    "every flag but --allow-net is the run task's",
  );
  assert.equal(
    net(args),
    "--allow-net=0.0.0.0:8080,127.0.0.1,localhost,nats1:4222,nats2:4222,10.0.0.3:4333",
  );
});

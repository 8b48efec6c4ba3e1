/**
 * Density micro-benchmarks (`deno task bench`; the load harness runs them for its targets): the
 * broker's route decision for a call with one bundle installed and with a thousand, each bundle
 * its own service (issue 14: "route decision unchanged"). The broker reads the candidates from a
 * {@linkcode ProviderIndex} as the runtime wires it; the "scan" case leaves the index out, the
 * route decision before the index.
 *
 * @module
 */
import { Broker } from "../engine/broker/broker.ts";
import { ProviderIndex } from "../engine/broker/providers.ts";
import type { BundleEntry } from "../engine/broker/router.ts";
import type { Revision } from "../engine/core/revision.ts";
import { standInRevision } from "./_stand_in.ts";

/** Bundles in the dense case. */
export const DENSE = 1000; // The load harness reads the case named after it.

/** Bundle `i` of the benchmark: one service of its own. */
function standIn(i: number): Revision {
  const id = `dense-${String(i).padStart(4, "0")}`;
  return standInRevision(id, { services: { [`Dense${i}`]: "1.0.0" } }, i);
}

function broker(count: number, indexed: boolean): Broker {
  const entries = new Map<string, BundleEntry>();
  const index = new ProviderIndex();
  for (let i = 0; i < count; i++) {
    const revision = standIn(i);
    const entry = { id: revision.id, revisions: new Map([["1.0.0", revision]]), current: "1.0.0" };
    entries.set(entry.id, entry);
    index.update(entry);
  }
  return new Broker({
    entries: () => entries.values(),
    entry: (id) => entries.get(id),
    ...(indexed ? { providers: (service: string) => index.providers(service) } : {}),
    onBreakerChange: () => {},
  });
}

const cases = [
  { name: "1 bundle", broker: broker(1, true), baseline: true },
  { name: `${DENSE} bundles`, broker: broker(DENSE, true), baseline: false },
  {
    name: `${DENSE} bundles, scan without the index`,
    broker: broker(DENSE, false),
    baseline: false,
  },
];

// The call must reach the bundle, or the benchmark would measure a miss.
for (const c of cases) {
  const outcome = await c.broker.call({
    service: "Dense0",
    method: "hello",
    input: null,
    deadline: Date.now() + 30_000,
    hops: 0,
  });
  if (outcome.result !== 0) throw new Error(`${c.name}: the call reached ${outcome.bundle}`);
}

for (const c of cases) {
  Deno.bench({
    name: `Broker.call route decision, ${c.name}`,
    group: "density route",
    baseline: c.baseline,
    fn: async () => {
      await c.broker.call({
        service: "Dense0",
        method: "hello",
        input: null,
        deadline: Date.now() + 30_000,
        hops: 0,
      });
    },
  });
}

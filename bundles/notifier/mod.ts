/**
 * Example bundle for config and secrets: it builds a notification from `ctx.config` (defaults in
 * `bundle.json`, overridden by the operator with `PUT /admin/bundles/notifier/config`) and signs
 * it with the secret `NOTIFIER_API_KEY` (`PUT /admin/bundles/notifier/secrets/NOTIFIER_API_KEY`).
 * The key itself never leaves the bundle: only a signature made with it does. A change of either
 * reaches running instances without a restart, and `onRefresh` drops the cached signing key.
 *
 * @module
 */
import { type BundleContext, defineBundle } from "@bundlehost/sdk/bundle";

interface NotifierConfig {
  sender: string;
  template: { subject: string; footer: string };
  maxRecipients: number;
}

/** The signing key, imported once per key value; dropped when the settings change. */
let signing: { raw: string; key: CryptoKey } | undefined;

async function signingKey(ctx: BundleContext): Promise<CryptoKey | undefined> {
  const raw = await ctx.secrets.get("NOTIFIER_API_KEY");
  if (raw === undefined) return undefined;
  if (signing?.raw !== raw) {
    const bytes = new TextEncoder().encode(raw);
    const key = await crypto.subtle.importKey(
      "raw",
      bytes,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    signing = { raw, key };
  }
  return signing.key;
}

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (match, name: string) => values[name] ?? match);
}

export default defineBundle({
  services: {
    NotifierService: {
      async preview(input: { name?: string; to?: string[] }, ctx) {
        const config = ctx.config as unknown as NotifierConfig;
        const to = input.to ?? [];
        if (to.length > config.maxRecipients) {
          throw new RangeError(`At most ${config.maxRecipients} recipients`);
        }
        const values = { name: input.name ?? "there", sender: config.sender };
        const message = {
          from: config.sender,
          to,
          subject: fill(config.template.subject, values),
          footer: fill(config.template.footer, values),
        };
        const key = await signingKey(ctx);
        if (key === undefined) return { ...message, signed: false };
        const mac = await crypto.subtle.sign(
          "HMAC",
          key,
          new TextEncoder().encode(JSON.stringify(message)),
        );
        const signature = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0"))
          .join("");
        return { ...message, signed: true, signature };
      },
    },
  },
  hooks: {
    onRefresh(ctx) {
      signing = undefined;
      ctx.log.info("settings refreshed; sender is", (ctx.config as { sender?: string }).sender);
    },
  },
});

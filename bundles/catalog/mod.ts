/**
 * Example bundle with a permission it really uses: it reads `data/products.json` from its own
 * folder (`"permissions": { "read": ["./data"] }`). Anything else on disk is refused by Deno.
 * `defineBundle` from the SDK types its services and hooks; it adds nothing at run time.
 *
 * @module
 */
import { defineBundle } from "@bundlehost/sdk/bundle";

interface Product {
  sku: string;
  name: string;
  price: number;
}

let products: Product[] = [];

async function load(): Promise<void> {
  const url = new URL("./data/products.json", import.meta.url);
  products = JSON.parse(await Deno.readTextFile(url)) as Product[];
}

export default defineBundle({
  services: {
    CatalogService: {
      list(): Product[] {
        return products;
      },
      get(input: { sku?: unknown }): Product {
        const found = products.find((p) => p.sku === input?.sku);
        if (!found) {
          throw Object.assign(new Error(`No product "${String(input?.sku)}"`), {
            code: "NO_SUCH_SKU",
          });
        }
        return found;
      },
      /** Shows the sandbox at work: reading outside ./data is refused. */
      async tryRead(input: { path?: unknown }): Promise<{ ok: boolean; error?: string }> {
        try {
          await Deno.readTextFile(String(input?.path ?? "/etc/hostname"));
          return { ok: true };
        } catch (error) {
          return { ok: false, error: `${(error as Error).name}: ${(error as Error).message}` };
        }
      },
    },
  },

  hooks: {
    async onStart(): Promise<void> {
      await load();
    },
  },
});

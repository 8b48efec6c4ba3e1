/**
 * The soak benchmark's hostile bundle (process tier, no permissions). Each method is one way a
 * bundle can misbehave; the benchmark's driver calls them in rotation while good bundles serve
 * fixed-rate traffic, and the figures say whether the neighbours noticed.
 *
 * @module
 */

/** Input of every method: how hard to misbehave (each has a default). */
interface Dose {
  /** Log lines per call (`flood`). */
  lines?: number;
  /** Objects in the reply (`huge`). */
  objects?: number;
}

export default {
  services: {
    SoakHostile: {
      /** A synchronous busy loop that never ends: only killing the sandbox stops it. */
      spin(): never {
        for (;;) {
          // Busy.
        }
      },

      /** Allocates until the heap cap (or the RSS cap) ends the sandbox. */
      bomb(): number {
        const hoard: number[][] = [];
        for (;;) hoard.push(new Array(1 << 20).fill(hoard.length + Math.random()));
      },

      /** Ends its own process in the middle of a call, every call: a crash loop. */
      crash(): never {
        Deno.exit(17);
      },

      /** Floods the log: by default 20 000 lines of 200 bytes per call. */
      flood(input: Dose): number {
        const lines = input?.lines ?? 20_000;
        const pad = "x".repeat(190);
        for (let i = 0; i < lines; i++) console.log(`flood ${pad} ${i}`);
        return lines;
      },

      /** Throws (the driver calls it in bursts): an exception storm. */
      storm(): never {
        throw new Error(`storm: ${"!".repeat(1024)}`);
      },

      /** A huge reply of many tiny objects (by default 400 000, about 6 MiB of JSON). */
      huge(input: Dose): { i: number }[] {
        return Array.from({ length: input?.objects ?? 400_000 }, (_, i) => ({ i }));
      },
    },
  },
};

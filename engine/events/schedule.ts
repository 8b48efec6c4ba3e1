/**
 * Scheduled events: the `schedule` cron expressions of ACTIVE bundles, fired through the durable
 * bus. Times come from the bus's {@linkcode Clock}, so tests drive them with a `ManualClock`.
 *
 * **No double firing.** Each schedule (`<bundle id> <cron>`) has a durable mark: the last slot it
 * fired (or skipped to). A firing stores its event and raises the mark in one atomic commit that
 * fails if the mark already reached that slot, so a slot fires at most once, across restarts and
 * even with two schedulers; and a slot whose commit succeeded is delivered at least once.
 *
 * **Missed runs** (slots that passed while the engine was down or the bundle stopped), per
 * schedule's `missed`: `"once"` (default) fires the latest missed slot once when the schedule is
 * armed again (its payload says `catchUp: true`), older missed slots are dropped; `"skip"` fires
 * none. A schedule armed for the first time fires from its next slot on. When the engine falls
 * behind while running (a long pause), only the latest due slot fires.
 *
 * @module
 */
import type { EventStore } from "../store/event_store.ts";
import type { Clock, TimerHandle } from "../base/clock.ts";
import { CronSlots } from "../manifest/cron.ts";
import type { BusBundle } from "./delivery.ts";
import type { ManifestSchedule } from "../manifest/events_schema.ts";

/** One slot of one schedule to fire. */
export interface Firing {
  /** The bundle. */
  bundle: BusBundle;
  /** Its cron expression. */
  cron: string;
  /** The schedule's settings. */
  schedule: ManifestSchedule;
  /** Slot time, epoch ms. */
  slot: number;
  /** Whether the slot passed before the schedule was armed (a missed run). */
  catchUp: boolean;
}

/** What the scheduler needs. */
export interface SchedulerInit {
  /** Installed bundles by current version. */
  bundles(): Iterable<BusBundle>;
  /** Engine events; `statechange` re-arms schedules at once. */
  events: EventTarget;
  /** Where marks live. */
  store: EventStore;
  /** Time source. */
  clock: Clock;
  /** Schedules are re-read from the bundles at least this often, ms. */
  pollMs: number;
  /** Enqueues one firing with its mark; `false` when the slot had fired already. */
  fire(firing: Firing): Promise<boolean>;
  /** Engine log. */
  log(level: "debug" | "info" | "warn" | "error", message: string): void;
}

interface Armed {
  bundle: BusBundle;
  cron: string;
  schedule: ManifestSchedule;
  config: string;
  slots: CronSlots;
  /** The last slot fired or skipped to, epoch ms. */
  mark: number;
  armedAt: number;
}

/** Arms the schedules of ACTIVE bundles and fires their slots. */
export class Scheduler {
  readonly #init: SchedulerInit;
  readonly #armed = new Map<string, Armed>();
  readonly #onChange = () => void this.#queue();
  #work: Promise<void> = Promise.resolve();
  #timer?: TimerHandle;
  #running = false;

  /**
   * Creates the scheduler (stopped).
   *
   * @param init Bundles, store, clock, firing.
   */
  constructor(init: SchedulerInit) {
    this.#init = init;
  }

  /** Arms every schedule and fires what is due (and owed, per the missed-run policy). */
  start(): Promise<void> {
    this.#running = true;
    this.#init.events.addEventListener("statechange", this.#onChange);
    return this.#queue();
  }

  /** Disarms everything; marks stay in the store. */
  stop(): void {
    this.#running = false;
    this.#init.events.removeEventListener("statechange", this.#onChange);
    if (this.#timer !== undefined) this.#init.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armed.clear();
  }

  /** Resolves when no sync or firing is in progress. */
  async idle(): Promise<void> {
    let work: Promise<void>;
    do {
      work = this.#work;
      await work;
    } while (work !== this.#work);
  }

  /** Schedules keyed `<bundle id> <cron>`, with their marks (for status). */
  get armed(): { key: string; handler: string; mark: string }[] {
    return [...this.#armed].map(([key, a]) => ({
      key,
      handler: a.schedule.handler,
      mark: new Date(a.mark).toISOString(),
    }));
  }

  #queue(): Promise<void> {
    this.#work = this.#work.then(() => this.#sync()).catch((error) => {
      this.#init.log("error", `Scheduler: ${(error as Error).message}`);
    });
    return this.#work;
  }

  async #sync(): Promise<void> {
    if (!this.#running) return;
    const { clock, store } = this.#init;
    const wanted = new Map<string, Omit<Armed, "slots" | "mark" | "armedAt">>();
    for (const bundle of this.#init.bundles()) {
      if (!bundle.active) continue;
      for (const [cron, schedule] of Object.entries(bundle.manifest.schedule)) {
        wanted.set(`${bundle.id} ${cron}`, {
          bundle,
          cron,
          schedule,
          config: JSON.stringify(schedule),
        });
      }
    }
    for (const [key, armed] of this.#armed) {
      const want = wanted.get(key);
      if (!want || want.config !== armed.config) this.#armed.delete(key);
      else armed.bundle = want.bundle;
    }
    for (const [key, want] of wanted) {
      if (this.#armed.has(key)) continue;
      const now = clock.now();
      let mark = await store.getMark(key);
      if (mark === undefined || want.schedule.missed === "skip") {
        // Nothing before now is owed: a new schedule, or one that skips missed runs.
        await store.raiseMark(key, now);
        mark = Math.max(mark ?? now, now);
      }
      const slots = new CronSlots(want.cron, want.schedule.timezone);
      this.#armed.set(key, { ...want, slots, mark, armedAt: now });
    }
    for (const [key, armed] of this.#armed) {
      const latest = armed.slots.latest(clock.now());
      if (latest === undefined || latest <= armed.mark) continue;
      const catchUp = latest < armed.armedAt;
      const { bundle, cron, schedule } = armed;
      if (await this.#init.fire({ bundle, cron, schedule, slot: latest, catchUp })) {
        this.#init.log(
          "debug",
          `Scheduler: ${key} fired slot ${new Date(latest).toISOString()}${
            catchUp ? " (catch-up)" : ""
          }`,
        );
        armed.mark = latest;
      } else {
        armed.mark = Math.max(armed.mark, (await store.getMark(key)) ?? latest);
      }
    }
    if (!this.#running) return;
    const now = clock.now();
    let next = now + this.#init.pollMs;
    for (const armed of this.#armed.values()) {
      const slot = armed.slots.next(Math.max(now, armed.mark));
      if (slot !== undefined && slot < next) next = slot;
    }
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#queue();
    }, next - now);
  }
}

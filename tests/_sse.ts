/**
 * A server-sent events reader for tests: reads a response body in the background and parses it
 * into events and comments, so a test can `waitFor` what arrived.
 *
 * @module
 */

/** One parsed event. */
export interface SseEvent {
  /** `event:` field (`"message"` when absent). */
  event: string;
  /** `id:` field, if any. */
  id?: string;
  /** `data:` lines joined by newlines. */
  data: string;
}

/** What a stream has delivered so far. */
export interface SseReader {
  /** Events in arrival order. */
  events: SseEvent[];
  /** Comment lines (without the leading colon and space), in arrival order. */
  comments: string[];
  /** Settles when the body ends (or fails, e.g. on abort). */
  closed: Promise<void>;
  /** Whether the body has ended. */
  done(): boolean;
  /** The parsed `data` of every event of one type. */
  data<T>(event: string): T[];
}

/**
 * Starts reading an event stream.
 *
 * @param response A `text/event-stream` response.
 * @returns The reader; its arrays fill as events arrive.
 */
export function readSse(response: Response): SseReader {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let ended = false;
  const parse = (block: string) => {
    const event: SseEvent = { event: "message", data: "" };
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) comments.push(line.slice(1).trim());
      else if (line.startsWith("event: ")) event.event = line.slice(7);
      else if (line.startsWith("id: ")) event.id = line.slice(4);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) {
      event.data = data.join("\n");
      events.push(event);
    }
  };
  const closed = (async () => {
    let text = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body!) {
        text += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = text.indexOf("\n\n")) >= 0) {
          parse(text.slice(0, end));
          text = text.slice(end + 2);
        }
      }
    } catch {
      // Aborted by the test.
    } finally {
      ended = true;
    }
  })();
  return {
    events,
    comments,
    closed,
    done: () => ended,
    data: <T>(type: string) =>
      events.filter((e) => e.event === type).map((e) => JSON.parse(e.data) as T),
  };
}

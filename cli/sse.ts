/**
 * A reader of server-sent events (the `text/event-stream` format), bounded per event.
 *
 * @module
 */

/** One server-sent event. */
export interface ServerSentEvent {
  /** `event:` field; `message` when absent. */
  event: string;
  /** `data:` lines joined by newlines. */
  data: string;
  /** `id:` field, when given. */
  id?: string;
}

/** Largest event accepted, in characters: a stream that sends more is refused. */
export const MAX_EVENT_CHARS = 1_048_576;

/**
 * Reads events from a stream until it ends.
 *
 * @param body The response body.
 * @returns The events, in order.
 * @throws {RangeError} when one event is larger than {@linkcode MAX_EVENT_CHARS}.
 */
export async function* readEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let size = 0;
  let id: string | undefined;
  const lines = body.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    buffer += chunk;
    let end: number;
    while ((end = buffer.search(/\r\n|\r|\n/)) !== -1) {
      // A CR that ends the chunk may be the first half of a CRLF: wait for the next chunk.
      if (buffer[end] === "\r" && end === buffer.length - 1) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) {
          yield {
            event: event || "message",
            data: data.join("\n"),
            ...(id === undefined ? {} : { id }),
          };
        }
        [event, data, size] = ["", [], 0];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      size += value.length;
      if (size > MAX_EVENT_CHARS) {
        throw new RangeError(`An event is larger than ${MAX_EVENT_CHARS} characters`);
      }
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (buffer.length > MAX_EVENT_CHARS) {
      throw new RangeError(`A line is longer than ${MAX_EVENT_CHARS} characters`);
    }
  }
}

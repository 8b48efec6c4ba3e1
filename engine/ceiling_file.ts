/**
 * Reads the operator's permission-ceiling file (`--ceiling <file.json>`): a JSON object whose
 * fields are permission kinds, each a list of strings. Anything else is refused with one line
 * naming the file and the problem, so a typo never silently widens or narrows the ceiling.
 *
 * @module
 */
import { PERMISSION_KINDS, type PermissionCeiling, type PermissionKind } from "./permissions.ts";

/** The ceiling file cannot be read or is not a valid ceiling. */
export class CeilingFileError extends TypeError {
  /** Error class name. */
  override get name(): string {
    return "CeilingFileError";
  }
}

/**
 * Reads and checks a ceiling file.
 *
 * @param path The file.
 * @returns The ceiling fields it sets.
 * @throws {CeilingFileError} When it cannot be read, is not JSON, or has an unknown or bad field.
 */
export async function readCeilingFile(path: string): Promise<Partial<PermissionCeiling>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new CeilingFileError(`Cannot read ceiling file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CeilingFileError(
      `Ceiling file ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CeilingFileError(`Ceiling file ${path} must hold a JSON object`);
  }
  const ceiling: Partial<PermissionCeiling> = {};
  for (const [field, value] of Object.entries(parsed)) {
    if (!(PERMISSION_KINDS as readonly string[]).includes(field)) {
      throw new CeilingFileError(
        `Ceiling file ${path} has unknown field "${field}": use ${PERMISSION_KINDS.join(", ")}`,
      );
    }
    if (!Array.isArray(value) || !value.every((entry) => typeof entry === "string")) {
      throw new CeilingFileError(
        `Ceiling file ${path}: field "${field}" must be a list of strings`,
      );
    }
    ceiling[field as PermissionKind] = value;
  }
  return ceiling;
}

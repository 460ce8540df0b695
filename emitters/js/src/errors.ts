// The error a host throws for a classified, emitted MCP failure, and the JSON-RPC error data for it.
import { errorChain } from "./chain.js";
import { type Classification, classificationFor, classify } from "./classifier.js";
import type { WireEvent } from "./event.js";

/** A classified MCP failure; `message` is the user-safe message and the Debug ID, never the error text.
 * The original error stays reachable as `cause`. */
export class MCPDiagnosticError extends Error {
  readonly classification: Classification;
  readonly code: string;
  readonly retryable: boolean;
  readonly messageSafe: string;
  readonly debugId: string;
  readonly event: WireEvent | null;

  constructor(
    classification: Classification | string,
    options: { debugId: string; event?: WireEvent | null; server?: string; cause?: unknown },
  ) {
    const found = typeof classification === "string" ? classificationFor(classification, { server: options.server }) : classification;
    super(`${found.messageSafe} (Debug ID: ${options.debugId})`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MCPDiagnosticError";
    this.classification = found;
    this.code = found.code;
    this.retryable = found.retryable;
    this.messageSafe = found.messageSafe;
    this.debugId = options.debugId;
    this.event = options.event ?? null;
  }

  toJSON(): { code: string; debugId: string; retryable: boolean; message: string } {
    return { code: this.code, debugId: this.debugId, retryable: this.retryable, message: this.messageSafe };
  }
}

/** `{debugId, code, retryable}` for a JSON-RPC error's `data` field.
 *
 * Taken from the first `MCPDiagnosticError` in `err`'s chain; otherwise `err` is classified and `debugId`
 * is the one given (null when the failure was never emitted, so there is no Debug ID to give). */
export function errorData(err: unknown, debugId: string | null = null): { debugId: string | null; code: string; retryable: boolean } {
  for (const e of errorChain(err)) {
    if (e instanceof MCPDiagnosticError) return { debugId: e.debugId, code: e.code, retryable: e.retryable };
  }
  const found = classify(err);
  return { debugId, code: found.code, retryable: found.retryable };
}

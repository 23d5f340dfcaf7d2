import { isUtf8 } from 'node:buffer';
import express, { type RequestHandler } from 'express';
import { Problem } from './problem.ts';

const jsonTypes = ['application/json', 'application/*+json'];

/**
 * Deeper than any event or setting needs; a bound keeps serialising a body (Temporal's payload
 * converter, logs) from overflowing the stack.
 */
export const MAX_JSON_DEPTH = 64;

const invalidBody = (title: string, message: string) => new Problem(400, title, message, [{ field: 'body', message }]);

/** How deeply arrays and objects nest in JSON text, counted without parsing it (brackets inside strings skipped). */
export function jsonDepth(text: Buffer): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    if (inString) {
      if (byte === 0x5c) i++; // backslash: the next byte is escaped
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return deepest;
}

/**
 * The JSON body parser every route shares: at most `maxBytes` (413 beyond), UTF-8 only
 * (invalid bytes are refused, not replaced), nesting bounded, and a body of any other
 * media type refused with 415 rather than silently read as empty.
 */
export function jsonBody(maxBytes: number): RequestHandler[] {
  const parseJson = express.json({
    limit: maxBytes,
    type: jsonTypes,
    verify: (_req, _res, raw) => {
      if (!isUtf8(raw)) throw invalidBody('Invalid JSON', 'not valid UTF-8');
      if (jsonDepth(raw) > MAX_JSON_DEPTH) throw invalidBody('Invalid JSON', `nested deeper than ${MAX_JSON_DEPTH} levels`);
    },
  });
  const onlyJson: RequestHandler = (req, _res, next) => {
    const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length')) > 0;
    if (req.body === undefined && hasBody) {
      throw new Problem(415, 'Unsupported Media Type', 'the body must be application/json', [{ field: 'content-type', message: 'must be application/json' }]);
    }
    next();
  };
  return [parseJson, onlyJson, wellFormedStrings];
}

/** In `u` mode a surrogate pair is one code point, so this matches only a lone surrogate. */
const loneSurrogate = /\p{Surrogate}/u;

/**
 * JSON may escape a lone surrogate (`"\ud800"`), which is no Unicode text: storage refuses it
 * and a receiver could not decode it. Refused here, naming where it is.
 */
const wellFormedStrings: RequestHandler = (req, _res, next) => {
  const pending: [path: string, value: unknown][] = [['body', req.body]];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const [path, value] = item;
    if (typeof value === 'string' && loneSurrogate.test(value)) throw invalidAt(path);
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      if (loneSurrogate.test(key)) throw invalidAt(path);
      pending.push([path === 'body' ? key : `${path}.${key}`, child]);
    }
  }
  next();
};

const invalidAt = (field: string) => {
  const message = 'not well-formed Unicode (a lone surrogate such as \\ud800)';
  return new Problem(400, 'Invalid JSON', message, [{ field, message }]);
};

import { html } from 'htm/preact';

/**
 * Templates as tagged strings: no JSX build. Preact renders every interpolated value as text
 * (the page never sets innerHTML), so what an event, an endpoint or a receiver holds stays inert.
 */
export { html };

export const formatTime = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '–');
export const percent = (rate: number | null | undefined) => (rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`);
export const pretty = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

export interface Outbound { method: string; url: string; headers: Record<string, string>; body: string }

/** A request as it goes on the wire: request line, headers, a blank line, the body (one text, so its line breaks stay). */
export const requestText = ({ method, url, headers, body }: Outbound) =>
  `${method} ${url}\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\n')}\n\n${body}`;

/** A status or health state as a labelled badge (its colour from the stylesheet). */
export const Badge = ({ value }: { value: string }) => html`<span class=${`badge badge-${value.replace(/[^a-z]/g, '')}`}>${value}</span>`;

/** An error answer shown where the action was taken, announced to screen readers. */
export const ErrorNote = ({ error }: { error: unknown }) => error
  ? html`<p class="error" role="alert">${error instanceof Error ? error.message : String(error)}${
      (error as { fields?: { field: string; message: string }[] }).fields?.map((f) => html`<br />${f.field}: ${f.message}`)}</p>`
  : null;

/**
 * The API's messages for `fields` (and, with `nested`, for fields inside them), shown beside the input
 * that `id` describes: a problem's `errors` name the field in the API's own terms (`auth.tokenUrl`).
 */
export function FieldError({ error, fields, id, nested = false }: { error: unknown; fields: string[]; id: string; nested?: boolean }) {
  const messages = ((error as { fields?: { field: string; message: string }[] } | undefined)?.fields ?? [])
    .filter((f) => fields.includes(f.field) || (nested && fields.some((name) => f.field.startsWith(`${name}.`))));
  return html`<small class="error field-error" id=${id}>${messages.map((m, i) => html`${i > 0 && html`<br />`}${m.message}`)}</small>`;
}

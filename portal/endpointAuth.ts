import { FieldError, html } from './html.ts';

/**
 * An endpoint's authentication to its receiver (`auth`): shown without its secret, which the API never
 * reads back, and set, replaced or removed in the endpoint form, where the secret is write-only.
 */

const types = ['oauth2-client-credentials', 'basic', 'mtls'] as const;
type AuthType = (typeof types)[number];

/** `keep`: the endpoint's current authentication, untouched (its secret stays as sealed); `none`: no authentication. */
export type AuthChoice = 'keep' | 'none' | AuthType;

export interface AuthDraft {
  choice: AuthChoice;
  tokenUrl: string; clientId: string; clientSecret: string; scope: string; audience: string;
  username: string; password: string; certificate: string; privateKey: string;
}

/** The fields each type takes, in the API's names: [field, label, kind, hint?]. */
const fieldsOf: Record<AuthType, [keyof AuthDraft, string, 'text' | 'secret' | 'pem' | 'secret-pem', string?][]> = {
  'oauth2-client-credentials': [
    ['tokenUrl', 'Token URL', 'text', 'where Herald asks for a token (client credentials grant)'],
    ['clientId', 'Client id', 'text'],
    ['clientSecret', 'Client secret', 'secret'],
    ['scope', 'Scope', 'text', 'optional'],
    ['audience', 'Audience', 'text', 'optional'],
  ],
  basic: [['username', 'Username', 'text'], ['password', 'Password', 'secret']],
  mtls: [['certificate', 'Client certificate (PEM)', 'pem'], ['privateKey', 'Private key (PEM)', 'secret-pem']],
};
const optional = new Set<keyof AuthDraft>(['scope', 'audience']);

/** The draft for an endpoint read from the API (`auth` without its secret), or for a new one. */
export function authDraftOf(current: any | null): AuthDraft {
  return {
    choice: current ? 'keep' : 'none',
    tokenUrl: current?.tokenUrl ?? '', clientId: current?.clientId ?? '', clientSecret: '', scope: current?.scope ?? '', audience: current?.audience ?? '',
    username: current?.username ?? '', password: '', certificate: current?.certificate ?? '', privateKey: '',
  };
}

/** What the API takes: nothing when kept (or none on create), null to remove, else the whole object with its secret. */
export function authBody(draft: AuthDraft, current: any | null): unknown {
  if (draft.choice === 'keep') return undefined;
  if (draft.choice === 'none') return current ? null : undefined;
  return {
    type: draft.choice,
    ...Object.fromEntries(fieldsOf[draft.choice].map(([name]) => [name, draft[name].trim()]).filter(([name, value]) => value || !optional.has(name as keyof AuthDraft))),
  };
}

/** The authentication as the endpoint page lists it: the type and every field but the secret. */
export function describeAuth(auth: any | null): [string, string][] {
  if (!auth) return [['Authentication', 'none']];
  const shown: [string, string][] = [['Authentication', auth.type]];
  if (auth.type === 'mtls') return [...shown, ['Client certificate', 'set (its private key is never shown)']];
  for (const [name, label, kind] of fieldsOf[auth.type as AuthType] ?? []) {
    if (!kind.startsWith('secret') && auth[name]) shown.push([label, auth[name]]);
  }
  return shown;
}

/** The form's authentication part: the choice, then the chosen type's fields; each API error beside its field. */
export function AuthFields({ draft, current, error, onChange }: { draft: AuthDraft; current: any | null; error: unknown; onChange: (next: AuthDraft) => void }) {
  const set = (name: keyof AuthDraft) => (event: Event) => onChange({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value });
  const choices: [AuthChoice, string][] = [
    ...(current ? [['keep', `Keep the current one (${current.type})`] as [AuthChoice, string]] : []),
    ['none', current ? 'None (remove it)' : 'None'],
    ...types.map((t) => [t, current ? `Replace with ${t}` : t] as [AuthChoice, string]),
  ];
  const input = ([name, label, kind, hint]: (typeof fieldsOf)[AuthType][number]) => {
    const id = `f-auth-${name}`;
    const describedBy = [hint || kind.startsWith('secret') ? `h-auth-${name}` : '', `e-auth-${name}`].filter(Boolean).join(' ');
    const common = { id, name: `auth.${name}`, value: draft[name], onInput: set(name), 'aria-describedby': describedBy, autocomplete: 'off' };
    return html`
      <label for=${id}>${label}</label>
      ${kind.endsWith('pem') ? html`<textarea ...${common} rows="4" spellcheck="false" />` : html`<input ...${common} type=${kind === 'secret' ? 'password' : 'text'} />`}
      ${(hint || kind.startsWith('secret')) && html`<small id=${`h-auth-${name}`}>${kind.startsWith('secret') ? 'write-only: Herald keeps it sealed and never shows it again' : hint}</small>`}
      <${FieldError} error=${error} fields=${[`auth.${name}`]} id=${`e-auth-${name}`} />`;
  };
  return html`
    <fieldset class="form-group"><legend>Authentication to the receiver</legend>
      <label for="f-auth">Authentication</label>
      <select id="f-auth" name="auth" value=${draft.choice} aria-describedby="e-auth" onChange=${set('choice')}>
        ${choices.map(([value, label]) => html`<option value=${value}>${label}</option>`)}</select>
      <${FieldError} error=${error} fields=${['auth', 'auth.type']} id="e-auth" />
      ${draft.choice !== 'keep' && draft.choice !== 'none' && fieldsOf[draft.choice].map(input)}
    </fieldset>`;
}

// Windows policy in the registry (HKLM\SOFTWARE\Policies\Keepsake, and HKCU for per-user), as
// the `reg` tool prints it (`reg query KEY /s`) or exports it (a .reg file): parsed into the
// policy's raw key/value pairs, which common/policy.ts then checks key by key.
//
// Invariant: the layout is the one the generated ADMX writes (scripts/policy-templates.ts):
// scalars are values of the policy key (REG_SZ text, REG_DWORD numbers and booleans), lists
// are a subkey named after the key whose values are the items (ADMX <list> elements write
// "1", "2", ...), read in the order of their names; a REG_MULTI_SZ value is a list too.
import { policyDefinitions, type PolicyKeyDefinition } from '../../../common/policy.js';

export type RegistryValue =
  | { type: 'REG_SZ' | 'REG_EXPAND_SZ'; data: string }
  | { type: 'REG_DWORD' | 'REG_QWORD'; data: number }
  | { type: 'REG_MULTI_SZ'; data: string[] }
  | { type: 'other'; data: string };

/** Registry keys (full paths, as printed) and their values by name. */
export type RegistryTree = Map<string, Map<string, RegistryValue>>;

function valueOf(type: string, text: string): RegistryValue {
  switch (type) {
    case 'REG_SZ':
    case 'REG_EXPAND_SZ':
      return { type, data: text };
    case 'REG_DWORD':
    case 'REG_QWORD':
      return { type, data: Number(text.trim()) };
    case 'REG_MULTI_SZ':
      // reg query prints the items joined by a literal "\0".
      return { type, data: text === '' ? [] : text.split('\\0').filter((s) => s !== '') };
    default:
      return { type: 'other', data: text };
  }
}

/**
 * `reg query KEY /s` output: a key's full path on a line of its own, then its values indented
 * by four spaces as "NAME    TYPE    DATA" (four spaces apart), a blank line between keys.
 */
export function parseRegQuery(text: string): RegistryTree {
  const tree: RegistryTree = new Map();
  let current: Map<string, RegistryValue> | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+$/, '');
    if (line === '') continue;
    if (/^HKEY_/i.test(line)) {
      current = new Map();
      tree.set(line, current);
      continue;
    }
    const m = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(raw.replace(/\r$/, ''));
    if (m && current) {
      const name = m[1] === '(Default)' ? '' : (m[1] ?? '');
      current.set(name, valueOf(m[2] ?? '', m[3] ?? ''));
    }
  }
  return tree;
}

/** Decodes a .reg file's bytes: regedit writes UTF-16LE with a BOM; `reg export` too. */
export function decodeRegFile(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe)
    return Buffer.from(bytes.subarray(2)).toString('utf16le');
  const text = Buffer.from(bytes).toString('utf8');
  return text.startsWith('\ufeff') ? text.slice(1) : text;
}

function unescapeRegString(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function hexBytes(list: string): Buffer {
  const parts = list
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}

/** A .reg file ("Windows Registry Editor Version 5.00"): [KEY] sections of "name"=data lines. */
export function parseRegFile(text: string): RegistryTree {
  const tree: RegistryTree = new Map();
  let current: Map<string, RegistryValue> | null = null;
  // Long hex values continue on the next line after a trailing backslash.
  const lines = text.replace(/\\\r?\n\s*/g, '').split(/\r?\n/);
  for (const line of lines) {
    const section = /^\[(-?)(HKEY_[^\]]+)\]\s*$/.exec(line);
    if (section) {
      current = section[1] === '-' ? null : new Map();
      if (current) tree.set(section[2] ?? '', current);
      continue;
    }
    const m = /^(@|"((?:[^"\\]|\\.)*)")=(.*)$/.exec(line);
    if (!m || !current) continue;
    const name = m[1] === '@' ? '' : unescapeRegString(m[2] ?? '');
    const data = m[3] ?? '';
    let value: RegistryValue;
    const str = /^"((?:[^"\\]|\\.)*)"$/.exec(data);
    if (str) {
      value = { type: 'REG_SZ', data: unescapeRegString(str[1] ?? '') };
    } else if (data.startsWith('dword:')) {
      value = { type: 'REG_DWORD', data: Number.parseInt(data.slice(6), 16) };
    } else if (data.startsWith('hex(2):')) {
      const s = hexBytes(data.slice(7)).toString('utf16le').replace(/\0+$/, '');
      value = { type: 'REG_EXPAND_SZ', data: s };
    } else if (data.startsWith('hex(7):')) {
      const s = hexBytes(data.slice(7)).toString('utf16le');
      value = { type: 'REG_MULTI_SZ', data: s.split('\0').filter((x) => x !== '') };
    } else if (data.startsWith('hex(b):')) {
      const b = hexBytes(data.slice(7));
      value = { type: 'REG_QWORD', data: b.length >= 8 ? Number(b.readBigUInt64LE()) : NaN };
    } else if (data === '-') {
      current.delete(name);
      continue;
    } else {
      value = { type: 'other', data };
    }
    current.set(name, value);
  }
  return tree;
}

function findKey(tree: RegistryTree, path: string): Map<string, RegistryValue> | undefined {
  const want = path.toLowerCase();
  for (const [k, v] of tree) if (k.toLowerCase() === want) return v;
  return undefined;
}

function listFromSubkey(values: Map<string, RegistryValue>): string[] {
  // Values named 1, 2, ... in numeric order (others after, by name).
  const entries = [...values.entries()].filter(([name]) => name !== '');
  entries.sort(([a], [b]) => {
    const na = /^\d+$/.test(a) ? Number(a) : Infinity;
    const nb = /^\d+$/.test(b) ? Number(b) : Infinity;
    return na !== nb ? na - nb : a.localeCompare(b);
  });
  const out: string[] = [];
  for (const [name, v] of entries) {
    if (v.type === 'REG_SZ' || v.type === 'REG_EXPAND_SZ') out.push(v.data);
    // An ADMX list with explicitValue off may store the item as the value's name.
    else if (v.type === 'REG_MULTI_SZ') out.push(...v.data);
    else out.push(name);
  }
  return out;
}

function scalar(def: PolicyKeyDefinition, v: RegistryValue): unknown {
  switch (def.kind) {
    case 'boolean':
      // ADMX <boolean> elements write DWORD 1 / 0; "true"/"false" text is taken too.
      if (v.type === 'REG_DWORD' || v.type === 'REG_QWORD')
        return v.data === 1 ? true : v.data === 0 ? false : v.data;
      if (v.type === 'REG_SZ')
        return v.data === 'true' ? true : v.data === 'false' ? false : v.data;
      return v.data;
    case 'integer':
      if (v.type === 'REG_SZ' && /^\d+$/.test(v.data.trim())) return Number(v.data.trim());
      return v.data;
    case 'list':
      // A REG_MULTI_SZ value is the list; anything else fails validation with its key named.
      return v.data;
    case 'string':
    case 'enum':
      return v.data;
    default: {
      const never: never = def.kind;
      return never;
    }
  }
}

/**
 * The raw policy under `root` (e.g. HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Keepsake): scalars from
 * its values, lists from its subkeys. Values that are not policy keys are kept (and reported
 * as unknown by validatePolicy) so a typo is seen.
 */
export function registryToRaw(tree: RegistryTree, root: string): Record<string, unknown> | null {
  const values = findKey(tree, root);
  const byKey = new Map<string, PolicyKeyDefinition>(policyDefinitions.map((d) => [d.key, d]));
  const raw: Record<string, unknown> = {};
  let any = false;
  if (values) {
    any = true;
    for (const [name, v] of values) {
      if (name === '') continue;
      const def = byKey.get(name);
      raw[name] = def ? scalar(def, v) : v.data;
    }
  }
  for (const def of policyDefinitions) {
    if (def.kind !== 'list') continue;
    const sub = findKey(tree, `${root}\\${def.key}`);
    if (sub) {
      any = true;
      raw[def.key] = listFromSubkey(sub);
    }
  }
  return any ? raw : null;
}

// The administrator templates, generated from the one policy definition (common/policy.ts):
//   build/policy/keepsake.admx + en-US/keepsake.adml   Group Policy (Windows)
//   build/policy/keepsake.mobileconfig                 a sample profile for macOS MDM
//   build/policy/policy.schema.json                    the JSON schema of /etc/keepsake/policy.json
// `npm run policy:templates` writes them; tests/unit/scripts/policy-templates.test.ts checks
// the checked-in files are what this generates, so a new key cannot ship without them.
//
// Invariant: the ADMX writes exactly the registry layout engine/policy/registry.ts reads:
// scalars as values of Software\Policies\Keepsake, lists as a subkey of the key's name with
// one value per item ("1", "2", ...), and each policy's "Locked" tick box as a value named
// after the key under Software\Policies\Keepsake\locked.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as buildPlist, type PlistValue } from 'plist';
import { lockableKeys, policyDefinitions, type PolicyKeyDefinition } from '../common/policy.js';

const registryKey = 'Software\\Policies\\Keepsake';
const bundleId = 'app.keepsake.desktop';

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Keys with a Group Policy of their own (`locked` is each policy's tick box instead). */
const gpoDefinitions = (): PolicyKeyDefinition[] =>
  (policyDefinitions as readonly PolicyKeyDefinition[]).filter((d) => d.key !== 'locked');

function admxElements(d: PolicyKeyDefinition): string[] {
  const lock = [
    `        <boolean id="${d.key}_locked" key="${registryKey}\\locked" valueName="${d.key}">`,
    `          <trueValue><string>${d.key}</string></trueValue>`,
    '          <falseValue><delete /></falseValue>',
    '        </boolean>',
  ];
  switch (d.kind) {
    case 'string':
      return [`        <text id="${d.key}" valueName="${d.key}" required="true" />`, ...lock];
    case 'integer':
      return [
        `        <decimal id="${d.key}" valueName="${d.key}" required="true" minValue="${d.min ?? 0}" maxValue="${d.max ?? 4294967295}" />`,
        ...lock,
      ];
    case 'enum':
      return [
        `        <enum id="${d.key}" valueName="${d.key}" required="true">`,
        ...(d.values ?? []).map(
          (v) =>
            `          <item displayName="$(string.${d.key}_${v})"><value><string>${xml(v)}</string></value></item>`,
        ),
        '        </enum>',
        ...lock,
      ];
    case 'list':
      return [
        `        <list id="${d.key}" key="${registryKey}\\${d.key}" valuePrefix="" />`,
        ...lock,
      ];
    case 'boolean':
      // The value itself is the policy's Enabled (1) / Disabled (0) state.
      return lock;
    default: {
      const never: never = d.kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}

function admx(): string {
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<!-- Generated from common/policy.ts by `npm run policy:templates`: do not edit. -->',
    '<policyDefinitions xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" xmlns="http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions">',
    '  <policyNamespaces>',
    '    <target prefix="keepsake" namespace="Keepsake.Policies.Keepsake" />',
    '    <using prefix="windows" namespace="Microsoft.Policies.Windows" />',
    '  </policyNamespaces>',
    '  <resources minRequiredRevision="1.0" />',
    '  <supportedOn>',
    '    <definitions>',
    '      <definition name="SUPPORTED_Keepsake_0_1" displayName="$(string.SUPPORTED_Keepsake_0_1)" />',
    '    </definitions>',
    '  </supportedOn>',
    '  <categories>',
    '    <category name="Keepsake" displayName="$(string.Keepsake)" />',
    '  </categories>',
    '  <policies>',
  ];
  for (const d of gpoDefinitions()) {
    const boolean = d.kind === 'boolean';
    lines.push(
      `    <policy name="${d.key}" class="Both" displayName="$(string.${d.key})" explainText="$(string.${d.key}_Explain)" presentation="$(presentation.${d.key})" key="${registryKey}"${boolean ? ` valueName="${d.key}"` : ''}>`,
      '      <parentCategory ref="Keepsake" />',
      '      <supportedOn ref="SUPPORTED_Keepsake_0_1" />',
    );
    if (boolean) {
      lines.push(
        '      <enabledValue><decimal value="1" /></enabledValue>',
        '      <disabledValue><decimal value="0" /></disabledValue>',
      );
    }
    lines.push('      <elements>', ...admxElements(d), '      </elements>', '    </policy>');
  }
  lines.push('  </policies>', '</policyDefinitions>', '');
  return lines.join('\r\n');
}

function admlPresentation(d: PolicyKeyDefinition): string[] {
  const lock = `        <checkBox refId="${d.key}_locked" defaultChecked="true">Locked: a person may not change it (shown as "set by your organisation")</checkBox>`;
  switch (d.kind) {
    case 'string':
      return [`        <textBox refId="${d.key}"><label>${xml(d.title)}</label></textBox>`, lock];
    case 'integer':
      return [
        `        <decimalTextBox refId="${d.key}" defaultValue="${String(d.example)}">${xml(d.title)}</decimalTextBox>`,
        lock,
      ];
    case 'enum':
      return [
        `        <dropdownList refId="${d.key}" noSort="true" defaultItem="0">${xml(d.title)}</dropdownList>`,
        lock,
      ];
    case 'list':
      return [`        <listBox refId="${d.key}">${xml(d.title)}</listBox>`, lock];
    case 'boolean':
      return [lock];
    default: {
      const never: never = d.kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}

function adml(): string {
  const strings: [string, string][] = [
    ['Keepsake', 'Keepsake'],
    ['SUPPORTED_Keepsake_0_1', 'Keepsake 0.1 and later'],
  ];
  for (const d of gpoDefinitions()) {
    strings.push([d.key, d.title]);
    strings.push([
      `${d.key}_Explain`,
      `${d.description}\n\nEnabled: the value applies to every person on this computer; tick "Locked" so that they cannot change it. Not configured: the person decides.`,
    ]);
    for (const v of d.values ?? []) strings.push([`${d.key}_${v}`, v]);
  }
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<!-- Generated from common/policy.ts by `npm run policy:templates`: do not edit. -->',
    '<policyDefinitionResources xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" xmlns="http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions">',
    '  <displayName>Keepsake</displayName>',
    '  <description>Policy for Keepsake, the photo and video backup client.</description>',
    '  <resources>',
    '    <stringTable>',
    ...strings.map(([id, text]) => `      <string id="${id}">${xml(text)}</string>`),
    '    </stringTable>',
    '    <presentationTable>',
  ];
  for (const d of gpoDefinitions()) {
    lines.push(
      `      <presentation id="${d.key}">`,
      ...admlPresentation(d),
      '      </presentation>',
    );
  }
  lines.push('    </presentationTable>', '  </resources>', '</policyDefinitionResources>', '');
  return lines.join('\r\n');
}

/** A stable UUID from a name (the sample profile must not change on every generation). */
function nameUuid(name: string): string {
  const h = createHash('sha256').update(`keepsake-policy:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

function mobileconfig(): string {
  const settings: Record<string, PlistValue> = {};
  for (const d of policyDefinitions as readonly PolicyKeyDefinition[]) {
    // A code and a name are per fleet or per computer: never a sample value.
    if (d.key === 'enrollmentCode' || d.key === 'deviceName') continue;
    settings[d.key] = typeof d.example === 'object' ? [...d.example] : d.example;
  }
  const profile: PlistValue = {
    PayloadContent: [
      {
        PayloadDisplayName: 'Keepsake policy',
        PayloadIdentifier: `${bundleId}.policy`,
        PayloadType: bundleId,
        PayloadUUID: nameUuid('payload'),
        PayloadVersion: 1,
        ...settings,
      },
    ],
    PayloadDescription:
      'A sample: edit the values, remove the keys you do not set, and list in "locked" what a person may not change.',
    PayloadDisplayName: 'Keepsake',
    PayloadIdentifier: `${bundleId}.profile`,
    PayloadScope: 'System',
    PayloadType: 'Configuration',
    PayloadUUID: nameUuid('profile'),
    PayloadVersion: 1,
  };
  return `${buildPlist(profile)}\n`;
}

function jsonSchema(): string {
  const properties: Record<string, unknown> = {};
  for (const d of policyDefinitions as readonly PolicyKeyDefinition[]) {
    const base = { title: d.title, description: d.description };
    switch (d.kind) {
      case 'string':
        properties[d.key] =
          d.key === 'vaultUrl'
            ? { ...base, type: 'string', format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://' }
            : { ...base, type: 'string', minLength: 1, maxLength: 4096 };
        break;
      case 'boolean':
        properties[d.key] = { ...base, type: 'boolean' };
        break;
      case 'integer':
        properties[d.key] = { ...base, type: 'integer', minimum: d.min, maximum: d.max };
        break;
      case 'enum':
        properties[d.key] = { ...base, type: 'string', enum: d.values };
        break;
      case 'list':
        properties[d.key] = {
          ...base,
          type: 'array',
          items:
            d.key === 'locked'
              ? { type: 'string', enum: lockableKeys }
              : { type: 'string', minLength: 1, maxLength: 4096 },
          ...(d.key === 'locked' ? { uniqueItems: true } : { maxItems: 1000 }),
        };
        break;
      default: {
        const never: never = d.kind;
        throw new Error(`unknown kind ${String(never)}`);
      }
    }
  }
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://keepsake.app/schemas/policy.schema.json',
    title: 'Keepsake policy (/etc/keepsake/policy.json)',
    description: 'Generated from common/policy.ts by `npm run policy:templates`: do not edit.',
    type: 'object',
    additionalProperties: false,
    properties,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Every template, by its path under build/policy/. */
export function policyTemplates(): Record<string, string> {
  return {
    'keepsake.admx': admx(),
    'en-US/keepsake.adml': adml(),
    'keepsake.mobileconfig': mobileconfig(),
    'policy.schema.json': jsonSchema(),
  };
}

export const templatesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'policy');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [rel, text] of Object.entries(policyTemplates())) {
    const path = join(templatesDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}

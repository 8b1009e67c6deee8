// The administrator templates in build/policy/ are what scripts/policy-templates.ts generates
// from the one policy definition, and each says what the readers read: the ADMX writes the
// registry layout registry.ts parses, the sample profile's payload is a policy plist the macOS
// reader accepts, the JSON schema names every key.
//
// The ADMX and ADML are checked for well-formed XML and for their structure (every key's
// policy, string and presentation), not against Microsoft's PolicyDefinitionFiles.xsd: that
// schema ships with the Windows SDK / Group Policy tools and cannot be fetched here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { build as buildPlist, parse as parsePlist } from 'plist';
import { lockableKeys, policyKeys } from '../../../common/policy.js';
import { parsePlistPolicy } from '../../../main/engine/policy/read-policy.js';
import { policyTemplates, templatesDir } from '../../../scripts/policy-templates.js';
import { xmlProblems } from '../../support/xml.js';

const attrValues = (text: string, re: RegExp) => [...text.matchAll(re)].map((m) => m[1] ?? '');

describe('administrator templates', () => {
  const generated = policyTemplates();

  it('the checked-in templates are the ones generated from the definition (npm run policy:templates)', () => {
    for (const [rel, text] of Object.entries(generated)) {
      assert.equal(
        readFileSync(join(templatesDir, rel), 'utf8'),
        text,
        `build/policy/${rel} is stale: run npm run policy:templates`,
      );
    }
  });

  it('the well-formedness check itself catches broken XML', () => {
    assert.deepEqual(xmlProblems('<a><b x="1"/></a>'), []);
    assert.notDeepEqual(xmlProblems('<a><b></a>'), []);
    assert.notDeepEqual(xmlProblems('<a>x & y</a>'), []);
    assert.notDeepEqual(xmlProblems('<a x=1></a>'), []);
    assert.notDeepEqual(xmlProblems('<a/><b/>'), []);
  });

  it('the ADMX and ADML are well-formed and define every key, with a lock for each', () => {
    const admx = generated['keepsake.admx'] ?? '';
    const adml = generated['en-US/keepsake.adml'] ?? '';
    assert.deepEqual(xmlProblems(admx), []);
    assert.deepEqual(xmlProblems(adml), []);
    const keys = policyKeys.filter((k) => k !== 'locked');
    assert.deepEqual(attrValues(admx, /<policy name="([^"]+)"/g), keys);
    // Every lock writes Software\Policies\Keepsake\locked\<key> = "<key>" (registry.ts reads it).
    assert.deepEqual(
      attrValues(
        admx,
        /<boolean id="[^"]+" key="Software\\Policies\\Keepsake\\locked" valueName="([^"]+)"/g,
      ),
      keys,
    );
    assert.deepEqual(
      keys.filter((k) => !(lockableKeys as readonly string[]).includes(k)),
      [],
    );
    // Every $(string.X) and $(presentation.X) the ADMX names exists in the ADML.
    const strings = new Set(attrValues(adml, /<string id="([^"]+)"/g));
    const presentations = new Set(attrValues(adml, /<presentation id="([^"]+)"/g));
    for (const ref of attrValues(admx, /\$\(string\.([^)]+)\)/g)) assert.ok(strings.has(ref), ref);
    for (const ref of attrValues(admx, /\$\(presentation\.([^)]+)\)/g)) {
      assert.ok(presentations.has(ref), ref);
    }
    // Every element id has its control in the presentation, and lists write numbered values.
    const ids = attrValues(admx, /<(?:text|decimal|enum|list|boolean) id="([^"]+)"/g);
    const refIds = new Set(attrValues(adml, /refId="([^"]+)"/g));
    for (const id of ids) assert.ok(refIds.has(id), `presentation control for ${id}`);
    for (const list of ['folders', 'include', 'exclude']) {
      assert.ok(
        admx.includes(
          `<list id="${list}" key="Software\\Policies\\Keepsake\\${list}" valuePrefix="" />`,
        ),
      );
    }
  });

  it('the sample .mobileconfig is a profile whose payload the macOS reader takes without a problem', () => {
    const text = generated['keepsake.mobileconfig'] ?? '';
    assert.deepEqual(xmlProblems(text.replace(/<!DOCTYPE[^>]*>/, '')), []);
    const profile = parsePlist(text) as {
      PayloadType: string;
      PayloadContent: Record<string, unknown>[];
    };
    assert.equal(profile.PayloadType, 'Configuration');
    const payload = profile.PayloadContent[0];
    assert.ok(payload);
    assert.equal(payload.PayloadType, 'app.keepsake.desktop');
    // What MDM installs as managed preferences: the payload's keys.
    const policy = parsePlistPolicy(Buffer.from(buildPlist(payload as never)), 'sample');
    assert.deepEqual(policy.problems, []);
    assert.ok(policy.locked.length > 0);
  });

  it('the JSON schema names every key, and locked lists only lockable keys', () => {
    const schema = JSON.parse(generated['policy.schema.json'] ?? '{}') as {
      additionalProperties: boolean;
      properties: Record<string, { items?: { enum?: string[] } }>;
    };
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(Object.keys(schema.properties), [...policyKeys]);
    assert.deepEqual(schema.properties.locked?.items?.enum, [...lockableKeys]);
  });
});

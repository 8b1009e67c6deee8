// `msiexec /i Keepsake.msi /qn VAULTURL=... ENROLLMENTCODE=...` (issue 13 section 4): the
// msiProjectCreated hook electron-builder.yml names (build/msi/policy-properties.cjs) adds the
// two public properties and the registry values they write under
// HKLM\SOFTWARE\Policies\Keepsake, where the policy reader looks. Checked here on
// electron-builder's own MSI template, rendered the way its MsiTarget renders it: the result is
// well-formed, the properties sit in <Product>, the components in the product's component
// group, and the value names are the policy's keys. WiX itself (candle, light) runs only on
// Windows: compiling and installing the MSI is verified only statically.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyKeys } from '../../../common/policy.js';
import { repoRoot } from '../../support/paths.js';
import { xmlProblems } from '../../support/xml.js';

const require = createRequire(import.meta.url);
const fromBuilderLib = createRequire(
  createRequire(require.resolve('electron-builder')).resolve('app-builder-lib'),
);
const ejs = fromBuilderLib('ejs') as {
  compile: (template: string) => (data: Record<string, unknown>) => string;
};
const hook = require(join(repoRoot, 'build', 'msi', 'policy-properties.cjs')) as ((
  projectFile: string,
) => Promise<void>) & {
  addPolicyProperties: (wxs: string) => string;
  PROPERTIES: { property: string; valueName: string }[];
};

/** electron-builder's MSI template, rendered as its MsiTarget does (one file, per machine). */
function renderedTemplate(): string {
  const templatePath = join(
    fromBuilderLib.resolve('app-builder-lib/package.json'),
    '..',
    'templates',
    'msi',
    'template.xml',
  );
  const template = readFileSync(templatePath, 'utf8')
    .replace(/{{/g, '<%')
    .replace(/}}/g, '%>')
    .replace(/\${([^}]+)}/g, '<%=$1%>');
  return ejs.compile(template)({
    productName: 'Keepsake',
    upgradeCode: '00000000-0000-0000-0000-000000000000',
    version: '0.1.0.0',
    manufacturer: 'Keepsake',
    compressionLevel: 'high',
    installationDirectoryWixName: 'Keepsake',
    iconPath: null,
    iconId: 'KeepsakeIcon.exe',
    isRunAfterFinish: true,
    isAssisted: false,
    isPerMachine: true,
    menuCategory: false,
    programFilesId: 'ProgramFiles64Folder',
    isCreateDesktopShortcut: true,
    isCreateStartMenuShortcut: true,
    dirs: '',
    files:
      '      <Component><File Id="mainExecutable" Source="$(var.appDir)\\Keepsake.exe" KeyPath="yes"/></Component>',
  });
}

describe('MSI: VAULTURL and ENROLLMENTCODE properties', () => {
  it('electron-builder.yml runs the hook on the MSI project', () => {
    const yml = readFileSync(join(repoRoot, 'electron-builder.yml'), 'utf8');
    assert.match(yml, /^msiProjectCreated: build\/msi\/policy-properties\.cjs$/m);
  });

  it('adds the properties and their registry values to electron-builder’s own template, well-formed', () => {
    const before = renderedTemplate();
    assert.deepEqual(xmlProblems(before), [], 'the rendered template itself is well-formed');
    const after = hook.addPolicyProperties(before);
    assert.deepEqual(xmlProblems(after), []);
    assert.equal(hook.addPolicyProperties(after), after, 'adding twice changes nothing');

    const product = after.slice(after.indexOf('<Product'), after.lastIndexOf('</Product>'));
    const group = after.slice(
      after.indexOf('<ComponentGroup Id="ProductComponents"'),
      after.lastIndexOf('</ComponentGroup>'),
    );
    for (const { property, valueName } of hook.PROPERTIES) {
      assert.ok(
        (policyKeys as readonly string[]).includes(valueName),
        `${valueName} is a policy key`,
      );
      // A public property (upper case) declared Secure reaches the per-machine install.
      assert.match(property, /^[A-Z]+$/);
      assert.match(product, new RegExp(`<Property Id="${property}" Secure="yes"/>`));
      const component = new RegExp(
        `<Component Id="\\w+" Guid="\\*">\\s*<Condition>${property}</Condition>\\s*` +
          `<RegistryValue Root="HKLM" Key="SOFTWARE\\\\Policies\\\\Keepsake" Name="${valueName}" ` +
          `Type="string" Value="\\[${property}\\]" KeyPath="yes"/>\\s*</Component>`,
      );
      assert.match(group, component, `${property} writes ${valueName} only when given`);
    }
  });

  it('the hook rewrites the project file electron-builder hands it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keepsake-msi-'));
    try {
      const file = join(dir, 'project.wxs');
      await writeFile(file, renderedTemplate());
      await hook(file);
      const text = await readFile(file, 'utf8');
      assert.match(text, /Name="enrollmentCode"/);
      assert.deepEqual(xmlProblems(text), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a project it does not recognise instead of building an MSI without them', () => {
    assert.throws(() => hook.addPolicyProperties('<Wix></Wix>'), /no <Product>/);
  });
});

// electron-builder's msiProjectCreated hook (electron-builder.yml): adds two public MSI
// properties, VAULTURL and ENROLLMENTCODE, to the generated WiX project before it is compiled,
// so that `msiexec /i Keepsake.msi /qn VAULTURL=https://... ENROLLMENTCODE=ABCD-...` writes them
// to HKLM\SOFTWARE\Policies\Keepsake (vaultUrl, enrollmentCode), where the policy reader
// (main/engine/policy/read-policy.ts) already looks. electron-builder's MSI target has no
// option for custom properties or registry values; this hook is its documented way to change
// the project. Each value is its own component, installed only when its property was given,
// and removed with the product.
//
// Verified here only statically (tests/unit/app/msi-policy-properties.test.ts renders
// electron-builder's own MSI template and checks the result); WiX (candle/light) runs only on
// Windows, where no build was made.
'use strict';
const { readFile, writeFile } = require('node:fs/promises');

const POLICY_KEY = 'SOFTWARE\\Policies\\Keepsake';

/** The MSI property -> the policy value name it writes. */
const PROPERTIES = [
  { property: 'VAULTURL', valueName: 'vaultUrl', id: 'KeepsakePolicyVaultUrl' },
  { property: 'ENROLLMENTCODE', valueName: 'enrollmentCode', id: 'KeepsakePolicyEnrollmentCode' },
];

/** The project text with the properties and their registry components added. */
function addPolicyProperties(wxs) {
  if (wxs.includes('Id="KeepsakePolicyVaultUrl"')) return wxs; // already added
  const productEnd = wxs.lastIndexOf('</Product>');
  const groupEnd = wxs.lastIndexOf('</ComponentGroup>');
  if (productEnd < 0 || groupEnd < 0 || groupEnd > productEnd) {
    throw new Error('msiProjectCreated: the MSI project has no <Product> with a <ComponentGroup>');
  }
  // Secure: a public property must be declared Secure to reach the elevated (per-machine)
  // install sequence from the command line.
  const properties = PROPERTIES.map(
    (p) => `    <Property Id="${p.property}" Secure="yes"/>\n`,
  ).join('');
  const components = PROPERTIES.map(
    (p) =>
      `      <Component Id="${p.id}" Guid="*">\n` +
      `        <Condition>${p.property}</Condition>\n` +
      `        <RegistryValue Root="HKLM" Key="${POLICY_KEY}" Name="${p.valueName}" Type="string" Value="[${p.property}]" KeyPath="yes"/>\n` +
      `      </Component>\n`,
  ).join('');
  const withComponents = wxs.slice(0, groupEnd) + components + wxs.slice(groupEnd);
  const at = withComponents.lastIndexOf('</Product>');
  return withComponents.slice(0, at) + properties + withComponents.slice(at);
}

/** The hook: electron-builder passes the path of project.wxs. */
async function msiProjectCreated(projectFile) {
  await writeFile(projectFile, addPolicyProperties(await readFile(projectFile, 'utf8')));
}

module.exports = msiProjectCreated;
module.exports.addPolicyProperties = addPolicyProperties;
module.exports.PROPERTIES = PROPERTIES;

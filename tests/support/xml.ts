// Well-formedness of XML for tests that check generated documents (the ADMX/ADML policy
// templates, the MSI project): no XML library is a dependency, and these documents use no DTD or
// entity beyond the basics (CDATA sections are skipped as text).

/**
 * Well-formedness of an XML document: one root, every tag closed in order, quoted attributes
 * without duplicates, no bare "<" or "&" in text. Returns the problems (empty: well-formed).
 */
export function xmlProblems(text: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  const token =
    /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<\/?([A-Za-z_][\w.:-]*)([^>]*?)(\/?)>|([^<]+)|(<)/g;
  for (const m of text.matchAll(token)) {
    const [whole, name, attrs, selfClose, chars, stray] = m;
    if (stray !== undefined) problems.push(`stray "<" at ${m.index}`);
    else if (chars !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(chars)) {
        problems.push(`bare "&" in text at ${m.index}`);
      }
      if (stack.length === 0 && chars.trim() !== '')
        problems.push(`text outside the root at ${m.index}`);
    } else if (name !== undefined) {
      if (whole.startsWith('</')) {
        const open = stack.pop();
        if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}> at ${m.index}`);
        continue;
      }
      const seen = new Set<string>();
      const rest = (attrs ?? '').replace(
        /\s*([\w.:-]+)\s*=\s*("[^"<]*"|'[^'<]*')/g,
        (_a, attr: string) => {
          if (seen.has(attr)) problems.push(`attribute ${attr} twice on <${name}>`);
          seen.add(attr);
          return '';
        },
      );
      if (rest.trim() !== '') problems.push(`bad attributes on <${name}>: ${rest.trim()}`);
      if (stack.length === 0) roots++;
      if (selfClose !== '/') stack.push(name);
    }
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

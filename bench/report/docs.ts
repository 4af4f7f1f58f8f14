/**
 * Refreshes the generated parts of BENCHMARKS.md: the text between `<!-- bench:NAME:start -->` and
 * `<!-- bench:NAME:end -->` is replaced by the section NAME; everything else (how each number is
 * measured, how to rerun it) is kept as written. A section without its markers is an error that
 * names it, so a renamed heading cannot silently stop a table from being refreshed.
 */

export function refreshMarkdown(doc: string, sections: Readonly<Record<string, string>>): string {
  let out = doc;
  for (const [name, body] of Object.entries(sections)) {
    const start = `<!-- bench:${name}:start -->`;
    const end = `<!-- bench:${name}:end -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`BENCHMARKS.md has no "${start}" ... "${end}" markers for the ${name} section`);
    out = `${out.slice(0, a + start.length)}\n${body.trim()}\n${out.slice(b)}`;
  }
  return out;
}

import { describe, expect, it } from 'vitest';
import { refreshMarkdown } from './docs.ts';

describe('refreshMarkdown', () => {
  it('replaces only what is between a section\'s markers and keeps the prose around them', () => {
    const doc = 'Intro\n<!-- bench:ttff:start -->\nold table\n<!-- bench:ttff:end -->\nHow to rerun\n';
    expect(refreshMarkdown(doc, { ttff: '| new |' })).toBe('Intro\n<!-- bench:ttff:start -->\n| new |\n<!-- bench:ttff:end -->\nHow to rerun\n');
  });

  it('a section without markers fails naming the section', () => {
    expect(() => refreshMarkdown('no markers', { hop: 'x' })).toThrow('no "<!-- bench:hop:start -->" ... "<!-- bench:hop:end -->" markers for the hop section');
  });
});

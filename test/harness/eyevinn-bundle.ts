/**
 * The two independent WHIP/WHEP clients (@eyevinn/whip-web-client, @eyevinn/webrtc-player) as one
 * browser script: eyevinn-clients.ts bundled by esbuild as an IIFE that defines `window.Eyevinn`.
 * Node-side only (esbuild), apart from the entry it bundles.
 */
import { build } from 'esbuild';

export async function eyevinnBundle(): Promise<string> {
  const out = await build({
    entryPoints: [new URL('./eyevinn-clients.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    globalName: 'Eyevinn',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const file = out.outputFiles[0];
  if (file === undefined) throw new Error('esbuild produced nothing for the Eyevinn clients');
  return file.text;
}

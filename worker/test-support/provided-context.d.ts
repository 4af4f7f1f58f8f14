/** What the worker suite's globalSetup provides to the pool config and the tests (`inject`). */
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The scripted bridge stand-in's base URL (its default scenario). */
    bridgeUrl: string;
    /** The secret the stand-in accepts. */
    bridgeSecret: string;
  }
}

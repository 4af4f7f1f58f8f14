/**
 * Placeholder media service: replaced by the VideoRoom implementation (publish, cascade, play).
 */
import { CdnError } from '../protocol/errors.ts';
import type { MediaService } from '../api/index.ts';

export function createMedia(): MediaService {
  const no = (): Promise<never> => Promise.reject(new CdnError('UNAVAILABLE', 'media is not implemented yet'));
  return { publish: no, unpublish: no, play: no, answer: no, stop: no, release: () => Promise.resolve() };
}

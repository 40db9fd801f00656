import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * JSON lines on stdout. Anything that can carry a credential is redacted by path; request logs
 * never include bodies or query strings in the first place.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.dpop',
  'headers.authorization',
  'headers.cookie',
  'headers.dpop',
  '*.client_secret',
  '*.client_assertion',
  '*.access_token',
  '*.refresh_token',
  '*.subject_token',
  '*.actor_token',
  '*.auth_req_id',
  '*.token',
  '*.password',
  '*.secret',
  'client_secret',
  'client_assertion',
  'access_token',
  'subject_token',
  'actor_token',
  'auth_req_id',
  'token',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'mandate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

export type { Logger };

import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Structured logs with every credential redacted, wherever it appears in a logged object. Messages and bodies
 * are not logged.
 */
export const REDACT_PATHS = [
  'api_key',
  'api_keys',
  'access_keys',
  '*.api_key',
  '*.api_keys',
  '*.access_keys',
  'endpoints[*].api_key',
  'endpoints[*].api_keys',
  'headers["x-api-key"]',
  'headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers.authorization',
  'token',
  'adminToken',
];

/**
 * JSON lines for files and machines; in the foreground, human-readable lines (no colour under NO_COLOR or when
 * stderr is not a terminal). Both go through the same redaction.
 */
export function createLogger(level: LevelWithSilent = 'info', opts: { pretty?: boolean; destination?: DestinationStream } = {}): Logger {
  const destination =
    opts.destination ??
    (opts.pretty
      ? pretty({ destination: 2, colorize: process.stderr.isTTY === true && !process.env.NO_COLOR, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', singleLine: true })
      : undefined);
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** `sk-ant-api03-abcdef…wxyz` → `sk-ant-…wxyz`: enough to recognise a key, never enough to use it. */
export function maskSecret(secret: string | undefined): string {
  if (!secret) return '';
  if (secret.length <= 8) return '…' + secret.slice(-2);
  const prefix = /^(sk-[a-z]+-|sk-)/i.exec(secret)?.[0] ?? secret.slice(0, 3);
  return `${prefix}…${secret.slice(-4)}`;
}

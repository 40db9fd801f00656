import { Writable } from 'node:stream';

import { describe, expect, it } from '@jest/globals';

import { createLogger } from '../../src/log.js';

describe('log redaction', () => {
  it('redacts credentials wherever they appear in a log object', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const logger = createLogger('info', sink);
    logger.info({
      req: { headers: { authorization: 'Basic c2VjcmV0', cookie: 'sid=abc', dpop: 'eyJdpop' } },
      body: { client_secret: 'cs-1', client_assertion: 'eyJassert', subject_token: 'eyJsubject', token: 'eyJtoken' },
      access_token: 'eyJaccess',
    }, 'test');
    const text = lines.join('');
    for (const secret of ['c2VjcmV0', 'sid=abc', 'eyJdpop', 'cs-1', 'eyJassert', 'eyJsubject', 'eyJtoken', 'eyJaccess']) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.parse(text).body.client_secret).toBe('[redacted]');
  });
});

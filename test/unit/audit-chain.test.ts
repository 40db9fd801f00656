import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

import { AuditKeys, auditKeyDir, generateAuditKey, openAuditKeys } from '../../src/audit/audit-keys.js';
import type { AuditKey } from '../../src/audit/audit-keys.js';
import { ChainVerifier, checkAgainst, GENESIS, mac, openSealed, parseBody, seal, sealEntry } from '../../src/audit/chain.js';
import type { AnchorBody, ChainResult, CheckpointBody, EntryBody } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { KeyStoreError } from '../../src/keys/key-file.js';
import type { LogEntry } from '../../src/store/store.js';

const WRITER = 'w0123456789ab';
const OTHER_WRITER = 'wba9876543210';
const TIME = '2030-01-01T00:00:00.000Z';

function makeKey(created_at = TIME): AuditKey {
  const secret = randomBytes(32);
  return { kid: createHash('sha256').update(secret).digest('hex').slice(0, 16), secret, created_at };
}

const event = (n: number, writer = WRITER): AuditEvent => ({
  id: `evt-${writer}-${n}`,
  time: TIME,
  type: 'token.issued',
  outcome: 'success',
  subject: { iss: 'https://idp.example', sub: 'alice' },
  actors: ['agent-1'],
  client_id: 'agent-1',
  audience: 'https://api.example',
  scope: 'trips:read',
  jti: `jti-${n}`,
});

/** A chain as a writer appends it: positions `from`..`to`, each linked to the one before. */
function buildChain(key: AuditKey, count: number, options: { writer?: string; from?: number; prev?: string } = {}): LogEntry[] {
  const writer = options.writer ?? WRITER;
  let prev = options.prev ?? GENESIS;
  const entries: LogEntry[] = [];
  for (let position = options.from ?? 1; entries.length < count; position += 1) {
    const { body, link } = sealEntry(key, writer, position, prev, event(position, writer));
    entries.push({ position, link, body });
    prev = link;
  }
  return entries;
}

/** Feeds entries in stored order as verification reads them, stopping at the first bad one. */
function verify(keys: AuditKeys, entries: readonly LogEntry[], anchor?: AnchorBody | 'invalid', wanted?: ReadonlySet<number>): { result: ChainResult; accepted: number } {
  const verifier = new ChainVerifier(keys, WRITER, anchor, wanted);
  let accepted = 0;
  for (const entry of entries) {
    if (!verifier.add(entry)) break;
    accepted += 1;
  }
  return { result: verifier.result, accepted };
}

/** The entry with its stored body rewritten (its link left as it was, as an attacker without the key must). */
function tamper(entry: LogEntry, change: (body: EntryBody) => void): LogEntry {
  const body = JSON.parse(entry.body) as EntryBody;
  change(body);
  return { ...entry, body: JSON.stringify(body) };
}

const anchorAt = (entries: readonly LogEntry[], n: number): AnchorBody =>
  ({ v: 1, type: 'anchor', w: WRITER, n, h: entries[n - 1]!.link, time: TIME, k: 'unused' });

describe('sealEntry and parseBody', () => {
  const key = makeKey();

  it('seal the writer, position, previous link, key id and event, and parse them back', () => {
    const { body, link } = sealEntry(key, WRITER, 7, 'prev-link', event(7));
    expect(parseBody(body)).toEqual({ v: 1, w: WRITER, n: 7, p: 'prev-link', k: key.kid, e: event(7) });
    // The link is HMAC-SHA256 of the exact body, base64url.
    expect(link).toBe(createHmac('sha256', key.secret).update(body).digest('base64url'));
    expect(link).toBe(mac(key, body));
    expect(Buffer.from(link, 'base64url')).toHaveLength(32);
  });

  it('give a different link for another key, position, previous link or event', () => {
    const { link } = sealEntry(key, WRITER, 7, 'prev-link', event(7));
    expect(sealEntry(makeKey(), WRITER, 7, 'prev-link', event(7)).link).not.toBe(link);
    expect(sealEntry(key, WRITER, 8, 'prev-link', event(7)).link).not.toBe(link);
    expect(sealEntry(key, WRITER, 7, 'other-link', event(7)).link).not.toBe(link);
    expect(sealEntry(key, OTHER_WRITER, 7, 'prev-link', event(7)).link).not.toBe(link);
    expect(sealEntry(key, WRITER, 7, 'prev-link', { ...event(7), scope: 'trips:write' }).link).not.toBe(link);
  });

  it('parseBody refuses anything that is not an entry body', () => {
    const good = JSON.parse(sealEntry(key, WRITER, 1, GENESIS, event(1)).body) as Record<string, unknown>;
    const variants: unknown[] = [
      { ...good, v: 2 },
      { ...good, w: 7 },
      { ...good, n: '1' },
      { ...good, n: 1.5 },
      { ...good, p: null },
      { ...good, k: undefined },
      { ...good, e: null },
      { ...good, e: 'event' },
      null,
      [],
    ];
    for (const variant of variants) expect(parseBody(JSON.stringify(variant))).toBeUndefined();
    expect(parseBody('not json')).toBeUndefined();
    expect(parseBody('')).toBeUndefined();
  });
});

describe('ChainVerifier', () => {
  const key = makeKey();
  const keys = new AuditKeys([key]);
  const chain = buildChain(key, 10);

  it('accepts an untouched chain: every entry checked, head at the last one, links kept where asked', () => {
    const { result, accepted } = verify(keys, chain, undefined, new Set([3, 10, 42]));
    expect(accepted).toBe(10);
    expect(result).toMatchObject({ writer: WRITER, checked: 10, head: { n: 10, h: chain[9]!.link }, first_bad: null });
    expect([...result.links.entries()]).toEqual([[3, chain[2]!.link], [10, chain[9]!.link]]);
  });

  it('accepts an empty chain with no head', () => {
    const { result } = verify(keys, []);
    expect(result).toMatchObject({ checked: 0, head: undefined, first_bad: null });
  });

  it('accepts a chain whose entries were sealed under several known keys', () => {
    const newer = makeKey('2031-01-01T00:00:00.000Z');
    const first = buildChain(key, 4);
    const rest = buildChain(newer, 3, { from: 5, prev: first[3]!.link });
    const { result } = verify(new AuditKeys([key, newer]), [...first, ...rest]);
    expect(result).toMatchObject({ checked: 7, head: { n: 7, h: rest[2]!.link }, first_bad: null });
  });

  it('reports a modified event field at its position, with its event id', () => {
    const modified = [...chain];
    modified[4] = tamper(chain[4]!, (body) => { body.e.scope = 'trips:write'; });
    const { result, accepted } = verify(keys, modified);
    expect(accepted).toBe(4);
    expect(result.first_bad).toEqual({ writer: WRITER, position: 5, reason: 'the entry was altered: its seal does not match its content', event_id: event(5).id });
    expect(result).toMatchObject({ checked: 5, head: { n: 4, h: chain[3]!.link } });
  });

  it('reports a modified position, previous link or outcome inside the body as altered', () => {
    for (const change of [(b: EntryBody) => { b.n = 50; }, (b: EntryBody) => { b.p = GENESIS; }, (b: EntryBody) => { b.e.outcome = 'failure'; }]) {
      const modified = [...chain];
      modified[2] = tamper(chain[2]!, change);
      expect(verify(keys, modified).result.first_bad).toMatchObject({ position: 3, reason: expect.stringContaining('altered') });
    }
  });

  it('reports a deleted entry at the position of the missing one', () => {
    const { result } = verify(keys, [...chain.slice(0, 4), ...chain.slice(5)]);
    expect(result.first_bad).toEqual({ writer: WRITER, position: 5, reason: 'event 6 is where event 5 belongs: event 5 is missing or out of order', event_id: event(6).id });
    expect(result.head).toEqual({ n: 4, h: chain[3]!.link });
  });

  it('reports several deleted entries as one gap, and a deleted first entry at position 1', () => {
    expect(verify(keys, [...chain.slice(0, 4), ...chain.slice(7)]).result.first_bad)
      .toMatchObject({ position: 5, reason: 'event 8 is where event 5 belongs: events 5 to 7 are missing or out of order' });
    expect(verify(keys, chain.slice(1)).result.first_bad).toMatchObject({ position: 1, reason: 'event 2 is where event 1 belongs: event 1 is missing or out of order' });
  });

  it('reports two swapped entries at the first swapped position', () => {
    // Moved in the stream, each keeping its body and link.
    const swapped = [chain[0]!, chain[1]!, { ...chain[3]!, position: 3 }, { ...chain[2]!, position: 4 }, ...chain.slice(4)];
    const { result } = verify(keys, swapped);
    expect(result.first_bad).toMatchObject({ writer: WRITER, position: 3, reason: expect.stringContaining('event 3'), event_id: event(4).id });
    // Stored order with positions unchanged (what a reader would see if ids were rewritten) gives the same answer.
    expect(verify(keys, [chain[0]!, chain[1]!, chain[3]!, chain[2]!, ...chain.slice(4)]).result.first_bad).toMatchObject({ position: 3 });
  });

  it('reports an inserted forged entry at the position it took', () => {
    // The forger knows the format and the previous link, not the key.
    const body = JSON.stringify({ v: 1, w: WRITER, n: 3, p: chain[1]!.link, k: key.kid, e: { ...event(3), id: 'forged', jti: 'forged-jti' } });
    const forged: LogEntry = { position: 3, link: createHmac('sha256', randomBytes(32)).update(body).digest('base64url'), body };
    const { result } = verify(keys, [chain[0]!, chain[1]!, forged, ...chain.slice(2)]);
    expect(result.first_bad).toEqual({ writer: WRITER, position: 3, reason: 'the entry was altered: its seal does not match its content', event_id: 'forged' });
    // A forged entry with a made-up link is caught the same way.
    const guessed: LogEntry = { position: 3, link: chain[2]!.link, body };
    expect(verify(keys, [chain[0]!, chain[1]!, guessed, ...chain.slice(2)]).result.first_bad).toMatchObject({ position: 3, event_id: 'forged' });
  });

  it('reports a replayed valid entry where it appears again', () => {
    const replayedInside = [...chain.slice(0, 3), { ...chain[2]!, position: 4 }, ...chain.slice(3).map((e) => ({ ...e, position: e.position + 1 }))];
    expect(verify(keys, replayedInside).result.first_bad)
      .toEqual({ writer: WRITER, position: 4, reason: 'event 3 appears again, out of order', event_id: event(3).id });
    const replayedAtEnd = [...chain, { ...chain[2]!, position: 11 }];
    expect(verify(keys, replayedAtEnd).result.first_bad).toMatchObject({ position: 11, reason: 'event 3 appears again, out of order' });
  });

  it('reports an entry from another writer\'s chain, even at the right position after the right link', () => {
    const other = buildChain(key, 5, { writer: OTHER_WRITER });
    const mixed = [...chain.slice(0, 2), other[2]!, ...chain.slice(3)];
    expect(verify(keys, mixed).result.first_bad)
      .toEqual({ writer: WRITER, position: 3, reason: `the entry belongs to writer ${OTHER_WRITER}`, event_id: event(3, OTHER_WRITER).id });
    const { body, link } = sealEntry(key, OTHER_WRITER, 3, chain[1]!.link, event(3, OTHER_WRITER));
    expect(verify(keys, [...chain.slice(0, 2), { position: 3, link, body }]).result.first_bad)
      .toMatchObject({ position: 3, reason: `the entry belongs to writer ${OTHER_WRITER}` });
  });

  it('reports an entry sealed with an unknown key, naming the key id', () => {
    const stranger = makeKey();
    const { body, link } = sealEntry(stranger, WRITER, 3, chain[1]!.link, event(3));
    const { result } = verify(keys, [...chain.slice(0, 2), { position: 3, link, body }, ...chain.slice(3)]);
    expect(result.first_bad).toEqual({ writer: WRITER, position: 3, reason: `the entry is sealed with an unknown audit key (${stranger.kid})`, event_id: event(3).id });
  });

  it('reports a validly sealed entry that does not follow the link before it', () => {
    // What a writer that lost track of its chain's end would have appended.
    const { body, link } = sealEntry(key, WRITER, 3, 'some-other-link', event(3));
    expect(verify(keys, [...chain.slice(0, 2), { position: 3, link, body }]).result.first_bad)
      .toEqual({ writer: WRITER, position: 3, reason: 'the entry does not follow the one before it', event_id: event(3).id });
  });

  it('reports an unreadable entry and an entry stored at another position than it names', () => {
    expect(verify(keys, [chain[0]!, { position: 2, link: chain[1]!.link, body: 'garbage' }]).result.first_bad)
      .toEqual({ writer: WRITER, position: 2, reason: 'the entry is unreadable' });
    expect(verify(keys, [chain[0]!, { ...chain[1]!, position: 9 }]).result.first_bad)
      .toMatchObject({ position: 2, reason: 'the entry is stored at position 9' });
  });

  it('stops at the first bad entry: later ones are neither counted nor accepted', () => {
    const modified = [...chain];
    modified[2] = tamper(chain[2]!, (body) => { body.e.jti = 'other'; });
    modified[6] = tamper(chain[6]!, (body) => { body.e.jti = 'other'; });
    const verifier = new ChainVerifier(keys, WRITER, undefined);
    const answers = modified.map((entry) => verifier.add(entry));
    expect(answers).toEqual([true, true, false, false, false, false, false, false, false, false]);
    expect(verifier.result).toMatchObject({ checked: 3, first_bad: { position: 3 } });
  });

  it('reports an anchor marked invalid at position 1 before reading any entry', () => {
    const { result, accepted } = verify(keys, chain, 'invalid');
    expect(accepted).toBe(0);
    expect(result).toMatchObject({ checked: 0, head: undefined });
    expect(result.first_bad).toEqual({ writer: WRITER, position: 1, reason: 'its retention anchor is altered or sealed with an unknown key' });
  });

  it('starts from a valid anchor, skipping entries at or before it', () => {
    const anchor = anchorAt(chain, 4);
    // Cut already done: the chain starts after the anchor.
    const cut = verify(keys, chain.slice(4), anchor, new Set([4, 6]));
    expect(cut.result).toMatchObject({ checked: 6, head: { n: 10, h: chain[9]!.link }, first_bad: null });
    expect([...cut.result.links.entries()]).toEqual([[6, chain[5]!.link]]);
    // Anchor written, cut not done yet: the older entries are still there and are skipped.
    const notCut = verify(keys, chain, anchor);
    expect(notCut.result).toMatchObject({ checked: 6, head: { n: 10, h: chain[9]!.link }, first_bad: null });
    // Partly cut.
    expect(verify(keys, chain.slice(2), anchor).result).toMatchObject({ checked: 6, first_bad: null });
    // Nothing after the anchor: the head is the anchor's.
    expect(verify(keys, chain.slice(0, 4), anchor).result).toMatchObject({ checked: 0, head: { n: 4, h: chain[3]!.link }, first_bad: null });
  });

  it('from an anchor, still detects a missing first kept entry and a chain that does not continue the anchor', () => {
    const anchor = anchorAt(chain, 4);
    expect(verify(keys, chain.slice(5), anchor).result.first_bad).toMatchObject({ position: 5, reason: 'event 6 is where event 5 belongs: event 5 is missing or out of order' });
    expect(verify(keys, chain.slice(4), { ...anchor, h: chain[2]!.link }).result.first_bad)
      .toMatchObject({ position: 5, reason: 'the entry does not follow the one before it' });
    // An entry of another writer is not skipped as "before the anchor".
    const other = buildChain(key, 2, { writer: OTHER_WRITER });
    expect(verify(keys, [other[0]!, ...chain.slice(4)], anchor).result.first_bad)
      .toMatchObject({ position: 5, reason: `the entry belongs to writer ${OTHER_WRITER}` });
  });
});

describe('seal and openSealed', () => {
  const key = makeKey();
  const keys = new AuditKeys([key]);
  const checkpoint: Omit<CheckpointBody, 'k'> = { v: 1, type: 'checkpoint', by: WRITER, time: TIME, heads: { [WRITER]: { n: 10, h: 'link-10' } } };
  const anchor: Omit<AnchorBody, 'k'> = { v: 1, type: 'anchor', w: WRITER, n: 4, h: 'link-4', time: TIME };

  it('open what they sealed, with the key id added', () => {
    expect(openSealed<CheckpointBody>(keys, seal(key, checkpoint), 'checkpoint')).toEqual({ ...checkpoint, k: key.kid });
    expect(openSealed<AnchorBody>(keys, seal(key, anchor), 'anchor')).toEqual({ ...anchor, k: key.kid });
    // Any known key opens, not only the current one.
    const older = makeKey('2020-01-01T00:00:00.000Z');
    expect(openSealed<AnchorBody>(new AuditKeys([older, key]), seal(older, anchor), 'anchor')).toEqual({ ...anchor, k: older.kid });
  });

  it('reject a changed body', () => {
    const sealed = JSON.parse(seal(key, checkpoint)) as { body: string; mac: string };
    const body = JSON.parse(sealed.body) as CheckpointBody;
    body.heads[WRITER]!.n = 7;
    expect(openSealed(keys, JSON.stringify({ ...sealed, body: JSON.stringify(body) }), 'checkpoint')).toBeUndefined();
    // Even re-serialising the same content differently breaks the seal.
    expect(openSealed(keys, JSON.stringify({ ...sealed, body: JSON.stringify(JSON.parse(sealed.body), null, 1) }), 'checkpoint')).toBeUndefined();
  });

  it('reject a changed mac', () => {
    const sealed = JSON.parse(seal(key, anchor)) as { body: string; mac: string };
    const flipped = `${sealed.mac.slice(0, -1)}${sealed.mac.endsWith('A') ? 'B' : 'A'}`;
    expect(openSealed(keys, JSON.stringify({ ...sealed, mac: flipped }), 'anchor')).toBeUndefined();
    expect(openSealed(keys, JSON.stringify({ ...sealed, mac: '' }), 'anchor')).toBeUndefined();
    expect(openSealed(keys, JSON.stringify({ ...sealed, mac: mac(makeKey(), sealed.body) }), 'anchor')).toBeUndefined();
  });

  it('reject an unknown key id, and a body claiming another known key', () => {
    const stranger = makeKey();
    expect(openSealed(keys, seal(stranger, anchor), 'anchor')).toBeUndefined();
    const other = makeKey();
    const sealed = JSON.parse(seal(key, anchor)) as { body: string; mac: string };
    const relabelled = JSON.stringify({ ...JSON.parse(sealed.body), k: other.kid });
    expect(openSealed(new AuditKeys([key, other]), JSON.stringify({ body: relabelled, mac: sealed.mac }), 'anchor')).toBeUndefined();
  });

  it('reject the wrong type and anything that is not a sealed statement', () => {
    expect(openSealed(keys, seal(key, anchor), 'checkpoint')).toBeUndefined();
    expect(openSealed(keys, seal(key, checkpoint), 'anchor')).toBeUndefined();
    for (const stored of ['', 'not json', '{}', '{"body":1,"mac":"x"}', '{"body":"not json","mac":"x"}', 'null']) {
      expect(openSealed(keys, stored, 'anchor')).toBeUndefined();
    }
  });
});

describe('checkAgainst', () => {
  const key = makeKey();
  const keys = new AuditKeys([key]);
  const chain = buildChain(key, 10);
  const other = buildChain(key, 3, { writer: OTHER_WRITER });

  const checkpointOf = (heads: CheckpointBody['heads']): CheckpointBody => ({ v: 1, type: 'checkpoint', by: WRITER, time: TIME, k: key.kid, heads });

  function results(chains: Record<string, readonly LogEntry[]>, wanted: ReadonlySet<number>, anchors = new Map<string, AnchorBody>()): Map<string, ChainResult> {
    return new Map(Object.entries(chains).map(([writer, entries]) => {
      const verifier = new ChainVerifier(keys, writer, anchors.get(writer), wanted);
      for (const entry of entries) if (!verifier.add(entry)) break;
      return [writer, verifier.result];
    }));
  }

  it('finds nothing when every chain reaches the recorded head with the recorded link', () => {
    const cp = checkpointOf({ [WRITER]: { n: 7, h: chain[6]!.link }, [OTHER_WRITER]: { n: 3, h: other[2]!.link } });
    expect(checkAgainst(cp, results({ [WRITER]: chain, [OTHER_WRITER]: other }, new Set([7, 3])), new Map())).toBeNull();
  });

  it('detects a truncated chain at the first missing position', () => {
    const cp = checkpointOf({ [WRITER]: { n: 10, h: chain[9]!.link } });
    const bad = checkAgainst(cp, results({ [WRITER]: chain.slice(0, 7) }, new Set([10])), new Map());
    expect(bad).toEqual({ writer: WRITER, position: 8, reason: `the checkpoint of ${TIME} records 10 events, the trail ends at 7: events 8 to 10 are missing` });
  });

  it('detects a chain that is gone entirely at position 1', () => {
    const cp = checkpointOf({ [OTHER_WRITER]: { n: 3, h: other[2]!.link } });
    expect(checkAgainst(cp, new Map(), new Map())).toMatchObject({ writer: OTHER_WRITER, position: 1 });
    expect(checkAgainst(cp, results({ [OTHER_WRITER]: [] }, new Set([3])), new Map())).toMatchObject({ writer: OTHER_WRITER, position: 1 });
  });

  it('detects a link mismatch at the recorded position (a rewritten tail that verifies on its own)', () => {
    // The tail from 8 was re-sealed with the key: the chain verifies, the checkpoint does not agree.
    let prev = chain[6]!.link;
    const rewritten = [...chain.slice(0, 7), ...[8, 9, 10].map((position) => {
      const { body, link } = sealEntry(key, WRITER, position, prev, { ...event(position), scope: 'trips:write' });
      prev = link;
      return { position, link, body };
    })];
    const chains = results({ [WRITER]: rewritten }, new Set([10]));
    expect(chains.get(WRITER)!.first_bad).toBeNull();
    const cp = checkpointOf({ [WRITER]: { n: 10, h: chain[9]!.link } });
    expect(checkAgainst(cp, chains, new Map())).toEqual({ writer: WRITER, position: 10, reason: `the event differs from the checkpoint of ${TIME}` });
  });

  it('ignores heads at or before a chain\'s anchor, but not after it', () => {
    const anchor = anchorAt(chain, 8);
    const anchors = new Map([[WRITER, anchor]]);
    const kept = results({ [WRITER]: chain.slice(8) }, new Set([5, 8, 10]), anchors);
    expect(checkAgainst(checkpointOf({ [WRITER]: { n: 5, h: chain[4]!.link } }), kept, anchors)).toBeNull();
    expect(checkAgainst(checkpointOf({ [WRITER]: { n: 8, h: 'whatever was there' } }), kept, anchors)).toBeNull();
    // Everything cut: the checkpoint's writer has no entries left at all.
    expect(checkAgainst(checkpointOf({ [WRITER]: { n: 8, h: chain[7]!.link } }), new Map(), anchors)).toBeNull();
    expect(checkAgainst(checkpointOf({ [WRITER]: { n: 10, h: chain[9]!.link } }), kept, anchors)).toBeNull();
    // After the anchor, the kept part must still reach the head.
    const truncated = results({ [WRITER]: chain.slice(8, 9) }, new Set([10]), anchors);
    expect(checkAgainst(checkpointOf({ [WRITER]: { n: 10, h: chain[9]!.link } }), truncated, anchors)).toMatchObject({ position: 10, reason: expect.stringContaining('ends at 9') });
  });

  it('leaves a chain already reported bad to its own first_bad, and checks writers in sorted order', () => {
    const modified = [...chain];
    modified[1] = tamper(chain[1]!, (body) => { body.e.jti = 'x'; });
    const chains = results({ [WRITER]: modified, [OTHER_WRITER]: other.slice(0, 1) }, new Set([3, 10]));
    expect(checkAgainst(checkpointOf({ [WRITER]: { n: 10, h: chain[9]!.link } }), chains, new Map())).toBeNull();
    const both = results({ [WRITER]: chain.slice(0, 5), [OTHER_WRITER]: other.slice(0, 1) }, new Set([3, 10]));
    const cp = checkpointOf({ [WRITER]: { n: 10, h: chain[9]!.link }, [OTHER_WRITER]: { n: 3, h: other[2]!.link } });
    const expected = [WRITER, OTHER_WRITER].sort()[0] === WRITER ? { writer: WRITER, position: 6 } : { writer: OTHER_WRITER, position: 2 };
    expect(checkAgainst(cp, both, new Map())).toMatchObject(expected);
  });
});

describe('AuditKeys', () => {
  it('seals with the newest key and opens with any', () => {
    const oldest = makeKey('2029-01-01T00:00:00.000Z');
    const newest = makeKey('2031-06-01T00:00:00.000Z');
    const middle = makeKey('2030-01-01T00:00:00.000Z');
    const keys = new AuditKeys([middle, newest, oldest]);
    expect(keys.current).toBe(newest);
    for (const key of [oldest, middle, newest]) expect(keys.get(key.kid)).toBe(key);
    expect(keys.get('unknown')).toBeUndefined();
    expect(new AuditKeys([oldest]).current).toBe(oldest);
  });

  it('refuses an empty list', () => {
    expect(() => new AuditKeys([])).toThrow(KeyStoreError);
  });
});

describe('openAuditKeys and generateAuditKey', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mandate-audit-keys-'));
  });

  afterEach(() => rm(dir, { recursive: true, force: true }));

  const keyFiles = async (): Promise<string[]> => (await readdir(auditKeyDir(dir))).filter((name) => name.endsWith('.json'));

  it('generates one key in a 0600 file named after its kid when asked, and reads it back', async () => {
    const keys = await openAuditKeys(dir, { generateIfEmpty: true });
    const { kid, secret } = keys.current;
    expect(auditKeyDir(dir)).toBe(join(dir, 'audit'));
    expect(await keyFiles()).toEqual([`${kid}.json`]);
    const path = join(dir, 'audit', `${kid}.json`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(auditKeyDir(dir))).mode & 0o077).toBe(0);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(kid).toBe(createHash('sha256').update(secret).digest('hex').slice(0, 16));
    const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    expect(Buffer.from(file.secret!, 'base64url').equals(secret)).toBe(true);
    // Opened again (with or without generating), the same key; no second one.
    const again = await openAuditKeys(dir, { generateIfEmpty: true });
    const reopened = await openAuditKeys(dir, { generateIfEmpty: false });
    for (const opened of [again, reopened]) {
      expect(opened.current.kid).toBe(kid);
      expect(opened.current.secret.equals(secret)).toBe(true);
    }
    expect(await keyFiles()).toHaveLength(1);
    // A chain sealed by one process verifies in another that opened the same folder.
    const [entry] = buildChain(keys.current, 1);
    expect(verify(reopened, [entry!]).result.first_bad).toBeNull();
  });

  it('refuses an empty or missing folder when not asked to generate, naming the folder', async () => {
    const missing = openAuditKeys(dir, { generateIfEmpty: false });
    await expect(missing).rejects.toBeInstanceOf(KeyStoreError);
    await expect(missing).rejects.toMatchObject({ code: 'ERR_KEYS_EMPTY', message: expect.stringContaining(join(dir, 'audit')) });
    await mkdir(auditKeyDir(dir));
    await writeFile(join(auditKeyDir(dir), 'README.txt'), 'not a key');
    await expect(openAuditKeys(dir, { generateIfEmpty: false })).rejects.toMatchObject({ code: 'ERR_KEYS_EMPTY', message: expect.stringContaining(join(dir, 'audit')) });
    expect(await keyFiles()).toEqual([]);
  });

  it('reports a corrupt key file by name', async () => {
    await generateAuditKey(dir);
    const good = await keyFiles();
    const corrupt = async (name: string, text: string): Promise<void> => {
      const path = join(auditKeyDir(dir), name);
      await writeFile(path, text);
      const attempt = openAuditKeys(dir, { generateIfEmpty: true });
      await expect(attempt).rejects.toBeInstanceOf(KeyStoreError);
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_KEY_FILE', message: expect.stringContaining(path) });
      await rm(path);
    };
    await corrupt('0123456789abcdef.json', '{ not json');
    await corrupt('0123456789abcdef.json', JSON.stringify({ kid: '0123456789abcdef', created_at: TIME }));
    await corrupt('0123456789abcdef.json', JSON.stringify({ kid: '0123456789abcdef', created_at: TIME, secret: randomBytes(16).toString('base64url') }));
    await corrupt('renamed.json', JSON.stringify({ kid: '0123456789abcdef', created_at: TIME, secret: randomBytes(32).toString('base64url') }));
    // Nothing was generated in place of the broken files.
    expect(await keyFiles()).toEqual(good);
  });

  it('adds a key that becomes current while the older one still opens its seals', async () => {
    const first = (await generateAuditKey(dir))!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = (await generateAuditKey(dir))!;
    expect(await generateAuditKey(dir, { onlyIfNone: true })).toBeUndefined();
    const keys = await openAuditKeys(dir, { generateIfEmpty: false });
    expect(keys.current.kid).toBe(second.kid);
    expect(keys.get(first.kid)?.secret.equals(first.secret)).toBe(true);
    expect((await keyFiles()).sort()).toEqual([`${first.kid}.json`, `${second.kid}.json`].sort());
  });

  it('leaves a folder whose keys all load when two processes generate at once, and both succeed', async () => {
    // Repeated in fresh folders: the interleaving differs from round to round.
    const refusals: string[] = [];
    for (let round = 0; round < 500; round += 1) {
      const roundDir = join(dir, `round-${round}`);
      const outcomes = await Promise.allSettled([generateAuditKey(roundDir, { onlyIfNone: true }), generateAuditKey(roundDir, { onlyIfNone: true })]);
      for (const outcome of outcomes) if (outcome.status === 'rejected') refusals.push(`round ${round}: ${String(outcome.reason)}`);
      const keys = await openAuditKeys(roundDir, { generateIfEmpty: false });
      const generated = outcomes.flatMap((outcome) => outcome.status === 'fulfilled' && outcome.value ? [outcome.value] : []);
      for (const key of generated) expect(keys.get(key.kid)?.secret.equals(key.secret)).toBe(true);
      const names = (await readdir(auditKeyDir(roundDir))).filter((name) => name.endsWith('.json'));
      expect(names.length).toBeGreaterThanOrEqual(1);
      for (const name of names) expect(keys.get(name.slice(0, -'.json'.length))).toBeDefined();
    }
    // A caller that saw the other's key file before its content was written must not fail.
    expect(refusals).toEqual([]);
  });
});

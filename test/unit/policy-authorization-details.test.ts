import { describe, expect, it } from '@jest/globals';

import type { AuthorizationDetail } from '../../src/exchange/types.js';
import { narrowAuthorizationDetails, parseAuthorizationDetails } from '../../src/policy/authorization-details.js';

// RFC 9396 authorization_details (the task, SPEC sections 4 and 5): a JSON array of 1 to 10 typed
// objects, at most 4096 bytes; `agent_task` always, other types only when the resource declares them.

const ALLOWED = ['payment_initiation'];
const AMOUNT_HINT = 'amount must be { value: a decimal string such as 123.45, currency: three capital letters such as EUR }';

const refused = (description: string): unknown => ({ ok: false, error: { error: 'invalid_authorization_details', description: `authorization_details ${description}` } });
const parse = (details: unknown, allowed: readonly string[] = ALLOWED): unknown => parseAuthorizationDetails(JSON.stringify(details), allowed);
const task = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'agent_task', task_id: 'trip-42', ...over });

/** A URI of exactly `length` characters. */
const uriOf = (length: number): string => `https://l.example/${'l'.repeat(length - 'https://l.example/'.length)}`;

/** A one-item array of an allowed custom type whose JSON is exactly `length` ASCII characters (= bytes). */
function paddedTo(length: number): string {
  const empty = JSON.stringify([{ type: 'payment_initiation', pad: '' }]);
  return JSON.stringify([{ type: 'payment_initiation', pad: 'x'.repeat(length - empty.length) }]);
}

describe('parseAuthorizationDetails', () => {
  describe('accepted', () => {
    it('passes an absent parameter through as undefined', () => {
      expect(parseAuthorizationDetails(undefined, ALLOWED)).toStrictEqual({ ok: true, value: undefined });
    });

    it('accepts a full agent_task', () => {
      const full = task({ description: 'Book a trip to Lisbon', amount: { value: '1250.00', currency: 'EUR' }, locations: ['https://api.travel.example'], actions: ['book', 'cancel'] });
      expect(parse([full])).toStrictEqual({ ok: true, value: [full] });
    });

    it('accepts an allowed custom type with any members', () => {
      const custom = { type: 'payment_initiation', instructedAmount: { amount: 12, currency: 'EUR' }, creditorName: 'Hotel' };
      expect(parse([custom, task()])).toStrictEqual({ ok: true, value: [custom, task()] });
    });

    it.each<[string, Record<string, unknown>]>([
      ['task_id of 128 characters', task({ task_id: 't'.repeat(128) })],
      ['description of 512 characters', task({ description: 'd'.repeat(512) })],
      ['empty locations and actions', task({ locations: [], actions: [] })],
      ['a location URI of 512 characters', task({ locations: [uriOf(512)] })],
      ['a non-http location URI', task({ locations: ['urn:example:hotel:42', 'geo:38.72,-9.14'] })],
      ['an integer amount', task({ amount: { value: '0', currency: 'USD' } })],
      ['the largest amount', task({ amount: { value: '999999999999999.999999', currency: 'JPY' } })],
      ['an amount with members in another order', task({ amount: { currency: 'EUR', value: '123.45' } })],
    ])('accepts an agent_task with %s', (_case, detail) => {
      expect(parse([detail])).toStrictEqual({ ok: true, value: [detail] });
    });

    it('accepts 10 items', () => {
      const ten = Array.from({ length: 10 }, (_, i) => task({ task_id: `t${i}` }));
      expect(parse(ten)).toStrictEqual({ ok: true, value: ten });
    });

    it('accepts exactly 4096 bytes', () => {
      const raw = paddedTo(4096);
      expect(Buffer.byteLength(raw)).toBe(4096);
      expect(parseAuthorizationDetails(raw, ALLOWED)).toStrictEqual({ ok: true, value: JSON.parse(raw) });
    });
  });

  describe('refused: the document', () => {
    it.each<[string, string]>([
      ['4097 bytes', paddedTo(4097)],
      ['5000 bytes that are not even JSON', '['.repeat(5000)],
    ])('refuses %s as too large', (_case, raw) => {
      expect(parseAuthorizationDetails(raw, ALLOWED)).toStrictEqual(refused('exceeds 4096 bytes'));
    });

    it('counts bytes, not characters', () => {
      const raw = paddedTo(4096).replace('x', 'é');
      expect([raw.length, Buffer.byteLength(raw)]).toEqual([4096, 4097]);
      expect(parseAuthorizationDetails(raw, ALLOWED)).toStrictEqual(refused('exceeds 4096 bytes'));
    });

    it.each(['[{', '', 'agent_task', "[{'type':'agent_task'}]"])('refuses %j as not JSON', (raw) => {
      expect(parseAuthorizationDetails(raw, ALLOWED)).toStrictEqual(refused('is not valid JSON'));
    });

    it.each<[string, string]>([
      ['an object', JSON.stringify(task())],
      ['a string', '"agent_task"'],
      ['null', 'null'],
      ['a number', '42'],
      ['an empty array', '[]'],
      ['11 items', JSON.stringify(Array.from({ length: 11 }, (_, i) => task({ task_id: `t${i}` })))],
    ])('refuses %s', (_case, raw) => {
      expect(parseAuthorizationDetails(raw, ALLOWED)).toStrictEqual(refused('must be a JSON array of 1 to 10 objects'));
    });
  });

  describe('refused: an item', () => {
    it.each<[string, unknown[], string]>([
      ['a number item', [1], '[0] must be an object'],
      ['a null item', [null], '[0] must be an object'],
      ['an array item', [[task()]], '[0] must be an object'],
      ['a string item', ['agent_task'], '[0] must be an object'],
      ['a second bad item', [task(), 5], '[1] must be an object'],
      ['an item without type', [{ task_id: 't' }], '[0] needs a string type'],
      ['a numeric type', [{ type: 7 }], '[0] needs a string type'],
      ['an empty type', [{ type: '' }], '[0] needs a string type'],
      ['an unknown type', [{ type: 'account_information' }], '[0]: type account_information is not accepted for this target'],
      ['an unknown type after a good item', [task(), { type: 'account_information' }], '[1]: type account_information is not accepted for this target'],
      ['a type differing only in case', [{ type: 'Agent_Task' }], '[0]: type Agent_Task is not accepted for this target'],
      ['a look-alike of agent_task (Cyrillic a), shown escaped', [{ type: '\u0430gent_task', task_id: 't' }], '[0]: type <U+0430>gent_task is not accepted for this target'],
      ['a type with quotes and a newline, shown escaped', [{ type: 'a"b\nc' }], '[0]: type a<U+0022>b<U+000A>c is not accepted for this target'],
      ['a long unknown type (cut to 64 characters)', [{ type: 'x'.repeat(100) }], `[0]: type ${'x'.repeat(64)}... is not accepted for this target`],
    ])('refuses %s', (_case, details, description) => {
      expect(parse(details)).toStrictEqual(refused(description));
    });

    it('refuses a custom type the target does not declare', () => {
      expect(parse([{ type: 'payment_initiation' }], [])).toStrictEqual(refused('[0]: type payment_initiation is not accepted for this target'));
    });
  });

  describe('refused: an agent_task', () => {
    const TASK_ID = '[0]: agent_task needs a task_id string of 1 to 128 characters';
    const DESCRIPTION = '[0]: description must be a string of at most 512 characters';
    const LOCATIONS = '[0]: locations must be a list of absolute URIs';
    it.each<[string, Record<string, unknown>, string]>([
      ['without task_id', { type: 'agent_task' }, TASK_ID],
      ['with an empty task_id', task({ task_id: '' }), TASK_ID],
      ['with a task_id of 129 characters', task({ task_id: 't'.repeat(129) }), TASK_ID],
      ['with a numeric task_id', task({ task_id: 42 }), TASK_ID],
      ['with an unknown member', task({ budget: 100 }), '[0]: agent_task does not accept budget'],
      ['with an unknown member and no task_id (members first)', { type: 'agent_task', budget: 100 }, '[0]: agent_task does not accept budget'],
      ['with a description of 513 characters', task({ description: 'd'.repeat(513) }), DESCRIPTION],
      ['with a numeric description', task({ description: 5 }), DESCRIPTION],
      ['with an unknown member, shown escaped', task({ 'bud\u0433et': 1 }), '[0]: agent_task does not accept bud<U+0433>et'],
      ['with locations as a string', task({ locations: 'https://api.travel.example' }), LOCATIONS],
      ['with a numeric location', task({ locations: [1] }), LOCATIONS],
      ['with a location URI of 513 characters', task({ locations: [uriOf(513)] }), LOCATIONS],
      ['with a location that is not a URI', task({ locations: ['Lisbon'] }), LOCATIONS],
      ['with a relative location', task({ locations: ['https://api.travel.example', '/trips/42'] }), LOCATIONS],
      ['with an empty location', task({ locations: [''] }), LOCATIONS],
      ['with actions as an object', task({ actions: { book: true } }), '[0]: actions must be a list of strings'],
      ['with a null action', task({ actions: ['book', null] }), '[0]: actions must be a list of strings'],
      ['with an action of 513 characters', task({ actions: ['a'.repeat(513)] }), '[0]: actions must be a list of strings'],
    ])('refuses an agent_task %s', (_case, detail, description) => {
      expect(parse([detail])).toStrictEqual(refused(description));
    });

    it('refuses an agent_task even when the target declares no types', () => {
      expect(parse([task({ task_id: '' })], [])).toStrictEqual(refused(TASK_ID));
    });

    it.each<[string, unknown]>([
      ['null', null],
      ['a string', '123.45 EUR'],
      ['a number', 123.45],
      ['an array', ['123.45', 'EUR']],
      ['a numeric value', { value: 123.45, currency: 'EUR' }],
      ['a negative value', { value: '-1', currency: 'EUR' }],
      ['an exponent', { value: '1e3', currency: 'EUR' }],
      ['a trailing dot', { value: '1.', currency: 'EUR' }],
      ['a leading dot', { value: '.5', currency: 'EUR' }],
      ['a comma', { value: '1,5', currency: 'EUR' }],
      ['seven decimals', { value: '1.0000001', currency: 'EUR' }],
      ['sixteen digits', { value: '1234567890123456', currency: 'EUR' }],
      ['an empty value', { value: '', currency: 'EUR' }],
      ['a lower-case currency', { value: '1', currency: 'eur' }],
      ['a four-letter currency', { value: '1', currency: 'EURO' }],
      ['a missing currency', { value: '1' }],
      ['a missing value', { currency: 'EUR' }],
      ['an extra member', { value: '1', currency: 'EUR', note: 'max' }],
    ])('refuses an amount that is %s', (_case, amount) => {
      expect(parse([task({ amount })])).toStrictEqual(refused(`[0]: ${AMOUNT_HINT}`));
    });
  });
});

describe('narrowAuthorizationDetails', () => {
  const booking: AuthorizationDetail = { type: 'agent_task', task_id: 'trip-42', amount: { value: '1250.00', currency: 'EUR' }, actions: ['book'] };
  const payment: AuthorizationDetail = { type: 'payment_initiation', creditorName: 'Hotel' };
  const other: AuthorizationDetail = { type: 'agent_task', task_id: 'trip-43' };

  it('passes undefined through when neither side has details', () => {
    expect(narrowAuthorizationDetails(undefined, undefined)).toStrictEqual({ ok: true, value: undefined });
  });

  it('inherits the subject token task when none is requested', () => {
    const inherited = [booking, payment];
    const result = narrowAuthorizationDetails(undefined, inherited);
    expect(result).toStrictEqual({ ok: true, value: [booking, payment] });
  });

  it('takes the requested details when the subject token has none', () => {
    expect(narrowAuthorizationDetails([other], undefined)).toStrictEqual({ ok: true, value: [other] });
  });

  it('reads an empty requested list as none, so it cannot drop the inherited task', () => {
    expect(narrowAuthorizationDetails([], [booking])).toStrictEqual({ ok: true, value: [booking] });
  });

  it('reads an empty inherited list as none', () => {
    expect(narrowAuthorizationDetails([other], [])).toStrictEqual({ ok: true, value: [other] });
  });

  it('names the first requested detail outside the inherited task', () => {
    expect(narrowAuthorizationDetails([booking, payment, other, other], [booking, payment])).toStrictEqual(refused('[2] is not part of the task of subject_token'));
  });

  it.each<[string, AuthorizationDetail[]]>([
    ['the same list', [booking, payment]],
    ['a subset', [payment]],
    ['the same items in another order', [payment, booking]],
    ['an equal item with members in another order', [{ actions: ['book'], amount: { currency: 'EUR', value: '1250.00' }, task_id: 'trip-42', type: 'agent_task' }]],
  ])('accepts %s', (_case, requested) => {
    expect(narrowAuthorizationDetails(requested, [booking, payment])).toStrictEqual({ ok: true, value: requested });
  });

  it.each<[string, AuthorizationDetail[], number]>([
    ['a swapped task', [other], 0],
    ['an added item', [booking, other], 1],
    ['a larger amount', [{ ...booking, amount: { value: '9999.00', currency: 'EUR' } }], 0],
    ['an extra action', [{ ...booking, actions: ['book', 'cancel'] }], 0],
    ['a dropped member (wider task)', [{ type: 'agent_task', task_id: 'trip-42' }], 0],
  ])('refuses %s', (_case, requested, index) => {
    expect(narrowAuthorizationDetails(requested, [booking, payment])).toStrictEqual(refused(`[${index}] is not part of the task of subject_token`));
  });
});

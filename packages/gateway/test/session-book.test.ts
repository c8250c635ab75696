import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../../test/services/postgres.ts';
import { openSessionBook, type SessionBook } from '../src/sessions.ts';

// The same rules for both kinds of session store: one gateway's, in memory, and two gateways
// sharing one PostgreSQL database (a real cluster from Debian's package).

let postgres: PostgresServer;
const opened: SessionBook[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);

afterAll(async () => {
  for (const book of opened) await book.close();
  await postgres?.stop();
});

/** Two gateways' views of one store: the same object in memory, two connections to PostgreSQL. */
const stores: Array<[string, () => Promise<[SessionBook, SessionBook]>]> = [
  [
    'in memory',
    async () => {
      const book = await openSessionBook(undefined);
      opened.push(book);
      return [book, book];
    },
  ],
  [
    'PostgreSQL, two gateways',
    async () => {
      const books = await Promise.all([openSessionBook(postgres.url), openSessionBook(postgres.url)]);
      opened.push(...books);
      return books as [SessionBook, SessionBook];
    },
  ],
];

describe.each(stores)('sticky sessions (%s)', (_kind, open) => {
  let a: SessionBook;
  let b: SessionBook;
  let n = 0;
  const session = () => `s${n++}`;

  beforeAll(async () => {
    [a, b] = await open();
  });

  it('lets the first claim bind a session; a later one, at either gateway, joins it', async () => {
    const s = session();
    expect(await a.get('acme', s)).toBeUndefined();
    expect(await a.claim('acme', s, 'relay-a', 60_000)).toEqual({ relay: 'relay-a', made: true });
    expect(await b.claim('acme', s, 'relay-b', 60_000)).toEqual({ relay: 'relay-a', made: false });
    expect(await b.claim('acme', s, 'relay-a', 60_000)).toEqual({ relay: 'relay-a', made: false });
    expect(await b.get('acme', s)).toBe('relay-a');
    expect(await b.get('other', s)).toBeUndefined();
  });

  it('binds a session once when both gateways claim it at the same moment', async () => {
    for (let i = 0; i < 20; i++) {
      const s = session();
      const claims = await Promise.all([a.claim('acme', s, 'relay-a', 60_000), b.claim('acme', s, 'relay-b', 60_000)]);
      expect(claims.filter((c) => c.made)).toHaveLength(1);
      expect(claims[0]?.relay).toBe(claims[1]?.relay);
    }
  });

  it('moves a session only off the relay the claim replaces, and forgets a released one', async () => {
    const s = session();
    await a.claim('acme', s, 'relay-a', 60_000);
    expect(await b.claim('acme', s, 'relay-b', 60_000, 'relay-c')).toEqual({ relay: 'relay-a', made: false });
    expect(await b.claim('acme', s, 'relay-b', 60_000, 'relay-a')).toEqual({ relay: 'relay-b', made: true });
    expect(await a.get('acme', s)).toBe('relay-b');
    // Released only by a request that failed on the relay the session is bound to.
    await a.release('acme', s, 'relay-a');
    expect(await b.get('acme', s)).toBe('relay-b');
    await a.release('acme', s, 'relay-b');
    expect(await b.get('acme', s)).toBeUndefined();
  });

  it('keeps the TTL of the first binding, and lets anyone bind a session once it has expired', async () => {
    const s = session();
    // Margins that a busy machine cannot eat: 1.5 s of TTL, checked 0.3 s and 1.8 s later.
    await a.claim('acme', s, 'relay-a', 1_500);
    await sleep(300);
    // Claimed again for the same relay: the binding is not renewed.
    expect(await b.claim('acme', s, 'relay-a', 1_500)).toEqual({ relay: 'relay-a', made: false });
    await sleep(1_500);
    expect(await a.get('acme', s)).toBeUndefined();
    expect(await b.claim('acme', s, 'relay-b', 60_000)).toEqual({ relay: 'relay-b', made: true });
  });
});

describe('gateways sharing a PostgreSQL session store know each other (siblings)', () => {
  it('names the others alive in the last 30 s, never the asking gateway, and forgets one that left', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => openSessionBook(postgres.url)));
    opened.push(a as SessionBook, b as SessionBook, c as SessionBook);
    for (const [book, id] of [
      [a, 'gw-a'],
      [b, 'gw-b'],
      [c, 'gw-c'],
    ] as const)
      await book?.announce?.(id);
    /** What a gateway answers relays, asked of a store that has not answered it yet (answers are kept 5 s). */
    const siblingsOf = async (id: string) => {
      const book = await openSessionBook(postgres.url);
      opened.push(book);
      return (await book.siblings?.(id))?.sort();
    };
    expect(await siblingsOf('gw-a')).toEqual(['gw-b', 'gw-c']);
    expect(await siblingsOf('gw-b')).toEqual(['gw-a', 'gw-c']);
    // One silent for longer than 30 s (its clock set back in the table) is no sibling.
    await postgres.sql("UPDATE session_gateways SET seen_at = now() - interval '31 seconds' WHERE peer_id = 'gw-c'");
    expect(await siblingsOf('gw-a')).toEqual(['gw-b']);
    // Within 5 s a store gives every relay the answer it read: one query, however many relays ask.
    expect((await a?.siblings?.('gw-a'))?.sort()).toEqual(['gw-b']);
    await c?.announce?.('gw-c');
    expect((await a?.siblings?.('gw-a'))?.sort()).toEqual(['gw-b']);
    expect(await siblingsOf('gw-a')).toEqual(['gw-b', 'gw-c']);
    await b?.leave?.('gw-b');
    expect(await siblingsOf('gw-a')).toEqual(['gw-c']);
    // A gateway's own store, in memory, knows no siblings.
    const alone = await openSessionBook(undefined);
    opened.push(alone);
    expect(alone.siblings).toBeUndefined();
  });
});

import { downloadViaConnect, type ExitHeaders, getViaConnect } from '../crawl-clients.ts';
import type { LocalNetwork } from '../local-network.ts';
import { patternBytes } from './origin.ts';

const REQUESTS_PER_SESSION = 3;
/** Enough payload per relay that its share of the revenue shows in whole micro-units. */
const DOWNLOAD_BYTES = 16 * 1024 * 1024;

/**
 * The demo's sticky-session chapter: one session per country the relays are in, each sending a few
 * requests and then a download over CONNECT, printing the exit the gateway named for each
 * (`X-Meadow-Relay`, `X-Meadow-Country`, `X-Meadow-Session`) beside the address the origin saw.
 * A session that moved, an exit in the wrong country or a download not as sent is printed as
 * such, and fails the demo.
 */
export async function showStickySessions(network: LocalNetwork, say: (text: string) => void): Promise<void> {
  const indexOf = new Map(network.relays.map((r, i) => [r.peerId, i + 1]));
  const byEgress = new Map(network.relays.map((r, i) => [r.egressAddress, i + 1]));
  const exitName = (exit: ExitHeaders): string => `relay ${indexOf.get(exit.relay ?? '') ?? `? (${exit.relay})`}`;
  const countries = [...new Set(network.relays.map((r) => r.country))];
  const origin = new URL(network.origin.url);
  const download = new URL(`/bytes/${DOWNLOAD_BYTES}`, origin);
  say(
    `\nSticky sessions, one per country (username ${network.customer.name}-country-<cc>-session-<id>, HTTP CONNECT;\n` +
      `the exit as the gateway's X-Meadow-Relay and X-Meadow-Session headers name it):`,
  );
  const problems: string[] = [];
  for (const country of countries) {
    const session = `s_${country.toLowerCase()}`;
    const creds = {
      username: `${network.customer.name}-country-${country.toLowerCase()}-session-${session}`,
      password: network.customer.apiKey,
    };
    const steps: string[] = [];
    const exits = new Set<string>();
    const note = (exit: ExitHeaders, seen?: string): void => {
      exits.add(exit.relay ?? '');
      if (exit.country !== country) problems.push(`session ${session} left from ${exit.country}, not ${country}`);
      if (seen != null && byEgress.get(seen) !== indexOf.get(exit.relay ?? ''))
        problems.push(`session ${session}: the origin saw ${seen}, not the egress of the relay the gateway named`);
    };
    for (let i = 0; i < REQUESTS_PER_SESSION; i++) {
      const { status, body, exit } = await getViaConnect(
        network.gateway.http,
        creds,
        origin,
        AbortSignal.timeout(15_000),
      );
      if (status !== 200) throw new Error(`session ${session}'s request ${i + 1} answered ${status}: ${body}`);
      note(exit, (JSON.parse(body) as { youAre: string }).youAre.replace(/^::ffff:/, ''));
      steps.push(`${exitName(exit)} ${exit.session ?? 'no session header'}`);
    }
    const started = performance.now();
    const got = await downloadViaConnect(
      network.gateway.http,
      creds,
      download,
      AbortSignal.timeout(30_000),
      (chunk, offset) => chunk.equals(patternBytes(offset, chunk.byteLength)),
    );
    const seconds = (performance.now() - started) / 1000;
    if (got.status !== 200) throw new Error(`session ${session}'s download answered ${got.status}`);
    note(got.exit);
    if (got.bytes !== DOWNLOAD_BYTES || !got.intact)
      problems.push(`session ${session}'s download brought ${got.bytes} bytes${got.intact ? '' : ', not as sent'}`);
    if (exits.size > 1) problems.push(`session ${session} left from ${exits.size} relays`);
    say(`  ${session}  ${steps.join(' · ')}`);
    say(
      `        then ${DOWNLOAD_BYTES / 1024 / 1024} MiB from ${exitName(got.exit)} (${got.exit.session}) in ` +
        `${seconds.toFixed(2)} s (${(got.bytes / seconds / 1e6).toFixed(0)} MB/s), ` +
        `${got.intact && got.bytes === DOWNLOAD_BYTES ? 'every byte as the origin sent it' : 'NOT as the origin sent it'}`,
    );
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
}

/**
 * A relay linked to all the gateway groups it keeps (`gateways.keep`) tries one more now and then,
 * and afterwards keeps the groups that sent it the most work. Without it a relay stayed with the
 * first gateways it found: a gateway that joined a settled network got only brand-new relays and
 * those that had lost a gateway, however many crawlers it served, and a household never moved to a
 * gateway that had more work for it.
 *
 * Every `everyMs` (±50%) the relay links to one group it is not linked to: one never tried first,
 * else the one whose rest ended first: a gateway tried or let go rests for `REST_TRIALS` intervals
 * (±50%, so relays let go together do not all come back together and crowd one trial). After
 * `everyMs` more it compares the bytes each linked group carried through it since the trial began
 * and lets the group with the fewest go. On a tie the most recently linked group goes, so a trial
 * gateway with no work for this relay is the one let go and settled gateways are not churned for
 * nothing.
 */
export class GatewayTrials {
  private readonly everyMs: number;
  private readonly random: () => number;
  private nextAt: number;
  private current: { gateway: string; endsAt: number; before: ReadonlyMap<string, number> } | undefined;
  /** Until when each gateway tried or let go rests. */
  private readonly restingUntil = new Map<string, number>();

  constructor(everyMs: number, now = Date.now(), random: () => number = Math.random) {
    this.everyMs = everyMs;
    this.random = random;
    this.nextAt = now + this.interval();
  }

  get enabled(): boolean {
    return this.everyMs > 0;
  }

  /** The gateway on trial now, if any. */
  get onTrial(): string | undefined {
    return this.current?.gateway;
  }

  /** Whether it is time to look for a gateway to try. */
  due(now = Date.now()): boolean {
    return this.enabled && this.current == null && now >= this.nextAt;
  }

  /**
   * Of the gateways found (not linked, none a sibling of a linked one), the one to try now, or
   * undefined when none is worth it; either way the next look is an interval away.
   */
  choose(candidates: readonly string[], now = Date.now()): string | undefined {
    this.nextAt = now + this.interval();
    const fresh = candidates.filter((id) => !this.restingUntil.has(id));
    if (fresh.length > 0) return fresh[Math.floor(this.random() * fresh.length)];
    const restsUntil = (id: string): number => this.restingUntil.get(id) as number;
    return candidates.filter((id) => now >= restsUntil(id)).sort((a, b) => restsUntil(a) - restsUntil(b))[0];
  }

  /** The trial of `gateway` begins, now that it is linked; `carried` is every gateway's byte count now. */
  begin(gateway: string, carried: ReadonlyMap<string, number>, now = Date.now()): void {
    this.current = { gateway, endsAt: now + this.everyMs, before: carried };
    this.rest(gateway, now);
  }

  /**
   * Once the trial is over (undefined before): the group to let go, if more than `keep` are linked,
   * and the bytes each linked group carried during the trial. A group is its members' peer ids;
   * `linkedAt` is when its first member was linked; `carried` is a gateway's byte count now.
   */
  judge(
    groups: readonly LinkedGroup[],
    carried: (gateway: string) => number,
    keep: number,
    now = Date.now(),
  ): TrialVerdict | undefined {
    const trial = this.current;
    if (trial == null || now < trial.endsAt) return undefined;
    this.current = undefined;
    this.nextAt = now + this.interval();
    const sent = groups.map((group) => ({
      group,
      bytes: group.members.reduce((sum, id) => sum + carried(id) - (trial.before.get(id) ?? 0), 0),
    }));
    const trialGroup = groups.find((g) => g.members.includes(trial.gateway));
    if (groups.length <= keep) return { trial: trial.gateway, sent, trialKept: trialGroup != null };
    const least = sent.reduce((a, b) =>
      b.bytes < a.bytes || (b.bytes === a.bytes && b.group.linkedAt > a.group.linkedAt) ? b : a,
    );
    for (const id of least.group.members) this.rest(id, now);
    return {
      trial: trial.gateway,
      sent,
      letGo: least.group,
      trialKept: least.group !== trialGroup && trialGroup != null,
    };
  }

  /** Orders gateways to link to when the relay has room: never tried first, then by the end of their rest. */
  byRest<T>(gateways: readonly T[], idOf: (gateway: T) => string): T[] {
    const restsUntil = (g: T): number => this.restingUntil.get(idOf(g)) ?? Number.NEGATIVE_INFINITY;
    return [...gateways].sort((a, b) => restsUntil(a) - restsUntil(b));
  }

  private rest(gateway: string, now: number): void {
    this.restingUntil.set(gateway, now + REST_TRIALS * this.interval());
  }

  private interval(): number {
    return Math.round(this.everyMs * (0.5 + this.random()));
  }
}

/** A group is tried again, or a let-go group linked again by a trial, only after this many intervals (±50%). */
export const REST_TRIALS = 4;

export interface LinkedGroup {
  members: string[];
  linkedAt: number;
}

export interface TrialVerdict {
  /** The gateway that was on trial. */
  trial: string;
  /** Bytes each linked group carried through this relay during the trial. */
  sent: { group: LinkedGroup; bytes: number }[];
  /** The group let go: the one that carried the fewest bytes (the most recently linked on a tie). */
  letGo?: LinkedGroup;
  /** Whether the trial gateway's group stays linked. */
  trialKept: boolean;
}

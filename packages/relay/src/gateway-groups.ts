/**
 * Gateways that share their sticky sessions form a group: a relay that links to one of them also
 * links to its siblings (at most `maxSiblings` more per group), so whichever of them a crawler's
 * request reaches has the session's relay. `gateways.keep` counts groups, not gateways: a household
 * still chooses how many operators it serves.
 */
export class GatewayGroups {
  private readonly maxSiblings: number;
  /** What each linked gateway last said about its siblings, and when. */
  private readonly reported = new Map<string, { siblings: string[]; at: number }>();

  constructor(maxSiblings: number) {
    this.maxSiblings = maxSiblings;
  }

  get enabled(): boolean {
    return this.maxSiblings > 0;
  }

  report(gateway: string, siblings: string[], now = Date.now()): void {
    this.reported.set(gateway, { siblings: siblings.filter((id) => id !== gateway), at: now });
  }

  forget(gateway: string): void {
    this.reported.delete(gateway);
  }

  /** Linked gateways whose siblings are unknown or older than `maxAgeMs`. */
  stale(linked: Iterable<string>, maxAgeMs: number, now = Date.now()): string[] {
    return [...linked].filter((id) => now - (this.reported.get(id)?.at ?? Number.NEGATIVE_INFINITY) >= maxAgeMs);
  }

  /** The linked gateways by group: two are in one group when either names the other a sibling. */
  groups(linked: Iterable<string>): string[][] {
    const ids = [...linked];
    const parent = new Map(ids.map((id) => [id, id]));
    const root = (id: string): string => {
      let at = id;
      while (parent.get(at) !== at) at = parent.get(at) as string;
      parent.set(id, at);
      return at;
    };
    for (const id of ids)
      for (const sibling of this.reported.get(id)?.siblings ?? [])
        if (parent.has(sibling)) parent.set(root(sibling), root(id));
    const groups = new Map<string, string[]>();
    for (const id of ids) {
      const key = root(id);
      groups.set(key, [...(groups.get(key) ?? []), id]);
    }
    return [...groups.values()];
  }

  /** Siblings of linked gateways not linked yet, within each group's room for `maxSiblings` more. */
  missing(linked: Iterable<string>): string[] {
    const linkedSet = new Set(linked);
    const wanted: string[] = [];
    for (const group of this.groups(linkedSet)) {
      let room = 1 + this.maxSiblings - group.length;
      for (const member of group)
        for (const sibling of this.reported.get(member)?.siblings ?? []) {
          if (room <= 0) break;
          if (linkedSet.has(sibling) || wanted.includes(sibling)) continue;
          wanted.push(sibling);
          room--;
        }
    }
    return wanted;
  }

  /** Whether `gateway` belongs to a group the relay is linked to already (so it is no new group). */
  isSiblingOfLinked(gateway: string, linked: Iterable<string>): boolean {
    for (const id of linked) if (this.reported.get(id)?.siblings.includes(gateway)) return true;
    return false;
  }
}

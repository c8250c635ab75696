import { isIP } from 'node:net';
import { formatHostPort, MeadowError, type Target } from '@meadow/protocol';
import { forbiddenReason } from './address-ranges.ts';
import type { ExitPolicy } from './exit-policy.ts';
import type { HouseholdNetworks } from './household-networks.ts';
import { TargetResolver } from './target-resolver.ts';

export interface EgressGuardInit {
  policy: ExitPolicy;
  /** This machine's addresses, the household's public address and networks: never dialled. */
  household: Pick<HouseholdNetworks, 'reason'>;
  /** Ports this relay listens on: never dialled on any address. */
  ownPorts: Set<number>;
  /**
   * Test-only: exact `host:port` pairs allowed despite the forbidden ranges (the demo's local
   * origin). Never ranges; never from a household config without the explicit option.
   */
  allowExactTargets: Set<string>;
  /** Where names are resolved (default: the system's DNS servers, cached). */
  dns?: TargetResolver;
  /** Sites the household does not share its connection with: each name and every name under it. */
  refuseDomains?: ReadonlySet<string>;
}

export interface ResolvedTarget {
  address: string;
  port: number;
}

/**
 * Resolves a target at the relay and returns only addresses that may be dialled. The caller
 * connects to exactly these addresses, never to the hostname, so DNS cannot answer differently
 * between the check and the connect (no rebinding window).
 */
export class EgressGuard {
  private readonly init: EgressGuardInit;
  readonly dns: TargetResolver;

  constructor(init: EgressGuardInit) {
    this.init = init;
    this.dns = init.dns ?? new TargetResolver();
  }

  async resolve(target: Target, options: { signal?: AbortSignal } = {}): Promise<ResolvedTarget[]> {
    const declined = this.declinedDomain(target.host);
    if (declined != null) {
      throw new MeadowError(
        'MEADOW_ERR_RELAY_DECLINED',
        `this household does not share its connection with ${declined === target.host ? declined : `${target.host} (${declined})`}`,
        { hop: 'relay' },
      );
    }
    const addresses = isIP(target.host) !== 0 ? [target.host] : await this.dns.resolve(target.host, options.signal);
    const allowed: ResolvedTarget[] = [];
    let firstRefusal: string | undefined;
    for (const address of addresses) {
      const refusal = this.refusal(address, target.port);
      if (refusal == null) allowed.push({ address, port: target.port });
      else firstRefusal ??= refusal;
    }
    if (allowed.length === 0) {
      throw new MeadowError(
        'MEADOW_ERR_TARGET_FORBIDDEN',
        `${formatHostPort(target.host, target.port)} refused by the relay: ${firstRefusal ?? 'no address'}`,
        {
          hop: 'relay',
        },
      );
    }
    return allowed;
  }

  /** The household's rule that covers `host` (a name, or a name above it), if any. */
  declinedDomain(host: string): string | undefined {
    const rules = this.init.refuseDomains;
    if (rules == null || rules.size === 0 || isIP(host) !== 0) return undefined;
    for (let name = host; ; ) {
      if (rules.has(name)) return name;
      const dot = name.indexOf('.');
      if (dot < 0) return undefined;
      name = name.slice(dot + 1);
    }
  }

  /** Why this exact address and port may not be dialled, or undefined if it may. */
  refusal(address: string, port: number): string | undefined {
    const exact = this.init.allowExactTargets;
    if (exact.size > 0 && exact.has(formatHostPort(address, port))) return undefined;
    const forbidden = forbiddenReason(address);
    if (forbidden != null) return `${address} is ${forbidden}`;
    const household = this.init.household.reason(address);
    if (household != null) return household;
    if (this.init.ownPorts.has(port)) return `port ${port} is one this relay listens on`;
    const decision = this.init.policy.decide(address, port);
    if (!decision.allowed) return `exit policy rule "${decision.rule}"`;
    return undefined;
  }
}

/**
 * Node flags every long-running Meadow service starts with.
 *
 * `--max-semi-space-size=8` (MiB): on a machine with several GiB of memory V8 lets the young
 * generation grow to 128 MiB under a proxy's allocation rate (many short-lived buffers per
 * tunnel), and keeps the pages it shrinks away from mapped. A relay then sat at ~380 MiB resident
 * after a few minutes of crawler load, against ~175 MiB with this bound, at the same throughput
 * (docs/reliability.md, "Soak").
 *
 * `--expose-gc`: an idle relay asks for one major GC once it has carried nothing for a while
 * (`IdleTrim` in @meadow/relay), which hands start-up's garbage back: 135 → 116 MiB resident.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--expose-gc'];

/** The service flags missing from this process's own flags and NODE_OPTIONS. */
export function missingServiceFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((flag) => flag.split('=')[0]?.replaceAll('_', '-'));
  return SERVICE_NODE_FLAGS.filter((flag) => !given.includes(flag.split('=')[0]));
}

/**
 * Node flags every long-running Meadow service starts with.
 *
 * `--max-semi-space-size=8` (MiB): on a machine with several GiB of memory V8 lets the young
 * generation grow to 128 MiB under a proxy's allocation rate (many short-lived buffers per
 * tunnel), and keeps the pages it shrinks away from mapped. A relay then sat at ~380 MiB resident
 * after a few minutes of crawler load, against ~175 MiB with this bound, at the same throughput
 * (docs/reliability.md, "Soak").
 *
 * `--heap-growing-percent=300`: after each major GC the old generation may grow to 4 × what
 * survived before the next one, the most V8 allows itself on a busy process of this size. V8
 * otherwise shrinks that headroom after a memory-reducing GC (its memory reducer, seconds after
 * traffic stops, and `IdleTrim` below) to ~16 MiB over the ~25 MiB a relay keeps live, and it
 * counts the socket and cipher buffers allocated since the last full GC against that headroom: the
 * next bulk transfer then ran 14–35 full GCs per 256 MB–1 GiB in the relay or the gateway, at twice
 * the CPU per MB (100–150 MB/s instead of 200–290), until gigabytes later the headroom had grown
 * back, or never. With it: no full GC during a transfer after an idle spell; resident memory of an
 * idle relay (after the trim), under crawler load and with 10 000 idle tunnels as before
 * (docs/performance.md, "Bulk after an idle spell"). 100 (2 ×) still let the gateway collect 21–36
 * times per GiB, 50 changed nothing.
 *
 * `--external-memory-accounted-in-global-limit`: V8 otherwise starts a major GC every time the
 * memory held outside its heap (every socket read, every Noise ciphertext: a proxy allocates about
 * twice the bytes it moves) has grown by a fixed 64 MiB since the last one, whatever the heap
 * growing factor says: 7–8 full GCs per 256 MB in each of gateway and relay, 30 per GiB, on every
 * transfer. With the flag that memory counts toward V8's global limit, which grows with the factor
 * above, and scavenges free most of it first: `loadtest:bulk-ab` against the same tree without it,
 * 1.41 × the MB/s at 0.61 × the CPU per MB; crawler tunnels 1.00 ×; an idle relay and 10 000 idle
 * tunnels unchanged. It costs resident memory while bytes flow: a relay's peak during 1 GiB of
 * downloads 40–70 MiB higher (docs/performance.md, "External memory and full GCs").
 *
 * `--expose-gc`: an idle relay asks for one major GC once it has carried nothing for a while
 * (`IdleTrim` in @meadow/relay), which hands start-up's garbage back: 135 → 116 MiB resident.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=8',
  '--heap-growing-percent=300',
  '--external-memory-accounted-in-global-limit',
  '--expose-gc',
];

/**
 * Environment every long-running Meadow service starts with.
 *
 * `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own malloc arena (up to 8 per
 * core: the main thread, V8's GC and compiler workers, libuv's pool), and memory freed inside an
 * arena stays with the process. After a minute of crawler load an idle relay sat at 120–126 MiB,
 * against 114 before the load, with V8's heap only 2–3 MiB larger; with two arenas 115–118 MiB,
 * under the 120 MiB target, at the same CPU per tunnel and MB/s (docs/performance.md, "What moved
 * the figures"). glibc reads it once, at start, so it cannot be set from inside the process.
 */
export const SERVICE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** The service flags missing from this process's own flags and NODE_OPTIONS. */
export function missingServiceFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((flag) => flag.split('=')[0]?.replaceAll('_', '-'));
  return SERVICE_NODE_FLAGS.filter((flag) => !given.includes(flag.split('=')[0]));
}

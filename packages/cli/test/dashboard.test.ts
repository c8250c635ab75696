import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);

async function sources(dir: URL): Promise<string> {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts'))
      text += await readFile(join(entry.parentPath, entry.name), 'utf8');
  }
  return text;
}

describe('config/grafana-dashboard.json', () => {
  it('only charts metrics that the code defines', async () => {
    const dashboard = JSON.parse(await readFile(new URL('config/grafana-dashboard.json', root), 'utf8')) as {
      panels: Array<{ targets?: Array<{ expr: string }> }>;
    };
    const code = await sources(new URL('packages/', root));
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(15);
    const names = new Set(exprs.flatMap((e) => e.match(/meadow_[a-z0-9_]+/g) ?? []));
    for (const name of names) {
      // Histograms and default process metrics are named by suffix or prefix in code.
      const base = name
        .replace(/_(bucket|sum|count)$/, '')
        .replace(/^meadow_(gateway|relay)_(process|nodejs)_.*/, 'collectDefaultMetrics');
      expect(code.includes(`'${base}'`) || code.includes(base), `${name} is defined in packages/`).toBe(true);
    }
  });
});

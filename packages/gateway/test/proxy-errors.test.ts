import { MeadowError } from '@meadow/protocol';
import { describe, expect, it } from 'vitest';
import { errorResponse } from '../src/proxy-errors.ts';

describe('proxy-made error responses', () => {
  it('name the hop and the reason in Proxy-Status, quoted safely', () => {
    const { status, headers } = errorResponse(
      new MeadowError('MEADOW_ERR_TARGET_REFUSED', 'x.example:443: "ECONNREFUSED" \\ é', { hop: 'target' }),
    );
    expect(status).toBe(502);
    expect(headers['proxy-status']).toBe(
      `meadow; error=connection_refused; details="target: x.example:443: 'ECONNREFUSED' ' ?"`,
    );
  });

  it('clip a relay’s long refusal text, so the header stays within what clients accept', () => {
    const { headers, body } = errorResponse(
      new MeadowError('MEADOW_ERR_TARGET_FORBIDDEN', 'y'.repeat(60_000), { hop: 'relay' }),
    );
    expect(headers['proxy-status']?.length).toBeLessThan(600);
    expect(body.length).toBeGreaterThan(60_000); // the body, which has no such limit, keeps it all
  });
});

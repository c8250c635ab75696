import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ALERT_CASES } from './alerts/alert-cases.ts';
import { curl, runMeadow, waitFor } from './harness.ts';
import {
  type AlertmanagerServer,
  alertmanagerTool,
  runAlertmanager,
  webhookReceiver,
} from './services/alertmanager.ts';
import { startDnsServer } from './services/dns-server.ts';
import { freePort } from './services/free-port.ts';
import { type ActiveAlert, type PrometheusServer, prometheusTool, runPrometheus } from './services/prometheus.ts';
import { selfSignedCertificate } from './services/self-signed.ts';

const RULES_FILE = fileURLToPath(new URL('../config/prometheus-alerts.yml', import.meta.url));
const EXAMPLE_CONFIG = fileURLToPath(new URL('../config/prometheus.example.yml', import.meta.url));
const ALERTS_DOC = fileURLToPath(new URL('../docs/alerts.md', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../config/grafana-dashboard.json', import.meta.url));
const ALERTMANAGER_CONFIG = fileURLToPath(new URL('../config/alertmanager.example.yml', import.meta.url));

/** Where the example Alertmanager config sends each severity. */
const RECEIVER_BY_SEVERITY: Record<string, string> = {
  critical: 'meadow-page',
  warning: 'meadow-today',
  info: 'meadow-digest',
};

interface AlertmanagerRoute {
  receiver: string;
  group_wait?: string;
  group_interval?: string;
  routes?: AlertmanagerRoute[];
}

interface AlertmanagerConfig {
  route: AlertmanagerRoute;
  inhibit_rules: Array<{ source_matchers: string[]; target_matchers: string[]; equal: string[] }>;
  receivers: Array<{ name: string; webhook_configs: Array<{ url: string }> }>;
}

/**
 * The example Alertmanager config as a test runs it: each receiver's webhook at `webhook` with the
 * receiver's name as its path, and the routes' waits cut to a second, so notifications arrive while
 * the test watches. Routes, grouping and inhibitions stay as written.
 */
function alertmanagerConfigFor(webhook: string): string {
  const config = parseYaml(readFileSync(ALERTMANAGER_CONFIG, 'utf8')) as AlertmanagerConfig;
  for (const receiver of config.receivers)
    for (const hook of receiver.webhook_configs) hook.url = `${webhook}/${receiver.name}`;
  const quicken = (route: AlertmanagerRoute) => {
    if (route.group_wait != null) route.group_wait = '1s';
    if (route.group_interval != null) route.group_interval = '1s';
    for (const child of route.routes ?? []) quicken(child);
  };
  quicken(config.route);
  return stringifyYaml(config);
}

interface AlertRule {
  alert: string;
  expr: string;
  labels: { severity: string };
  annotations: { summary: string; description: string; runbook: string };
}

const rules: AlertRule[] = (
  parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ rules: AlertRule[] }> }
).groups.flatMap((g) => g.rules);

interface ToolRun {
  code: number;
  stdout: string;
  /** stdout and stderr. */
  output: string;
}

function promtool(args: string[]): Promise<ToolRun> {
  return runTool(prometheusTool('promtool'), args);
}

function amtool(args: string[]): Promise<ToolRun> {
  return runTool(alertmanagerTool('amtool'), args);
}

function runTool(tool: Promise<string>, args: string[]): Promise<ToolRun> {
  return tool.then(
    (binary) =>
      new Promise((resolve) => {
        execFile(binary, args, (error, stdout, stderr) =>
          resolve({ code: error == null ? 0 : Number(error.code ?? 1), stdout, output: `${stdout}${stderr}` }),
        );
      }),
  );
}

/** GitHub's anchor for a Markdown heading. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

describe('the alerting rules (config/prometheus-alerts.yml)', () => {
  it('load in promtool, and each has a severity, a summary, and a runbook section in docs/alerts.md', async () => {
    const checked = await promtool(['check', 'rules', RULES_FILE]);
    expect(checked.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(checked.code).toBe(0);
    const anchors = new Set(
      readFileSync(ALERTS_DOC, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('#'))
        .map((line) => anchor(line.replace(/^#+/, ''))),
    );
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toMatch(/\{\{ \$labels\.instance \}\}/);
      // Descriptions say what to do, the same for every instance: no templates (the unit tests
      // below compare them as written).
      expect(rule.annotations.description, rule.alert).not.toContain('{{');
      expect(rule.annotations.runbook, rule.alert).toMatch(/^docs\/alerts\.md#/);
      expect(anchors, `${rule.alert}: ${rule.annotations.runbook}`).toContain(
        rule.annotations.runbook.slice('docs/alerts.md#'.length),
      );
    }
  });

  it('fire on the series they are written for and stay silent on the others (promtool test rules)', async () => {
    for (const rule of rules) {
      const cases = ALERT_CASES.filter((c) => c.alert === rule.alert);
      expect(
        cases.some((c) => c.fires.length > 0),
        `${rule.alert} has a case where it fires`,
      ).toBe(true);
      expect(
        cases.some((c) => c.fires.length === 0),
        `${rule.alert} has a case where it stays silent`,
      ).toBe(true);
    }
    const byName = new Map(rules.map((r) => [r.alert, r]));
    const tests = ALERT_CASES.map((c) => {
      const rule = byName.get(c.alert);
      if (rule == null) throw new Error(`a case for ${c.alert}, which is not a rule`);
      return {
        name: `${c.alert}: ${c.what}`,
        interval: '1m',
        input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: c.fires.map((f) => ({
              exp_labels: { ...f.labels, severity: rule.labels.severity },
              exp_annotations: {
                summary: f.summary,
                description: rule.annotations.description,
                runbook: rule.annotations.runbook,
              },
            })),
          },
        ],
      };
    });
    const dir = await mkdtemp(join(tmpdir(), 'meadow-alert-cases-'));
    try {
      const file = join(dir, 'alerts.test.yml');
      await writeFile(file, stringifyYaml({ rule_files: [RULES_FILE], evaluation_interval: '1m', tests }));
      const result = await promtool(['test', 'rules', file]);
      expect(result.output).toContain('SUCCESS');
      expect(result.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The alert names an inhibition's matchers select (`alertname="A"` or `alertname=~"A|B"`). */
function alertNames(matchers: string[]): string[] {
  return matchers.flatMap((m) => m.match(/^alertname=~?"(.+)"$/)?.[1]?.split('|') ?? []);
}

describe('where alerts go (config/alertmanager.example.yml)', () => {
  const config = parseYaml(readFileSync(ALERTMANAGER_CONFIG, 'utf8')) as AlertmanagerConfig;

  it('loads in amtool, and its inhibitions name alerts that exist', async () => {
    const checked = await amtool(['check-config', ALERTMANAGER_CONFIG]);
    expect(checked.output, checked.output).toContain('SUCCESS');
    expect(checked.code).toBe(0);
    const names = new Set(rules.map((r) => r.alert));
    const named = config.inhibit_rules.flatMap((rule) =>
      alertNames([...rule.source_matchers, ...rule.target_matchers]),
    );
    expect(named.length).toBeGreaterThan(8);
    for (const name of named) expect(names, name).toContain(name);
    // Nothing holds back a page.
    const severity = new Map(rules.map((r) => [r.alert, r.labels.severity]));
    for (const name of config.inhibit_rules.flatMap((rule) => alertNames(rule.target_matchers)))
      expect(severity.get(name), name).not.toBe('critical');
  });

  it('routes every Meadow alert by its severity: critical pages, warning is for today, info goes in a digest', async () => {
    for (const rule of rules) {
      const routed = await amtool([
        'config',
        'routes',
        'test',
        `--config.file=${ALERTMANAGER_CONFIG}`,
        `alertname=${rule.alert}`,
        `severity=${rule.labels.severity}`,
        'instance=gw.example:9090',
      ]);
      expect(routed.code, routed.output).toBe(0);
      expect(routed.stdout.trim(), rule.alert).toBe(RECEIVER_BY_SEVERITY[rule.labels.severity]);
    }
  });

  it('in a real Alertmanager, inhibits what another alert explains for the same process only, and notifies each receiver', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meadow-alertmanager-'));
    const webhook = await webhookReceiver();
    let alertmanager: AlertmanagerServer | undefined;
    try {
      alertmanager = await runAlertmanager(dir, alertmanagerConfigFor(webhook.url));
      const alert = (alertname: string, instance: string) => {
        const rule = rules.find((r) => r.alert === alertname);
        if (rule == null) throw new Error(`no rule ${alertname}`);
        const job =
          alertname.startsWith('MeadowRelay') || alertname.startsWith('MeadowDht') ? 'meadow-relay' : 'meadow-gateway';
        return {
          labels: { alertname, instance, job, severity: rule.labels.severity },
          annotations: { runbook: rule.annotations.runbook },
        };
      };
      const raised = [
        alert('MeadowGatewayNoRoutableRelays', 'gw1:9090'),
        alert('MeadowGatewayTunnelFailures', 'gw1:9090'), // explained by the one above
        alert('MeadowGatewayRelayPoolShrinking', 'gw1:9090'), // the same
        alert('MeadowGatewayTunnelFailures', 'gw2:9090'), // another gateway: news
        alert('MeadowGatewayTlsCertificateExpired', 'gw2:9090'),
        alert('MeadowGatewayTlsCertificateExpiring', 'gw2:9090'), // past expiring
        alert('MeadowGatewayTlsCertificateExpiring', 'gw3:9090'),
        alert('MeadowDhtRoutingTableEmpty', 'relay1:7070'),
        alert('MeadowRelayNoGatewayLinks', 'relay1:7070'), // cannot find gateways without the DHT
        alert('MeadowRelayNoGatewayLinks', 'relay2:7070'),
        alert('MeadowGatewayAuthFailures', 'gw1:9090'),
        alert('MeadowGatewayAuthFailures', 'gw2:9090'),
      ];
      await alertmanager.post(raised);
      const key = (labels: Record<string, string>) => `${labels.alertname} ${labels.instance}`;
      const inhibited = [
        'MeadowGatewayTunnelFailures gw1:9090',
        'MeadowGatewayRelayPoolShrinking gw1:9090',
        'MeadowGatewayTlsCertificateExpiring gw2:9090',
        'MeadowRelayNoGatewayLinks relay1:7070',
      ];
      await waitFor(
        async () =>
          (await alertmanager?.alerts())?.filter((a) => a.status.state === 'suppressed').length === inhibited.length,
        15_000,
        'the inhibitions applied',
      );
      const states = Object.fromEntries((await alertmanager.alerts()).map((a) => [key(a.labels), a.status.state]));
      expect(states).toEqual(
        Object.fromEntries(
          raised.map((a) => [key(a.labels), inhibited.includes(key(a.labels)) ? 'suppressed' : 'active']),
        ),
      );

      // Each active alert reaches its severity's receiver, once, with its runbook; inhibited ones reach none.
      const expected = raised.filter((a) => !inhibited.includes(key(a.labels)));
      const delivered = () => webhook.notifications.flatMap((n) => n.alerts.map((a) => ({ path: n.path, ...a })));
      await waitFor(async () => delivered().length >= expected.length, 20_000, 'every active alert delivered');
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // nothing more arrives
      expect(
        delivered()
          .map((d) => `${d.path} ${key(d.labels)}`)
          .sort(),
      ).toEqual(expected.map((a) => `/${RECEIVER_BY_SEVERITY[a.labels.severity]} ${key(a.labels)}`).sort());
      for (const d of delivered()) expect(d.annotations.runbook, key(d.labels)).toMatch(/^docs\/alerts\.md#/);
      // Info is grouped by alert name only: both gateways' failed logins in one digest.
      const digests = webhook.notifications.filter((n) => n.path === '/meadow-digest');
      expect(digests.map((n) => [n.groupLabels, n.alerts.length])).toEqual([
        [{ alertname: 'MeadowGatewayAuthFailures' }, 2],
      ]);
    } finally {
      await alertmanager?.stop();
      await webhook.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the alerting rules on a real network scraped by Prometheus with config/prometheus.example.yml', () => {
  let dir: string;
  let net: LocalNetwork;
  let deaf: LocalRelay;
  let prometheus: PrometheusServer;
  let alertmanager: AlertmanagerServer;
  let webhook: Awaited<ReturnType<typeof webhookReceiver>>;
  const hostPort = (url: string) => new URL(url).host;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meadow-alerts-'));
    // A week left on the https port's certificate: the expiry alert must fire on the real gauge.
    const certificate = await selfSignedCertificate(dir, 'meadow-test', '', 7);
    net = await startLocalNetwork({
      dir,
      relays: 1,
      countries: ['DE'],
      adminToken: 'alerts-test-admin-token-0123456789',
      gatewayConfig: {
        https: {
          host: '127.0.0.1',
          port: await freePort(),
          certFile: certificate.certFile,
          keyFile: certificate.keyFile,
        },
      },
    });
    const silentDns = await startDnsServer();
    await silentDns.close(); // nothing answers on its port now
    deaf = await net.addRelay({ country: 'SE', config: { dns: { servers: [silentDns.address] } } });
    await net.waitForRoutableRelays(2, 60_000);

    // The operators' example config, with this network's targets and token, scraping every second.
    const config = parseYaml(readFileSync(EXAMPLE_CONFIG, 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
      scrape_configs: Array<{
        job_name: string;
        authorization?: { credentials_file: string };
        static_configs: Array<{ targets: string[] }>;
      }>;
    };
    expect(config.rule_files).toEqual(['prometheus-alerts.yml']);
    config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    config.rule_files = [RULES_FILE];
    // Firing alerts go to a real Alertmanager running config/alertmanager.example.yml.
    webhook = await webhookReceiver();
    alertmanager = await runAlertmanager(dir, alertmanagerConfigFor(webhook.url));
    expect(config.alerting.alertmanagers).toHaveLength(1);
    config.alerting.alertmanagers[0] = { static_configs: [{ targets: [alertmanager.hostPort] }] };
    const targets: Record<string, string[]> = {
      'meadow-gateway': [hostPort(net.gateway.adminUrl)],
      'meadow-relay': [...net.relays, deaf].map((r) => hostPort(r.statusUrl)),
      'meadow-bootstrap': [hostPort(net.bootstrap.metricsUrl)],
    };
    expect(config.scrape_configs.map((j) => j.job_name).sort()).toEqual(Object.keys(targets).sort());
    for (const job of config.scrape_configs) {
      job.static_configs = [{ targets: targets[job.job_name] ?? [] }];
      if (job.authorization != null) job.authorization.credentials_file = join(dir, 'admin.token');
    }
    const configText = stringifyYaml(config);
    const configFile = join(dir, 'prometheus-check.yml');
    await writeFile(configFile, configText);
    const checked = await promtool(['check', 'config', configFile]);
    expect(checked.code, checked.output).toBe(0);
    prometheus = await runPrometheus(dir, configText);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await webhook?.close();
    await net?.stop();
    if (dir != null) await rm(dir, { recursive: true, force: true });
  });

  const active = async (alert: string): Promise<ActiveAlert[]> =>
    (await prometheus.alerts()).filter((a) => a.labels.alertname === alert);

  /** Waits until `alert` is pending or firing for `instance`, and returns it. */
  async function raised(alert: string, instance: string, timeoutMs = 30_000): Promise<ActiveAlert> {
    let found: ActiveAlert | undefined;
    await waitFor(
      async () => {
        found = (await active(alert)).find((a) => a.labels.instance === instance);
        return found != null;
      },
      timeoutMs,
      `${alert} for ${instance}`,
    );
    return found as ActiveAlert;
  }

  it('scrapes every process (the gateway with its admin token), and every series the rules read is there before the first tunnel', async () => {
    await waitFor(async () => (await prometheus.query('up == 1')).length === 4, 30_000, 'four targets up');
    const exported = new Set(
      (await prometheus.query('group by (__name__) ({__name__=~"meadow_.+"})')).map((s) => s.labels.__name__),
    );
    const read = new Set(rules.flatMap((r) => r.expr.match(/\bmeadow_[a-z0-9_]+/g) ?? []));
    expect(read.size).toBeGreaterThan(15);
    // The set-up histogram has no series before its first tunnel; its alert wants 100 tunnels anyway.
    for (const name of read)
      if (!name.startsWith('meadow_gateway_tunnel_setup_seconds')) expect(exported, name).toContain(name);
    // `increase()` cannot see a series' first sample: the failures the alerts count must be at 0
    // before they first happen, or the first one would raise nothing.
    expect(await prometheus.query('meadow_gateway_tunnels_total{result="MEADOW_ERR_INTERNAL"} == 0')).toHaveLength(3);
    expect(await prometheus.query('meadow_relay_tunnels_total{result="MEADOW_ERR_TARGET_TIMEOUT"} == 0')).toHaveLength(
      2,
    );
    expect(await prometheus.query('meadow_relay_receipts_total{result="signed_under_protest"} == 0')).toHaveLength(2);
    expect(await prometheus.query('meadow_gateway_receipts_total{result="disputed"} == 0')).toHaveLength(1);
    expect(await prometheus.query('meadow_gateway_auth_failures_total == 0')).toHaveLength(3);
  });

  it('evaluates every rule without an error, the set-up histogram included once a tunnel has opened', async () => {
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    const res = await curl([
      '-x',
      proxy,
      '--proxy-user',
      `${net.customer.name}:${net.customer.apiKey}`,
      net.origin.url,
    ]);
    expect(res.status).toBe(200);
    await waitFor(
      async () => (await prometheus.query('meadow_gateway_tunnel_setup_seconds_count > 0')).length > 0,
      30_000,
      'the tunnel in the series',
    );
    await waitFor(
      async () => (await prometheus.rules()).every((r) => r.health !== 'unknown'),
      30_000,
      'every rule evaluated',
    );
    for (const rule of await prometheus.rules())
      expect({ rule: rule.name, health: rule.health, lastError: rule.lastError ?? '' }).toEqual({
        rule: rule.name,
        health: 'ok',
        lastError: '',
      });
  });

  it('raises nothing on a healthy network but the certificate that expires within two weeks', async () => {
    // A few evaluations after every target is up and the pool is full.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const alerts = await prometheus.alerts();
    expect(alerts.map((a) => `${a.labels.alertname} ${a.state}`)).toEqual([
      'MeadowGatewayTlsCertificateExpiring firing',
    ]);
    expect(alerts[0]?.annotations.summary).toMatch(
      new RegExp(
        `^The TLS certificate of gateway ${hostPort(net.gateway.adminUrl)}'s https proxy port expires in 6d 23h`,
      ),
    );
  });

  it("sends that alert through Alertmanager to the warning receiver, with Prometheus's labels and the runbook", async () => {
    await waitFor(async () => webhook.notifications.length > 0, 30_000, 'a notification from Alertmanager');
    const [notification] = webhook.notifications;
    expect(notification).toMatchObject({
      path: '/meadow-today',
      receiver: 'meadow-today',
      status: 'firing',
      groupLabels: { alertname: 'MeadowGatewayTlsCertificateExpiring', instance: hostPort(net.gateway.adminUrl) },
    });
    expect(notification?.alerts).toHaveLength(1);
    expect(notification?.alerts[0]?.labels).toEqual({
      alertname: 'MeadowGatewayTlsCertificateExpiring',
      instance: hostPort(net.gateway.adminUrl),
      job: 'meadow-gateway',
      severity: 'warning',
    });
    expect(notification?.alerts[0]?.annotations.runbook).toBe('docs/alerts.md#meadowgatewaytlscertificateexpiring');
    expect(webhook.notifications.map((n) => n.groupLabels.alertname)).toEqual(['MeadowGatewayTlsCertificateExpiring']);
  });

  it('runs every query of the Grafana dashboard, whose alerts table lists what Prometheus raised', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const results = new Map<string, Awaited<ReturnType<PrometheusServer['query']>>>();
    for (const panel of dashboard.panels)
      for (const target of panel.targets ?? [])
        results.set(`${panel.title}: ${target.expr}`, await prometheus.query(target.expr));
    expect(results.size).toBeGreaterThan(20);
    const table = [...results].find(([key]) => key.startsWith('Meadow alerts raised now'))?.[1];
    expect(table?.map((row) => row.labels)).toEqual([
      {
        alertname: 'MeadowGatewayTlsCertificateExpiring',
        alertstate: 'firing',
        severity: 'warning',
        job: 'meadow-gateway',
        instance: hostPort(net.gateway.adminUrl),
      },
    ]);
  });

  it('raises MeadowRelayDnsNotAnswering for the relay whose DNS servers are silent', async () => {
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    // Names pinned to the relay in SE: its DNS health turns once the servers have been silent 10 s.
    await waitFor(
      async () => {
        const res = await curl([
          '-x',
          proxy,
          '--proxy-user',
          `${net.customer.name}-country-se:${net.customer.apiKey}`,
          `http://site.meadow.test:${net.origin.port}/`,
        ]);
        return res.status === 503;
      },
      40_000,
      'the relay in SE refusing names',
    );
    const alert = await raised('MeadowRelayDnsNotAnswering', hostPort(deaf.statusUrl));
    expect(alert.labels).toMatchObject({ job: 'meadow-relay', severity: 'warning' });
    expect(alert.annotations.summary).toBe(`The DNS servers of relay ${hostPort(deaf.statusUrl)} do not answer`);
  });

  it('raises MeadowRelayDown for a stopped relay, and MeadowGatewayNoRoutableRelays once the other pauses', async () => {
    const stopped = net.relays[0] as LocalRelay;
    await stopped.service.stop();
    const down = await raised('MeadowRelayDown', hostPort(stopped.statusUrl));
    expect(down.labels.job).toBe('meadow-relay');
    expect(await active('MeadowGatewayNoRoutableRelays')).toEqual([]);

    const paused = await runMeadow(['relay', 'pause', '--config', deaf.configPath]);
    expect(paused.code, paused.stderr).toBe(0);
    const none = await raised('MeadowGatewayNoRoutableRelays', hostPort(net.gateway.adminUrl));
    expect(none.labels).toMatchObject({ job: 'meadow-gateway', role: 'gateway', severity: 'critical' });
    // A paused relay is the household's choice: it is no relay without a gateway.
    expect(await active('MeadowRelayNoGatewayLinks')).toEqual([]);

    const resumed = await runMeadow(['relay', 'resume', '--config', deaf.configPath]);
    expect(resumed.code, resumed.stderr).toBe(0);
    await waitFor(async () => (await active('MeadowGatewayNoRoutableRelays')).length === 0, 30_000, 'the pool back');
  });

  it('raises MeadowGatewayDown, and MeadowRelayNoGatewayLinks for the relay left without it', async () => {
    await net.gateway.service.stop();
    const down = await raised('MeadowGatewayDown', hostPort(net.gateway.adminUrl));
    expect(down.labels.severity).toBe('critical');
    const alone = await raised('MeadowRelayNoGatewayLinks', hostPort(deaf.statusUrl));
    expect(alone.state).toBe('pending');
  });
});

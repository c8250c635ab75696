/**
 * Synthetic series for `promtool test rules`, one minute apart: for each alert in
 * config/prometheus-alerts.yml, cases where it must fire (with the labels and the summary it must
 * carry) and cases where it must stay silent. Values use promtool's notation: `0+10x20` is 0, 10,
 * 20, … for 21 samples; `1x5` is 1 six times.
 */
export interface AlertCase {
  alert: string;
  /** What the case shows, as promtool's test name. */
  what: string;
  series: Record<string, string>;
  /** When the alert is evaluated, e.g. '20m'. */
  at: string;
  /** The alerts that must be firing at `at` (severity comes from the rule); none for a silent case. */
  fires: Array<{ labels: Record<string, string>; summary: string }>;
}

const GW = 'job="meadow-gateway",instance="gw-1:9090"';
const RELAY = 'job="meadow-relay",instance="relay-1:7070"';
const gw = { job: 'meadow-gateway', instance: 'gw-1:9090' };
const relay = { job: 'meadow-relay', instance: 'relay-1:7070' };

export const ALERT_CASES: AlertCase[] = [
  {
    alert: 'MeadowGatewayDown',
    what: 'a gateway that stopped answering scrapes two minutes ago',
    series: { [`up{${GW}}`]: '1 1 0x5' },
    at: '4m',
    fires: [{ labels: gw, summary: 'Gateway gw-1:9090 does not answer Prometheus' }],
  },
  {
    alert: 'MeadowGatewayDown',
    what: 'scrapes that fail once in a while',
    series: { [`up{${GW}}`]: '1 1 1 0 1 1 0 1' },
    at: '7m',
    fires: [],
  },
  {
    alert: 'MeadowRelayDown',
    what: 'a relay down for seven minutes',
    series: { [`up{${RELAY}}`]: '1 0x10' },
    at: '8m',
    fires: [{ labels: relay, summary: 'Relay relay-1:7070 does not answer Prometheus' }],
  },
  {
    alert: 'MeadowRelayDown',
    what: 'a relay down for four minutes (a restart, an update)',
    series: { [`up{${RELAY}}`]: '1 0x10' },
    at: '5m',
    fires: [],
  },
  {
    alert: 'MeadowBootstrapDown',
    what: 'a bootstrap node down for seven minutes',
    series: { 'up{job="meadow-bootstrap",instance="boot-1:9464"}': '1 0x10' },
    at: '8m',
    fires: [
      {
        labels: { job: 'meadow-bootstrap', instance: 'boot-1:9464' },
        summary: 'Bootstrap node boot-1:9464 does not answer Prometheus',
      },
    ],
  },
  {
    alert: 'MeadowBootstrapDown',
    what: 'a bootstrap node that answers',
    series: { 'up{job="meadow-bootstrap",instance="boot-1:9464"}': '1x10' },
    at: '8m',
    fires: [],
  },
  {
    alert: 'MeadowDhtRoutingTableEmpty',
    what: 'one relay of two lost every DHT peer',
    series: {
      [`meadow_dht_routing_table_peers{${RELAY}}`]: '3 0x10',
      'meadow_dht_routing_table_peers{job="meadow-relay",instance="relay-2:7070"}': '3x10',
    },
    at: '8m',
    fires: [{ labels: relay, summary: 'meadow-relay relay-1:7070 knows no DHT peers' }],
  },
  {
    alert: 'MeadowDhtRoutingTableEmpty',
    what: 'a routing table empty for two minutes while the node starts',
    series: { [`meadow_dht_routing_table_peers{${RELAY}}`]: '0 0 0 2 2 2 2 2 2' },
    at: '8m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayNoRoutableRelays',
    what: 'one gateway of two without a pool series; a relay has build info too and is no gateway',
    series: {
      [`meadow_build_info{${GW},role="gateway",version="0.1.0"}`]: '1x10',
      'meadow_build_info{job="meadow-gateway",instance="gw-2:9090",role="gateway",version="0.1.0"}': '1x10',
      'meadow_gateway_relay_pool_size{job="meadow-gateway",instance="gw-2:9090",country="DE"}': '4x10',
      [`meadow_build_info{${RELAY},role="relay",version="0.1.0"}`]: '1x10',
    },
    at: '5m',
    fires: [
      {
        labels: { ...gw, role: 'gateway', version: '0.1.0' },
        summary: 'Gateway gw-1:9090 has no relay to send tunnels through',
      },
    ],
  },
  {
    alert: 'MeadowGatewayNoRoutableRelays',
    what: 'a gateway with relays in one country',
    series: {
      [`meadow_build_info{${GW},role="gateway",version="0.1.0"}`]: '1x10',
      [`meadow_gateway_relay_pool_size{${GW},country="SE"}`]: '1x10',
    },
    at: '5m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayRelayPoolShrinking',
    what: 'twelve routable relays, then five',
    series: {
      [`meadow_gateway_relay_pool_size{${GW},country="DE"}`]: '10x30 3x30',
      [`meadow_gateway_relay_pool_size{${GW},country="FR"}`]: '2x61',
    },
    at: '45m',
    fires: [
      {
        labels: gw,
        summary: 'Gateway gw-1:9090 has 5 routable relays, fewer than half of the most it had within the hour',
      },
    ],
  },
  {
    alert: 'MeadowGatewayRelayPoolShrinking',
    what: 'twelve routable relays, then seven',
    series: {
      [`meadow_gateway_relay_pool_size{${GW},country="DE"}`]: '10x30 5x30',
      [`meadow_gateway_relay_pool_size{${GW},country="FR"}`]: '2x61',
    },
    at: '45m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayTunnelFailures',
    what: 'one tunnel in eleven ends with MEADOW_ERR_NO_RELAY',
    series: {
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="ok"}`]: '0+100x20',
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="MEADOW_ERR_NO_RELAY"}`]: '0+10x20',
    },
    at: '18m',
    fires: [{ labels: gw, summary: "9.091% of the tunnels through gateway gw-1:9090 fail on the network's side" }],
  },
  {
    alert: 'MeadowGatewayTunnelFailures',
    what: "failures that are the customer's, the website's or the household's choice",
    series: {
      [`meadow_gateway_tunnels_total{${GW},protocol="http-connect",result="ok"}`]: '0+100x20',
      [`meadow_gateway_tunnels_total{${GW},protocol="http-connect",result="MEADOW_ERR_AUTH_REQUIRED"}`]: '0+30x20',
      [`meadow_gateway_tunnels_total{${GW},protocol="http-connect",result="MEADOW_ERR_TARGET_TIMEOUT"}`]: '0+30x20',
      [`meadow_gateway_tunnels_total{${GW},protocol="http-connect",result="MEADOW_ERR_DNS_FAILED"}`]: '0+30x20',
      [`meadow_gateway_tunnels_total{${GW},protocol="http-connect",result="MEADOW_ERR_RELAY_DECLINED"}`]: '0+30x20',
    },
    at: '18m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayTunnelFailures',
    what: 'half of very few tunnels failing',
    series: {
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="ok"}`]: '0+2x20',
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="MEADOW_ERR_RELAY_LOST"}`]: '0+2x20',
    },
    at: '18m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayInternalErrors',
    what: 'one internal error two minutes ago',
    series: {
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="ok"}`]: '0+10x40',
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="MEADOW_ERR_INTERNAL"}`]: '0 0 0 1x40',
    },
    at: '5m',
    fires: [{ labels: gw, summary: 'Gateway gw-1:9090 answered MEADOW_ERR_INTERNAL within the last 15 minutes' }],
  },
  {
    alert: 'MeadowGatewayInternalErrors',
    what: 'the same error, twenty-two minutes later',
    series: {
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="ok"}`]: '0+10x40',
      [`meadow_gateway_tunnels_total{${GW},protocol="socks5",result="MEADOW_ERR_INTERNAL"}`]: '0 0 0 1x40',
    },
    at: '25m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayMeteringUnavailable',
    what: 'metering down for two minutes',
    series: { [`meadow_gateway_metering_available{${GW}}`]: '1 1 0x5' },
    at: '4m',
    fires: [{ labels: gw, summary: 'Gateway gw-1:9090 refuses all traffic: it cannot record usage' }],
  },
  {
    alert: 'MeadowGatewayMeteringUnavailable',
    what: 'metering back after a blip',
    series: { [`meadow_gateway_metering_available{${GW}}`]: '1 0 1x5' },
    at: '4m',
    fires: [],
  },
  {
    alert: 'MeadowGatewaySessionStoreFailing',
    what: 'every lookup failing, three a minute',
    series: {
      [`meadow_gateway_session_store_failures_total{${GW},operation="lookup"}`]: '0+3x20',
      [`meadow_gateway_session_store_failures_total{${GW},operation="claim"}`]: '0x20',
    },
    at: '10m',
    fires: [
      {
        labels: gw,
        summary: 'Gateway gw-1:9090 cannot use its shared session store: requests that name a sticky session get 503',
      },
    ],
  },
  {
    alert: 'MeadowGatewaySessionStoreFailing',
    what: 'three failures in one minute, then none (a database restart)',
    series: { [`meadow_gateway_session_store_failures_total{${GW},operation="lookup"}`]: '0 0 3x20' },
    at: '5m',
    fires: [],
  },
  {
    alert: 'MeadowGatewaySlowTunnelSetup',
    what: 'nine tunnels in ten take 2.5 to 5 s to open',
    series: {
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="1"}`]: '0+10x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="2.5"}`]: '0+10x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="5"}`]: '0+100x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="10"}`]: '0+100x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="+Inf"}`]: '0+100x40',
      [`meadow_gateway_tunnel_setup_seconds_count{${GW},protocol="socks5"}`]: '0+100x40',
    },
    at: '30m',
    // The 90th percentile, interpolated in the (2.5, 5] bucket: 2.5 + (90 - 10) / 90 × 2.5.
    fires: [{ labels: gw, summary: 'Tunnels through gateway gw-1:9090 take 4.722s to open (90th percentile)' }],
  },
  {
    alert: 'MeadowGatewaySlowTunnelSetup',
    what: 'nineteen tunnels in twenty open within a second',
    series: {
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="1"}`]: '0+95x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="2.5"}`]: '0+95x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="5"}`]: '0+100x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="10"}`]: '0+100x40',
      [`meadow_gateway_tunnel_setup_seconds_bucket{${GW},protocol="socks5",le="+Inf"}`]: '0+100x40',
      [`meadow_gateway_tunnel_setup_seconds_count{${GW},protocol="socks5"}`]: '0+100x40',
    },
    at: '30m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayReceiptsDisputed',
    what: 'one receipt in eleven disputed (unreachable relays do not count)',
    series: {
      [`meadow_gateway_receipts_total{${GW},result="signed"}`]: '0+10x60',
      [`meadow_gateway_receipts_total{${GW},result="disputed"}`]: '0+1x60',
      [`meadow_gateway_receipts_total{${GW},result="unreachable"}`]: '0+50x60',
    },
    at: '30m',
    fires: [{ labels: gw, summary: "Relays dispute or refuse 9.091% of gateway gw-1:9090's receipts" }],
  },
  {
    alert: 'MeadowGatewayReceiptsDisputed',
    what: 'receipts signed, or not asked for because relays are gone',
    series: {
      [`meadow_gateway_receipts_total{${GW},result="signed"}`]: '0+10x60',
      [`meadow_gateway_receipts_total{${GW},result="unreachable"}`]: '0+50x60',
      [`meadow_gateway_receipts_total{${GW},result="failed"}`]: '0+5x60',
    },
    at: '30m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayAuthFailures',
    what: 'two rejected logins a second for twenty minutes',
    series: { [`meadow_gateway_auth_failures_total{${GW},protocol="socks5"}`]: '0+120x30' },
    at: '25m',
    fires: [{ labels: gw, summary: 'Gateway gw-1:9090 rejects 2 proxy logins a second' }],
  },
  {
    alert: 'MeadowGatewayAuthFailures',
    what: 'one rejected login every two seconds',
    series: { [`meadow_gateway_auth_failures_total{${GW},protocol="socks5"}`]: '0+30x30' },
    at: '25m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayBackgroundTaskFailing',
    what: 'a task failing on every retry',
    series: {
      [`meadow_gateway_background_task_failures_total{${GW},task="advertise"}`]: '0+8x30',
      [`meadow_gateway_background_task_failures_total{${GW},task="health_check"}`]: '0x30',
    },
    at: '20m',
    fires: [
      {
        labels: { ...gw, task: 'advertise' },
        summary: 'Gateway gw-1:9090: background task advertise keeps failing',
      },
    ],
  },
  {
    alert: 'MeadowGatewayBackgroundTaskFailing',
    what: 'a task that failed once and then worked',
    series: { [`meadow_gateway_background_task_failures_total{${GW},task="health_check"}`]: '0 1x30' },
    at: '20m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayTlsCertificateExpiring',
    what: 'a certificate that expires in ten days',
    series: { [`meadow_gateway_tls_certificate_expiry_timestamp_seconds{${GW}}`]: '864000x5' },
    at: '1m',
    fires: [
      {
        labels: gw,
        summary: "The TLS certificate of gateway gw-1:9090's https proxy port expires in 9d 23h 59m 0s",
      },
    ],
  },
  {
    alert: 'MeadowGatewayTlsCertificateExpiring',
    what: 'a certificate good for thirty days',
    series: { [`meadow_gateway_tls_certificate_expiry_timestamp_seconds{${GW}}`]: '2592000x5' },
    at: '1m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayTlsCertificateExpired',
    what: 'a certificate that expired a minute ago',
    series: { [`meadow_gateway_tls_certificate_expiry_timestamp_seconds{${GW}}`]: '60x5' },
    at: '2m',
    fires: [{ labels: gw, summary: "The TLS certificate of gateway gw-1:9090's https proxy port has expired" }],
  },
  {
    alert: 'MeadowGatewayTlsCertificateExpired',
    what: 'a certificate that expires in ten days',
    series: { [`meadow_gateway_tls_certificate_expiry_timestamp_seconds{${GW}}`]: '864000x5' },
    at: '1m',
    fires: [],
  },
  {
    alert: 'MeadowGatewayCountryMismatches',
    what: 'a relay pooled under its GeoIP country',
    series: { [`meadow_gateway_country_mismatches_total{${GW}}`]: '0 0 1x5' },
    at: '4m',
    fires: [
      {
        labels: gw,
        summary: 'Relays linked to gateway gw-1:9090 claim countries their addresses are not in',
      },
    ],
  },
  {
    alert: 'MeadowGatewayCountryMismatches',
    what: 'every relay where it says it is',
    series: { [`meadow_gateway_country_mismatches_total{${GW}}`]: '0x10' },
    at: '4m',
    fires: [],
  },
  {
    alert: 'MeadowRelayNoGatewayLinks',
    what: 'a serving relay without a gateway for fifteen minutes',
    series: {
      [`meadow_relay_gateway_links{${RELAY}}`]: '0x20',
      [`meadow_relay_state{${RELAY},state="serving"}`]: '1x20',
      [`meadow_relay_state{${RELAY},state="paused"}`]: '0x20',
    },
    at: '15m',
    fires: [{ labels: relay, summary: 'Relay relay-1:7070 is serving but linked to no gateway' }],
  },
  {
    alert: 'MeadowRelayNoGatewayLinks',
    what: 'a relay the household paused',
    series: {
      [`meadow_relay_gateway_links{${RELAY}}`]: '0x20',
      [`meadow_relay_state{${RELAY},state="serving"}`]: '0x20',
      [`meadow_relay_state{${RELAY},state="paused"}`]: '1x20',
    },
    at: '15m',
    fires: [],
  },
  {
    alert: 'MeadowRelayDnsNotAnswering',
    what: 'DNS servers silent for four minutes',
    series: { [`meadow_relay_dns_servers_answering{${RELAY}}`]: '1 0x10' },
    at: '5m',
    fires: [{ labels: relay, summary: 'The DNS servers of relay relay-1:7070 do not answer' }],
  },
  {
    alert: 'MeadowRelayDnsNotAnswering',
    what: 'DNS servers that came back',
    series: { [`meadow_relay_dns_servers_answering{${RELAY}}`]: '1 0 0 1 1 0 1' },
    at: '6m',
    fires: [],
  },
  {
    alert: 'MeadowRelayEgressFailing',
    what: 'two websites in three unreachable or timing out',
    series: {
      [`meadow_relay_tunnels_total{${RELAY},result="ok"}`]: '0+10x20',
      [`meadow_relay_tunnels_total{${RELAY},result="MEADOW_ERR_TARGET_TIMEOUT"}`]: '0+15x20',
      [`meadow_relay_tunnels_total{${RELAY},result="MEADOW_ERR_TARGET_UNREACHABLE"}`]: '0+5x20',
    },
    at: '15m',
    fires: [{ labels: relay, summary: '66.67% of the websites relay relay-1:7070 tries cannot be reached' }],
  },
  {
    alert: 'MeadowRelayEgressFailing',
    what: 'names that do not exist and websites that refuse',
    series: {
      [`meadow_relay_tunnels_total{${RELAY},result="ok"}`]: '0+10x20',
      [`meadow_relay_tunnels_total{${RELAY},result="MEADOW_ERR_DNS_FAILED"}`]: '0+20x20',
      [`meadow_relay_tunnels_total{${RELAY},result="MEADOW_ERR_TARGET_REFUSED"}`]: '0+20x20',
    },
    at: '15m',
    fires: [],
  },
  {
    alert: 'MeadowRelayReceiptsDisputed',
    what: 'a receipt signed under protest',
    series: {
      [`meadow_relay_receipts_total{${RELAY},result="signed"}`]: '0+1x60',
      [`meadow_relay_receipts_total{${RELAY},result="signed_under_protest"}`]: '0 0 0 1x60',
    },
    at: '10m',
    fires: [
      { labels: relay, summary: "Relay relay-1:7070 disputed a gateway's count of its bytes within the last hour" },
    ],
  },
  {
    alert: 'MeadowRelayReceiptsDisputed',
    what: 'replays and proposals for a closed epoch, refused without harm',
    series: {
      [`meadow_relay_receipts_total{${RELAY},result="signed"}`]: '0+1x60',
      [`meadow_relay_receipts_total{${RELAY},result="refused_stale-seq"}`]: '0+1x60',
      [`meadow_relay_receipts_total{${RELAY},result="refused_closed-epoch"}`]: '0 1x60',
    },
    at: '10m',
    fires: [],
  },
  {
    alert: 'MeadowRelayBackgroundTaskFailing',
    what: 'a relay that cannot find gateways',
    series: { [`meadow_relay_background_task_failures_total{${RELAY},task="find_gateways"}`]: '0+8x30' },
    at: '20m',
    fires: [
      {
        labels: { ...relay, task: 'find_gateways' },
        summary: 'Relay relay-1:7070: background task find_gateways keeps failing',
      },
    ],
  },
  {
    alert: 'MeadowRelayBackgroundTaskFailing',
    what: 'a descriptor published on the second try',
    series: { [`meadow_relay_background_task_failures_total{${RELAY},task="publish_descriptor"}`]: '0 1x30' },
    at: '20m',
    fires: [],
  },
];

/**
 * Gateway metrics: plain numbers kept by the pool and the client sessions,
 * read at scrape time. {@link gatewayMetrics} returns them in the shape
 * `createRegistry(m, { extra })` (src/metrics/metrics.ts) accepts.
 *
 *   mcp_ws_gateway_pool_size                               gauge    sessions open or opening
 *   mcp_ws_gateway_pool_sessions{state}                    gauge    idle | leased | opening
 *   mcp_ws_gateway_pool_waiting                            gauge    clients waiting for a session
 *   mcp_ws_gateway_acquires_total{result}                  counter  warm | cold | timeout
 *   mcp_ws_gateway_upstream_sessions{upstream,state}       gauge    active (leased) | idle
 *   mcp_ws_gateway_upstream_requests_total{upstream}       counter
 *   mcp_ws_gateway_upstream_retries_total{upstream}        counter
 *   mcp_ws_gateway_upstream_errors_total{upstream,kind}    counter  connect | lost | timeout | health | transport
 *   mcp_ws_gateway_upstream_request_duration_seconds{upstream}  histogram
 *   mcp_ws_gateway_upstream_breaker_state{upstream}        gauge    0 closed, 1 half-open, 2 open
 *   mcp_ws_gateway_upstream_breaker_opens_total{upstream}  counter
 *   mcp_ws_gateway_client_sessions_total{outcome}          counter  opened | lost | reestablished
 *   mcp_ws_gateway_request_timeouts_total                  counter
 *   mcp_ws_gateway_client_pending                          gauge    client messages held (backlog, in flight, retrying)
 *   mcp_ws_gateway_client_reads_held_total                 counter  times a client's reading stopped (maxPendingPerClient or upstream congestion)
 *   mcp_ws_gateway_client_overloaded_total                 counter  messages refused past twice maxPendingPerClient (-32018 / 1013)
 */
import type { RegistryOptions } from '../metrics/metrics.js';
import { histogram } from '../metrics/extra-metrics.js';
import { BREAKER_STATE_VALUE } from '../policy/circuit-breaker.js';
import type { GatewayStats } from './gateway-session.js';
import type { UpstreamPool } from './pool.js';
import { UPSTREAM_ERROR_KINDS } from './pool-member.js';

/** One scrape-time metric, as `createRegistry`'s `extra` option takes it. */
export type ExtraMetric = NonNullable<RegistryOptions['extra']>[number];
type MetricValue = ReturnType<ExtraMetric['read']>[number];

/** The gateway's metrics, read from `pool`, `stats` and `pending` whenever scraped. */
export function gatewayMetrics(pool: UpstreamPool, stats: GatewayStats, pending: () => number = () => 0): ExtraMetric[] {
  const members = pool.members;
  const perMember = (read: (m: (typeof members)[number]) => number) => (): MetricValue[] =>
    members.map((m) => ({ labels: { upstream: m.name }, value: read(m) }));
  const duration = 'mcp_ws_gateway_upstream_request_duration_seconds';
  return [
    { name: 'mcp_ws_gateway_pool_size', help: 'Upstream sessions open or opening', type: 'gauge', read: () => [{ value: pool.size }] },
    {
      name: 'mcp_ws_gateway_pool_sessions',
      help: 'Upstream sessions by state',
      type: 'gauge',
      read: () => {
        let opening = 0;
        for (const m of members) opening += m.opening;
        return [
          { labels: { state: 'idle' }, value: pool.idle },
          { labels: { state: 'leased' }, value: pool.leased },
          { labels: { state: 'opening' }, value: opening },
        ];
      },
    },
    { name: 'mcp_ws_gateway_pool_waiting', help: 'Client sessions waiting for an upstream session', type: 'gauge', read: () => [{ value: pool.waiting }] },
    {
      name: 'mcp_ws_gateway_acquires_total',
      help: 'Upstream sessions handed to clients: warm (ready), cold (opened for the client), timeout (none in time)',
      type: 'counter',
      read: () => [
        { labels: { result: 'warm' }, value: pool.stats.acquiredWarm },
        { labels: { result: 'cold' }, value: pool.stats.acquiredCold },
        { labels: { result: 'timeout' }, value: pool.stats.acquireTimeouts },
      ],
    },
    {
      name: 'mcp_ws_gateway_upstream_sessions',
      help: 'Sessions per upstream: active (leased to a client) and idle (warm)',
      type: 'gauge',
      read: () =>
        members.flatMap((m) => [
          { labels: { upstream: m.name, state: 'active' }, value: m.leased },
          { labels: { upstream: m.name, state: 'idle' }, value: m.idle.length },
        ]),
    },
    { name: 'mcp_ws_gateway_upstream_requests_total', help: 'Requests sent upstream', type: 'counter', read: perMember((m) => m.metrics.requests) },
    { name: 'mcp_ws_gateway_upstream_retries_total', help: 'Requests retried upstream', type: 'counter', read: perMember((m) => m.metrics.retries) },
    {
      name: 'mcp_ws_gateway_upstream_errors_total',
      help: 'Upstream errors by kind',
      type: 'counter',
      read: () => members.flatMap((m) => UPSTREAM_ERROR_KINDS.map((kind) => ({ labels: { upstream: m.name, kind }, value: m.metrics.errors[kind] }))),
    },
    histogram(duration, 'Upstream round-trip time of client requests', () => members.map((m) => ({ labels: { upstream: m.name }, h: m.metrics.latency }))),
    {
      name: 'mcp_ws_gateway_upstream_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      type: 'gauge',
      read: perMember((m) => BREAKER_STATE_VALUE[m.breaker.state]),
    },
    {
      name: 'mcp_ws_gateway_upstream_breaker_opens_total',
      help: 'Times the circuit breaker opened',
      type: 'counter',
      read: perMember((m) => m.breaker.toJSON().opens),
    },
    {
      name: 'mcp_ws_gateway_client_sessions_total',
      help: 'Client sessions: opened, lost (closed with 4003), reestablished (moved to a new upstream session)',
      type: 'counter',
      read: () => [
        { labels: { outcome: 'opened' }, value: stats.sessionsOpened },
        { labels: { outcome: 'lost' }, value: stats.sessionsLost },
        { labels: { outcome: 'reestablished' }, value: stats.sessionsReestablished },
      ],
    },
    {
      name: 'mcp_ws_gateway_request_timeouts_total',
      help: 'Client requests answered with an upstream timeout error',
      type: 'counter',
      read: () => [{ value: stats.requestTimeouts }],
    },
    { name: 'mcp_ws_gateway_client_pending', help: 'Client messages the gateway holds: backlogged, in flight or retrying', type: 'gauge', read: () => [{ value: pending() }] },
    {
      name: 'mcp_ws_gateway_client_reads_held_total',
      help: "Times a client's socket stopped being read: maxPendingPerClient reached or its upstream congested",
      type: 'counter',
      read: () => [{ value: stats.clientReadsHeld }],
    },
    {
      name: 'mcp_ws_gateway_client_overloaded_total',
      help: 'Client messages refused past twice maxPendingPerClient (-32018, or close 1013 for a notification)',
      type: 'counter',
      read: () => [{ value: stats.overloadRejections }],
    },
  ];
}

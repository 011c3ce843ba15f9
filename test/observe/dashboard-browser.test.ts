/**
 * The dashboard in real headless Chromium (Debian chromium + playwright-core):
 * the page loads with no console error and no failed request, the charts
 * draw, and the numbers move while a small load runs. A screenshot is kept
 * in test-output/ (not committed); DOCS_SCREENSHOT=1 also refreshes
 * docs/dashboard.png.
 */
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, RawClient, startServer } from '../helpers.js';
import { LlmMetrics, llmMetrics } from '../../src/llm/metrics.js';

const CHROMIUM = '/usr/bin/chromium';

/** The few DOM shapes the page functions use: they run in the browser, and this program has no DOM lib. */
interface El {
  textContent: string | null;
  querySelector(s: string): El | null;
}
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
declare const document: { getElementById(id: string): El | null; querySelectorAll(s: string): ArrayLike<El> & Iterable<El>; querySelector(s: string): unknown };
const root = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'dashboard-browser-token-0123456789abcdef';

afterAll(closeAll);

/** Closed-loop requests from a few sessions until `stop` says so (bounded: at most 20 s). */
async function load(url: string, stop: () => boolean): Promise<number> {
  const clients = await Promise.all(
    [0, 1, 2].map(async () => {
      const c = await RawClient.open(url, ['mcp'], { headers: { Authorization: `Bearer ${TOKEN}` } });
      const r = await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'load', version: '1' } });
      if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r)}`);
      c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      return c;
    }),
  );
  let n = 0;
  const end = Date.now() + 20_000;
  await Promise.all(
    clients.map(async (c, i) => {
      while (!stop() && Date.now() < end) {
        if (i === 2) await c.request('no/such/method');
        else await c.request('tools/call', { name: 'echo', arguments: { text: 'dashboard' } });
        n++;
      }
      c.ws.close();
    }),
  );
  return n;
}

describe('dashboard in headless Chromium', () => {
  const have = existsSync(CHROMIUM);
  if (!have) console.warn(`\n!!! ${CHROMIUM} not found: the dashboard browser test cannot run (apt-get install chromium; CI sets REQUIRE_CHROMIUM=1)\n`);

  it.skipIf(!have && process.env.REQUIRE_CHROMIUM !== '1')('loads without console errors, draws its charts, and its numbers move under load (auth on)', async () => {
    // The LLM streams' counters as `serve --llm` exports them, moved by hand (no provider here), and a backplane gauge as the backplane exports it.
    const llm = new LlmMetrics();
    llm.streamsActive = 2;
    llm.streamsStarted = 5;
    const relay = setInterval(() => (llm.deltasRelayed += 40), 100);
    const backplane = { name: 'mcp_ws_backplane_up', help: 'Backplane connected', type: 'gauge' as const, read: () => [{ value: 1 }] };
    const { url, base } = await startServer({ dashboard: true, auth: { tokens: [TOKEN] }, metrics: [...llmMetrics(llm), backplane] });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] });
    let stopped = false;
    try {
      // Without the credential the page is refused.
      const anon = await browser.newContext();
      const refused = await (await anon.newPage()).goto(`${base}/dashboard`);
      expect(refused!.status()).toBe(401);
      await anon.close();

      const context = await browser.newContext({ viewport: { width: 1280, height: 1100 }, extraHTTPHeaders: { Authorization: `Bearer ${TOKEN}` } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
      });
      page.on('requestfailed', (r) => {
        // The event stream is cut when the page closes; anything else failing is a fault.
        if (!r.url().endsWith('/dashboard/events')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
      });
      const res = await page.goto(`${base}/dashboard`);
      expect(res!.status()).toBe(200);
      expect(res!.headers()['content-security-policy']).toContain("script-src 'self'");
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('live'), undefined, { timeout: 15_000 });

      const running = load(url, () => stopped);
      const tileValue = (name: string): Promise<number> =>
        page.evaluate((k) => {
          for (const t of document.querySelectorAll('.tile')) {
            if (t.querySelector('.k')?.textContent === k) return Number((t.querySelector('.v')?.textContent ?? '').replace(/[^0-9.]/g, ''));
          }
          return NaN;
        }, name);
      await page.waitForFunction(
        () => [...document.querySelectorAll('.tile')].some((t) => t.querySelector('.k')?.textContent === 'requests' && Number((t.querySelector('.v')?.textContent ?? '').replace(/[^0-9.]/g, '')) > 0),
        undefined,
        { timeout: 15_000 },
      );
      const first = await tileValue('requests');
      // Two more snapshots later the count has moved.
      await page.waitForFunction(
        (before) => [...document.querySelectorAll('.tile')].some((t) => t.querySelector('.k')?.textContent === 'requests' && Number((t.querySelector('.v')?.textContent ?? '').replace(/[^0-9.]/g, '')) > before),
        first,
        { timeout: 15_000 },
      );
      expect(await tileValue('requests')).toBeGreaterThan(first);
      // Let the rate charts collect a few points under load.
      await page.waitForFunction(() => document.querySelectorAll('#slow tbody tr').length > 0, undefined, { timeout: 15_000 });
      await page.waitForTimeout(3000);

      mkdirSync(`${root}test-output`, { recursive: true });
      await page.screenshot({ path: `${root}test-output/dashboard.png`, fullPage: true });
      if (process.env.DOCS_SCREENSHOT === '1') copyFileSync(`${root}test-output/dashboard.png`, `${root}docs/dashboard.png`);
      // The charts draw: six canvases, and the messages chart holds pixels of its "out" series colour (drawn over "in": an echo sends what it gets).
      const drawn = await page.evaluate(() => {
        const canvases = [...document.querySelectorAll('.chart canvas')];
        const msg = document.querySelector('#c-msg canvas') as Canvas;
        const ctx = msg.getContext('2d')!;
        const px = ctx.getImageData(0, 0, msg.width, msg.height).data;
        let series = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (Math.abs(px[i]! - 0x94) < 30 && Math.abs(px[i + 1]! - 0x67) < 30 && Math.abs(px[i + 2]! - 0xbd) < 30 && px[i + 3]! > 128) series++;
        }
        return { canvases: canvases.length, series };
      });
      expect(drawn.canvases).toBe(7);
      // Optional subsystems: the LLM panel and the backplane tile appear with their metrics; not clustered, no workers section.
      const optional = await page.evaluate(() => ({
        llmChart: (document.getElementById('llm-chart') as unknown as { hidden: boolean }).hidden,
        llmRow: [...document.querySelectorAll('#llm tbody td')].map((td) => td.textContent),
        cluster: (document.getElementById('cluster-section') as unknown as { hidden: boolean }).hidden,
      }));
      expect(optional.llmChart).toBe(false);
      expect(optional.llmRow.slice(0, 2)).toEqual(['2', '5']);
      expect(optional.cluster).toBe(true);
      expect(await tileValue('LLM streams open')).toBe(2);
      const backplaneTile = await page.evaluate(() => {
        for (const t of document.querySelectorAll('.tile')) if (t.querySelector('.k')?.textContent === 'backplane') return t.querySelector('.v')?.textContent;
        return undefined;
      });
      expect(backplaneTile).toBe('up');
      expect(drawn.series).toBeGreaterThan(20);
      const slow = await page.$$eval('#slow tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
      expect(slow).toContain('tools/call');
      const errorKinds = await page.$$eval('#errors tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
      expect(errorKinds).toContain('method_not_found');

      stopped = true;
      expect(await running).toBeGreaterThan(0);
      await context.close();
      expect(problems).toEqual([]);
    } finally {
      stopped = true;
      clearInterval(relay);
      await browser.close();
    }
  }, 90_000);
});

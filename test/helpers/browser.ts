import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's Chromium, headless, with nothing that would reach the network on its own (tests never touch it), and one
 * page at the dashboard tests' desktop size.
 */
export async function launchChromium(): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(8000);
  return { browser, page };
}
